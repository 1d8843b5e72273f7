// The public surface: exactly these names, so nothing internal leaks and no name means two things
// across Parley (the plain profile names belong to @parley/double-ratchet).
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

describe("public API of @parley/x3dh", () => {
  it("exports exactly the documented names", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "DEFAULT_ONE_TIME_PRE_KEY_COUNT",
        "DJB_TYPE",
        "InMemoryPreKeyStore",
        "MAX_ONE_TIME_PRE_KEYS_PER_CALL",
        "MAX_PRE_KEY_ID",
        "MIN_ONE_TIME_PRE_KEY_COUNT",
        "OLD_SIGNED_PRE_KEY_KEEP_MS",
        "SIGNED_PRE_KEY_ROTATION_MS",
        "X3dhError",
        "createBundle",
        "createSignalX3dhProfile",
        "createX3dhProfile",
        "decodePublicKey",
        "encodeIdentityKey",
        "encodePublicKey",
        "generateIdentityKeyPair",
        "generateOneTimePreKeys",
        "generateSignedPreKey",
        "identityKeyToX25519",
        "initiate",
        "isX3dhError",
        "legacyOmemoX3dh",
        "omemo2X3dh",
        "respond",
        "signalX3dh",
        "verifySignedPreKey",
      ].sort(),
    );
  });

  it("the profiles are named …X3dh and carry their own name", () => {
    expect([api.legacyOmemoX3dh.name, api.omemo2X3dh.name, api.signalX3dh.name]).toEqual([
      "legacyOmemo",
      "omemo2",
      "signal",
    ]);
    expect(new TextDecoder().decode(api.createSignalX3dhProfile("MyChat X3DH").info)).toBe("MyChat X3DH");
  });
});
