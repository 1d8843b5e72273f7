import { systemRandom, type RandomSource } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import type { Element } from "ltx";
import { NS_HINTS, NS_SCE, RPAD_MAX_RANDOM_LENGTH } from "./consts.js";
import { OmemoError } from "./errors.js";
import {
  assertArray,
  assertObject,
  atMostOne,
  exactlyOne,
  expectElement,
  invalidArgument,
  malformed,
  requireAttr,
} from "./fields.js";
import { assertBareJid, bareJid, isPlausibleJid, sameBareJid } from "./jid.js";
import {
  childElements,
  cloneElement,
  el,
  isElement,
  localName,
  namespaceOf,
  serializeXml,
  toElement,
  utf8Length,
  type XmlInput,
} from "./xml.js";

/**
 * Stanza Content Encryption (XEP-0420 v0.4.1) with OMEMO 2's profile (XEP-0384 v0.8.3 §5.5.1): the
 * plaintext of an OMEMO 2 payload is an `<envelope xmlns='urn:xmpp:sce:1'>` holding the protected
 * elements in `<content>` and the affixes `<rpad>`, `<time>`, `<to>`, `<from>`.
 */
export interface Envelope {
  /** The protected elements, each in its own namespace (XEP-0420 §10), e.g. `<body xmlns='jabber:client'>`. */
  readonly content: readonly Element[];
  /** Random padding (§4). OMEMO's profile: MUST be present when sending. */
  readonly rpad?: string;
  /** When the sender encrypted (§4, XEP-0082 DateTime); millisecond precision. */
  readonly time?: Date;
  /** Bare JID of the recipient (the room's in a group chat). */
  readonly to?: string;
  /** Bare JID of the sender. */
  readonly from?: string;
}

/**
 * Elements the server must see, so never taken from inside `<content>` (XEP-0420 v0.4.1 §9 and
 * v0.5.0's addition of EME): processing hints, stanza-id (origin-id is allowed, v0.3.0), extended
 * stanza addressing, explicit message encryption.
 */
function isServerProcessed(element: Element): boolean {
  const ns = namespaceOf(element);
  if (ns === NS_HINTS || ns === "http://jabber.org/protocol/address" || ns === "urn:xmpp:eme:0") return true;
  return ns === "urn:xmpp:sid:0" && localName(element) === "stanza-id";
}

/** XEP-0082 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD. */
const DATE_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})$/;

function parseDateTime(stamp: string): Date {
  const m = DATE_TIME.exec(stamp.trim());
  if (m === null) throw malformed("<time> 'stamp' is not an XEP-0082 DateTime");
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, "0"));
  const zone = m[8]!;
  let offset = 0;
  if (zone !== "Z") {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(4, 6));
    if (zh > 23 || zm > 59) throw malformed("<time> 'stamp' has an impossible time zone");
    offset = (zone.startsWith("-") ? -1 : 1) * (zh * 60 + zm);
  }
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    throw malformed("<time> 'stamp' is not a real date and time");
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  return new Date(utc.getTime() - offset * 60_000);
}

function formatDateTime(date: Date, what: string): string {
  if (!(date instanceof Date) || !Number.isFinite(date.getTime()))
    throw invalidArgument(`${what} must be a valid Date`);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw invalidArgument(`${what} must be in the years 0000 to 9999`);
  return date.toISOString();
}

/** Keeps util.inspect and console.log from printing the decrypted content of an envelope. */
function redacted(envelope: Envelope): Envelope {
  Object.defineProperty(envelope, INSPECT_CUSTOM, {
    value: () =>
      `Envelope { content: [${envelope.content.length} element(s), redacted], to: ${envelope.to ?? "-"}, from: ${envelope.from ?? "-"} }`,
    enumerable: false,
  });
  return envelope;
}

function checkContent(content: unknown): Element[] {
  assertArray(content, "envelope.content", 0, Number.MAX_SAFE_INTEGER);
  return content.map((item: unknown, i) => {
    if (!isElement(item)) throw invalidArgument(`envelope.content[${i}] must be an ltx Element`);
    const copy = cloneElement(item);
    const ns = namespaceOf(copy);
    if (ns === undefined || ns === NS_SCE) {
      throw invalidArgument(
        `envelope.content[${i}] needs its own namespace (XEP-0420 §10), e.g. <body xmlns='jabber:client'>`,
      );
    }
    if (isServerProcessed(copy)) {
      throw invalidArgument(
        `envelope.content[${i}] is a server-processed element and must stay outside the envelope (XEP-0420 §9)`,
      );
    }
    return copy;
  });
}

/** Writes the envelope exactly as given (no padding or time added: see {@link createEnvelope}). */
export function encodeEnvelope(envelope: Envelope): Element {
  assertObject(envelope, "envelope");
  const content = checkContent(envelope.content);
  const children: Element[] = [el("content", {}, ...content)];
  if (envelope.rpad !== undefined) {
    if (typeof envelope.rpad !== "string") throw invalidArgument("envelope.rpad must be a string");
    children.push(el("rpad", {}, envelope.rpad));
  }
  if (envelope.time !== undefined) children.push(el("time", { stamp: formatDateTime(envelope.time, "envelope.time") }));
  if (envelope.to !== undefined) {
    assertBareJid(envelope.to, "envelope.to");
    children.push(el("to", { jid: envelope.to }));
  }
  if (envelope.from !== undefined) {
    assertBareJid(envelope.from, "envelope.from");
    children.push(el("from", { jid: envelope.from }));
  }
  return el("envelope", { xmlns: NS_SCE }, ...children);
}

/** The XML string that OMEMO 2 encrypts (UTF-8 encode it for the payload cipher). */
export function envelopeToString(envelope: Envelope): string {
  return serializeXml(encodeEnvelope(envelope));
}

export interface CreateEnvelopeOptions {
  readonly content: readonly Element[];
  /** Our JID (a full JID is reduced to the bare JID the XEP asks for). OMEMO profile: SHOULD. */
  readonly from: string;
  /** The recipient's JID, or the room's in a group chat, where OMEMO's profile makes it a MUST. */
  readonly to: string;
  /** Encryption time; defaults to now. `null` leaves the `<time>` affix out (OMEMO profile: MAY). */
  readonly time?: Date | null;
  /** Randomness for the padding; defaults to @parley/crypto's system source. */
  readonly randomBytes?: RandomSource;
  /**
   * XEP-0420 v0.5.0's first padding step: pad the serialized envelope to at least this many UTF-8
   * bytes before adding the 0 … 200 random characters. 0 (default) is v0.4.1's behaviour.
   */
  readonly minLength?: number;
}

/** 64 symbols, none special in XML, so a random byte & 63 picks one uniformly. */
const RPAD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const RPAD_CODES = Array.from(RPAD_ALPHABET, (c) => c.charCodeAt(0));

function randomPadding(randomBytes: RandomSource, fixed: number): string {
  let length = -1;
  // Uniform 0 … 200: rejection sampling on single bytes (accepts 201 of 256 values).
  while (length < 0) {
    const b = drawRandom(randomBytes, 1)[0]!;
    if (b <= RPAD_MAX_RANDOM_LENGTH) length = b;
  }
  const total = fixed + length;
  const bytes = drawRandom(randomBytes, total);
  // One string from the character codes, not one concatenation per character.
  const codes = new Array<number>(total);
  for (let i = 0; i < total; i++) codes[i] = RPAD_CODES[bytes[i]! & 63]!;
  let out = "";
  for (let i = 0; i < total; i += 4096) out += String.fromCharCode(...codes.slice(i, i + 4096));
  return out;
}

function drawRandom(source: RandomSource, length: number): Uint8Array {
  const out: unknown = source(length);
  if (!(out instanceof Uint8Array) || out.length !== length) {
    throw invalidArgument(`randomBytes must return a Uint8Array of the requested length (${length})`);
  }
  return out;
}

/**
 * Builds what a sender encrypts, following OMEMO's SCE profile (XEP-0384 v0.8.3 §5.5.1): random
 * `<rpad>` (MUST), `<time>` (MAY, on by default), `<to>` (MUST in group chats, always written here so
 * the recipient can check it) and `<from>` (SHOULD, always written).
 */
export function createEnvelope(options: CreateEnvelopeOptions): Envelope {
  assertObject(options, "options");
  for (const [name, jid] of [
    ["options.from", options.from],
    ["options.to", options.to],
  ] as const) {
    if (typeof jid !== "string" || !isPlausibleJid(jid)) throw invalidArgument(`${name} must be a JID`);
  }
  const randomBytes = options.randomBytes ?? systemRandom;
  if (typeof randomBytes !== "function") throw invalidArgument("options.randomBytes must be a function");
  const minLength = options.minLength ?? 0;
  if (!Number.isSafeInteger(minLength) || minLength < 0)
    throw invalidArgument("options.minLength must be a non-negative integer");
  const time = options.time === undefined ? new Date() : options.time;
  const base: Envelope = {
    content: checkContent(options.content),
    rpad: "",
    ...(time === null ? {} : { time }),
    to: bareJid(options.to),
    from: bareJid(options.from),
  };
  // `<rpad/>` becomes `<rpad>…</rpad>`: 6 more bytes besides the padding itself.
  const fixed = minLength === 0 ? 0 : Math.max(0, minLength - utf8Length(envelopeToString(base)) - 6);
  return redacted({ ...base, rpad: randomPadding(randomBytes, fixed) });
}

/** What the receiver checks the affixes against (XEP-0420 v0.4.1 §4). */
export interface EnvelopeExpectations {
  /**
   * The `to` of the enclosing stanza: our JID in a one-to-one chat, the room's JID in a group chat.
   * A `<to>` affix with another bare JID is SCE_WRONG_RECIPIENT.
   */
  readonly to: string;
  /**
   * The sender: the `from` of the enclosing stanza, or the occupant's real JID in a group chat.
   * A `<from>` affix with another bare JID is SCE_WRONG_SENDER.
   */
  readonly from: string;
  /** Group chat: a missing `<to>` is SCE_WRONG_RECIPIENT (XEP-0384 v0.8.3 §5.5.1 MUST). */
  readonly groupchat?: boolean;
}

/**
 * Parses a decrypted envelope (a string: the decrypted payload as text) and makes the receiver's
 * checks: well-formed XML (XEP-0420 §10), `<to>`/`<from>` against the enclosing stanza (§4, bare JIDs
 * compared), server-processed elements dropped from the content (§9). A missing `<rpad>` is
 * accepted: §4 says the padding needs no verification, and OMEMO's own opt-out example has none.
 * A missing `<from>` is accepted (a SHOULD). Checking `time` against the stanza's time is left to
 * the caller, who knows the delay and its tolerance.
 */
export function decodeEnvelope(input: XmlInput, expected: EnvelopeExpectations): Envelope {
  assertObject(expected, "expected");
  if (typeof expected.to !== "string" || !isPlausibleJid(expected.to))
    throw invalidArgument("expected.to must be a JID");
  if (typeof expected.from !== "string" || !isPlausibleJid(expected.from))
    throw invalidArgument("expected.from must be a JID");
  const envelope = toElement(input);
  expectElement(envelope, "envelope", NS_SCE);
  const contentElement = exactlyOne(envelope, "content", NS_SCE, "<envelope>");
  const content: Element[] = [];
  for (const child of childElements(contentElement)) {
    const ns = namespaceOf(child);
    if (ns === NS_SCE || ns === undefined)
      throw malformed("an element in <content> has no namespace of its own (XEP-0420 §10)");
    if (!isServerProcessed(child)) content.push(child);
  }
  const result: { -readonly [K in keyof Envelope]: Envelope[K] } = { content };
  const rpad = atMostOne(envelope, "rpad", NS_SCE, "<envelope>");
  if (rpad !== undefined) {
    let text = "";
    for (const c of rpad.children) if (typeof c === "string") text += c;
    result.rpad = text;
  }
  const time = atMostOne(envelope, "time", NS_SCE, "<envelope>");
  if (time !== undefined) result.time = parseDateTime(requireAttr(time, "stamp", "<time>"));
  const to = atMostOne(envelope, "to", NS_SCE, "<envelope>");
  if (to !== undefined) {
    const jid = requireAttr(to, "jid", "<to>");
    if (!isPlausibleJid(jid)) throw malformed("<to> 'jid' is not a JID");
    if (!sameBareJid(jid, expected.to)) {
      throw new OmemoError("SCE_WRONG_RECIPIENT", "the <to> affix names another recipient than the enclosing stanza");
    }
    result.to = bareJid(jid); // the affix means the bare JID (v0.4.1 §4), whatever a sender wrote
  } else if (expected.groupchat === true) {
    throw new OmemoError("SCE_WRONG_RECIPIENT", "a group chat envelope has no <to> affix (XEP-0384 v0.8.3 §5.5.1)");
  }
  const from = atMostOne(envelope, "from", NS_SCE, "<envelope>");
  if (from !== undefined) {
    const jid = requireAttr(from, "jid", "<from>");
    if (!isPlausibleJid(jid)) throw malformed("<from> 'jid' is not a JID");
    if (!sameBareJid(jid, expected.from)) {
      throw new OmemoError("SCE_WRONG_SENDER", "the <from> affix names another sender than the enclosing stanza");
    }
    result.from = bareJid(jid);
  }
  return redacted(result);
}

/** `<store xmlns='urn:xmpp:hints'/>`: XEP-0384 v0.3.0 §5 SHOULD, XEP-0420 §10 MUST on messages. */
export function storeHint(): Element {
  return el("store", { xmlns: NS_HINTS });
}
