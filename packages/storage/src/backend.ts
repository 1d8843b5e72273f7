/**
 * What a storage backend provides: an opaque, unencrypted byte store. Everything it sees is already
 * encrypted or MACed by the store above it, so a backend can be written without any cryptography.
 */

/** One stored row: `key` is a MACed lookup key (ASCII), `value` a sealed record. */
export interface RawEntry {
  readonly key: string;
  readonly value: Uint8Array;
}

/** One atomic write: all of it is durable, or none of it. */
export interface RawWrite {
  readonly puts: readonly RawEntry[];
  readonly deletes: readonly string[];
  /** Small named rows beside the records (the header and the integrity state). */
  readonly meta: readonly RawEntry[];
}

export interface StorageBackend {
  /** "memory", "sqlite", "indexeddb": for messages and benchmarks. */
  readonly kind: string;
  getMeta(name: string): Promise<Uint8Array | undefined>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** Every row whose key starts with `prefix`, in any order. */
  scanPrefix(prefix: string): Promise<RawEntry[]>;
  /** Applies puts, deletes and meta atomically; resolves once durable. */
  commit(write: RawWrite): Promise<void>;
  /** Removes every row and meta row (used by the media wipe and archive import into an empty store). */
  readonly media: MediaBackend;
  /** Drops freed bytes from journals and free pages (after a wipe). Optional work, never required for correctness. */
  compact(): Promise<void>;
  close(): Promise<void>;
}

/** Opaque byte streams for encrypted media, one per id. */
export interface MediaBackend {
  /** Stores the stream under `id`; resolves once durable. A failed write leaves no item. */
  write(id: string, data: AsyncIterable<Uint8Array>): Promise<void>;
  /** The bytes as written, in pieces of any size; throws NOT_FOUND for an unknown id. */
  read(id: string): AsyncIterable<Uint8Array>;
  /** Removes the bytes (overwritten where the medium allows). No error for an unknown id. */
  delete(id: string): Promise<void>;
  list(): Promise<string[]>;
}
