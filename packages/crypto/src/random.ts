import { CryptoError } from "./errors.js";

/**
 * A source of random bytes. Inject one into `createCrypto({ random })` to make key generation and
 * nonces reproducible in tests (see `@parley/crypto/testing`). Production code uses the platform CSPRNG.
 */
export type RandomSource = (length: number) => Uint8Array;

/** WebCrypto's getRandomValues fills at most 65536 bytes per call. */
const GET_RANDOM_VALUES_MAX = 65536;

/**
 * Small requests are served from a pool filled by one getRandomValues call: in Node each call costs
 * several microseconds whatever its size (WebCrypto's checks, then the OS), and protocols draw many
 * 1- to 32-byte values (nonces, padding, keys). Every byte handed out is wiped from the pool, so the
 * pool holds only bytes nobody has seen. Larger requests go to the platform directly.
 */
const POOL_BYTES = 4096;
const POOLED_MAX = 256;
let pool: Uint8Array | undefined;
let poolOffset = POOL_BYTES;

function platform(): { getRandomValues: <T extends Uint8Array>(a: T) => T } {
  const webcrypto = globalThis.crypto as { getRandomValues?: <T extends Uint8Array>(a: T) => T } | undefined;
  if (!webcrypto?.getRandomValues) {
    throw new CryptoError("UNSUPPORTED", "no secure random source: globalThis.crypto.getRandomValues is missing");
  }
  return webcrypto as { getRandomValues: <T extends Uint8Array>(a: T) => T };
}

export const systemRandom: RandomSource = (length) => {
  const webcrypto = platform();
  if (length <= POOLED_MAX) {
    if (pool === undefined) pool = new Uint8Array(POOL_BYTES);
    if (poolOffset + length > POOL_BYTES) {
      webcrypto.getRandomValues(pool);
      poolOffset = 0;
    }
    const out = pool.slice(poolOffset, poolOffset + length);
    pool.fill(0, poolOffset, poolOffset + length);
    poolOffset += length;
    return out;
  }
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += GET_RANDOM_VALUES_MAX) {
    webcrypto.getRandomValues(out.subarray(offset, Math.min(length, offset + GET_RANDOM_VALUES_MAX)));
  }
  return out;
};

/** Calls a source and checks what it returned, so a broken injected source fails loudly. */
export function drawRandom(source: RandomSource, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new CryptoError("INVALID_ARGUMENT", `random length must be a non-negative integer, got ${length}`);
  }
  let out: unknown;
  try {
    out = source(length);
  } catch (cause) {
    throw new CryptoError("RANDOM_FAILED", "the random source threw", { cause });
  }
  if (!(out instanceof Uint8Array) || out.length !== length) {
    throw new CryptoError("RANDOM_FAILED", `the random source must return ${length} bytes`);
  }
  return out;
}
