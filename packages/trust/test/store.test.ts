import { describe, expect, it } from "vitest";
import {
  btbvPolicy,
  createTrustStore,
  isTrustError,
  manualPolicy,
  MAX_BATCH_KEYS,
  memoryTrustStorage,
  tofuPolicy,
} from "../src/index.js";
import type { TrustEvents, TrustStorage } from "../src/index.js";

const ME = "me@example.com";
const BOB = "bob@example.net";
const fp = (digit: string): string => digit.repeat(64);

function clock(start = 1_700_000_000_000): () => number {
  let t = start;
  return () => (t += 1000);
}

describe("TOFU with OMEMO's first device list: one atomic batch", () => {
  it("trusts every key of the very first batch and none of a later one", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), now: clock() });
    const first = await store.keysSeen(ME, BOB, "omemo", [
      { fingerprint: fp("1"), deviceId: 11 },
      { fingerprint: fp("2"), deviceId: 22 },
    ]);
    expect(first.map((r) => r.state)).toEqual(["tofu", "tofu"]);
    expect(first.map((r) => r.deviceId)).toEqual([11, 22]);
    const later = await store.keysSeen(ME, BOB, "omemo", [fp("1"), fp("3")]);
    expect(later.map((r) => r.state)).toEqual(["tofu", "untrusted"]);
  });

  it("concurrent keySeen calls for one contact: exactly one becomes the first key", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const records = await Promise.all(["1", "2", "3", "4", "5"].map((d) => store.keySeen(ME, BOB, "omemo", fp(d))));
    expect(records.filter((r) => r.state === "tofu")).toHaveLength(1);
    expect(records.filter((r) => r.state === "untrusted")).toHaveLength(4);
  });

  it("keeps contacts, accounts and protocols apart (prefixes cannot collide)", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, "bob@x", "omemo", fp("1"));
    expect((await store.keySeen(ME, "bob@x2", "omemo", fp("3"))).state).toBe("tofu");
    expect((await store.keySeen("other@example.com", "bob@x", "omemo", fp("4"))).state).toBe("tofu");
    expect((await store.keySeen(ME, "bob@x", "otr", "ab".repeat(20))).state).toBe("tofu");
    expect(await store.listRecords(ME, "bob@x")).toHaveLength(2);
    expect(await store.listRecords(ME)).toHaveLength(3);
  });

  it("fills in a device id learnt later, keeps state, and does not duplicate a key seen twice in a batch", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const [a, b] = await store.keysSeen(ME, BOB, "omemo", [fp("1"), fp("1").toUpperCase()]);
    expect(a).toEqual(b);
    const again = await store.keySeen(ME, BOB, "omemo", { fingerprint: fp("1"), deviceId: 7 });
    expect(again).toMatchObject({ state: "tofu", deviceId: 7 });
    expect(await store.listRecords(ME, BOB, "omemo")).toHaveLength(1);
  });
});

describe("user actions: verify, distrust, compromise, with how, when and by whom", () => {
  it("records the method, the actor and the time, and emits trustChanged", async () => {
    const now = clock();
    const store = createTrustStore({ storage: memoryTrustStorage(), now });
    const changes: Array<TrustEvents["trustChanged"]> = [];
    store.on("trustChanged", (e) => changes.push(e));
    await store.keySeen(ME, BOB, "omemo", fp("1"));
    const second = await store.keySeen(ME, BOB, "omemo", fp("2"));
    expect(second.state).toBe("untrusted");
    const verified = await store.verify(ME, BOB, "omemo", fp("2"), { method: "fingerprint-compared", actor: "laptop" });
    expect(verified.state).toBe("verified");
    expect(verified.history.map((h) => h.state)).toEqual(["untrusted", "verified"]);
    expect(verified.history[1]!.cause).toEqual({ kind: "user", method: "fingerprint-compared", actor: "laptop" });
    expect(verified.history[1]!.at).toBeGreaterThan(verified.history[0]!.at);
    const compromised = await store.markCompromised(ME, BOB, "omemo", fp("1"));
    expect(compromised.state).toBe("compromised");
    expect(changes.map((c) => [c.previous, c.record.state])).toEqual([
      ["untrusted", "verified"],
      ["tofu", "compromised"],
    ]);
    // Same state again is a no-op: no history entry, no event.
    const again = await store.verify(ME, BOB, "omemo", fp("2"), { method: "qr" });
    expect(again.history).toHaveLength(2);
    expect(changes).toHaveLength(2);
  });

  it("refuses tofu from a user, an unknown method, and a fingerprint of the wrong size for the protocol", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    // @ts-expect-error tofu is not a user state
    await expect(store.setTrust(ME, BOB, "omemo", fp("1"), "tofu")).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    // @ts-expect-error unknown method
    await expect(store.verify(ME, BOB, "omemo", fp("1"), { method: "vibes" })).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    await expect(store.keySeen(ME, BOB, "otr", fp("1"))).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_FINGERPRINT"),
    );
    await expect(store.keySeen(ME, "", "otr", "ab".repeat(20))).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    // @ts-expect-error null is not a key (a JavaScript caller might pass one)
    await expect(store.keysSeen(ME, BOB, "omemo", [null])).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    await expect(store.keysSeen(ME, BOB, "omemo", [])).rejects.toSatisfy((e) => isTrustError(e, "INVALID_ARGUMENT"));
    const tooMany = Array.from({ length: MAX_BATCH_KEYS + 1 }, (_, i) => i.toString(16).padStart(64, "0"));
    await expect(store.keysSeen(ME, BOB, "omemo", tooMany)).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    expect(await store.listRecords(ME)).toEqual([]);
  });

  it("bounds the history but keeps how the key arrived", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, BOB, "omemo", fp("1"));
    let record = await store.getRecord(ME, BOB, "omemo", fp("1"));
    for (let i = 0; i < 40; i++)
      record = await (i % 2
        ? store.verify(ME, BOB, "omemo", fp("1"), { method: "qr" })
        : store.distrust(ME, BOB, "omemo", fp("1")));
    expect(record!.history).toHaveLength(32);
    expect(record!.history[0]!.cause.kind).toBe("first-seen");
    expect(record!.history.at(-1)!.state).toBe("verified");
  });
});

describe("events for apps that warn", () => {
  it("keyAdded for every new key; keyChangeWarning when an untrusted key joins trusted ones", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const added: Array<TrustEvents["keyAdded"]> = [];
    const warnings: Array<TrustEvents["keyChangeWarning"]> = [];
    store.on("keyAdded", (e) => added.push(e));
    const stop = store.on("keyChangeWarning", (e) => warnings.push(e));
    await store.keysSeen(ME, BOB, "otr", ["aa".repeat(20)]);
    await store.keysSeen(ME, BOB, "otr", ["aa".repeat(20)]);
    await store.keysSeen(ME, BOB, "otr", ["bb".repeat(20)]);
    expect(added.map((e) => [e.record.fingerprint, e.firstBatch])).toEqual([
      ["aa".repeat(20), true],
      ["bb".repeat(20), false],
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.record.fingerprint).toBe("bb".repeat(20));
    expect(warnings[0]!.trustedKeys.map((r) => r.fingerprint)).toEqual(["aa".repeat(20)]);
    stop();
    await store.keysSeen(ME, BOB, "otr", ["cc".repeat(20)]);
    expect(warnings).toHaveLength(1);
  });

  it("no warning when nothing was trusted (manual policy), nor for a key the policy trusts (BTBV); one beside a verified key", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: manualPolicy });
    let warnings = 0;
    store.on("keyChangeWarning", () => (warnings += 1));
    await store.keysSeen(ME, BOB, "omemo", [fp("1")]);
    await store.keysSeen(ME, BOB, "omemo", [fp("2")]);
    store.setPolicy(btbvPolicy);
    await store.keysSeen(ME, BOB, "omemo", [fp("3")]);
    await store.keysSeen(ME, BOB, "omemo", [fp("4")]);
    expect(warnings).toBe(0);
    // Under manual, a verified key is trusted: a new key next to it is a change worth a warning.
    store.setPolicy(manualPolicy);
    await store.verify(ME, BOB, "omemo", fp("1"), { method: "fingerprint-compared" });
    await store.keysSeen(ME, BOB, "omemo", [fp("5")]);
    expect(warnings).toBe(1);
  });

  it("a throwing listener does not break the store or other listeners", async () => {
    const errors: unknown[] = [];
    const store = createTrustStore({ storage: memoryTrustStorage(), onListenerError: (e) => errors.push(e) });
    let seen = 0;
    store.on("keyAdded", () => {
      throw new Error("listener bug");
    });
    store.on("keyAdded", () => (seen += 1));
    const record = await store.keySeen(ME, BOB, "omemo", fp("1"));
    expect(record.state).toBe("tofu");
    expect(seen).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it("policyChanged reports the old and new policy", () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const events: Array<TrustEvents["policyChanged"]> = [];
    store.on("policyChanged", (e) => events.push(e));
    store.setPolicy(manualPolicy);
    store.setPolicy(manualPolicy);
    expect(events.map((e) => [e.previous.name, e.policy.name])).toEqual([["tofu", "manual"]]);
    expect(store.policy).toBe(manualPolicy);
  });
});

describe("per-contact settings", () => {
  it("defaults, changes, persists, and emits", async () => {
    const storage = memoryTrustStorage();
    const store = createTrustStore({ storage, defaultEncryption: "otr" });
    expect(await store.getContactSettings(ME, BOB)).toEqual({ defaultEncryption: "otr", muted: false });
    const events: Array<TrustEvents["contactSettingsChanged"]> = [];
    store.on("contactSettingsChanged", (e) => events.push(e));
    expect(await store.setContactSettings(ME, BOB, { muted: true })).toEqual({ defaultEncryption: "otr", muted: true });
    expect(await store.setContactSettings(ME, BOB, { defaultEncryption: "none" })).toEqual({
      defaultEncryption: "none",
      muted: true,
    });
    const reopened = createTrustStore({ storage });
    expect(await reopened.getContactSettings(ME, BOB)).toEqual({ defaultEncryption: "none", muted: true });
    expect(await reopened.getContactSettings(ME, "carol@example.org")).toEqual({
      defaultEncryption: "omemo",
      muted: false,
    });
    expect(events.map((e) => e.previous.muted)).toEqual([false, true]);
    // @ts-expect-error not a method
    await expect(store.setContactSettings(ME, BOB, { defaultEncryption: "pgp" })).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
  });

  it("forgetContact removes records and settings; the next key is a first key again", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, BOB, "omemo", fp("1"));
    await store.setContactSettings(ME, BOB, { muted: true });
    await store.keySeen(ME, "carol@example.org", "omemo", fp("9"));
    await store.forgetContact(ME, BOB);
    expect(await store.listRecords(ME, BOB)).toEqual([]);
    expect((await store.getContactSettings(ME, BOB)).muted).toBe(false);
    expect(await store.listRecords(ME)).toHaveLength(1);
    expect((await store.keySeen(ME, BOB, "omemo", fp("2"))).state).toBe("tofu");
  });
});

describe("verifying from a scanned xmpp: URI", () => {
  it("verifies known keys and pre-verifies unknown ones, for the URI's bare JID", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keysSeen(ME, BOB, "omemo", [fp("1")]);
    await store.keysSeen(ME, BOB, "omemo", [fp("2")]);
    const uri = `xmpp:${BOB}/phone?omemo-sid-2=${fp("2")};omemo-sid-3=${fp("3")};otr-fingerprint=${"AB".repeat(20)}`;
    const records = await store.applyUri(ME, uri, { method: "qr" });
    expect(records.map((r) => [r.protocol, r.state])).toEqual([
      ["omemo", "verified"],
      ["omemo", "verified"],
      ["otr", "verified"],
    ]);
    expect(records[0]!.history.at(-1)!.cause).toEqual({ kind: "user", method: "qr" });
    // The pre-verified device shows up later: already verified, and under TOFU it is not "first".
    expect((await store.keySeen(ME, BOB, "omemo", fp("3"))).state).toBe("verified");
    expect((await store.shouldEncryptTo(ME, BOB, "omemo", fp("1"))).reason).toBe("trusted-without-verification");
  });
});

describe("storage failures surface and leave no half state", () => {
  it("a failed put rejects keySeen and a retry succeeds (the lock is released)", async () => {
    const inner = memoryTrustStorage();
    let fail = true;
    const flaky: TrustStorage = {
      ...inner,
      put: (key, value) => (fail ? Promise.reject(new Error("disk full")) : inner.put(key, value)),
    };
    const store = createTrustStore({ storage: flaky, policy: tofuPolicy });
    await expect(store.keySeen(ME, BOB, "omemo", fp("1"))).rejects.toThrow("disk full");
    fail = false;
    expect((await store.keySeen(ME, BOB, "omemo", fp("1"))).state).toBe("tofu");
  });
});

describe("protocol names are data, not property names", () => {
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])(
    "%s is an unnamed protocol: any hex, stored and found like any other",
    async (protocol) => {
      const store = createTrustStore({ storage: memoryTrustStorage() });
      expect(store.normalize(protocol, "AB:CD")).toBe("abcd");
      expect((await store.keySeen(ME, BOB, protocol, "ab".repeat(20))).state).toBe("tofu");
      expect((await store.keySeen(ME, BOB, protocol, "cd".repeat(8))).state).toBe("untrusted");
      expect(await store.listRecords(ME, BOB, protocol)).toHaveLength(2);
    },
  );

  it("a format given for such a name applies to it and only to it; an unknown format is refused", async () => {
    const formats = JSON.parse('{"__proto__": "otr", "constructor": "omemo2"}') as Record<string, "otr">;
    const store = createTrustStore({ storage: memoryTrustStorage(), formats });
    expect((await store.keySeen(ME, BOB, "__proto__", "ab".repeat(20))).state).toBe("tofu");
    await expect(store.keySeen(ME, BOB, "__proto__", "ab".repeat(32))).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_FINGERPRINT"),
    );
    expect(store.normalize("constructor", "05" + "ab".repeat(32))).toBe("ab".repeat(32));
    expect(store.normalize("toString", "05" + "ab".repeat(32))).toBe("05" + "ab".repeat(32));
    // @ts-expect-error not a format
    expect(() => createTrustStore({ storage: memoryTrustStorage(), formats: { x: "pgp" } })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});

describe("applyUri checks its options before parsing", () => {
  it("inviteHosts that is not an array of host names is INVALID_ARGUMENT", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const options = { inviteHosts: "x" } as unknown as { inviteHosts: string[] }; // a JavaScript caller may pass anything
    await expect(store.applyUri(ME, "https://conversations.im/i/bob@example.net", options)).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
  });
});

describe("keyAdded carries the stored record", () => {
  it("a device id given later in the same batch is in the event, as in the returned record", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const added: Array<TrustEvents["keyAdded"]> = [];
    store.on("keyAdded", (e) => added.push(e));
    const [record] = await store.keysSeen(ME, BOB, "omemo", [fp("1"), { fingerprint: fp("1"), deviceId: 7 }]);
    expect(record?.deviceId).toBe(7);
    expect(added.map((e) => e.record)).toEqual([record]);
  });
});
