/**
 * How the IndexedDB backend finds media writes that never finished (a tab closed mid-write): run in
 * Node on fake-indexeddb (indexeddb.test.ts) and in Chromium (indexeddb.browser.test.ts).
 */
import { describe, expect, it } from "vitest";
import { openIndexedDbBackend } from "../src/indexeddb.js";
import { collect } from "../src/stream.js";

const unique = () => `parley-media-${Math.random().toString(36).slice(2)}`;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => {
      resolve(req.result);
    };
    req.onerror = () => {
      reject(req.error ?? new Error("IndexedDB request failed"));
    };
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => {
      resolve();
    };
    tx.onabort = () => {
      reject(tx.error ?? new Error("transaction aborted"));
    };
  });
}

/** Every key of one object store, read directly. */
async function keysOf(name: string, store: string): Promise<IDBValidKey[]> {
  const db = await request(indexedDB.open(name));
  try {
    return await request(db.transaction(store, "readonly").objectStore(store).getAllKeys());
  } finally {
    db.close();
  }
}

const piece = (n: number) => new Uint8Array([n, n, n]);

async function* pieces(count: number): AsyncIterable<Uint8Array> {
  for (let n = 0; n < count; n++) yield await Promise.resolve(piece(n));
}

/**
 * Yields `count` pieces, then calls `stuck` and never yields again: the backend has committed the
 * pieces (it asks for the next one only once the last one's transaction completed), and the write
 * stays unfinished, as in a tab closed at that moment.
 */
async function* thenHang(count: number, stuck: () => void): AsyncIterable<Uint8Array> {
  yield* pieces(count);
  stuck();
  await new Promise<never>(() => undefined);
}

const LISTINGS = ["getAll", "getAllKeys", "openCursor", "openKeyCursor", "count"] as const;

/** The object stores that had keys or values listed (or counted) while `run` ran. */
async function listingsDuring(run: () => Promise<void>): Promise<string[]> {
  const proto = IDBObjectStore.prototype;
  const names: string[] = [];
  const originals = LISTINGS.map((method) => [method, Object.getOwnPropertyDescriptor(proto, method)!] as const);
  for (const [method, descriptor] of originals) {
    const original = descriptor.value as (this: IDBObjectStore, ...args: unknown[]) => unknown;
    Object.defineProperty(proto, method, {
      ...descriptor,
      value: function (this: IDBObjectStore, ...args: unknown[]) {
        names.push(this.name);
        return original.apply(this, args);
      },
    });
  }
  try {
    await run();
  } finally {
    for (const [method, descriptor] of originals) Object.defineProperty(proto, method, descriptor);
  }
  return names;
}

export function indexedDbMediaCases(label: string): void {
  describe(`IndexedDB media writes interrupted (${label})`, () => {
    it("a write cut off after some chunks is gone after reopening; finished items stay", async () => {
      const name = unique();
      const first = await openIndexedDbBackend(name);
      await first.media.write("a".repeat(32), pieces(3));
      let stuck!: () => void;
      const reached = new Promise<void>((resolve) => (stuck = resolve));
      void first.media.write("b".repeat(32), thenHang(2, stuck));
      await reached;
      expect(await keysOf(name, "mediaPending")).toEqual(["b".repeat(32)]);
      expect(await keysOf(name, "media")).toHaveLength(5);
      await first.close();

      const again = await openIndexedDbBackend(name);
      expect(await keysOf(name, "media")).toEqual([0, 1, 2].map((n) => ["a".repeat(32), n]));
      expect(await keysOf(name, "mediaPending")).toEqual([]);
      expect(await again.media.list()).toEqual(["a".repeat(32)]);
      expect(await collect(again.media.read("a".repeat(32)))).toEqual(new Uint8Array([0, 0, 0, 1, 1, 1, 2, 2, 2]));
      await again.close();
      await request(indexedDB.deleteDatabase(name));
    });

    it("a write whose source fails leaves no chunk and no marker", async () => {
      const name = unique();
      const backend = await openIndexedDbBackend(name);
      async function* failing(): AsyncIterable<Uint8Array> {
        yield* pieces(2);
        throw new Error("source failed");
      }
      await expect(backend.media.write("c".repeat(32), failing())).rejects.toThrow("source failed");
      expect(await keysOf(name, "media")).toEqual([]);
      expect(await keysOf(name, "mediaPending")).toEqual([]);
      await backend.close();
      await request(indexedDB.deleteDatabase(name));
    });

    it("opening reads the pending markers only, never the media chunks' keys", async () => {
      const name = unique();
      const first = await openIndexedDbBackend(name);
      for (const c of "0123456789") await first.media.write(c.repeat(32), pieces(4));
      await first.close();
      const names = await listingsDuring(async () => {
        await (await openIndexedDbBackend(name)).close();
      });
      expect(names).toEqual(["mediaPending"]);
      await request(indexedDB.deleteDatabase(name));
    });

    it("upgrading a version 1 database marks (and so removes) the writes version 1 left unfinished", async () => {
      const name = unique();
      // The layout version 1 of the backend created, with two complete items and two unfinished ones.
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => {
        for (const store of ["records", "meta", "media", "mediaItems"]) open.result.createObjectStore(store);
      };
      const v1 = await request(open);
      const tx = v1.transaction(["media", "mediaItems"], "readwrite");
      const media = tx.objectStore("media");
      const items = tx.objectStore("mediaItems");
      const chunks = { ["1".repeat(32)]: 3, ["2".repeat(32)]: 2, ["3".repeat(32)]: 1, ["4".repeat(32)]: 5 };
      for (const [id, count] of Object.entries(chunks)) for (let n = 0; n < count; n++) media.put(piece(n), [id, n]);
      items.put(3, "1".repeat(32));
      items.put(1, "3".repeat(32));
      await committed(tx);
      v1.close();

      const upgraded = await openIndexedDbBackend(name);
      expect((await upgraded.media.list()).sort()).toEqual(["1".repeat(32), "3".repeat(32)]);
      const left = (await keysOf(name, "media")) as Array<[string, number]>;
      expect(left.map(([id]) => id)).toEqual(["1".repeat(32), "1".repeat(32), "1".repeat(32), "3".repeat(32)]);
      expect(await keysOf(name, "mediaPending")).toEqual([]);
      expect(await collect(upgraded.media.read("1".repeat(32)))).toEqual(new Uint8Array([0, 0, 0, 1, 1, 1, 2, 2, 2]));
      await upgraded.close();
      await request(indexedDB.deleteDatabase(name));
    });
  });
}
