import { describe, expect, it } from "vitest";
import {
  btbvPolicy,
  createTrustStore,
  decideAccept,
  decideEncrypt,
  manualPolicy,
  memoryTrustStorage,
  tofuPolicy,
} from "../src/index.js";
import type { TrustPolicy, TrustState } from "../src/index.js";

describe("policies are pure functions: the state of a new key", () => {
  const cases: Array<[TrustPolicy, TrustState[], "tofu" | "untrusted"]> = [
    [tofuPolicy, [], "tofu"],
    [tofuPolicy, ["tofu"], "untrusted"],
    [tofuPolicy, ["compromised"], "untrusted"],
    [tofuPolicy, ["verified"], "untrusted"],
    [btbvPolicy, [], "tofu"],
    [btbvPolicy, ["tofu", "untrusted"], "tofu"],
    // A compromised key was marked so by the user: BTBV stays strict (review M4).
    [btbvPolicy, ["tofu", "untrusted", "compromised"], "untrusted"],
    [btbvPolicy, ["tofu", "verified"], "untrusted"],
    [manualPolicy, [], "untrusted"],
    [manualPolicy, ["verified"], "untrusted"],
  ];
  it.each(cases)("%o with known keys %j gives %s", (policy, known, expected) => {
    expect(policy.initialState({ known })).toBe(expected);
    expect(policy.initialState({ known })).toBe(expected); // same input, same answer
  });
});

describe("policies read the store's context: an open first batch, a past verification or compromise", () => {
  it("TOFU trusts keys while the first batch is open, even with keys known (they came in it)", () => {
    expect(tofuPolicy.initialState({ known: ["tofu"], firstBatch: true })).toBe("tofu");
    expect(tofuPolicy.initialState({ known: [], firstBatch: false })).toBe("untrusted");
  });

  it("BTBV stays strict once the user verified or compromised a key, whatever the known keys' states now", () => {
    expect(btbvPolicy.initialState({ known: ["tofu", "untrusted"], everVerifiedOrCompromised: true })).toBe(
      "untrusted",
    );
    expect(btbvPolicy.initialState({ known: [], everVerifiedOrCompromised: true })).toBe("untrusted");
    expect(btbvPolicy.initialState({ known: ["tofu"], everVerifiedOrCompromised: false })).toBe("tofu");
  });
});

describe("policies: which states are trusted", () => {
  const table: Record<string, Record<TrustState, boolean>> = {
    tofu: { tofu: true, verified: true, untrusted: false, compromised: false },
    btbv: { tofu: true, verified: true, untrusted: false, compromised: false },
    manual: { tofu: false, verified: true, untrusted: false, compromised: false },
  };
  for (const policy of [tofuPolicy, btbvPolicy, manualPolicy])
    for (const [state, trusted] of Object.entries(table[policy.name]!))
      it(`${policy.name}: ${state} is ${trusted ? "" : "not "}trusted`, () => {
        expect(policy.isTrusted(state as TrustState)).toBe(trusted);
      });
});

describe("shouldEncryptTo / shouldAcceptFrom decisions and their reasons", () => {
  it("names the reason for every state", () => {
    expect(decideEncrypt(tofuPolicy, "verified")).toEqual({
      allowed: true,
      trusted: true,
      state: "verified",
      reason: "verified",
    });
    expect(decideEncrypt(tofuPolicy, "tofu").reason).toBe("trusted-without-verification");
    expect(decideEncrypt(manualPolicy, "tofu")).toEqual({
      allowed: false,
      trusted: false,
      state: "tofu",
      reason: "verification-required",
    });
    expect(decideEncrypt(btbvPolicy, "untrusted").reason).toBe("untrusted");
    expect(decideEncrypt(tofuPolicy, "compromised")).toEqual({
      allowed: false,
      trusted: false,
      state: "compromised",
      reason: "compromised",
    });
    expect(decideEncrypt(tofuPolicy, undefined)).toEqual({
      allowed: false,
      trusted: false,
      state: undefined,
      reason: "unknown-key",
    });
  });

  it("accepts from untrusted keys only when the app allows it, and never from a compromised key", () => {
    expect(decideAccept(tofuPolicy, "untrusted", true)).toMatchObject({ allowed: true, trusted: false });
    expect(decideAccept(tofuPolicy, "untrusted", false)).toMatchObject({ allowed: false, trusted: false });
    expect(decideAccept(tofuPolicy, "compromised", true)).toMatchObject({ allowed: false, reason: "compromised" });
    expect(decideAccept(manualPolicy, "verified", false)).toMatchObject({ allowed: true, trusted: true });
    expect(decideAccept(tofuPolicy, undefined, false)).toMatchObject({ allowed: false, reason: "unknown-key" });
  });

  it("a policy that gives a new key any state but tofu or untrusted is refused, and nothing is stored", async () => {
    const rogue = { name: "rogue", initialState: () => "verified", isTrusted: () => true } as unknown as TrustPolicy;
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: rogue });
    await expect(store.keySeen("me@x", "c@y", "demo", "aa")).rejects.toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(await store.listRecords("me@x")).toEqual([]);
  });

  it("a custom policy plugs in: trust the first two batches, then nothing new", async () => {
    const twoBatches: TrustPolicy = {
      name: "two-batches",
      initialState: ({ known }) => (known.length < 2 ? "tofu" : "untrusted"),
      isTrusted: (state) => state === "tofu" || state === "verified",
    };
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: twoBatches, acceptUntrusted: false });
    const a = await store.keySeen("me@x", "c@y", "demo", "aa");
    const b = await store.keySeen("me@x", "c@y", "demo", "bb");
    const c = await store.keySeen("me@x", "c@y", "demo", "cc");
    expect([a.state, b.state, c.state]).toEqual(["tofu", "tofu", "untrusted"]);
    expect(a.history[0]!.cause).toEqual({ kind: "first-seen", policy: "two-batches", firstBatch: true });
    expect(b.history[0]!.cause).toEqual({ kind: "first-seen", policy: "two-batches", firstBatch: false });
    expect((await store.shouldAcceptFrom("me@x", "c@y", "demo", "cc")).allowed).toBe(false);
  });
});
