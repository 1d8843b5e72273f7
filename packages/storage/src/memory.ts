import type { MediaBackend, RawEntry, RawWrite, StorageBackend } from "./backend.js";
import { StorageError } from "./errors.js";

/**
 * An in-memory backend for tests and demos. `close()` keeps the data, so the same instance can be
 * opened again to test reopening; `rows` and `metaRows` are exposed so tests can tamper with them.
 */
export class MemoryBackend implements StorageBackend {
  readonly kind = "memory";
  readonly rows = new Map<string, Uint8Array>();
  readonly metaRows = new Map<string, Uint8Array>();
  readonly media: MemoryMedia = new MemoryMedia();

  getMeta(name: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.metaRows.get(name)?.slice());
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.rows.get(key)?.slice());
  }
  getMany(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const key of keys) {
      const value = this.rows.get(key);
      if (value) out.set(key, value.slice());
    }
    return Promise.resolve(out);
  }
  scanPrefix(prefix: string): Promise<RawEntry[]> {
    const out: RawEntry[] = [];
    for (const [key, value] of this.rows) if (key.startsWith(prefix)) out.push({ key, value: value.slice() });
    return Promise.resolve(out);
  }
  scanAfter(after: string | undefined, limit: number, head?: number): Promise<RawEntry[]> {
    // A test backend: sorting per slice is fine here.
    const keys = [...this.rows.keys()].filter((key) => after === undefined || key > after).sort();
    return Promise.resolve(keys.slice(0, limit).map((key) => ({ key, value: this.rows.get(key)!.slice(0, head) })));
  }
  commit(write: RawWrite): Promise<void> {
    for (const key of write.deletes) this.rows.delete(key);
    for (const { key, value } of write.puts) this.rows.set(key, value.slice());
    for (const { key, value } of write.meta) this.metaRows.set(key, value.slice());
    return Promise.resolve();
  }
  compact(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The media side of {@link MemoryBackend}: each item's chunks in `items`, exposed so tests can tamper with them. */
export class MemoryMedia implements MediaBackend {
  readonly items = new Map<string, Uint8Array[]>();
  async write(id: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const pieces: Uint8Array[] = [];
    for await (const piece of data) pieces.push(piece.slice());
    this.items.set(id, pieces);
  }
  async *read(id: string): AsyncIterable<Uint8Array> {
    const pieces = this.items.get(id);
    if (!pieces) throw new StorageError("NOT_FOUND", "no media item with this id");
    for (const piece of pieces) {
      await Promise.resolve();
      yield piece.slice();
    }
  }
  delete(id: string): Promise<void> {
    for (const piece of this.items.get(id) ?? []) piece.fill(0);
    this.items.delete(id);
    return Promise.resolve();
  }
  list(): Promise<string[]> {
    return Promise.resolve([...this.items.keys()]);
  }
}

export function memoryBackend(): MemoryBackend {
  return new MemoryBackend();
}
