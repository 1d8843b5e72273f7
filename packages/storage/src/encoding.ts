import { StorageError } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes of `s`. Short ASCII strings (every row key, most namespaces and keys) are copied code
 * unit by code unit: TextEncoder's per-call cost is several times that (same bytes either way).
 */
export function utf8(s: string): Uint8Array {
  const length = s.length;
  if (length > 128) return encoder.encode(s);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return encoder.encode(s);
    out[i] = c;
  }
  return out;
}

export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new StorageError("TAMPERED", "a decrypted record is not valid UTF-8", { cause });
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Keys must survive a UTF-8 round trip unchanged, so lone surrogates are refused. */
export function assertWellFormed(s: unknown, name: string, max: number, allowEmpty: boolean): asserts s is string {
  if (typeof s !== "string") throw new StorageError("INVALID_ARGUMENT", `${name} must be a string`);
  if (!allowEmpty && s.length === 0) throw new StorageError("INVALID_ARGUMENT", `${name} must not be empty`);
  if (s.length > max) throw new StorageError("INVALID_ARGUMENT", `${name} is longer than ${max} characters`);
  if (LONE_SURROGATE.test(s)) throw new StorageError("INVALID_ARGUMENT", `${name} contains a lone UTF-16 surrogate`);
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Unpadded base64url: MACed key tokens are ASCII without '/', so '/' stays the segment separator. */
export function base64url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

export function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

export function readU32be(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset);
}

/** a + b mod 2^256 (big-endian): the MSet-Add-Hash combiner, so each write updates the digest in O(1). */
export function add256(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let carry = 0;
  for (let i = 31; i >= 0; i--) {
    const s = a[i]! + b[i]! + carry;
    out[i] = s & 0xff;
    carry = s >> 8;
  }
  return out;
}

/** a - b mod 2^256 (big-endian). */
export function sub256(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = a[i]! - b[i]! - borrow;
    out[i] = d & 0xff;
    borrow = d < 0 ? 1 : 0;
  }
  return out;
}

/** Strings in JavaScript (UTF-16 code unit) order: what `scan` sorts by. */
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function assertBytesValue(value: unknown, name: string, max: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StorageError("INVALID_ARGUMENT", `${name} must be a Uint8Array`);
  if (value.length > max) throw new StorageError("INVALID_ARGUMENT", `${name} is larger than ${max} bytes`);
}
