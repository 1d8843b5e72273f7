/**
 * Limits and defaults of the key agreement, each with its reason and the deployed peers' figures
 * (XEP-0384 v0.3 §4.1 and v0.8.3 §4.2, python-x3dh, libsignal).
 */

/** Largest prekey id. XEP-0384 v0.9.1 requires ids 1 … 2^31 − 1; libsignal's Medium.MAX_VALUE is 0xFFFFFF. */
export const MAX_PRE_KEY_ID = 0x7fffffff;

/** One-time prekeys to publish: XEP-0384 says SHOULD 100 (v0.3 MUST >= 20, v0.8 MUST >= 25). */
export const DEFAULT_ONE_TIME_PRE_KEY_COUNT = 100;

/** Refill below this many: OMEMO 2's minimum of 25 (legacy's 20 is lower, so 25 satisfies both). */
export const MIN_ONE_TIME_PRE_KEY_COUNT = 25;

/** Most one-time prekeys generated in one call: bounds the work a caller can trigger by mistake. */
export const MAX_ONE_TIME_PRE_KEYS_PER_CALL = 1000;

/** Rotate the signed prekey weekly to monthly (XEP-0384 v0.8.3 §4.2); we default to 7 days. */
export const SIGNED_PRE_KEY_ROTATION_MS = 7 * 24 * 60 * 60 * 1000;

/** Keep the previous signed prekey for one more rotation period, for delayed key exchanges (same section). */
export const OLD_SIGNED_PRE_KEY_KEEP_MS = SIGNED_PRE_KEY_ROTATION_MS;

/** X3DH §2.2: F = 32 × 0xFF before the DH outputs, for X25519 (libsignal's "discontinuity bytes"). */
export const X3DH_F_LENGTH = 32;

/** SK length: 32 bytes (X3DH §2.2, python-x3dh, OMEMO 2). libsignal's 64-byte output starts with the same 32. */
export const SHARED_SECRET_LENGTH = 32;
