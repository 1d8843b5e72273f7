import { CryptoError } from "./errors.js";

/**
 * A source of random bytes. Inject one into `createCrypto({ random })` to make key generation and
 * nonces reproducible in tests (see `@parley/crypto/testing`). Production code uses the platform CSPRNG.
 */
export type RandomSource = (length: number) => Uint8Array;

/** WebCrypto's getRandomValues fills at most 65536 bytes per call. */
const GET_RANDOM_VALUES_MAX = 65536;

export const systemRandom: RandomSource = (length) => {
  const webcrypto = globalThis.crypto as { getRandomValues?: <T extends Uint8Array>(a: T) => T } | undefined;
  if (!webcrypto?.getRandomValues) {
    throw new CryptoError("UNSUPPORTED", "no secure random source: globalThis.crypto.getRandomValues is missing");
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
