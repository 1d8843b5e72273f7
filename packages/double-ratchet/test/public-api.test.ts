// The public surface: exactly these names, so nothing internal leaks (the Session constructor,
// the format version, constants for other packages) and each name means one thing across Parley.
import { legacyOmemoX3dh, omemo2X3dh, signalX3dh } from "@parley/x3dh";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

describe("public API of @parley/double-ratchet", () => {
  it("exports exactly the documented names", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "DoubleRatchetError",
        "LIMIT_CEILINGS",
        "LIMIT_FLOORS",
        "MAX_FORWARD_JUMP",
        "MAX_MESSAGE_LENGTH",
        "MAX_PLAINTEXT_LENGTH",
        "MAX_SKIPPED_CHAINS",
        "MAX_SKIPPED_MESSAGE_KEYS",
        "OMEMO2_MAX_SKIPPED_MESSAGE_KEYS",
        "Session",
        "acceptSession",
        "createInitiatorSession",
        "createSignalProfile",
        "decrypt",
        "deserializeSession",
        "encrypt",
        "initiatorSessionFromAgreement",
        "inspectMessage",
        "isDoubleRatchetError",
        "legacyOmemo",
        "omemo2",
        "responderSessionFromAgreement",
        "serializeSession",
        "signal",
        "signalHeaderEncrypted",
        "withLimits",
      ].sort(),
    );
  });

  it("the ratchet profiles carry @parley/x3dh's profile objects as profile.x3dh", () => {
    expect(api.legacyOmemo.x3dh).toBe(legacyOmemoX3dh);
    expect(api.omemo2.x3dh).toBe(omemo2X3dh);
    expect(api.signal.x3dh.info).toEqual(signalX3dh.info);
    expect(new TextDecoder().decode(api.createSignalProfile({ application: "MyChat" }).x3dh.info)).toBe("MyChat X3DH");
  });
});
