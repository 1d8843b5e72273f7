import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StoredDuplicateFilter, type DuplicateStore } from "../src/duplicates.js";
import { Profile } from "../src/profile.js";

const KDF = { N: 16, r: 1, p: 1, dkLen: 32 };
const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), "parley-dedup-"));
  dirs.push(d);
  return join(d, "bob");
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ALICE = "alice@localhost";
const CAROL = "carol@localhost";

/** What a receiver does with a message: check, then (once stored) persist. */
function receive(filter: StoredDuplicateFilter, sender: string, id: string): boolean {
  if (filter.isDuplicate(sender, id)) return false;
  filter.persist(sender, id);
  return true;
}

describe("StoredDuplicateFilter: the receiver's duplicate filter in the encrypted store", () => {
  it("a restart keeps what was seen: a resend after it is a duplicate; a new id and another sender's are not", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const before = await StoredDuplicateFilter.open(a.db);
    expect(receive(before, ALICE, "m1")).toBe(true);
    expect(receive(before, ALICE, "m1")).toBe(false);
    expect(receive(before, ALICE, "m2")).toBe(true);
    await before.flush();
    await a.close();

    const b = await Profile.open({ dir });
    const after = await StoredDuplicateFilter.open(b.db);
    expect(after.size).toBe(2);
    expect(receive(after, ALICE, "m1")).toBe(false);
    expect(receive(after, ALICE, "m2")).toBe(false);
    expect(receive(after, ALICE, "m3")).toBe(true);
    expect(receive(after, CAROL, "m1")).toBe(true);
    await after.flush();
    await b.close();
  });

  it("an id checked but never persisted (the message was not stored) is not remembered by a restart", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const before = await StoredDuplicateFilter.open(a.db);
    expect(before.isDuplicate(ALICE, "lost")).toBe(false);
    expect(before.isDuplicate(ALICE, "lost")).toBe(true); // in this run it is known
    await before.flush();
    await a.close();
    const b = await Profile.open({ dir });
    const after = await StoredDuplicateFilter.open(b.db);
    expect(after.isDuplicate(ALICE, "lost")).toBe(false);
    await b.close();
  });

  it("bounded: the store holds at most `capacity` ids, the oldest forgotten first (a resend refreshes one)", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const filter = await StoredDuplicateFilter.open(a.db, { capacity: 3 });
    for (const id of ["m1", "m2", "m3"]) receive(filter, ALICE, id);
    expect(receive(filter, ALICE, "m1")).toBe(false); // resent: m1 is the newest now, m2 the oldest
    for (const id of ["m4", "m5"]) receive(filter, ALICE, id); // m2 and m3 forgotten
    await filter.flush();
    expect(await a.db.namespace("dedup").scan()).toHaveLength(3);
    await a.close();

    const b = await Profile.open({ dir });
    const after = await StoredDuplicateFilter.open(b.db, { capacity: 3 });
    expect(after.size).toBe(3);
    expect(["m1", "m4", "m5"].map((id) => after.isDuplicate(ALICE, id))).toEqual([true, true, true]);
    await after.flush();
    await b.close();
    // A smaller capacity than the one that wrote the records: the newest are kept, the rest deleted.
    const c = await Profile.open({ dir });
    const smaller = await StoredDuplicateFilter.open(c.db, { capacity: 2 });
    await smaller.flush();
    expect(await c.db.namespace("dedup").scan()).toHaveLength(2);
    expect(smaller.isDuplicate(ALICE, "m5")).toBe(true);
    await c.close();
  });

  it("a write that fails is reported, never thrown at the receiver: the message goes on, the filter still works", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const failing: DuplicateStore = {
      namespace: (name) => a.db.namespace(name),
      transaction: () => Promise.reject(new Error("disk full")),
    };
    const errors: unknown[] = [];
    const filter = await StoredDuplicateFilter.open(failing, { onError: (e) => errors.push(e) });
    expect(receive(filter, ALICE, "m1")).toBe(true);
    expect(receive(filter, ALICE, "m1")).toBe(false);
    await filter.flush();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain("disk full");
    expect(await a.db.namespace("dedup").scan()).toHaveLength(0);
    await a.close();
  });

  it("writes are grouped: a burst of messages costs a few transactions, not one each", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    let transactions = 0;
    const counting: DuplicateStore = {
      namespace: (name) => a.db.namespace(name),
      transaction: (body) => {
        transactions++;
        return a.db.transaction(body);
      },
    };
    const filter = await StoredDuplicateFilter.open(counting);
    for (let i = 0; i < 200; i++) receive(filter, ALICE, `m${i}`);
    await filter.flush();
    expect(transactions).toBeLessThanOrEqual(2);
    expect(await a.db.namespace("dedup").scan()).toHaveLength(200);
    await a.close();
  });
});
