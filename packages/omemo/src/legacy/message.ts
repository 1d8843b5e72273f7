import type { Element } from "ltx";
import { encodeBase64 } from "../base64.js";
import {
  LEGACY_IV_LENGTHS,
  MAX_KEY_ELEMENT_BYTES,
  MAX_KEYS_PER_HEADER,
  MAX_PAYLOAD_BYTES,
  NS_LEGACY,
} from "../consts.js";
import {
  assertArray,
  assertBytes,
  assertDeviceId,
  assertObject,
  atMostOne,
  decodeDeviceId,
  decodeFixedBase64,
  decodeFlag,
  exactlyOne,
  expectElement,
  invalidArgument,
  malformed,
  tooLarge,
} from "../fields.js";
import { decodeBase64Content, encryptedElement, type DecodeKeysOptions } from "../message.js";
import { childrenNamed, el, serializeXml, type XmlInput } from "../xml.js";

/** One `<key>`: the payload key encrypted for one recipient device (XEP-0384 v0.3.0 §4.5). */
export interface Key {
  /** Recipient device id. */
  readonly rid: number;
  /** `prekey="true"`: `data` is a PreKeySignalMessage (a session is being built), otherwise a SignalMessage. */
  readonly prekey: boolean;
  /** The Signal message bytes. */
  readonly data: Uint8Array;
}

/**
 * A legacy OMEMO element (XEP-0384 v0.3.0 §4.5–4.7). Without `payload` it is a KeyTransportElement
 * (§4.6), which is also what clients send as an empty message to complete or heal a session.
 */
export interface EncryptedMessage {
  /** Sender device id. */
  readonly sid: number;
  /** Keys for every recipient device, own devices included. Ids of different accounts may collide: the order and any repeats are kept. */
  readonly keys: readonly Key[];
  /** AES-GCM IV of the payload: 12 or 16 bytes. */
  readonly iv: Uint8Array;
  /** AES-128-GCM ciphertext of the body, without its tag (the tag travels with the key). */
  readonly payload?: Uint8Array;
}

/** True for a KeyTransportElement (no `<payload>`), XEP-0384 v0.3.0 §4.6. */
export function isKeyTransport(message: EncryptedMessage): boolean {
  return message.payload === undefined;
}

export function encodeEncryptedMessage(message: EncryptedMessage): Element {
  assertObject(message, "message");
  assertDeviceId(message.sid, "message.sid");
  assertArray(message.keys, "message.keys", 1, MAX_KEYS_PER_HEADER);
  const keys = message.keys.map((key: unknown, i) => {
    assertObject(key, `message.keys[${i}]`);
    assertDeviceId(key.rid, `message.keys[${i}].rid`);
    if (typeof key.prekey !== "boolean") throw invalidArgument(`message.keys[${i}].prekey must be a boolean`);
    assertBytes(key.data, `message.keys[${i}].data`, 1, MAX_KEY_ELEMENT_BYTES);
    // XEP-0384 v0.3.0 §4.5: the attribute is written as prekey="true" and left out otherwise.
    return el("key", { rid: String(key.rid), prekey: key.prekey ? "true" : undefined }, encodeBase64(key.data));
  });
  assertBytes(message.iv, "message.iv", Math.min(...LEGACY_IV_LENGTHS), Math.max(...LEGACY_IV_LENGTHS));
  if (!LEGACY_IV_LENGTHS.includes(message.iv.length)) {
    throw invalidArgument(`message.iv must be ${LEGACY_IV_LENGTHS.join(" or ")} bytes`);
  }
  const header = el("header", { sid: String(message.sid) }, ...keys, el("iv", {}, encodeBase64(message.iv)));
  if (message.payload === undefined) return el("encrypted", { xmlns: NS_LEGACY }, header);
  assertBytes(message.payload, "message.payload", 0, MAX_PAYLOAD_BYTES);
  return el("encrypted", { xmlns: NS_LEGACY }, header, el("payload", {}, encodeBase64(message.payload)));
}

export function encryptedMessageToString(message: EncryptedMessage): string {
  return serializeXml(encodeEncryptedMessage(message));
}

/**
 * Decodes `<encrypted xmlns='eu.siacs.conversations.axolotl'>`, or the `<message>` that carries it.
 * Accepts `prekey="true"` and `"1"`, 12- and 16-byte IVs, whitespace in base64, no keys at all
 * (python-oldmemo's schema allows it: the message is then for nobody), and ignores unknown children.
 * Every `<key>`'s attributes are validated; its content is decoded (and validated: a malformed one
 * fails the whole stanza, whoever it is for) unless `options.keysFor` leaves it out, in which case it
 * is not returned either.
 */
export function decodeEncryptedMessage(input: XmlInput, options: DecodeKeysOptions = {}): EncryptedMessage {
  const wanted = options.keysFor;
  const encrypted = encryptedElement(input, NS_LEGACY);
  expectElement(encrypted, "encrypted", NS_LEGACY);
  const header = exactlyOne(encrypted, "header", NS_LEGACY, "<encrypted>");
  const sid = decodeDeviceId(header, "sid", "<header>");
  const keyElements = childrenNamed(header, "key", NS_LEGACY);
  if (keyElements.length > MAX_KEYS_PER_HEADER) throw tooLarge(`<header> has more than ${MAX_KEYS_PER_HEADER} keys`);
  const keys: Key[] = [];
  for (const key of keyElements) {
    const rid = decodeDeviceId(key, "rid", "<key>");
    const prekey = decodeFlag(key, "prekey", "<key>");
    if (wanted !== undefined && !wanted(undefined, rid)) continue;
    const data = decodeBase64Content(key, "<key>", MAX_KEY_ELEMENT_BYTES);
    if (data.length === 0) throw malformed("<key> is empty");
    keys.push({ rid, prekey, data });
  }
  const iv = decodeFixedBase64(exactlyOne(header, "iv", NS_LEGACY, "<header>"), "<iv>", ...LEGACY_IV_LENGTHS);
  const payloadElement = atMostOne(encrypted, "payload", NS_LEGACY, "<encrypted>");
  if (payloadElement === undefined) return { sid, keys, iv };
  return { sid, keys, iv, payload: decodeBase64Content(payloadElement, "<payload>", MAX_PAYLOAD_BYTES) };
}
