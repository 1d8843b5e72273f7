/**
 * IndexedDB backend for browsers: object stores "records" and "meta" (one readwrite transaction per
 * commit, so a commit is atomic), "media" (sealed chunks keyed [id, n]), "mediaItems" (complete
 * items: id -> chunk count) and "mediaPending" (items being written: a marker put in the same
 * transaction as an item's first chunk and removed in the one that adds its "mediaItems" row). An
 * interrupted write leaves its marker, so opening removes it by reading the markers alone: open time
 * does not grow with the media stored. One tab at a time should hold a store open (as with SQLite's
 * exclusive lock).
 *
 * Version 1 databases (no "mediaPending") are upgraded in the versionchange transaction: a marker for
 * every id that has chunks but no "mediaItems" row, found by skipping from item to item (one cursor
 * step per item, not per chunk), so the upgrade is atomic and a write interrupted before it is still
 * cleaned up.
 * @packageDocumentation
 */
import type { MediaBackend, RawEntry, RawWrite, StorageBackend } from "./backend.js";
import { StorageError } from "./errors.js";

/** 2 added "mediaPending"; see the module comment. */
const VERSION = 2;
const STORES = ["records", "meta", "media", "mediaItems", "mediaPending"] as const;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => {
      resolve(req.result);
    };
    req.onerror = () => {
      reject(failed(req.error));
    };
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => {
      resolve();
    };
    tx.onerror = () => {
      reject(failed(tx.error));
    };
    tx.onabort = () => {
      reject(failed(tx.error ?? new Error("transaction aborted")));
    };
  });
}

function failed(cause: unknown): StorageError {
  return new StorageError("BACKEND_FAILED", "IndexedDB failed; see `cause`", { cause });
}

function bytes(value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  throw new StorageError("CORRUPTED", "IndexedDB holds a row that is not bytes");
}

class IndexedDbBackend implements StorageBackend {
  readonly kind = "indexeddb";
  readonly media: IndexedDbMedia;
  readonly #db: IDBDatabase;

  constructor(db: IDBDatabase) {
    this.#db = db;
    this.media = new IndexedDbMedia(db);
  }

  async #read<T>(store: string, run: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const tx = this.#db.transaction(store, "readonly");
    return request(run(tx.objectStore(store)));
  }

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    return bytes(await this.#read("meta", (s) => s.get(name)));
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return bytes(await this.#read("records", (s) => s.get(key)));
  }
  async getMany(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    // One read transaction, every request in flight at once.
    const store = this.#db.transaction("records", "readonly").objectStore("records");
    const values = await Promise.all(keys.map((key) => request(store.get(key))));
    const out = new Map<string, Uint8Array>();
    keys.forEach((key, i) => {
      const value = bytes(values[i]);
      if (value) out.set(key, value);
    });
    return out;
  }
  async scanPrefix(prefix: string): Promise<RawEntry[]> {
    const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
    const tx = this.#db.transaction("records", "readonly");
    const store = tx.objectStore("records");
    const [keys, values] = await Promise.all([request(store.getAllKeys(range)), request(store.getAll(range))]);
    return keys.map((k, i) => ({ key: k as string, value: bytes(values[i])! }));
  }
  async scanAfter(after: string | undefined, limit: number): Promise<RawEntry[]> {
    const range = after === undefined ? undefined : IDBKeyRange.lowerBound(after, true);
    const tx = this.#db.transaction("records", "readonly");
    const store = tx.objectStore("records");
    const [keys, values] = await Promise.all([
      request(store.getAllKeys(range, limit)),
      request(store.getAll(range, limit)),
    ]);
    return keys.map((k, i) => ({ key: k as string, value: bytes(values[i])! }));
  }
  async commit(write: RawWrite): Promise<void> {
    const tx = this.#db.transaction(["records", "meta"], "readwrite");
    const finished = done(tx);
    const records = tx.objectStore("records");
    const meta = tx.objectStore("meta");
    for (const key of write.deletes) records.delete(key);
    for (const { key, value } of write.puts) records.put(value, key);
    for (const { key, value } of write.meta) meta.put(value, key);
    await finished;
  }
  compact(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.#db.close();
    return Promise.resolve();
  }
}

/**
 * The media side of {@link IndexedDbBackend}: sealed chunks in the "media" object store, keyed [id, n], and
 * each complete item's chunk count in "mediaItems".
 */
class IndexedDbMedia implements MediaBackend {
  readonly #db: IDBDatabase;
  constructor(db: IDBDatabase) {
    this.#db = db;
  }

  async write(id: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    let n = 0;
    try {
      // One transaction per piece: an IndexedDB transaction cannot stay open across awaits on the source.
      for await (const piece of data) {
        const tx = this.#db.transaction(["media", "mediaPending"], "readwrite");
        const finished = done(tx);
        if (n === 0) tx.objectStore("mediaPending").put(true, id);
        tx.objectStore("media").put(piece, [id, n++]);
        await finished;
      }
      const tx = this.#db.transaction(["mediaItems", "mediaPending"], "readwrite");
      const finished = done(tx);
      tx.objectStore("mediaItems").put(n, id);
      tx.objectStore("mediaPending").delete(id);
      await finished;
    } catch (error) {
      await this.delete(id);
      throw error;
    }
  }

  async *read(id: string): AsyncIterable<Uint8Array> {
    const count: unknown = await request(
      this.#db.transaction("mediaItems", "readonly").objectStore("mediaItems").get(id),
    );
    if (typeof count !== "number") throw new StorageError("NOT_FOUND", "no media item with this id");
    for (let n = 0; n < count; n++) {
      const piece = bytes(await request(this.#db.transaction("media", "readonly").objectStore("media").get([id, n])));
      if (!piece) throw new StorageError("TAMPERED", "a media item lost a chunk");
      yield piece;
    }
  }

  async delete(id: string): Promise<void> {
    const tx = this.#db.transaction(["media", "mediaItems", "mediaPending"], "readwrite");
    const finished = done(tx);
    tx.objectStore("media").delete(IDBKeyRange.bound([id, 0], [id, Infinity]));
    tx.objectStore("mediaItems").delete(id);
    tx.objectStore("mediaPending").delete(id);
    await finished;
  }

  async list(): Promise<string[]> {
    return (await request(
      this.#db.transaction("mediaItems", "readonly").objectStore("mediaItems").getAllKeys(),
    )) as string[];
  }

  /** Chunks of writes that never completed: the ids still marked pending (not every chunk's key). */
  async removeIncomplete(): Promise<void> {
    const pending = await request(
      this.#db.transaction("mediaPending", "readonly").objectStore("mediaPending").getAllKeys(),
    );
    for (const id of pending) if (typeof id === "string") await this.delete(id);
  }
}

export interface IndexedDbBackendOptions {
  /** The IDBFactory to use; `globalThis.indexedDB` by default (tests in Node pass fake-indexeddb's). */
  readonly indexedDB?: IDBFactory;
}

/** Opens (or creates) the IndexedDB database `name`. */
export async function openIndexedDbBackend(
  name: string,
  options: IndexedDbBackendOptions = {},
): Promise<IndexedDbBackend> {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory)
    throw new StorageError("BACKEND_FAILED", "IndexedDB is not available here; in Node use the SQLite backend");
  const req = factory.open(name, VERSION);
  req.onupgradeneeded = (event) => {
    const db = req.result;
    for (const store of STORES) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
    if (event.oldVersion === 1 && req.transaction) markIncompleteV1(req.transaction);
  };
  const db = await request(req);
  const backend = new IndexedDbBackend(db);
  await backend.media.removeIncomplete();
  return backend;
}

/**
 * Inside the upgrade from version 1: marks pending every media id that has chunks but no "mediaItems"
 * row (a write that version 1 never finished). The cursor jumps from an id's first chunk to the next
 * id's ([id, Infinity] sorts after every [id, n]), so it reads one chunk key per item.
 */
function markIncompleteV1(tx: IDBTransaction): void {
  const items = tx.objectStore("mediaItems");
  const pending = tx.objectStore("mediaPending");
  const cursor = tx.objectStore("media").openKeyCursor();
  cursor.onsuccess = () => {
    const c = cursor.result;
    if (!c) return;
    const key = c.key;
    if (!Array.isArray(key) || typeof key[0] !== "string") {
      c.continue();
      return;
    }
    const id = key[0];
    const row = items.count(id);
    row.onsuccess = () => {
      if (row.result === 0) pending.put(true, id);
      c.continue([id, Infinity]);
    };
  };
}

/** Deletes the whole IndexedDB database (all records, media, header). */
export async function deleteIndexedDbStore(name: string, options: IndexedDbBackendOptions = {}): Promise<void> {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new StorageError("BACKEND_FAILED", "IndexedDB is not available here");
  await request(factory.deleteDatabase(name));
}

// Type only: a backend made without openIndexedDbBackend would lack its object stores and cleanup.
export type { IndexedDbBackend, IndexedDbMedia };
