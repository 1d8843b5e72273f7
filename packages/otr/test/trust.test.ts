import { createTrustStore, memoryTrustStorage, type TrustStore } from "@parley/trust";
import { describe, expect, it } from "vitest";
import { recordSmpResult, type OtrTrust } from "../src/index.js";
import { encryptedPair, eventsFor, pump } from "./helpers.js";

function memoryTrust(): TrustStore {
  return createTrustStore({ storage: memoryTrustStorage() });
}

describe("trust", () => {
  it("a verified SMP marks the contact's fingerprint verified (method smp) in @parley/trust's TrustStore", async () => {
    const store = memoryTrust();
    const trust: OtrTrust = store; // structural: TrustStore satisfies OtrTrust
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.smp.start("same"));
    const d = pump(bob, alice, bob.smp.respond("same"));
    const result = eventsFor(d, alice).find((e) => e.type === "smp-result")!;
    expect(await recordSmpResult(trust, alice, result)).toBe(true);
    const record = await store.getRecord(alice.account, alice.contact, "otr", bob.ourFingerprint);
    expect(record?.state).toBe("verified");
    expect(JSON.stringify(record)).toContain('"method":"smp"');
  });

  it("a failed SMP records nothing", async () => {
    const store = memoryTrust();
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.smp.start("one"));
    const d = pump(bob, alice, bob.smp.respond("two"));
    const result = eventsFor(d, alice).find((e) => e.type === "smp-result")!;
    expect(result).toMatchObject({ result: "failed" });
    expect(await recordSmpResult(store, alice, result)).toBe(false);
    expect(await store.getRecord(alice.account, alice.contact, "otr", bob.ourFingerprint)).toBeUndefined();
  });
});
