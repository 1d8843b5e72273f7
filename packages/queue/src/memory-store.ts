import { decodeRecord, encodeRecord } from "./codec.js";
import type { QueueStore, StoreBatch, StoredMessage } from "./types.js";

/**
 * An in-memory QueueStore for tests and demos. Records are kept encoded (the same bytes the storage
 * adapter writes), so a test that reloads from it also tests the codec. `records` is exposed for tests.
 */
export class MemoryQueueStore implements QueueStore {
  readonly records = new Map<string, Uint8Array>();
  /** Batches written (a test can count how many transactions a workload took). */
  writes = 0;

  load(): Promise<StoredMessage[]> {
    return Promise.resolve([...this.records].map(([key, value]) => decodeRecord(value, key)));
  }

  write(batch: StoreBatch): Promise<void> {
    const encoded = batch.puts.map((m) => [m.id, encodeRecord(m)] as const);
    for (const id of batch.deletes) this.records.delete(id);
    for (const [id, bytes] of encoded) this.records.set(id, bytes);
    this.writes++;
    return Promise.resolve();
  }
}

export function memoryQueueStore(): MemoryQueueStore {
  return new MemoryQueueStore();
}
