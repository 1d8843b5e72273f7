import { CryptoError } from "./errors.js";

/** Throws INVALID_ARGUMENT unless `value` is a Uint8Array of one of the allowed lengths. */
export function assertBytes(value: unknown, name: string, ...lengths: number[]): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError("INVALID_ARGUMENT", `${name} must be a Uint8Array`);
  }
  if (lengths.length > 0 && !lengths.includes(value.length)) {
    throw new CryptoError("INVALID_ARGUMENT", `${name} must be ${lengths.join(" or ")} bytes, got ${value.length}`);
  }
}

/**
 * Constant-time equality: the time depends only on the lengths, never on where the bytes differ.
 * Lengths are treated as public (MAC and tag lengths are fixed by the protocols).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  assertBytes(a, "a");
  assertBytes(b, "b");
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function bytesToHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b]!;
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new CryptoError("INVALID_ARGUMENT", "hex must be a string of an even number of hex digits");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const wipeListeners = new Set<(bytes: Uint8Array) => void>();

/** @internal Caches that hold key material derived from a caller's array register here. */
export function onWipe(listener: (bytes: Uint8Array) => void): void {
  wipeListeners.add(listener);
}

/**
 * Best-effort wipe of a secret buffer: zeroes it and drops what this package cached for it (the
 * native provider's KeyObject and its copy of the key). JS gives no guarantee the engine kept no copy.
 */
export function wipe(bytes: Uint8Array): void {
  bytes.fill(0);
  for (const listener of wipeListeners) listener(bytes);
}

/** Node's util.inspect hook, without importing node:util (works in browsers too). */
export const INSPECT_CUSTOM: unique symbol = Symbol.for("nodejs.util.inspect.custom") as never;
