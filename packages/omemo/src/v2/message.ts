import type { Element } from "ltx";
import { encodeBase64 } from "../base64.js";
import { MAX_KEY_ELEMENT_BYTES, MAX_KEYS_PER_HEADER, MAX_PAYLOAD_BYTES, NS_V2 } from "../consts.js";
import {
  assertArray,
  assertBytes,
  assertDeviceId,
  assertObject,
  atMostOne,
  decodeDeviceId,
  decodeFlag,
  exactlyOne,
  expectElement,
  invalidArgument,
  malformed,
  requireAttr,
  tooLarge,
} from "../fields.js";
import { assertBareJid, bareJidKey, isPlausibleJid } from "../jid.js";
import { decodeBase64Content, encryptedElement, type DecodeKeysOptions } from "../message.js";
import { childrenNamed, el, serializeXml, type XmlInput } from "../xml.js";

/** One `<key>` (XEP-0384 v0.8.3 §5.5.3): the key and HMAC encrypted for one recipient device. */
export interface Key {
  /** Recipient device id. */
  readonly rid: number;
  /** `kex="true"`: `data` is an OMEMOKeyExchange, otherwise an OMEMOAuthenticatedMessage. */
  readonly kex: boolean;
  readonly data: Uint8Array;
}

/** One `<keys jid>` group: the keys for the devices of one recipient account. */
export interface Keys {
  /** The recipient's bare JID. */
  readonly jid: string;
  readonly keys: readonly Key[];
}

/**
 * An OMEMO 2 `<encrypted>` element (XEP-0384 v0.8.3 §5.5.3). Without `payload` it is an empty OMEMO
 * message, used for key exchange completion, heartbeats and healing.
 */
export interface EncryptedMessage {
  /** Sender device id. */
  readonly sid: number;
  readonly keys: readonly Keys[];
  /** AES-256-CBC ciphertext of the SCE envelope. */
  readonly payload?: Uint8Array;
}

/** True for an empty OMEMO message (no `<payload>`), XEP-0384 v0.8.3 §5.5.3. */
export function isEmptyMessage(message: EncryptedMessage): boolean {
  return message.payload === undefined;
}

export function encodeEncryptedMessage(message: EncryptedMessage): Element {
  assertObject(message, "message");
  assertDeviceId(message.sid, "message.sid");
  assertArray(message.keys, "message.keys", 1, MAX_KEYS_PER_HEADER);
  let total = 0;
  const jids = new Set<string>();
  const groups = message.keys.map((group: unknown, g) => {
    const where = `message.keys[${g}]`;
    assertObject(group, where);
    assertBareJid(group.jid, `${where}.jid`);
    const jidKey = bareJidKey(group.jid);
    if (jids.has(jidKey)) throw invalidArgument(`message.keys has two groups for the same JID`);
    jids.add(jidKey);
    assertArray(group.keys, `${where}.keys`, 1, MAX_KEYS_PER_HEADER);
    total += group.keys.length;
    if (total > MAX_KEYS_PER_HEADER) throw invalidArgument(`message has more than ${MAX_KEYS_PER_HEADER} keys`);
    const rids = new Set<number>();
    const keys = group.keys.map((key: unknown, k) => {
      const kw = `${where}.keys[${k}]`;
      assertObject(key, kw);
      assertDeviceId(key.rid, `${kw}.rid`);
      if (rids.has(key.rid)) throw invalidArgument(`${where} has two keys for device ${key.rid}`);
      rids.add(key.rid);
      if (typeof key.kex !== "boolean") throw invalidArgument(`${kw}.kex must be a boolean`);
      assertBytes(key.data, `${kw}.data`, 1, MAX_KEY_ELEMENT_BYTES);
      // kex defaults to false (v0.8.3 §11), so it is written only when true.
      return el("key", { rid: String(key.rid), kex: key.kex ? "true" : undefined }, encodeBase64(key.data));
    });
    return el("keys", { jid: group.jid }, ...keys);
  });
  const header = el("header", { sid: String(message.sid) }, ...groups);
  if (message.payload === undefined) return el("encrypted", { xmlns: NS_V2 }, header);
  assertBytes(message.payload, "message.payload", 0, MAX_PAYLOAD_BYTES);
  return el("encrypted", { xmlns: NS_V2 }, header, el("payload", {}, encodeBase64(message.payload)));
}

export function encryptedMessageToString(message: EncryptedMessage): string {
  return serializeXml(encodeEncryptedMessage(message));
}

/**
 * Decodes `<encrypted xmlns='urn:xmpp:omemo:2'>`, or the `<message>` that carries it. Accepts
 * `kex="true"` and `"1"`, whitespace in base64, groups and headers without keys, and ignores unknown
 * children. `jid` attributes are kept as sent (compare them with `sameBareJid`).
 * Every `<key>`'s attributes are validated; its content is decoded (and validated: a malformed one
 * fails the whole stanza, whoever it is for) unless `options.keysFor` leaves it out, in which case it
 * is not returned either.
 */
export function decodeEncryptedMessage(input: XmlInput, options: DecodeKeysOptions = {}): EncryptedMessage {
  const wanted = options.keysFor;
  const encrypted = encryptedElement(input, NS_V2);
  expectElement(encrypted, "encrypted", NS_V2);
  const header = exactlyOne(encrypted, "header", NS_V2, "<encrypted>");
  const sid = decodeDeviceId(header, "sid", "<header>");
  const groupElements = childrenNamed(header, "keys", NS_V2);
  if (groupElements.length > MAX_KEYS_PER_HEADER)
    throw tooLarge(`<header> has more than ${MAX_KEYS_PER_HEADER} <keys>`);
  let total = 0;
  const keys: Keys[] = [];
  for (const group of groupElements) {
    const jid = requireAttr(group, "jid", "<keys>");
    if (!isPlausibleJid(jid)) throw malformed("<keys> 'jid' is not a JID");
    const keyElements = childrenNamed(group, "key", NS_V2);
    total += keyElements.length;
    if (total > MAX_KEYS_PER_HEADER) throw tooLarge(`<header> has more than ${MAX_KEYS_PER_HEADER} keys`);
    const decoded: Key[] = [];
    for (const key of keyElements) {
      const rid = decodeDeviceId(key, "rid", "<key>");
      const kex = decodeFlag(key, "kex", "<key>");
      if (wanted !== undefined && !wanted(jid, rid)) continue;
      const data = decodeBase64Content(key, "<key>", MAX_KEY_ELEMENT_BYTES);
      if (data.length === 0) throw malformed("<key> is empty");
      decoded.push({ rid, kex, data });
    }
    if (wanted === undefined || decoded.length > 0) keys.push({ jid, keys: decoded });
  }
  const payloadElement = atMostOne(encrypted, "payload", NS_V2, "<encrypted>");
  if (payloadElement === undefined) return { sid, keys };
  return { sid, keys, payload: decodeBase64Content(payloadElement, "<payload>", MAX_PAYLOAD_BYTES) };
}
