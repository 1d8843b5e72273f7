/**
 * `@parley/queue/storage`: a QueueStore over `@parley/storage`'s EncryptedStore (SQLite in Node,
 * IndexedDB in browsers), typed structurally so this package imports nothing from @parley/storage.
 * One record per message under its origin-id in one namespace; every batch is one transaction.
 * @packageDocumentation
 */
import { decodeRecord, encodeRecord } from "./codec.js";
import { QueueError, isQueueError } from "./errors.js";
import type { QueueStore, StoreBatch, StoredMessage } from "./types.js";

/** The part of a namespace handle the adapter uses (`db.namespace(name)` and `tx.namespace(name)` have it). */
export interface KVNamespaceLike {
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  scan(): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** What the adapter needs of an `EncryptedStore`. */
export interface EncryptedStoreLike {
  namespace(name: string): KVNamespaceLike;
  transaction<T>(body: (tx: { namespace(name: string): KVNamespaceLike }) => Promise<T>): Promise<T>;
}

/** Default namespace of the queue's records. */
export const QUEUE_NAMESPACE = "queue";

async function guarded<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isQueueError(error)) throw error;
    throw new QueueError("STORE_FAILED", `the encrypted store failed to ${what}; see \`cause\``, { cause: error });
  }
}

export function encryptedQueueStore(db: EncryptedStoreLike, namespace: string = QUEUE_NAMESPACE): QueueStore {
  return {
    load: () =>
      guarded("load the queue", async () => {
        const rows = await db.namespace(namespace).scan();
        return rows.map((row) => decodeRecord(row.value, row.key));
      }),
    write: (batch: StoreBatch) =>
      guarded("write the queue", () =>
        db.transaction(async (tx) => {
          const ns = tx.namespace(namespace);
          for (const id of batch.deletes) await ns.delete(id);
          for (const m of batch.puts) await ns.put(m.id, encodeRecord(m));
        }),
      ),
  };
}

export type { StoredMessage };
