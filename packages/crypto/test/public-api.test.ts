// The root export is the semver-covered API (README "What is public"): this pins it, so an internal
// helper cannot slip back into it unnoticed. Internals live in @parley/crypto/internal.
import { describe, expect, it } from "vitest";
import * as internal from "../src/internal.js";
import * as api from "../src/index.js";
import * as webcrypto from "../src/webcrypto.js";

describe("public surface (README: What is public)", () => {
  it("the root exports exactly the documented values", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "CryptoError",
        "KeyPair",
        "bytesToHex",
        "GCM_STREAM_MAX_BYTES",
        "GCM_STREAM_TAG_BYTES",
        "concatBytes",
        "constantTimeEqual",
        "createAesGcmDecryptor",
        "createAesGcmEncryptor",
        "createCrypto",
        "defaultCrypto",
        "edwardsToMontgomery",
        "hexToBytes",
        "isCryptoError",
        "montgomeryToEdwards",
        "nobleProvider",
        "systemRandom",
        "wipe",
      ].sort(),
    );
  });

  it("@parley/crypto/webcrypto exports exactly the documented values (README: Browser speed)", () => {
    expect(Object.keys(webcrypto).sort()).toEqual(
      [
        "MAX_KEY_PAIRS_PER_CALL",
        "MAX_POOL_CAPACITY",
        "createX25519KeyPairPool",
        "ed25519SignAsync",
        "ed25519VerifyAsync",
        "generateX25519KeyPairs",
        "libsignalVerifyAsync",
        "webCryptoAvailable",
        "x25519Async",
        "xeddsaVerifyAsync",
      ].sort(),
    );
  });

  it("internals are reachable only through @parley/crypto/internal", () => {
    const internals = [
      "INSPECT_CUSTOM",
      "assertBytes",
      "clampX25519",
      "nativeProviderIfAvailable",
      "copyX25519KeyPair",
    ];
    expect(Object.keys(internal).sort()).toEqual(internals.sort());
    for (const name of internals) expect(Object.keys(api)).not.toContain(name);
  });
});
