/**
 * Test helpers: a deterministic random source, so key generation and nonces are reproducible and
 * vectors can be regenerated. Never use it for real keys.
 * @packageDocumentation
 */
import { chacha20 } from "@noble/ciphers/chacha.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { RandomSource } from "./random.js";

/** A ChaCha20 keystream keyed by SHA-256(seed): the same seed gives the same bytes, call after call. */
export function deterministicRandom(seed: string | Uint8Array): RandomSource {
  const key = sha256(typeof seed === "string" ? new TextEncoder().encode(seed) : seed);
  const nonce = new Uint8Array(12);
  let block = 0;
  let buffer = new Uint8Array(0);
  return (length) => {
    while (buffer.length < length) {
      const chunk = chacha20(key, nonce, new Uint8Array(64 * 16), undefined, block);
      block += 16;
      const next = new Uint8Array(buffer.length + chunk.length);
      next.set(buffer);
      next.set(chunk, buffer.length);
      buffer = next;
    }
    const out = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return out;
  };
}
