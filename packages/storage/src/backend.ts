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

/**
 * The locks a shared backend takes for one store transaction, held until it commits or rolls back.
 * Acquired in a fixed order (the store lock, then `keys` in the order given, then the integrity state
 * row at commit), so store transactions never deadlock one another.
 */
export interface BackendLocks {
  /**
   * The store-wide lock: "exclusive" for a transaction that named no lock (it runs alone, as every
   * transaction does in one process), "shared" for one that named its locks and for single puts and deletes.
   */
  readonly store: "exclusive" | "shared";
  /** Opaque tokens (the store MACs the lock names), sorted and distinct, each held exclusively. */
  readonly keys: readonly string[];
}

export interface BackendTransactionOptions {
  /** Write transaction: take these locks first (isolation READ COMMITTED; the locks give the order). */
  readonly locks?: BackendLocks;
  /** Read-only transaction over one consistent snapshot (REPEATABLE READ): used to verify while others write. */
  readonly snapshot?: boolean;
}

/** What a store transaction does inside a backend transaction; nothing is durable until it resolves. */
export interface BackendTransaction {
  getMeta(name: string): Promise<Uint8Array | undefined>;
  /** The meta row `name`, locked against other writers (SELECT ... FOR UPDATE) until the transaction ends. */
  lockMeta(name: string): Promise<Uint8Array | undefined>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** The rows among `keys` that exist (one round trip for a whole commit's worth). */
  getMany(keys: readonly string[]): Promise<Map<string, Uint8Array>>;
  scanPrefix(prefix: string): Promise<RawEntry[]>;
  /** As {@link StorageBackend.scanAfter}, inside this transaction (its snapshot). */
  scanAfter?(after: string | undefined, limit: number, head?: number): Promise<RawEntry[]>;
  /** Applies the writes inside the transaction: they become durable when it commits, all or none. */
  write(write: RawWrite): Promise<void>;
}

export interface StorageBackend {
  /** "memory", "sqlite", "indexeddb", "postgres": for messages and benchmarks. */
  readonly kind: string;
  getMeta(name: string): Promise<Uint8Array | undefined>;
  get(key: string): Promise<Uint8Array | undefined>;
  /** Optional: the rows among `keys` that exist, in one call (a commit reads the old version of each row it writes). */
  getMany?(keys: readonly string[]): Promise<Map<string, Uint8Array>>;
  /** Every row whose key starts with `prefix`, in any order. */
  scanPrefix(prefix: string): Promise<RawEntry[]>;
  /**
   * Up to `limit` rows whose key is greater than `after` (every row when `after` is undefined), in
   * ascending key order (row keys are ASCII, so code-unit and byte order agree). Lets the store verify
   * its integrity digest in bounded slices after opening; a backend without it is verified in one slice.
   * With `head`, each value may be cut to its first `head` bytes (the check reads only a record's nonce).
   */
  scanAfter?(after: string | undefined, limit: number, head?: number): Promise<RawEntry[]>;
  /** Applies puts, deletes and meta atomically; resolves once durable. */
  commit(write: RawWrite): Promise<void>;
  /** Removes every row and meta row (used by the media wipe and archive import into an empty store). */
  readonly media: MediaBackend;
  /** Drops freed bytes from journals and free pages (after a wipe). Optional work, never required for correctness. */
  compact(): Promise<void>;
  close(): Promise<void>;
  /**
   * Present on backends that several processes write at once (PostgreSQL). The store then runs each
   * transaction as one backend transaction: it takes `locks`, runs the body, locks and re-reads the
   * integrity state (another process may have moved it on), and writes records and state together.
   * Absent (memory, SQLite, IndexedDB): one process owns the data, and the store's own mutex orders
   * its transactions.
   */
  transaction?<T>(options: BackendTransactionOptions, body: (tx: BackendTransaction) => Promise<T>): Promise<T>;
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
