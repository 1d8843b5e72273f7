/** The IndexedDB backend in a real headless Chromium, with the noble provider (no node:crypto there). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EncryptedStore, exportArchive, importArchive, isStorageError, MEDIA_CHUNK_BYTES } from "../src/index.js";
import { deleteIndexedDbStore, openIndexedDbBackend } from "../src/indexeddb.js";
import { collect } from "../src/stream.js";
import { indexedDbMediaCases } from "./indexeddb-media.cases.js";

const KDF = { N: 16, r: 1, p: 1, dkLen: 32 };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const unique = () => `parley-test-${Math.random().toString(36).slice(2)}`;

describe("IndexedDB backend in Chromium", () => {
  it("runs in a real browser with the noble provider", () => {
    expect(typeof indexedDB.open).toBe("function");
    expect((globalThis as { process?: unknown }).process).toBeUndefined();
  });

  it("creates, writes in a transaction, reopens, refuses a wrong passphrase, changes it", async () => {
    const name = unique();
    const db = await EncryptedStore.create(await openIndexedDbBackend(name), { passphrase: "p1", kdf: KDF });
    await db.transaction(async (tx) => {
      await tx.namespace("sessions").put("alice@example.org/1", enc("s1"));
      await tx.namespace("trust").put("alice@example.org/omemo/05", enc("tofu"));
    });
    await db.close();
    const wrongBackend = await openIndexedDbBackend(name);
    await expect(EncryptedStore.open(wrongBackend, { passphrase: "nope" })).rejects.toSatisfy((e) =>
      isStorageError(e, "WRONG_PASSPHRASE"),
    );
    await wrongBackend.close();
    const again = await EncryptedStore.open(await openIndexedDbBackend(name), { passphrase: "p1" });
    expect(dec(await again.namespace("sessions").get("alice@example.org/1"))).toBe("s1");
    await again.changePassphrase("p1", "p2");
    await again.close();
    const third = await EncryptedStore.open(await openIndexedDbBackend(name), { passphrase: "p2" });
    expect((await third.namespace("trust").scan({ prefix: "alice@example.org/" })).map((e) => e.key)).toEqual([
      "alice@example.org/omemo/05",
    ]);
    await third.close();
    await deleteIndexedDbStore(name);
  });

  it("agrees with a Map model over random put/delete/reopen sequences", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom("put", "delete", "reopen"),
            fc.constantFrom("a", "a/1", "a/2", "b/1"),
            fc.uint8Array({ maxLength: 8 }),
          ),
          { maxLength: 15 },
        ),
        async (ops) => {
          const name = unique();
          let db = await EncryptedStore.create(await openIndexedDbBackend(name), { passphrase: "p", kdf: KDF });
          const model = new Map<string, Uint8Array>();
          for (const [op, key, value] of ops) {
            if (op === "put") {
              await db.namespace("n").put(key, value);
              model.set(key, value);
            } else if (op === "delete") {
              await db.namespace("n").delete(key);
              model.delete(key);
            } else {
              await db.close();
              db = await EncryptedStore.open(await openIndexedDbBackend(name), { passphrase: "p" });
            }
          }
          const expected = [...model].sort(([x], [y]) => (x < y ? -1 : 1)).map(([key, value]) => ({ key, value }));
          expect(await db.namespace("n").scan()).toEqual(expected);
          await db.close();
          await deleteIndexedDbStore(name);
        },
      ),
      { numRuns: 15 },
    );
  });

  it("stores media chunked, detects a tampered chunk, deletes all media, exports and imports an archive", async () => {
    const name = unique();
    const backend = await openIndexedDbBackend(name);
    const db = await EncryptedStore.create(backend, { passphrase: "p", kdf: KDF });
    const data = new Uint8Array(2 * MEDIA_CHUNK_BYTES + 100).map((_, i) => i & 0xff);
    const item = await db.media.put(data, { name: "voice.ogg" });
    expect(await db.media.readAll(item.id)).toEqual(data);
    await db.namespace("n").put("k", enc("v"));
    const archive = await collect(exportArchive(db, "archive", { kdf: KDF }));
    // Tamper with the first stored chunk through IndexedDB itself.
    const raw = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => {
        resolve(r.result);
      };
    });
    await new Promise<void>((resolve) => {
      const tx = raw.transaction("media", "readwrite");
      const store = tx.objectStore("media");
      const get = store.get([item.id, 0]);
      get.onsuccess = () => {
        const chunk = new Uint8Array(get.result as Uint8Array);
        chunk[5]! ^= 1;
        store.put(chunk, [item.id, 0]);
      };
      tx.oncomplete = () => {
        resolve();
      };
    });
    raw.close();
    await expect(db.media.readAll(item.id)).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    await db.deleteAllMedia();
    expect(await backend.media.list()).toEqual([]);
    const target = await EncryptedStore.create(await openIndexedDbBackend(unique()), { passphrase: "q", kdf: KDF });
    expect(await importArchive(target, archive, "archive")).toEqual({ records: 1, media: 1 });
    const [imported] = await target.media.list();
    expect(await target.media.readAll(imported!.id)).toEqual(data);
    await target.close();
    await db.close();
    await deleteIndexedDbStore(name);
  });
});

indexedDbMediaCases("Chromium");
