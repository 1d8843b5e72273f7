/**
 * The PostgreSQL backend's locks and shared integrity state, with two stores (two connection pools, as
 * two processes have) on one database: which transactions wait for which, a state rolled back under a
 * running store, and several stores side by side under distinct table prefixes.
 */
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError } from "../src/index.js";
import { openPostgresBackend } from "../src/postgres.js";
import { bytes, FAST_KDF, freshTable, POSTGRES_URL, text } from "./helpers.js";

const URL_ = POSTGRES_URL!;
const open = (table: string) => openPostgresBackend({ connection: URL_, table });

async function twoStores(): Promise<{ table: string; a: EncryptedStore; b: EncryptedStore; c: EncryptedStore }> {
  const table = freshTable();
  const a = await EncryptedStore.create(await open(table), { passphrase: "p", kdf: FAST_KDF });
  const b = await EncryptedStore.open(await open(table), { passphrase: "p" });
  const c = await EncryptedStore.open(await open(table), { passphrase: "p" });
  return { table, a, b, c };
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe("PostgreSQL locks across connections", () => {
  it("a transaction naming a held lock waits for it; one naming another lock runs meanwhile; one naming none waits for all", async () => {
    const { a, b, c } = await twoStores();
    const events: string[] = [];
    const hold = gate();
    const started = gate();
    const first = a.transaction(
      async (tx) => {
        events.push("A start");
        started.open();
        await hold.wait;
        await tx.namespace("n").put("k", bytes("A"));
        events.push("A end");
      },
      { lock: ["conversation/alice"] },
    );
    await started.wait;
    const same = b.transaction(
      async (tx) => {
        events.push("B start");
        await tx.namespace("n").put("k", bytes(`${text(await tx.namespace("n").get("k"))}+B`));
      },
      { lock: ["conversation/alice"] },
    );
    // Another conversation's lock: runs to the end while A holds alice's.
    await c.transaction(
      async (tx) => {
        events.push("C start");
        await tx.namespace("n").put("other", bytes("C"));
      },
      { lock: ["conversation/bob"] },
    );
    expect(events).toEqual(["A start", "C start"]);
    const all = c.transaction(() => {
      events.push("D start");
    });
    hold.open();
    await Promise.all([first, same, all]);
    expect(events.indexOf("B start")).toBeGreaterThan(events.indexOf("A end"));
    expect(events.indexOf("D start")).toBeGreaterThan(events.indexOf("A end"));
    // B read A's committed write: serialised, not lost.
    expect(text(await a.namespace("n").get("k"))).toBe("A+B");
    for (const db of [a, b, c]) await db.close();
  });

  it("each store commits on top of the others' commits, and the result verifies on reopening", async () => {
    const { table, a, b, c } = await twoStores();
    for (let i = 0; i < 20; i++) {
      const db = [a, b, c][i % 3]!;
      await db.namespace("n").put(String(i % 7), bytes(`v${i}`));
      if (i % 5 === 4) await db.namespace("n").delete(String((i + 3) % 7));
    }
    for (const db of [a, b, c]) await db.close();
    const again = await EncryptedStore.open(await open(table), { passphrase: "p" });
    expect(again.commitCounter).toBe(24);
    expect((await again.namespace("n").scan()).length).toBeGreaterThan(0);
    await again.close();
  });

  it("an integrity state rolled back under a running store is TAMPERED at its next commit, and by the next open's integrity check", async () => {
    const { table, a, b } = await twoStores();
    const admin = await open(table);
    const old = (await admin.getMeta("state"))!;
    await a.namespace("n").put("k", bytes("1"));
    await b.namespace("n").put("k", bytes("2"));
    // The administrator puts the older state back: b has seen a newer one.
    await admin.commit({ puts: [], deletes: [], meta: [{ key: "state", value: old }] });
    await expect(b.namespace("n").put("k", bytes("3"))).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    await admin.close();
    for (const db of [a, b]) await db.close();
    await expect(EncryptedStore.open(await open(table), { passphrase: "p", verify: "full" })).rejects.toSatisfy((e) =>
      isStorageError(e, "TAMPERED"),
    );
    const next = await EncryptedStore.open(await open(table), { passphrase: "p" });
    await expect(next.verification).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    await expect(next.namespace("n").get("k")).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    await next.close();
  });

  it("stores under distinct table prefixes share a database without seeing each other", async () => {
    const [t1, t2] = [freshTable(), freshTable()];
    const one = await EncryptedStore.create(await open(t1), { passphrase: "one", kdf: FAST_KDF });
    const two = await EncryptedStore.create(await open(t2), { passphrase: "two", kdf: FAST_KDF });
    await one.namespace("n").put("k", bytes("one"));
    await two.namespace("n").put("k", bytes("two"));
    expect(text(await one.namespace("n").get("k"))).toBe("one");
    expect(text(await two.namespace("n").get("k"))).toBe("two");
    await one.close();
    await two.close();
    await expect(EncryptedStore.open(await open(t2), { passphrase: "one" })).rejects.toSatisfy((e) =>
      isStorageError(e, "WRONG_PASSPHRASE"),
    );
  });

  it("refuses bad table and schema names and a pool of one connection before connecting (INVALID_ARGUMENT)", async () => {
    for (const options of [
      { table: "Robert'); DROP TABLE x;--" },
      { table: "" },
      { schema: "a.b" },
      { maxConnections: 1 },
    ]) {
      await expect(openPostgresBackend({ connection: URL_, ...options })).rejects.toSatisfy((e) =>
        isStorageError(e, "INVALID_ARGUMENT"),
      );
    }
  });

  it("a server that cannot be reached is BACKEND_FAILED, with no password in the message", async () => {
    const url = new URL(URL_);
    url.port = "1";
    const error: unknown = await openPostgresBackend({ connection: url.toString() }).catch((e: unknown) => e);
    expect(isStorageError(error, "BACKEND_FAILED")).toBe(true);
    expect((error as Error).message).not.toContain(new URL(URL_).password);
  });
});

describe("the PostgreSQL backend's raw writes", () => {
  it("applies deletes before puts and keeps the last of repeated puts, as the other backends do", async () => {
    const backend = await open(freshTable());
    const row = (key: string, value: string) => ({ key, value: bytes(value) });
    await backend.commit({ puts: [row("a", "1"), row("b", "1")], deletes: [], meta: [] });
    await backend.commit({
      puts: [row("a", "2"), row("c", "1"), row("c", "2")],
      deletes: ["a", "b"],
      meta: [row("m", "1"), row("m", "2")],
    });
    const rows = await backend.scanPrefix("");
    expect(rows.map((r) => [r.key, text(r.value)]).sort()).toEqual([
      ["a", "2"],
      ["c", "2"],
    ]);
    expect(text(await backend.getMeta("m"))).toBe("2");
    await backend.close();
  });
});

describe("creating a store on PostgreSQL", () => {
  it("several processes creating the same store at once: one creates it, the others get ALREADY_EXISTS", async () => {
    const table = freshTable();
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        try {
          const db = await EncryptedStore.create(await open(table), { passphrase: `p${i}`, kdf: FAST_KDF });
          await db.namespace("n").put("creator", bytes(String(i)));
          await db.close();
          return `created ${i}`;
        } catch (error) {
          return isStorageError(error) ? error.code : String(error);
        }
      }),
    );
    const created = outcomes.filter((o) => o.startsWith("created"));
    expect(created).toHaveLength(1);
    expect(outcomes.filter((o) => o === "ALREADY_EXISTS")).toHaveLength(3);
    // The creator's passphrase opens it, and its write is there.
    const winner = created[0]!.split(" ")[1]!;
    const db = await EncryptedStore.open(await open(table), { passphrase: `p${winner}` });
    expect(text(await db.namespace("n").get("creator"))).toBe(winner);
    await db.close();
  });
});
