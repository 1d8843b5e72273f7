import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTrustStore, manualPolicy, memoryTrustStorage, omemoTrustDecider } from "../src/index.js";

const ME = "juliet@example.com";
const ROMEO = "romeo@example.net";
const device = (deviceId: number, digit: string) => ({ jid: ROMEO, deviceId, fingerprint: digit.repeat(64) });

describe("omemoTrustDecider: the trust store as @parley/omemo's trust decider", () => {
  it("TOFU: the devices met together at first contact are trusted, a later one is not until verified", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const decider = omemoTrustDecider(store, ME);
    await decider.seen([device(1, "a"), device(2, "b")]);
    expect(await decider.decide(device(1, "a"), "encrypt")).toBe("trusted");
    expect(await decider.decide(device(2, "b"), "encrypt")).toBe("trusted");
    // A third device, met later: recorded, not encrypted to, but its messages are read (marked).
    expect(await decider.decide(device(3, "c"), "encrypt")).toBe("untrusted");
    expect(await decider.decide(device(3, "c"), "decrypt")).toBe("undecided");
    expect((await store.getRecord(ME, ROMEO, "omemo", "c".repeat(64)))?.state).toBe("untrusted");
    await store.setTrust(ME, ROMEO, "omemo", "c".repeat(64), "verified", { method: "qr" });
    expect(await decider.decide(device(3, "c"), "encrypt")).toBe("trusted");
    expect(await decider.decide(device(3, "c"), "decrypt")).toBe("trusted");
  });

  it("a compromised key is neither encrypted to nor read from", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const decider = omemoTrustDecider(store, ME);
    await decider.seen([device(1, "a")]);
    await store.markCompromised(ME, ROMEO, "omemo", "a".repeat(64));
    expect(await decider.decide(device(1, "a"), "encrypt")).toBe("untrusted");
    expect(await decider.decide(device(1, "a"), "decrypt")).toBe("untrusted");
  });

  it("acceptUntrusted: false refuses messages from keys not trusted yet", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: manualPolicy, acceptUntrusted: false });
    const decider = omemoTrustDecider(store, ME);
    expect(await decider.decide(device(1, "a"), "decrypt")).toBe("untrusted");
    expect(await decider.decide(device(1, "a"), "encrypt")).toBe("untrusted");
  });

  it("seen with no devices records nothing", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await omemoTrustDecider(store, ME).seen([]);
    expect(await store.listRecords(ME)).toEqual([]);
  });

  it("property: under TOFU, encrypt is allowed exactly for the first batch's devices and verified ones", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { minLength: 2, maxLength: 8 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        async (ids, split, verifiedPicks) => {
          const cut = Math.min(split, ids.length - 1);
          const devices = ids.map((id, i) => ({
            jid: ROMEO,
            deviceId: id,
            fingerprint: i.toString(16).padStart(64, "0"),
          }));
          const store = createTrustStore({ storage: memoryTrustStorage() });
          const decider = omemoTrustDecider(store, ME);
          await decider.seen(devices.slice(0, cut));
          const verified = new Set(verifiedPicks.map((p) => p % devices.length).filter((i) => i >= cut));
          for (const i of verified) {
            await decider.decide(devices[i]!, "decrypt");
            await store.setTrust(ME, ROMEO, "omemo", devices[i]!.fingerprint, "verified");
          }
          for (const [i, d] of devices.entries()) {
            const expected = i < cut || verified.has(i) ? "trusted" : "untrusted";
            expect(await decider.decide(d, "encrypt")).toBe(expected);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
