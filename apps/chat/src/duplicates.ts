/**
 * The receiver's duplicate filter (@parley/queue's `DuplicateFilter`: a message resent with the same
 * origin-id is shown once), kept in the profile's encrypted store so that it survives a restart: a
 * sender whose queue sends a message again after we restarted (it never saw our server's
 * acknowledgement) does not make us show it twice.
 *
 * Bounded like the filter it mirrors: at most `capacity` records (one per remembered id, in the
 * store's "dedup" namespace under a zero-padded sequence number, so key order is age order), the
 * oldest deleted when a new one comes. Checking is in memory and synchronous; the writes go in the
 * background, grouped into one transaction per batch, so receiving a message never waits for them.
 * A write that fails is reported (`onError`) and dropped: the message itself is not affected (it was
 * shown and stored already), and within this run the filter still knows the id.
 */
import { DEDUP_CAPACITY, DuplicateFilter } from "@parley/queue";

/** The part of @parley/storage's `EncryptedStore` this needs. */
export interface DuplicateStore {
  namespace(name: string): { scan(): Promise<Array<{ key: string; value: Uint8Array }>> };
  transaction<T>(
    body: (tx: {
      namespace(name: string): {
        put(key: string, value: Uint8Array): Promise<void>;
        delete(key: string): Promise<void>;
      };
    }) => Promise<T>,
  ): Promise<T>;
}

export interface StoredDuplicateFilterOptions {
  /** Default: the queue's DEDUP_CAPACITY (10,000). */
  readonly capacity?: number;
  /** Default "dedup". */
  readonly namespace?: string;
  /** A background write failed (nothing else is affected). */
  readonly onError?: (error: unknown) => void;
}

type Op = { readonly put: string; readonly value: Uint8Array } | { readonly delete: string };

const te = new TextEncoder();
const td = new TextDecoder();
const SEQ_DIGITS = 15;
const keyOf = (sender: string, id: string): string => `${sender}\u0000${id}`;

export class StoredDuplicateFilter {
  readonly capacity: number;
  readonly #filter: DuplicateFilter;
  /** (sender, id) → its record's key in the store (undefined: not persisted yet), oldest first, as the filter. */
  readonly #records = new Map<string, string | undefined>();
  readonly #store: DuplicateStore;
  readonly #namespace: string;
  readonly #onError: (error: unknown) => void;
  #seq: number;
  #pending: Op[] = [];
  #writing: Promise<void> | undefined;

  private constructor(
    store: DuplicateStore,
    namespace: string,
    capacity: number,
    loaded: Array<{ key: string; sender: string; id: string }>,
    nextSeq: number,
    onError: (error: unknown) => void,
  ) {
    this.#store = store;
    this.#namespace = namespace;
    this.capacity = capacity;
    this.#onError = onError;
    this.#seq = nextSeq;
    this.#filter = new DuplicateFilter({ capacity, seen: loaded.map((r) => [r.sender, r.id] as const) });
    for (const r of loaded) this.#records.set(keyOf(r.sender, r.id), r.key);
  }

  /** Reads the ids remembered before (the newest `capacity` of them; older or unreadable records are deleted). */
  static async open(store: DuplicateStore, options: StoredDuplicateFilterOptions = {}): Promise<StoredDuplicateFilter> {
    const capacity = options.capacity ?? DEDUP_CAPACITY;
    const namespace = options.namespace ?? "dedup";
    const rows = await store.namespace(namespace).scan(); // sorted by key: oldest first
    const loaded: Array<{ key: string; sender: string; id: string }> = [];
    const stale: string[] = [];
    let nextSeq = 0;
    const newest = new Map<string, string>(); // (sender, id) → its newest record (a refresh whose delete was lost)
    for (const row of rows) {
      const seq = Number(row.key);
      if (Number.isSafeInteger(seq)) nextSeq = Math.max(nextSeq, seq + 1);
      const parsed = parseRecord(row.value);
      if (parsed === undefined) {
        stale.push(row.key);
        continue;
      }
      const older = newest.get(keyOf(parsed.sender, parsed.id));
      if (older !== undefined) stale.push(older);
      newest.set(keyOf(parsed.sender, parsed.id), row.key);
      loaded.push({ key: row.key, ...parsed });
    }
    if (stale.length > 0) {
      const kept = new Set(newest.values());
      loaded.splice(0, loaded.length, ...loaded.filter((r) => kept.has(r.key)));
    }
    // A smaller capacity than the run that wrote them: keep the newest.
    for (const r of loaded.splice(0, Math.max(0, loaded.length - capacity))) stale.push(r.key);
    const filter = new StoredDuplicateFilter(
      store,
      namespace,
      capacity,
      loaded,
      nextSeq,
      options.onError ?? (() => undefined),
    );
    if (stale.length > 0) filter.#enqueue(stale.map((key) => ({ delete: key })));
    return filter;
  }

  /**
   * True if this (sender, origin-id) was seen before, in this run or an earlier one (it is remembered
   * again as the newest, as the filter does). False for a new message: it is remembered in memory now;
   * call {@link persist} once the message is stored, so that a restart remembers it too.
   */
  isDuplicate(sender: string, id: string): boolean {
    const key = keyOf(sender, id);
    const duplicate = this.#filter.isDuplicate(sender, id);
    const ops: Op[] = [];
    if (duplicate) {
      // Refreshed in the filter: newest in the store too (a new record, the old one deleted).
      const old = this.#records.get(key);
      this.#records.delete(key);
      if (old !== undefined) {
        ops.push({ delete: old });
        const record = this.#newRecord(sender, id);
        this.#records.set(key, record.put);
        ops.push(record);
      } else {
        this.#records.set(key, undefined);
      }
    } else {
      this.#records.set(key, undefined);
      // The filter forgot its oldest id beyond its capacity: so does the store.
      while (this.#records.size > this.capacity) {
        const [oldest, record] = this.#records.entries().next().value!;
        this.#records.delete(oldest);
        if (record !== undefined) ops.push({ delete: record });
      }
    }
    if (ops.length > 0) this.#enqueue(ops);
    return duplicate;
  }

  /** Writes (in the background) an id {@link isDuplicate} saw as new; nothing if it is stored or forgotten already. */
  persist(sender: string, id: string): void {
    const key = keyOf(sender, id);
    if (!this.#records.has(key) || this.#records.get(key) !== undefined) return;
    const record = this.#newRecord(sender, id);
    this.#records.set(key, record.put);
    this.#enqueue([record]);
  }

  /** How many ids are remembered. */
  get size(): number {
    return this.#filter.size;
  }

  /** Resolves once every write issued so far is done (or failed and was reported). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  #newRecord(sender: string, id: string): { put: string; value: Uint8Array } {
    return { put: String(this.#seq++).padStart(SEQ_DIGITS, "0"), value: te.encode(JSON.stringify([sender, id])) };
  }

  #enqueue(ops: Op[]): void {
    this.#pending.push(...ops);
    this.#writing ??= this.#write();
  }

  /** Group commit: what was enqueued while a batch was written goes in the next one, in order. */
  async #write(): Promise<void> {
    // Let the message that caused the write go first (it is being stored and shown).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#store.transaction(async (tx) => {
          const ns = tx.namespace(this.#namespace);
          for (const op of batch) {
            if ("put" in op) await ns.put(op.put, op.value);
            else await ns.delete(op.delete);
          }
        });
      } catch (e) {
        try {
          this.#onError(e);
        } catch {
          // the listener's failure is its own
        }
      }
    }
    this.#writing = undefined;
  }
}

function parseRecord(value: Uint8Array): { sender: string; id: string } | undefined {
  try {
    const v = JSON.parse(td.decode(value)) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "string" && v[0] && v[1])
      return { sender: v[0], id: v[1] };
  } catch {
    // unreadable: dropped
  }
  return undefined;
}
