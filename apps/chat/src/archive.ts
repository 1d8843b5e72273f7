/**
 * The message layer around OMEMO for a parley-chat account, as pure functions: message carbons
 * (XEP-0280) and archive results (XEP-0313 MAM, paged with XEP-0059 RSM) unwrapped only when they come
 * from our own account, delivery receipts (XEP-0184), chat markers (XEP-0333), unique and stable ids
 * (XEP-0359) and delays (XEP-0203). {@link ChatAccount} (src/account.ts) sends and receives; nothing here
 * reads or keeps a message body except `readMessage`'s `body` of a plain message.
 */
import { xml } from "@xmpp/client";
import { NS_LEGACY, NS_V2, type Element } from "@parley/omemo";
import { parseJid, type Jid } from "./roster.js";

export const NS_CARBONS = "urn:xmpp:carbons:2";
export const NS_FORWARD = "urn:xmpp:forward:0";
export const NS_MAM = "urn:xmpp:mam:2";
export const NS_RSM = "http://jabber.org/protocol/rsm";
export const NS_RECEIPTS = "urn:xmpp:receipts";
export const NS_MARKERS = "urn:xmpp:chat-markers:0";
export const NS_SID = "urn:xmpp:sid:0";
export const NS_DELAY = "urn:xmpp:delay";
export const NS_HINTS = "urn:xmpp:hints";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
const NS_CONFERENCE = "jabber:x:conference";

/** Longest message, stanza or archive id accepted (longer ids are ignored: a peer picks them). */
export const MAX_ID_CHARS = 256;
/** The OTR whitespace tag's fixed prefix (OTR spec, "Tagged plaintext messages"). */
const OTR_WHITESPACE_TAG = " \t  \t\t\t\t \t \t \t  ";

export type Via = "live" | "carbon" | "archive";

function attr(element: Element, name: string): string | undefined {
  const v: unknown = element.attrs[name];
  return typeof v === "string" ? v : undefined;
}

function validId(id: string | undefined): string | undefined {
  return id !== undefined && id.length > 0 && id.length <= MAX_ID_CHARS ? id : undefined;
}

/** An XEP-0082 date-time (`2026-12-03T05:00:00Z`, optional fraction, `Z` or an offset); undefined otherwise. */
export function parseStamp(stamp: string | undefined): Date | undefined {
  if (stamp === undefined) return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)$/.test(stamp)) return undefined;
  const t = Date.parse(stamp);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

function childAttr(element: Element, child: string, ns: string, name: string): string | undefined {
  const c = element.getChild(child, ns);
  return c === undefined ? undefined : attr(c, name);
}

/** Whether a body is OTR's (an OTR message or a whitespace-tagged plaintext): src/otr.ts handles those. */
export function isOtrBody(body: string): boolean {
  return body.startsWith("?OTR") || body.includes(OTR_WHITESPACE_TAG);
}

// ------------------------------------------------------------------ carbons and archive results

export type Unwrapped =
  /** A stanza addressed to us (no carbon, no archive result). */
  | { readonly kind: "plain"; readonly message: Element }
  /** A carbon copy from our own account: `sent` by another of our clients, or `received` by one. */
  | { readonly kind: "carbon"; readonly direction: "sent" | "received"; readonly message: Element }
  /** An archive result from our own account. */
  | {
      readonly kind: "archive";
      readonly queryId: string;
      readonly archiveId: string;
      readonly message: Element;
      readonly delay: Date | undefined;
    }
  /** Something to drop: a forged or malformed carbon or archive result, or a carbon of a `<private/>` message. */
  | { readonly kind: "drop"; readonly reason: "forged" | "malformed" | "private" };

function forwardedMessage(wrapper: Element): { message: Element; forwarded: Element } | undefined {
  const forwarded = wrapper.getChild("forwarded", NS_FORWARD);
  const message = forwarded?.getChild("message");
  if (forwarded === undefined || message === undefined) return undefined;
  const ns = attr(message, "xmlns");
  if (ns !== undefined && ns !== "jabber:client") return undefined;
  return { message, forwarded };
}

/**
 * Unwraps a `<message>`: a carbon (XEP-0280 §6) is accepted only when its `from` is our bare JID exactly
 * (§11: anything else is a forgery) and the copied message has no `<private/>` (§7: it should not have
 * been copied); an archive result (XEP-0313 §4.2) only when its `from` is our bare JID or absent (our
 * own archive; `queryId` is for the caller to match with a query it issued).
 */
export function unwrapMessage(stanza: Element, ownBareJid: string): Unwrapped {
  const from = attr(stanza, "from");
  const fromOwnAccount = (allowAbsent: boolean): boolean => {
    if (from === undefined) return allowAbsent;
    const j = parseJid(from);
    return j !== undefined && j.resource === undefined && j.bare === ownBareJid;
  };
  const carbon = stanza.getChild("sent", NS_CARBONS) ?? stanza.getChild("received", NS_CARBONS);
  if (carbon !== undefined) {
    if (!fromOwnAccount(false)) return { kind: "drop", reason: "forged" };
    const f = forwardedMessage(carbon);
    if (f === undefined) return { kind: "drop", reason: "malformed" };
    if (f.message.getChild("private", NS_CARBONS) !== undefined) return { kind: "drop", reason: "private" };
    return { kind: "carbon", direction: carbon.name === "sent" ? "sent" : "received", message: f.message };
  }
  const result = stanza.getChild("result", NS_MAM);
  if (result !== undefined) {
    if (!fromOwnAccount(true)) return { kind: "drop", reason: "forged" };
    const queryId = validId(attr(result, "queryid"));
    const archiveId = validId(attr(result, "id"));
    const f = forwardedMessage(result);
    if (queryId === undefined || archiveId === undefined || f === undefined)
      return { kind: "drop", reason: "malformed" };
    return {
      kind: "archive",
      queryId,
      archiveId,
      message: f.message,
      delay: parseStamp(childAttr(f.forwarded, "delay", NS_DELAY, "stamp")),
    };
  }
  return { kind: "plain", message: stanza };
}

// ------------------------------------------------------------------ one message

export interface MessageInfo {
  readonly from: Jid | undefined;
  readonly to: Jid | undefined;
  /** The `type` attribute, "normal" when absent. */
  readonly type: string;
  /** The `id` attribute (what receipts name). */
  readonly stanzaAttrId: string | undefined;
  /** The XEP-0359 origin-id if any, else the `id` attribute (what markers name). */
  readonly id: string | undefined;
  /** The XEP-0359 stanza-id our own server (`by` our bare JID) gave it. */
  readonly stanzaId: string | undefined;
  readonly delay: Date | undefined;
  /** An OMEMO `<encrypted>` of either namespace. */
  readonly encrypted: Element | undefined;
  /** The plain `<body>`, if any. */
  readonly body: string | undefined;
  /** `<request xmlns='urn:xmpp:receipts'/>`. */
  readonly receiptRequested: boolean;
  /** `<received xmlns='urn:xmpp:receipts' id>`: the id it acknowledges. */
  readonly receiptFor: string | undefined;
  /** `<displayed xmlns='urn:xmpp:chat-markers:0' id>`: the id it marks. */
  readonly displayedFor: string | undefined;
  /** A room invitation (XEP-0045 mediated or XEP-0249 direct): src/muc.ts reads those. */
  readonly invitation: boolean;
}

/** What a `<message>` is (no decryption). Ids longer than MAX_ID_CHARS are treated as absent. */
export function readMessage(message: Element, ownBareJid: string): MessageInfo {
  const idAttr = validId(attr(message, "id"));
  const originId = validId(childAttr(message, "origin-id", NS_SID, "id"));
  const stanzaIdElement = message.getChildren("stanza-id", NS_SID).find((s) => {
    const by = parseJid(attr(s, "by"));
    return by !== undefined && by.resource === undefined && by.bare === ownBareJid;
  });
  const body = message.getChildText("body");
  const x = message.getChild("x", NS_MUC_USER);
  return {
    from: parseJid(attr(message, "from")),
    to: parseJid(attr(message, "to")),
    type: attr(message, "type") ?? "normal",
    stanzaAttrId: idAttr,
    id: originId ?? idAttr,
    stanzaId: stanzaIdElement === undefined ? undefined : validId(attr(stanzaIdElement, "id")),
    delay: parseStamp(childAttr(message, "delay", NS_DELAY, "stamp")),
    encrypted: message.getChild("encrypted", NS_V2) ?? message.getChild("encrypted", NS_LEGACY),
    body: body ?? undefined,
    receiptRequested: message.getChild("request", NS_RECEIPTS) !== undefined,
    receiptFor: validId(childAttr(message, "received", NS_RECEIPTS, "id")),
    displayedFor: validId(childAttr(message, "displayed", NS_MARKERS, "id")),
    invitation: x?.getChild("invite") !== undefined || message.getChild("x", NS_CONFERENCE) !== undefined,
  };
}

/** The sending device id of an OMEMO `<encrypted>` (its `<header sid>`, both namespaces). */
export function senderDevice(encrypted: Element): number | undefined {
  const sid = Number(encrypted.getChild("header")?.attrs["sid"]);
  return Number.isInteger(sid) ? sid : undefined;
}

/** Whether an OMEMO `<encrypted>` carries a payload (a message) rather than being an empty message. */
export function hasPayload(encrypted: Element): boolean {
  return encrypted.getChild("payload") !== undefined;
}

// ------------------------------------------------------------------ stanzas we send

/** The elements `send()` adds to an outgoing chat message: receipt request, markable, origin-id. */
export function outgoingMarkers(id: string): Element[] {
  return [
    xml("request", { xmlns: NS_RECEIPTS }),
    xml("markable", { xmlns: NS_MARKERS }),
    xml("origin-id", { xmlns: NS_SID, id }),
  ];
}

/** A delivery receipt (XEP-0184 §5) for message `id` from `to`. */
export function receiptStanza(to: string, id: string, ownId: string): Element {
  return xml("message", { to, id: ownId }, xml("received", { xmlns: NS_RECEIPTS, id }));
}

/** A displayed marker (XEP-0333 §4) for message `id`, stored in archives (a hint) so our other clients see it. */
export function displayedStanza(to: string, id: string, ownId: string): Element {
  return xml(
    "message",
    { to, type: "chat", id: ownId },
    xml("displayed", { xmlns: NS_MARKERS, id }),
    xml("store", { xmlns: NS_HINTS }),
  );
}

/**
 * A MAM query (XEP-0313 §4) of our whole archive, one RSM page: `after` an archive id, or the last
 * page (`before` with no id), at most `max` results.
 */
export function mamQuery(queryId: string, page: { max: number; after?: string; last?: boolean }): Element {
  const set = xml("set", { xmlns: NS_RSM }, xml("max", {}, String(page.max)));
  if (page.after !== undefined) set.append(xml("after", {}, page.after));
  else if (page.last === true) set.append(xml("before"));
  return xml("iq", { type: "set" }, xml("query", { xmlns: NS_MAM, queryid: queryId }, set));
}

/** A MAM query's `<fin>` (XEP-0313 §4.3): complete, and the RSM first and last ids of the page. */
export function parseFin(iq: Element): { complete: boolean; first: string | undefined; last: string | undefined } {
  const fin = iq.getChild("fin", NS_MAM);
  const set = fin?.getChild("set", NS_RSM);
  return {
    complete: fin !== undefined && (attr(fin, "complete") === "true" || attr(fin, "complete") === "1"),
    first: validId(set?.getChildText("first") ?? undefined),
    last: validId(set?.getChildText("last") ?? undefined),
  };
}

/** A bounded set of ids (oldest forgotten first). */
export class RecentIds {
  readonly #ids = new Set<string>();
  constructor(readonly max = 2048) {}

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  add(id: string): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    if (this.#ids.size > this.max) {
      const oldest = this.#ids.values().next();
      if (oldest.done !== true) this.#ids.delete(oldest.value);
    }
  }
}
