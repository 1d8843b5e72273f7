import { OmemoError } from "./errors.js";

/**
 * Strict base64 for the XEP-0384 fields (xs:base64Binary): the standard alphabet (RFC 4648 §4), padding
 * to a multiple of 4 as the XEPs' producers emit it, canonical (unused bits of the last symbol zero,
 * RFC 4648 §3.5). ASCII whitespace is skipped anywhere, because deployed clients wrap lines
 * (Android's Base64.DEFAULT wraps at 76 characters) and XEP examples indent their contents.
 * @parley/crypto has no base64 helpers, hence this module.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Symbol value per char code; -1 for not-a-symbol, -2 for skipped whitespace. */
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
for (const ws of [0x20, 0x09, 0x0a, 0x0c, 0x0d]) DECODE[ws] = -2;

const PAD = 0x3d; // "="

/** Node's Buffer where there is one (its encoder is native: one string, no concatenation). */
const NodeBuffer = (
  globalThis as {
    Buffer?: { from(buffer: ArrayBufferLike, byteOffset: number, length: number): { toString(enc: "base64"): string } };
  }
).Buffer;

export function encodeBase64(bytes: Uint8Array): string {
  // Node's base64 is RFC 4648 §4 with padding, canonical: the same string as the loop below.
  if (NodeBuffer !== undefined)
    return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  return encodeBase64Portable(bytes);
}

/** The encoder without Node's Buffer (browsers); exported for tests only. */
export function encodeBase64Portable(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + "=";
  }
  return out;
}

/** Base64 characters needed for `bytes` bytes (padded). */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * Decodes `text`, naming `field` (an element or attribute, never its content) in errors.
 * `maxBytes` is checked before any output is allocated.
 */
export function decodeBase64(text: string, field: string, maxBytes: number): Uint8Array {
  // One pass to collect symbols and count them; whitespace is skipped, anything else ends the field.
  const symbols = new Uint8Array(Math.min(text.length, base64Length(maxBytes) + 4));
  let count = 0;
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v === -2) continue;
    if (c === PAD) {
      padding++;
      continue;
    }
    if (v < 0 || padding > 0) {
      throw new OmemoError("INVALID_BASE64", `${field} is not base64 (a character outside the standard alphabet)`);
    }
    if (count >= symbols.length) {
      throw new OmemoError("STANZA_TOO_LARGE", `${field} is longer than ${maxBytes} bytes`);
    }
    symbols[count++] = v;
  }
  if ((count + padding) % 4 !== 0 || padding > 2 || (padding > 0 && count % 4 === 0)) {
    throw new OmemoError("INVALID_BASE64", `${field} is not base64 (length or padding is wrong)`);
  }
  const length = (count * 3) >> 2;
  if (length > maxBytes) {
    throw new OmemoError("STANZA_TOO_LARGE", `${field} is longer than ${maxBytes} bytes`);
  }
  const out = new Uint8Array(length);
  let o = 0;
  let i = 0;
  for (; i + 3 < count; i += 4) {
    const n = (symbols[i]! << 18) | (symbols[i + 1]! << 12) | (symbols[i + 2]! << 6) | symbols[i + 3]!;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  const rest = count - i;
  if (rest === 2) {
    const n = (symbols[i]! << 18) | (symbols[i + 1]! << 12);
    if ((n & 0xffff) !== 0) throw nonCanonical(field);
    out[o++] = n >> 16;
  } else if (rest === 3) {
    const n = (symbols[i]! << 18) | (symbols[i + 1]! << 12) | (symbols[i + 2]! << 6);
    if ((n & 0xff) !== 0) throw nonCanonical(field);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
  }
  return out;
}

function nonCanonical(field: string): OmemoError {
  return new OmemoError("INVALID_BASE64", `${field} is not canonical base64 (non-zero bits before the padding)`);
}
