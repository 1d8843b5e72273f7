import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTrustStore, memoryTrustStorage } from "../src/index.js";
import type { SeenKey, TrustStorage, TrustStorageTransaction } from "../src/index.js";

const ME = "me@example.com";
const BOB = "bob@example.net";
const key = (i: number): string => i.toString(16).padStart(2, "0").repeat(32);
const now = (): number => 1_700_000_000_000;

/** Everything stored, as sorted [key, text] pairs: "the stored state". */
async function dump(storage: TrustStorage): Promise<Array<[string, string]>> {
  return (await storage.scan()).map((row) => [row.key, new TextDecoder().decode(row.value)]);
}

/**
 * A storage without transactions whose k-th put after `arm(k)` fails. With `writeThenFail` the failing put stores
 * its value first (the write landed, the acknowledgement was lost), the harder case for a rollback.
 */
function flakyStorage(): {
  storage: TrustStorage;
  arm: (k: number, writeThenFail: boolean) => void;
  disarm: () => void;
} {
  const inner = memoryTrustStorage();
  let countdown = 0;
  let writeThenFail = false;
  return {
    storage: {
      ...inner,
      put: async (k, value) => {
        if (countdown > 0 && --countdown === 0) {
          if (writeThenFail) await inner.put(k, value);
          throw new Error("disk full");
        }
        await inner.put(k, value);
      },
    },
    arm: (k, thenFail) => {
      countdown = k;
      writeThenFail = thenFail;
    },
    disarm: () => {
      countdown = 0;
    },
  };
}

/** A storage with all-or-nothing transactions (writes buffered, applied at commit), as @parley/storage gives. */
function transactionalStorage(failPutAt = 0): { storage: TrustStorage; transactions: () => number } {
  const inner = memoryTrustStorage();
  let count = 0;
  const storage: TrustStorage = {
    ...inner,
    put: () => Promise.reject(new Error("writes must go through the transaction")),
    async transaction<T>(fn: (tx: TrustStorageTransaction) => Promise<T>): Promise<T> {
      count += 1;
      const pending = new Map<string, Uint8Array | undefined>();
      let puts = 0;
      const tx: TrustStorageTransaction = {
        get: (k) => (pending.has(k) ? Promise.resolve(pending.get(k)) : inner.get(k)),
        put: (k, value) => {
          puts += 1;
          if (puts === failPutAt) return Promise.reject(new Error("disk full"));
          pending.set(k, value.slice());
          return Promise.resolve();
        },
        delete: (k) => {
          pending.set(k, undefined);
          return Promise.resolve();
        },
      };
      const result = await fn(tx);
      for (const [k, value] of pending) await (value === undefined ? inner.delete(k) : inner.put(k, value));
      return result;
    },
  };
  return { storage, transactions: () => count };
}

const seenKey = fc.record({ i: fc.integer({ min: 0, max: 7 }), deviceId: fc.option(fc.nat(100), { nil: undefined }) });
const toSeen = ({ i, deviceId }: { i: number; deviceId: number | undefined }): SeenKey =>
  deviceId === undefined ? { fingerprint: key(i) } : { fingerprint: key(i), deviceId };

describe("keysSeen is one atomic event: a failed write leaves no half batch", () => {
  it("the review's case: the 2nd put of a 3-key first batch fails; the retry still trusts all three", async () => {
    const { storage, arm, disarm } = flakyStorage();
    const store = createTrustStore({ storage, now });
    await store.listRecords(ME); // opening: the one-time identifier check writes its marker (see jid.test.ts)
    const before = await dump(storage);
    let events = 0;
    store.on("keyAdded", () => (events += 1));
    arm(2, false);
    await expect(store.keysSeen(ME, BOB, "omemo", [key(1), key(2), key(3)])).rejects.toThrow("disk full");
    expect(await dump(storage)).toEqual(before);
    expect(events).toBe(0);
    disarm();
    expect((await store.keysSeen(ME, BOB, "omemo", [key(1), key(2), key(3)])).map((r) => r.state)).toEqual([
      "tofu",
      "tofu",
      "tofu",
    ]);
    expect(events).toBe(3);
  });

  it("for any earlier state, batch and failing put k: storage is unchanged, no event, and a retry equals a run without failure", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(seenKey, { minLength: 1, maxLength: 4 }), { maxLength: 3 }),
        fc.array(seenKey, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        async (earlier, batch, k, writeThenFail) => {
          const { storage, arm, disarm } = flakyStorage();
          const store = createTrustStore({ storage, now });
          const reference = memoryTrustStorage();
          const control = createTrustStore({ storage: reference, now });
          await store.listRecords(ME); // opening: the one-time identifier check
          await control.listRecords(ME);
          for (const keys of earlier) {
            await store.keysSeen(ME, BOB, "omemo", keys.map(toSeen));
            await control.keysSeen(ME, BOB, "omemo", keys.map(toSeen));
          }
          const before = await dump(storage);
          let events = 0;
          store.on("keyAdded", () => (events += 1));
          store.on("keyChangeWarning", () => (events += 1));
          arm(k, writeThenFail);
          const failed = await store.keysSeen(ME, BOB, "omemo", batch.map(toSeen)).then(
            () => false,
            () => true,
          );
          disarm();
          if (failed) {
            expect(await dump(storage)).toEqual(before);
            expect(events).toBe(0);
          }
          const retried = await store.keysSeen(ME, BOB, "omemo", batch.map(toSeen));
          expect(retried).toEqual(await control.keysSeen(ME, BOB, "omemo", batch.map(toSeen)));
          expect(await dump(storage)).toEqual(await dump(reference));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("uses the storage's transaction when it has one: one transaction per batch, nothing written when it fails", async () => {
    const ok = transactionalStorage();
    const store = createTrustStore({ storage: ok.storage, now });
    await store.listRecords(ME); // opening: the one-time identifier check (its own transaction)
    const opened = ok.transactions();
    const records = await store.keysSeen(ME, BOB, "omemo", [key(1), key(2), key(3)]);
    expect(records.map((r) => r.state)).toEqual(["tofu", "tofu", "tofu"]);
    expect(ok.transactions() - opened).toBe(1);
    expect(await store.listRecords(ME, BOB)).toHaveLength(3);

    const failing = transactionalStorage(2);
    const broken = createTrustStore({ storage: failing.storage, now });
    let events = 0;
    broken.on("keyAdded", () => (events += 1));
    await expect(broken.keysSeen(ME, BOB, "omemo", [key(1), key(2), key(3)])).rejects.toThrow("disk full");
    expect(events).toBe(0);
    expect(await broken.listRecords(ME, BOB)).toEqual([]);
  });
});
