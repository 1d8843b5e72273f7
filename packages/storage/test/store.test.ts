import { afterEach, describe, expect, it } from "vitest";
import {
  EncryptedStore,
  isStorageError,
  MemoryKeystore,
  type OpenStoreOptions,
  type StorageBackend,
  type StorageErrorCode,
  type Transaction,
  type TransactionOptions,
} from "../src/index.js";
import { BACKENDS, bytes, FAST_KDF, text } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

for (const kind of BACKENDS) {
  describe(`EncryptedStore over ${kind.name}`, () => {
    const fresh = () => {
      const loc = kind.fresh();
      cleanups.push(loc.cleanup);
      return loc;
    };
    /** A failed open closes the backend; closing again must be harmless. */
    const openFails = async (
      loc: { open: () => Promise<StorageBackend> },
      options: OpenStoreOptions,
      code: StorageErrorCode,
    ) => {
      const backend = await loc.open();
      await expect(EncryptedStore.open(backend, options)).rejects.toSatisfy((e) => isStorageError(e, code));
      await backend.close();
      // The location is free again: a failed open left no lock behind.
      const probe = await loc.open();
      await probe.close();
    };
    const create = async (passphrase = "correct horse") => {
      const loc = fresh();
      const db = await EncryptedStore.create(await loc.open(), { passphrase, kdf: FAST_KDF });
      return { loc, db };
    };

    it("puts, gets, overwrites and deletes records per namespace", async () => {
      const { db } = await create();
      const a = db.namespace("a");
      const b = db.namespace("b");
      await a.put("k", bytes("1"));
      await b.put("k", bytes("2"));
      expect(text(await a.get("k"))).toBe("1");
      expect(text(await b.get("k"))).toBe("2");
      await a.put("k", bytes("3"));
      expect(text(await a.get("k"))).toBe("3");
      await a.delete("k");
      expect(await a.get("k")).toBeUndefined();
      expect(text(await b.get("k"))).toBe("2");
      await a.delete("never-there");
      await db.close();
    });

    it("stores copies: mutating the caller's array after put changes nothing", async () => {
      const { db } = await create();
      const value = bytes("abc");
      await db.namespace("n").put("k", value);
      value[0] = 0;
      expect(text(await db.namespace("n").get("k"))).toBe("abc");
      await db.close();
    });

    it("scans sorted by key, by prefix on and off segment boundaries, with range, limit and reverse", async () => {
      const { db } = await create();
      const ns = db.namespace("sessions");
      const keys = ["bob/2", "alice/10", "alice/2", "alice", "alice/1/x", "alicia/1", "", "/lead"];
      for (const k of keys) await ns.put(k, bytes(k));
      const all = await ns.scan();
      expect(all.map((e) => e.key)).toEqual([...keys].sort());
      for (const e of all) expect(text(e.value)).toBe(e.key);
      expect((await ns.scan({ prefix: "alice/" })).map((e) => e.key)).toEqual(["alice/1/x", "alice/10", "alice/2"]);
      expect((await ns.scan({ prefix: "ali" })).map((e) => e.key)).toEqual([
        "alice",
        "alice/1/x",
        "alice/10",
        "alice/2",
        "alicia/1",
      ]);
      expect((await ns.scan({ prefix: "alice/1" })).map((e) => e.key)).toEqual(["alice/1/x", "alice/10"]);
      expect((await ns.scan({ prefix: "/" })).map((e) => e.key)).toEqual(["/lead"]);
      expect((await ns.scan({ start: "alice/1", end: "alice/2" })).map((e) => e.key)).toEqual([
        "alice/1/x",
        "alice/10",
      ]);
      expect((await ns.scan({ prefix: "alice/", reverse: true, limit: 2 })).map((e) => e.key)).toEqual([
        "alice/2",
        "alice/10",
      ]);
      expect(await db.namespace("other").scan()).toEqual([]);
      await db.close();
    });

    it("commits a transaction across namespaces atomically, with read-your-writes inside", async () => {
      const { db } = await create();
      await db.namespace("prekeys").put("1", bytes("pk1"));
      const consumed = await db.transaction(async (tx) => {
        const prekeys = tx.namespace("prekeys");
        const sessions = tx.namespace("sessions");
        const pk = await prekeys.get("1");
        await prekeys.delete("1");
        await sessions.put("alice/1", bytes("session"));
        expect(await prekeys.get("1")).toBeUndefined();
        expect((await sessions.scan({ prefix: "alice/" })).map((e) => e.key)).toEqual(["alice/1"]);
        expect(await db.namespace("sessions").get("alice/1")).toBeUndefined();
        return text(pk);
      });
      expect(consumed).toBe("pk1");
      expect(await db.namespace("prekeys").get("1")).toBeUndefined();
      expect(text(await db.namespace("sessions").get("alice/1"))).toBe("session");
      await db.close();
    });

    it("writes nothing when the transaction body throws, and rethrows", async () => {
      const { db } = await create();
      await db.namespace("n").put("keep", bytes("v"));
      await expect(
        db.transaction(async (tx) => {
          await tx.namespace("n").put("new", bytes("x"));
          await tx.namespace("n").delete("keep");
          throw new Error("abort");
        }),
      ).rejects.toThrow("abort");
      expect(await db.namespace("n").get("new")).toBeUndefined();
      expect(text(await db.namespace("n").get("keep"))).toBe("v");
      await db.close();
    });

    it("one-time prekeys are consumed exactly once under concurrent transactions", async () => {
      const { db } = await create();
      await db.namespace("prekeys").put("7", bytes("secret"));
      const take = () =>
        db.transaction(async (tx) => {
          const ns = tx.namespace("prekeys");
          const pk = await ns.get("7");
          if (pk) await ns.delete("7");
          return pk !== undefined;
        });
      const results = await Promise.all([take(), take(), take(), take()]);
      expect(results.filter(Boolean)).toHaveLength(1);
      await db.close();
    });

    it("a finished transaction's handle refuses further use (CLOSED)", async () => {
      const { db } = await create();
      let leaked: { put(k: string, v: Uint8Array): Promise<void> } | undefined;
      await db.transaction((tx) => {
        leaked = tx.namespace("n");
      });
      await expect(leaked!.put("k", bytes("v"))).rejects.toSatisfy((e) => isStorageError(e, "CLOSED"));
      await db.close();
    });

    it("reopens with the passphrase and sees every committed record", async () => {
      const { loc, db } = await create("pass one");
      await db.namespace("n").put("a/b", bytes("v1"));
      await db.close();
      await expect(db.namespace("n").get("a/b")).rejects.toSatisfy((e) => isStorageError(e, "CLOSED"));
      const again = await EncryptedStore.open(await loc.open(), { passphrase: "pass one" });
      expect(text(await again.namespace("n").get("a/b"))).toBe("v1");
      expect(again.commitCounter).toBe(1);
      await again.close();
    });

    it("refuses a wrong passphrase with WRONG_PASSPHRASE and changes nothing", async () => {
      const { loc, db } = await create("right");
      await db.namespace("n").put("k", bytes("v"));
      await db.close();
      await openFails(loc, { passphrase: "wrong" }, "WRONG_PASSPHRASE");
      const again = await EncryptedStore.open(await loc.open(), { passphrase: "right" });
      expect(text(await again.namespace("n").get("k"))).toBe("v");
      await again.close();
    });

    it("NFC-normalises the passphrase (composed and decomposed accents open the same store)", async () => {
      const { loc, db } = await create("caf\u00e9");
      await db.close();
      const again = await EncryptedStore.open(await loc.open(), { passphrase: "cafe\u0301" });
      await again.close();
    });

    it("changes the passphrase: the old one stops working, data and KDF upgrade kept", async () => {
      const { loc, db } = await create("old");
      await db.namespace("n").put("k", bytes("v"));
      await expect(db.changePassphrase("not-old", "new")).rejects.toSatisfy((e) =>
        isStorageError(e, "WRONG_PASSPHRASE"),
      );
      const stronger = { ...FAST_KDF, N: 32 };
      await db.changePassphrase("old", "new", { kdf: stronger });
      expect(db.kdfParams).toEqual(stronger);
      await db.close();
      await openFails(loc, { passphrase: "old" }, "WRONG_PASSPHRASE");
      const again = await EncryptedStore.open(await loc.open(), { passphrase: "new" });
      expect(again.kdfParams).toEqual(stronger);
      expect(text(await again.namespace("n").get("k"))).toBe("v");
      await again.close();
    });

    it("keystore lifecycle: on at create, open unattended, change passphrase, off, then passphrase needed", async () => {
      const keystore = new MemoryKeystore();
      const loc = fresh();
      const db = await EncryptedStore.create(await loc.open(), { passphrase: "p1", kdf: FAST_KDF, keystore });
      await db.namespace("n").put("k", bytes("v"));
      await db.close();
      const a = await EncryptedStore.open(await loc.open(), { keystore });
      expect(await a.isPassphraseInKeystore(keystore)).toBe(true);
      expect(await a.isPassphraseInKeystore(new MemoryKeystore())).toBe(false);
      await a.changePassphrase("p1", "p2", { keystore });
      expect(keystore.entries()).toHaveLength(1);
      await a.close();
      const b = await EncryptedStore.open(await loc.open(), { keystore });
      await b.removePassphraseFromKeystore(keystore);
      expect(keystore.entries()).toHaveLength(0);
      expect(await b.isPassphraseInKeystore(keystore)).toBe(false);
      await b.close();
      await openFails(loc, { keystore }, "KEYSTORE_EMPTY");
      const c = await EncryptedStore.open(await loc.open(), { passphrase: "p2" });
      await expect(c.storePassphraseInKeystore(keystore, "p1")).rejects.toSatisfy((e) =>
        isStorageError(e, "WRONG_PASSPHRASE"),
      );
      await c.storePassphraseInKeystore(keystore, "p2");
      await c.close();
      const d = await EncryptedStore.open(await loc.open(), { keystore });
      expect(text(await d.namespace("n").get("k"))).toBe("v");
      await d.close();
    });

    it("keystore entries survive a crash at any step of changePassphrase (pending entry)", async () => {
      const keystore = new MemoryKeystore();
      const loc = fresh();
      const db = await EncryptedStore.create(await loc.open(), { passphrase: "old", kdf: FAST_KDF, keystore });
      const [main] = keystore.entries();
      // Crash after the pending entry was written, before the header commit: main still opens.
      await keystore.set(`${main!}:pending`, "new");
      await db.close();
      const a = await EncryptedStore.open(await loc.open(), { keystore });
      // Crash after the header commit, before the main entry was replaced: pending opens and is promoted.
      await a.changePassphrase("old", "new");
      await keystore.set(`${main!}:pending`, "new");
      await a.close();
      const b = await EncryptedStore.open(await loc.open(), { keystore });
      expect(await keystore.get(main!)).toBe("new");
      expect(keystore.entries()).toEqual([main]);
      await b.close();
    });

    it("create refuses an existing store, open refuses an empty location", async () => {
      const { loc, db } = await create();
      await db.close();
      const backend = await loc.open();
      await expect(EncryptedStore.create(backend, { passphrase: "x", kdf: FAST_KDF })).rejects.toSatisfy((e) =>
        isStorageError(e, "ALREADY_EXISTS"),
      );
      await backend.close();
      await openFails(fresh(), { passphrase: "x" }, "NOT_FOUND");
    });

    it("checks its arguments at the boundary (INVALID_ARGUMENT)", async () => {
      const { db } = await create();
      const invalid = (e: unknown) => isStorageError(e, "INVALID_ARGUMENT");
      expect(() => db.namespace("")).toThrow();
      expect(() => db.namespace("\u0000media")).toThrow();
      await expect(db.namespace("n").put("k", "text" as unknown as Uint8Array)).rejects.toSatisfy(invalid);
      await expect(db.namespace("n").get("\ud800")).rejects.toSatisfy(invalid);
      await expect(db.namespace("n").get("x".repeat(5000))).rejects.toSatisfy(invalid);
      await expect(db.namespace("n").scan({ limit: -1 })).rejects.toSatisfy(invalid);
      for (const options of [
        { passphrase: "", kdf: FAST_KDF },
        { passphrase: "p", kdf: { ...FAST_KDF, N: 3 } },
      ]) {
        const backend = await fresh().open();
        await expect(EncryptedStore.create(backend, options)).rejects.toSatisfy(invalid);
        await backend.close();
      }
      await db.close();
    });

    it("transaction lock names: checked (INVALID_ARGUMENT, nothing written), then the transaction commits as any other", async () => {
      const { db } = await create();
      const invalid = (e: unknown) => isStorageError(e, "INVALID_ARGUMENT");
      const write = async (tx: Transaction) => tx.namespace("n").put("k", bytes("written"));
      for (const lock of ["conversation/alice", [""], ["\ud800"], [7], ["x".repeat(5000)]]) {
        await expect(db.transaction(write, { lock } as unknown as TransactionOptions)).rejects.toSatisfy(invalid);
      }
      await expect(db.transaction(write, null as unknown as TransactionOptions)).rejects.toSatisfy(invalid);
      expect(await db.namespace("n").get("k")).toBeUndefined();
      const counter = db.commitCounter;
      await db.transaction(write, { lock: ["conversation/alice", "conversation/alice", "conversation/bob"] });
      await db.transaction(write, { lock: [] });
      expect(text(await db.namespace("n").get("k"))).toBe("written");
      expect(db.commitCounter).toBe(counter + 2);
      await db.close();
    });
  });
}
