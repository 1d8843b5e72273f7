/**
 * The public API of @parley/crypto (semver). Helpers shared with the other Parley packages live in
 * ./internal.ts (`@parley/crypto/internal`), which semver does not cover.
 * @packageDocumentation
 */
export { createCrypto, defaultCrypto } from "./crypto.js";
export type { Crypto, CreateCryptoOptions } from "./crypto.js";
export type { XeddsaVerifyOptions } from "./xeddsa.js";
export type { CryptoProvider, ScryptParams } from "./provider.js";
export { nobleProvider } from "./noble.js";
export { CryptoError, isCryptoError } from "./errors.js";
export type { CryptoErrorCode } from "./errors.js";
export { KeyPair } from "./keys.js";
export type { KeyPairKind } from "./keys.js";
export { systemRandom } from "./random.js";
export type { RandomSource } from "./random.js";
export { bytesToHex, concatBytes, constantTimeEqual, hexToBytes, wipe } from "./bytes.js";
export { edwardsToMontgomery, montgomeryToEdwards } from "./xeddsa.js";
export {
  createAesGcmDecryptor,
  createAesGcmEncryptor,
  GCM_STREAM_MAX_BYTES,
  GCM_STREAM_TAG_BYTES,
} from "./gcm-stream.js";
export type { AesGcmDecryptor, AesGcmEncryptor, GcmStreamOptions, GcmStreamProvider } from "./gcm-stream.js";
