/**
 * @parley/crypto/internal: helpers the other Parley packages share with this one. NOT covered by
 * semver: anything here may change or disappear in any release. Applications should not import it.
 * @packageDocumentation
 */
export { assertBytes, INSPECT_CUSTOM } from "./bytes.js";
export { nativeProviderIfAvailable } from "./crypto.js";
export { clampX25519 } from "./xeddsa.js";
export { copyX25519KeyPair } from "./keys.js";
