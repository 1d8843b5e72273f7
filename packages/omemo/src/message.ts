import type { Element } from "ltx";
import { decodeBase64 } from "./base64.js";
import { malformed } from "./fields.js";
import { childElements, localName, namespaceOf, textOf, toElement, type XmlInput } from "./xml.js";

/**
 * The `<encrypted>` element to decode: `input` itself, or the one `<encrypted xmlns=ns>` directly
 * inside a `<message>` (so a caller can hand over the stanza it received).
 */
/** Options of both namespaces' `decodeEncryptedMessage`. */
export interface DecodeKeysOptions {
  /**
   * Decode only the keys this selects (a receiver needs the ones for its own device): the others'
   * attributes are still checked, their base64 is neither decoded nor returned. `jid` is the
   * `<keys>` group's JID in OMEMO 2 and undefined in legacy OMEMO, whose keys name no account.
   */
  readonly keysFor?: (jid: string | undefined, rid: number) => boolean;
}

export function encryptedElement(input: XmlInput, ns: string): Element {
  const el = toElement(input);
  if (localName(el) !== "message") return el;
  const found = childElements(el).filter((c) => localName(c) === "encrypted" && namespaceOf(c) === ns);
  if (found.length !== 1) {
    throw malformed(
      found.length === 0
        ? `<message> has no <encrypted xmlns='${ns}'>`
        : `<message> has more than one <encrypted xmlns='${ns}'>`,
    );
  }
  return found[0]!;
}

/** Symbol value per char code (0–127) of the standard base64 alphabet; -1 for any other. */
const SYMBOL = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  SYMBOL["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}
const PAD = 0x3d; // "="

/**
 * The base64 content of a `<key>` or `<payload>`, exactly as `decodeBase64Text` decodes it (same bytes,
 * same errors), but faster in the usual case: content that is canonical base64 without whitespace is
 * checked and decoded in one pass here; anything else (wrapped lines, an error, too long) goes to
 * `decodeBase64`, which decodes it or throws its error. Every receiver decodes every `<key>` of a
 * stanza (the stanza layer validates all its fields strictly), so this pass is what most of them cost.
 */
export function decodeBase64Content(el: Element, where: string, maxBytes: number): Uint8Array {
  const text = textOf(el);
  return decodeUnwrapped(text, maxBytes) ?? decodeBase64(text, `${where} content`, maxBytes);
}

/**
 * Decodes canonical padded base64 without whitespace (RFC 4648 §4, unused bits of the last symbol
 * zero) of 1 to `maxBytes` bytes; `undefined` for anything else, which `decodeBase64` then judges.
 */
function decodeUnwrapped(text: string, maxBytes: number): Uint8Array | undefined {
  const n = text.length;
  if (n === 0 || (n & 3) !== 0) return undefined;
  const padding = text.charCodeAt(n - 1) === PAD ? (text.charCodeAt(n - 2) === PAD ? 2 : 1) : 0;
  const length = ((n - padding) * 3) >> 2;
  if (length > maxBytes) return undefined;
  const out = new Uint8Array(length);
  const whole = padding === 0 ? n : n - 4;
  let chars = 0; // OR of every char code: above 127 is outside the alphabet
  let symbols = 0; // OR of every symbol value: negative if any was not a symbol
  let o = 0;
  for (let i = 0; i < whole; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    chars |= c0 | c1 | c2 | c3;
    const a = SYMBOL[c0 & 127]!;
    const b = SYMBOL[c1 & 127]!;
    const c = SYMBOL[c2 & 127]!;
    const d = SYMBOL[c3 & 127]!;
    symbols |= a | b | c | d;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  if (padding > 0) {
    const c0 = text.charCodeAt(whole);
    const c1 = text.charCodeAt(whole + 1);
    chars |= c0 | c1;
    const a = SYMBOL[c0 & 127]!;
    const b = SYMBOL[c1 & 127]!;
    symbols |= a | b;
    out[o++] = (a << 2) | (b >> 4);
    if (padding === 2) {
      if ((b & 15) !== 0) return undefined; // non-canonical
    } else {
      const c2 = text.charCodeAt(whole + 2);
      chars |= c2;
      const c = SYMBOL[c2 & 127]!;
      symbols |= c;
      if ((c & 3) !== 0) return undefined; // non-canonical
      out[o] = ((b & 15) << 4) | (c >> 2);
    }
  }
  if (chars > 127 || symbols < 0) return undefined;
  return out;
}
