import { describe, expect, it } from "vitest";
import {
  createTrustStore,
  formatFingerprint,
  memoryTrustStorage,
  omemo2FingerprintFromEd25519,
  parseXmppUri,
} from "../src/index.js";
import type { TrustEvents } from "../src/index.js";

describe("@parley/trust in a browser (Chromium)", () => {
  it("runs TOFU, events, URI verification and persistence without Node APIs", async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe("object");
    const storage = memoryTrustStorage();
    const store = createTrustStore({ storage });
    const warnings: Array<TrustEvents["keyChangeWarning"]> = [];
    store.on("keyChangeWarning", (e) => warnings.push(e));
    const first = await store.keysSeen("me@x", "bob@y", "omemo", ["11".repeat(32), "22".repeat(32)]);
    const later = await store.keySeen("me@x", "bob@y", "omemo", "33".repeat(32));
    expect([...first.map((r) => r.state), later.state]).toEqual(["tofu", "tofu", "untrusted"]);
    expect(warnings).toHaveLength(1);
    await store.applyUri("me@x", parseXmppUri(`xmpp:bob@y?omemo-sid-3=${"33".repeat(32)}`), { method: "qr" });
    const reopened = createTrustStore({ storage });
    expect((await reopened.shouldEncryptTo("me@x", "bob@y", "omemo", "33".repeat(32))).reason).toBe("verified");
  });

  it("the OMEMO 2 fingerprint conversion (@parley/crypto) and grouping behave as in Node", () => {
    const basePoint = new Uint8Array(32);
    basePoint[0] = 0x58;
    basePoint.fill(0x66, 1);
    // The Ed25519 base point maps to the X25519 base point u = 9 (RFC 7748 §4.1).
    expect(formatFingerprint(omemo2FingerprintFromEd25519(basePoint), "omemo2")).toBe(
      "09000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000",
    );
    // y = 2 is not on the curve: no fingerprint, a TrustError.
    const offCurve = new Uint8Array(32);
    offCurve[0] = 2;
    expect(() => omemo2FingerprintFromEd25519(offCurve)).toThrow(
      expect.objectContaining({ name: "TrustError", code: "INVALID_ARGUMENT" }),
    );
  });
});
