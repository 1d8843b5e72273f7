import { MAX_MPI_BYTES } from "./consts.js";
import { OtrError } from "./errors.js";

export const EMPTY = new Uint8Array(0);

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

const DECODER = new TextDecoder("utf-8", { fatal: false });
export function utf8Decode(bytes: Uint8Array): string {
  return DECODER.decode(bytes);
}

const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Unsigned big-endian bytes of n, minimal length (empty for 0). */
export function bigintToBytes(n: bigint): Uint8Array {
  if (n < 0n) throw new OtrError("INVALID_ARGUMENT", "negative integer");
  if (n === 0n) return EMPTY;
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0, j = 0; i < out.length; i++, j += 2)
    out[i] = (hexNibble(hex.charCodeAt(j)) << 4) | hexNibble(hex.charCodeAt(j + 1));
  return out;
}

/** Unsigned big-endian bytes of n, left-padded to `length`. */
export function bigintToFixed(n: bigint, length: number): Uint8Array {
  const raw = bigintToBytes(n);
  if (raw.length > length) throw new OtrError("INVALID_ARGUMENT", "integer does not fit its field");
  const out = new Uint8Array(length);
  out.set(raw, length - raw.length);
  return out;
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt("0x" + bytesToHex(bytes));
}

export function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += HEX_BYTE[b]!;
  return hex;
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new OtrError("INVALID_ARGUMENT", "not a hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    const hi = hexNibble(hex.charCodeAt(j));
    const lo = hexNibble(hex.charCodeAt(j + 1));
    if (hi < 0 || lo < 0) throw new OtrError("INVALID_ARGUMENT", "not a hex string");
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** The MPI encoding of the spec: 4-byte length, minimal big-endian value. */
export function mpi(n: bigint): Uint8Array {
  const v = bigintToBytes(n);
  const out = new Uint8Array(4 + v.length);
  new DataView(out.buffer).setUint32(0, v.length);
  out.set(v, 4);
  return out;
}

/** Appends the spec's data types into a growing buffer. */
export class Writer {
  #parts: Uint8Array[] = [];
  byte(v: number): this {
    this.#parts.push(Uint8Array.of(v & 0xff));
    return this;
  }
  short(v: number): this {
    this.#parts.push(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
    return this;
  }
  int(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    this.#parts.push(b);
    return this;
  }
  mpi(n: bigint): this {
    this.#parts.push(mpi(n));
    return this;
  }
  data(d: Uint8Array): this {
    this.int(d.length);
    this.#parts.push(d);
    return this;
  }
  raw(d: Uint8Array): this {
    this.#parts.push(d);
    return this;
  }
  finish(): Uint8Array {
    return concat(...this.#parts);
  }
}

/** Reads the spec's data types; every read is bounds-checked and a short input is MALFORMED_MESSAGE. */
export class Reader {
  #offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what = "message",
  ) {}
  get offset(): number {
    return this.#offset;
  }
  get remaining(): number {
    return this.bytes.length - this.#offset;
  }
  #need(n: number): void {
    if (n > this.remaining) throw new OtrError("MALFORMED_MESSAGE", `${this.what} is truncated`);
  }
  byte(): number {
    this.#need(1);
    return this.bytes[this.#offset++]!;
  }
  short(): number {
    this.#need(2);
    const v = (this.bytes[this.#offset]! << 8) | this.bytes[this.#offset + 1]!;
    this.#offset += 2;
    return v;
  }
  int(): number {
    this.#need(4);
    const b = this.bytes;
    const o = this.#offset;
    const v = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    this.#offset += 4;
    return v;
  }
  raw(n: number): Uint8Array {
    this.#need(n);
    const out = this.bytes.slice(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  data(max: number): Uint8Array {
    const n = this.int();
    if (n > max) throw new OtrError("TOO_LARGE", `${this.what}: a data field of ${n} bytes exceeds ${max}`);
    return this.raw(n);
  }
  /** An MPI; rejects non-minimal encodings (a leading zero byte) and values above MAX_MPI_BYTES. */
  mpi(): bigint {
    const n = this.int();
    if (n > MAX_MPI_BYTES)
      throw new OtrError("TOO_LARGE", `${this.what}: an MPI of ${n} bytes exceeds ${MAX_MPI_BYTES}`);
    const v = this.raw(n);
    if (n > 0 && v[0] === 0) throw new OtrError("MALFORMED_MESSAGE", `${this.what}: an MPI has a leading zero byte`);
    return bytesToBigint(v);
  }
  end(): void {
    if (this.remaining !== 0)
      throw new OtrError("MALFORMED_MESSAGE", `${this.what} has ${this.remaining} trailing bytes`);
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_SHAPE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Node's Buffer when it exists (a global, not an import: browser bundles see undefined and use btoa/atob). */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

export function base64Encode(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  let bin = "";
  for (let i = 0; i < bytes.length; i += 4096) bin += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return btoa(bin);
}

/** Strict base64 (standard alphabet, padding required, no whitespace, zero padding bits); MALFORMED_MESSAGE otherwise. */
export function base64Decode(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new OtrError("MALFORMED_MESSAGE", "base64 length is not a multiple of 4");
  if (!B64_SHAPE.test(text)) throw new OtrError("MALFORMED_MESSAGE", "invalid base64 character");
  let out: Uint8Array;
  if (NodeBuffer) {
    const b = NodeBuffer.from(text, "base64");
    out = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } else {
    const bin = atob(text);
    out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  }
  // Non-canonical padding bits: the last character before "=" must carry no bits beyond the data.
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  if (pad > 0) {
    const last = B64.indexOf(text[text.length - pad - 1]!);
    if ((pad === 2 ? last & 0x0f : last & 0x03) !== 0)
      throw new OtrError("MALFORMED_MESSAGE", "base64 has non-zero padding bits");
  }
  return out;
}
