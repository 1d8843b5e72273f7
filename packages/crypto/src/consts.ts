/**
 * Largest scrypt working memory (128·r·(N + p) bytes) we accept: 1 GiB. Interactive unlocks use
 * 16-256 MiB (N = 2^14..2^18, r = 8); more than a GiB is a parameter mistake or a hostile header.
 */
export const SCRYPT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024;

/** RFC 7914 §2: p ≤ (2^32 − 1)·32 / (128·r) and dkLen ≤ (2^32 − 1)·32; we also keep r·p < 2^30 as OpenSSL does. */
export const SCRYPT_MAX_RP = 2 ** 30 - 1;
export const SCRYPT_MAX_DKLEN = (2 ** 32 - 1) * 32;

/** Native KeyObjects for public keys are kept in an LRU of this size: a ratchet needs a handful. */
export const NATIVE_PUBLIC_KEY_CACHE_SIZE = 256;
