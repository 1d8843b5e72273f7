// Regression tests for the third review of @parley/trust (findings M2-M6, L7-L10); each names its finding.
import { describe, expect, it } from "vitest";
import { encodeRecord } from "../src/codec.js";
import { storageKeys } from "../src/storage.js";
import {
  btbvPolicy,
  createTrustStore,
  isTrustError,
  MAX_KEYS_PER_PROTOCOL,
  memoryTrustStorage,
  omemoTrustDecider,
} from "../src/index.js";
import type { TrustRecord, TrustStorage, TrustStorageTransaction, XmppUri } from "../src/index.js";

const ME = "juliet@example.com";
const ROMEO = "romeo@example.net";
const K = (n: number): string => n.toString(16).padStart(2, "0").repeat(32);
const device = (deviceId: number, n: number) => ({ jid: ROMEO, deviceId, fingerprint: K(n) });

function clock(start = 1_700_000_000_000): () => number {
  let t = start;
  return () => (t += 1000);
}

/**
 * A storage with serialisable transactions, as @parley/storage gives: one transaction at a time, reads (scan
 * too) see the transaction's own writes, writes apply at commit. `slowScan` widens the window between a
 * store's read and its write, where a second store instance could slip in.
 */
function transactionalStorage(slowScan = 0): TrustStorage & { transactions: () => number } {
  const inner = memoryTrustStorage();
  let tail: Promise<unknown> = Promise.resolve();
  let count = 0;
  const slow = async <T>(value: T): Promise<T> => {
    if (slowScan > 0) await new Promise((resolve) => setTimeout(resolve, slowScan));
    return value;
  };
  return {
    get: (k) => inner.get(k),
    put: (k, v) => inner.put(k, v),
    delete: (k) => inner.delete(k),
    scan: async (options) => slow(await inner.scan(options)),
    transactions: () => count,
    transaction<T>(fn: (tx: TrustStorageTransaction) => Promise<T>): Promise<T> {
      const run = async (): Promise<T> => {
        count += 1;
        const pending = new Map<string, Uint8Array | undefined>();
        const tx: TrustStorageTransaction = {
          get: (k) => (pending.has(k) ? Promise.resolve(pending.get(k)) : inner.get(k)),
          put: (k, v) => {
            pending.set(k, v.slice());
            return Promise.resolve();
          },
          delete: (k) => {
            pending.set(k, undefined);
            return Promise.resolve();
          },
          scan: async (options) => {
            const prefix = options?.prefix ?? "";
            const rows = new Map((await inner.scan(options)).map((row) => [row.key, row.value]));
            for (const [k, v] of pending)
              if (k.startsWith(prefix)) {
                if (v === undefined) rows.delete(k);
                else rows.set(k, v);
              }
            return slow([...rows].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => ({ key, value })));
          },
        };
        const result = await fn(tx);
        for (const [k, v] of pending) await (v === undefined ? inner.delete(k) : inner.put(k, v));
        return result;
      };
      const result = tail.then(run, run);
      tail = result.catch(() => undefined);
      return result;
    },
  };
}

describe("(M3) OMEMO 2 verification codes reach omemoTrustDecider", () => {
  it("(M3) an omemo2-sid- code scanned with applyUri verifies the key the decider asks about", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const decider = omemoTrustDecider(store, ME);
    await decider.seen([device(1, 1)]);
    expect(await decider.decide(device(2, 2), "encrypt")).toBe("untrusted");
    const [record] = await store.applyUri(ME, `xmpp:${ROMEO}?omemo2-sid-2=${K(2)}`, {
      expectedContact: ROMEO,
      method: "qr",
    });
    expect(record).toMatchObject({ protocol: "omemo", state: "verified" });
    expect(await decider.decide(device(2, 2), "encrypt")).toBe("trusted");
    expect(await decider.decide(device(2, 2), "decrypt")).toBe("trusted");
  });

  it("(M3) a verification an earlier version stored under omemo2 is taken over the first time the decider meets the key", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), now: clock() });
    const decider = omemoTrustDecider(store, ME);
    await decider.seen([device(1, 1)]);
    await store.applyUri(ME, `xmpp:${ROMEO}?omemo2-sid-2=${K(2)}`, { method: "qr", omemo2Protocol: "omemo2" });
    await store.markCompromised(ME, ROMEO, "omemo2", K(1), { actor: "juliet" });
    expect(await decider.decide(device(2, 2), "encrypt")).toBe("trusted");
    expect((await store.getRecord(ME, ROMEO, "omemo", K(2)))?.history.at(-1)?.cause).toEqual({
      kind: "user",
      method: "qr",
    });
    expect(await decider.decide(device(1, 1), "decrypt")).toBe("untrusted");
    expect((await store.getRecord(ME, ROMEO, "omemo", K(1)))?.state).toBe("compromised");
  });
});

describe("(M4) BTBV after the user verified or compromised a key", () => {
  it("(M4) marking the verified key compromised does not bring blind trust back for new keys", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: btbvPolicy });
    await store.keySeen(ME, ROMEO, "omemo", K(1));
    await store.verify(ME, ROMEO, "omemo", K(1), { method: "qr" });
    expect((await store.keySeen(ME, ROMEO, "omemo", K(2))).state).toBe("untrusted");
    await store.markCompromised(ME, ROMEO, "omemo", K(1));
    expect((await store.keySeen(ME, ROMEO, "omemo", K(3))).state).toBe("untrusted");
  });

  it("(M4) nor does distrusting it, also after the records were reloaded", async () => {
    const storage = memoryTrustStorage();
    const store = createTrustStore({ storage, policy: btbvPolicy });
    await store.keySeen(ME, ROMEO, "omemo", K(1));
    await store.verify(ME, ROMEO, "omemo", K(1), { method: "qr" });
    await store.distrust(ME, ROMEO, "omemo", K(1));
    const reopened = createTrustStore({ storage, policy: btbvPolicy });
    expect((await reopened.keySeen(ME, ROMEO, "omemo", K(3))).state).toBe("untrusted");
  });
});

describe("(M5) a device's replaced key is superseded", () => {
  it("(M5) after device 42 changes key, trustedRecords no longer lists its old key and shouldEncryptTo refuses it", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), now: clock() });
    await store.keysSeen(ME, ROMEO, "omemo", [
      { fingerprint: K(1), deviceId: 42 },
      { fingerprint: K(5), deviceId: 7 },
    ]);
    const k2 = await store.keySeen(ME, ROMEO, "omemo", { fingerprint: K(2), deviceId: 42 });
    expect(k2.state).toBe("untrusted");
    expect((await store.trustedRecords(ME, ROMEO, "omemo")).map((r) => [r.deviceId, r.fingerprint])).toEqual([
      [7, K(5)],
    ]);
    const old = await store.getRecord(ME, ROMEO, "omemo", K(1));
    expect(old?.state).toBe("tofu");
    expect(old?.supersededAt).toBeGreaterThan(old!.firstSeenAt);
    expect(await store.shouldEncryptTo(ME, ROMEO, "omemo", K(1))).toMatchObject({
      allowed: false,
      trusted: true,
      reason: "superseded",
    });
    // Verified, the new key is device 42's key to encrypt to.
    await store.verify(ME, ROMEO, "omemo", K(2), { method: "qr" });
    expect((await store.trustedRecords(ME, ROMEO, "omemo")).map((r) => r.fingerprint).sort()).toEqual([K(2), K(5)]);
    // Device 42 reports its first key again: that key is current again, the other one superseded.
    await store.keySeen(ME, ROMEO, "omemo", { fingerprint: K(1), deviceId: 42 });
    expect((await store.getRecord(ME, ROMEO, "omemo", K(1)))?.supersededAt).toBeUndefined();
    expect((await store.shouldEncryptTo(ME, ROMEO, "omemo", K(2))).reason).toBe("superseded");
    expect((await store.trustedRecords(ME, ROMEO, "omemo")).map((r) => r.fingerprint).sort()).toEqual([K(1), K(5)]);
  });

  it("(M5) records stored before supersession was tracked: only the later-seen key of a device id is listed", async () => {
    const storage = memoryTrustStorage();
    const record = (n: number, at: number): TrustRecord => ({
      account: ME,
      contact: ROMEO,
      protocol: "omemo",
      fingerprint: K(n),
      state: "tofu",
      deviceId: 42,
      firstSeenAt: at,
      history: [{ state: "tofu", at, cause: { kind: "first-seen", policy: "btbv", firstBatch: false } }],
    });
    for (const r of [record(1, 1), record(2, 2)])
      await storage.put(storageKeys.record(ME, ROMEO, "omemo", r.fingerprint), encodeRecord(r));
    const store = createTrustStore({ storage });
    expect((await store.trustedRecords(ME, ROMEO, "omemo")).map((r) => r.fingerprint)).toEqual([K(2)]);
  });
});

describe("(M6) several store instances on one transactional storage", () => {
  it("(M6) two instances reporting a first key at once: exactly one is the first key", async () => {
    const storage = transactionalStorage(20);
    const a = createTrustStore({ storage });
    const b = createTrustStore({ storage });
    const [x, y] = await Promise.all([a.keySeen(ME, ROMEO, "omemo", K(1)), b.keySeen(ME, ROMEO, "omemo", K(9))]);
    expect([x.state, y.state].sort()).toEqual(["tofu", "untrusted"]);
    const [v, w] = await Promise.all([
      a.verify(ME, ROMEO, "otr", "ab".repeat(20), { method: "smp" }),
      b.keySeen(ME, ROMEO, "otr", "cd".repeat(20)),
    ]);
    // Whichever ran first, the OTR key seen is not a first key beside a verified one written concurrently.
    expect(v.state).toBe("verified");
    expect(w.state).toBe("untrusted");
  });
});

describe("(M2) keys from incoming messages before we first write belong to the first batch", () => {
  it("(M2) the contact writes first from the phone, the laptop appears when we reply: both tofu", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const decider = omemoTrustDecider(store, ME);
    expect(await decider.decide(device(1, 1), "decrypt")).toBe("trusted");
    await decider.seen([device(2, 2)]);
    expect(await decider.decide(device(2, 2), "encrypt")).toBe("trusted");
    expect(await decider.decide(device(1, 1), "encrypt")).toBe("trusted");
    expect((await store.getRecord(ME, ROMEO, "omemo", K(2)))?.history[0]?.cause).toEqual({
      kind: "first-seen",
      policy: "tofu",
      firstBatch: true,
    });
  });

  it("(M2) two devices writing before our first message are both first keys; the batch closes when we encrypt", async () => {
    const storage = memoryTrustStorage();
    const decider = omemoTrustDecider(createTrustStore({ storage }), ME);
    expect(await decider.decide(device(1, 1), "decrypt")).toBe("trusted");
    // The batch state is stored, not remembered: a restart in between changes nothing.
    const reopened = omemoTrustDecider(createTrustStore({ storage }), ME);
    expect(await reopened.decide(device(2, 2), "decrypt")).toBe("trusted");
    expect(await reopened.decide(device(1, 1), "encrypt")).toBe("trusted");
    expect(await reopened.decide(device(3, 3), "decrypt")).toBe("undecided");
    expect(await reopened.decide(device(3, 3), "encrypt")).toBe("untrusted");
  });

  it("(M2) after we have written once, a new device is untrusted, whether met in a message or in the device list", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const decider = omemoTrustDecider(store, ME);
    await decider.seen([device(1, 1)]);
    expect(await decider.decide(device(1, 1), "encrypt")).toBe("trusted");
    expect(await decider.decide(device(2, 2), "decrypt")).toBe("undecided");
    expect(await decider.decide(device(2, 2), "encrypt")).toBe("untrusted");
    await decider.seen([device(3, 3)]);
    expect(await decider.decide(device(3, 3), "encrypt")).toBe("untrusted");
  });

  it("(M2) a user action on one of the contact's keys closes the first batch too", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, ROMEO, "omemo", { fingerprint: K(1), deviceId: 1 }, { incoming: true });
    await store.distrust(ME, ROMEO, "omemo", K(1));
    expect((await store.keySeen(ME, ROMEO, "omemo", K(2), { incoming: true })).state).toBe("untrusted");
  });
});

describe("(L7) contacts are keyed by bare JID without a trailing dot", () => {
  it("(L7) a resource or a trailing dot names the same contact: no fresh TOFU", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, ROMEO, "omemo", K(1));
    const viaResource = await store.keySeen(ME, `${ROMEO}/evil`, "omemo", K(9));
    expect(viaResource).toMatchObject({ contact: ROMEO, state: "untrusted" });
    expect((await store.keySeen(ME, "Romeo@Example.NET.", "omemo", K(8))).state).toBe("untrusted");
    expect((await store.keySeen("Juliet@Example.com./tab", ROMEO, "omemo", K(7))).state).toBe("untrusted");
    expect(await store.listRecords(ME, `${ROMEO}./phone`)).toHaveLength(4);
    for (const bad of ["romeo@.", "romeo@", "/phone", "@example.net"])
      await expect(store.keySeen(ME, bad, "omemo", K(1))).rejects.toSatisfy((e) => isTrustError(e, "INVALID_ARGUMENT"));
  });

  it("(L7) rows an earlier version stored under a full JID or a trailing dot move to the bare JID, later first batches untrusted", async () => {
    const storage = memoryTrustStorage();
    const stored = (contact: string, n: number, at: number): TrustRecord => ({
      account: ME,
      contact,
      protocol: "omemo",
      fingerprint: K(n),
      state: "tofu",
      firstSeenAt: at,
      history: [{ state: "tofu", at, cause: { kind: "first-seen", policy: "tofu", firstBatch: true } }],
    });
    for (const r of [stored(ROMEO, 1, 1), stored(`${ROMEO}/evil`, 9, 2), stored("romeo@example.net.", 8, 3)])
      await storage.put(storageKeys.record(r.account, r.contact, r.protocol, r.fingerprint), encodeRecord(r));
    // A storage an earlier version already migrated for case spellings is migrated again, once.
    await storage.put(
      storageKeys.identifiersMarker,
      new TextEncoder().encode(JSON.stringify({ v: 1, t: "meta", identifiers: "jid-lowercase" })),
    );
    const store = createTrustStore({ storage });
    const records = await store.listRecords(ME, ROMEO, "omemo");
    expect(records.map((r) => [r.contact, r.fingerprint, r.state])).toEqual([
      [ROMEO, K(1), "tofu"],
      [ROMEO, K(8), "untrusted"],
      [ROMEO, K(9), "untrusted"],
    ]);
    expect((await storage.scan({ prefix: "rec/" })).map((row) => row.key)).toEqual(
      records.map((r) => storageKeys.record(ME, ROMEO, "omemo", r.fingerprint)),
    );
  });
});

describe("(L8) forgetContact keeps compromised keys", () => {
  it("(L8) a compromised key seen again after forgetContact is compromised, not a fresh tofu", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, ROMEO, "omemo", K(1));
    await store.markCompromised(ME, ROMEO, "omemo", K(1), { actor: "juliet" });
    await store.keySeen(ME, ROMEO, "omemo", K(2));
    await store.forgetContact(ME, ROMEO);
    expect(await store.listRecords(ME, ROMEO)).toEqual([]);
    // Still known as compromised before it shows up again.
    expect((await store.shouldAcceptFrom(ME, ROMEO, "omemo", K(1))).reason).toBe("compromised");
    // The rest is forgotten: the contact's next batch is a first batch again, but the compromised key in it
    // comes back compromised, with its history.
    const [again, other] = await store.keysSeen(ME, ROMEO, "omemo", [K(1), K(2)]);
    expect(again?.state).toBe("compromised");
    expect(again?.history.map((h) => h.state)).toEqual(["tofu", "compromised"]);
    expect(other?.state).toBe("tofu");
    expect((await store.shouldEncryptTo(ME, ROMEO, "omemo", K(1))).allowed).toBe(false);
    // Forgotten again, it is still kept.
    await store.forgetContact(ME, ROMEO);
    expect((await store.keySeen(ME, ROMEO, "omemo", K(1))).state).toBe("compromised");
  });
});

describe("(L10) bad input to applyUri and setContactSettings: typed errors, nothing changed", () => {
  it("(L10) applyUri with an object that is no URI is INVALID_ARGUMENT", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    for (const uri of [{}, null, { bareJid: ROMEO }, { bareJid: ROMEO, fingerprints: [null] }])
      await expect(store.applyUri(ME, uri as unknown as XmppUri)).rejects.toSatisfy((e) =>
        isTrustError(e, "INVALID_ARGUMENT"),
      );
    expect(await store.listRecords(ME)).toEqual([]);
  });

  it("(L10) a URI whose second fingerprint is invalid verifies nothing; a good one is written in one transaction", async () => {
    const storage = transactionalStorage();
    const store = createTrustStore({ storage });
    const uri: XmppUri = {
      jid: ROMEO,
      bareJid: ROMEO,
      params: {},
      fingerprints: [
        { protocol: "omemo", deviceId: 1, fingerprint: K(1) },
        { protocol: "omemo", deviceId: 2, fingerprint: "zz" },
      ],
    };
    await expect(store.applyUri(ME, uri)).rejects.toSatisfy((e) => isTrustError(e, "INVALID_FINGERPRINT"));
    expect(await store.listRecords(ME, ROMEO)).toEqual([]);
    const before = storage.transactions();
    const good = {
      ...uri,
      fingerprints: [uri.fingerprints[0]!, { protocol: "otr" as const, fingerprint: "ab".repeat(20) }],
    };
    expect((await store.applyUri(ME, good)).map((r) => r.state)).toEqual(["verified", "verified"]);
    expect(storage.transactions() - before).toBe(1);
  });

  it("(L10) setContactSettings with null is INVALID_ARGUMENT and stores nothing", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await expect(store.setContactSettings(ME, ROMEO, null as never)).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
    expect(await store.getContactSettings(ME, ROMEO)).toEqual({ defaultEncryption: "omemo", muted: false });
  });
});

describe("(L9) records per contact and protocol are capped", () => {
  const batch = (from: number, count: number): string[] =>
    Array.from({ length: count }, (_, i) => (from + i).toString(16).padStart(64, "0"));

  it("(L9) a contact publishing fresh keys stays at the cap: the oldest untrusted keys the user never acted on go", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), now: clock() });
    await store.keysSeen(ME, ROMEO, "omemo", batch(0, 2)); // first batch: tofu
    await store.keySeen(ME, ROMEO, "omemo", batch(2, 1)[0]!);
    await store.distrust(ME, ROMEO, "omemo", batch(2, 1)[0]!); // the user decided: kept
    await store.keySeen(ME, ROMEO, "omemo", batch(3, 1)[0]!);
    await store.verify(ME, ROMEO, "omemo", batch(3, 1)[0]!, { method: "qr" });
    for (let b = 0; b < 4; b++) await store.keysSeen(ME, ROMEO, "omemo", batch(16 + b * 256, 256));
    const records = await store.listRecords(ME, ROMEO, "omemo");
    expect(records).toHaveLength(MAX_KEYS_PER_PROTOCOL);
    const fps = new Set(records.map((r) => r.fingerprint));
    for (const kept of batch(0, 4)) expect(fps.has(kept)).toBe(true);
    // The newest batch is there whole; the oldest untrusted ones went.
    for (const fp of batch(16 + 3 * 256, 256)) expect(fps.has(fp)).toBe(true);
    expect(fps.has(batch(16, 1)[0]!)).toBe(false);
  });

  it("(L9) with nothing left to evict, new keys are refused with TOO_MANY_KEYS and nothing is stored", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage(), policy: btbvPolicy }); // every key tofu
    for (let b = 0; b < MAX_KEYS_PER_PROTOCOL / 256; b++) await store.keysSeen(ME, ROMEO, "omemo", batch(b * 256, 256));
    await expect(store.keySeen(ME, ROMEO, "omemo", batch(100_000, 1)[0]!)).rejects.toSatisfy((e) =>
      isTrustError(e, "TOO_MANY_KEYS"),
    );
    expect(await store.listRecords(ME, ROMEO, "omemo")).toHaveLength(MAX_KEYS_PER_PROTOCOL);
    // Keys already stored are still reported as usual.
    expect((await store.keySeen(ME, ROMEO, "omemo", batch(0, 1)[0]!)).state).toBe("tofu");
  });
});
