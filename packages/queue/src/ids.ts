import { QueueError } from "./errors.js";

/** Random bytes: the platform CSPRNG unless a test injects its own. */
export type RandomBytes = (length: number) => Uint8Array;

export function defaultRandom(length: number): Uint8Array {
  const out = new Uint8Array(length);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** `random(n)`, refused (INVALID_ARGUMENT) unless it is a Uint8Array of exactly `n` bytes. */
function bytes(random: RandomBytes, n: number): Uint8Array {
  const b = random(n);
  if (!(b instanceof Uint8Array) || b.length !== n)
    throw new QueueError("INVALID_ARGUMENT", `random(${n}) must return a Uint8Array of ${n} bytes`);
  return b;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** An origin-id (XEP-0359): a random UUID v4 (122 random bits), unique without coordination. */
export function newOriginId(random: RandomBytes): string {
  const b = bytes(random, 16);
  const h = (i: number) => HEX[i === 6 ? (b[6]! & 0x0f) | 0x40 : i === 8 ? (b[8]! & 0x3f) | 0x80 : b[i]!]!;
  let s = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
    s += h(i);
  }
  return s;
}

/** A uniform number in [0, 1) from 4 random bytes (jitter). */
export function randomUnit(random: RandomBytes): number {
  const b = bytes(random, 4);
  return (((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!) / 2 ** 32;
}
