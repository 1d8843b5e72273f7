/**
 * Encrypted files and media beside the records: each item has its own random key (kept in an
 * encrypted record), its bytes are sealed in 64 KiB chunks (stream.ts) and stored by the backend's
 * media store (files next to the SQLite database, an IndexedDB object store, memory).
 * Deleting the record destroys the key (crypto-erase); the backend also removes the bytes.
 */
import { bytesToHex, hexToBytes, type Crypto } from "@parley/crypto";
import type { MediaBackend } from "./backend.js";
import { MEDIA_CHUNK_BYTES } from "./consts.js";
import { fromUtf8, utf8 } from "./encoding.js";
import { StorageError } from "./errors.js";
import type { StoreInternals } from "./store.js";
import { collect, openStream, sealStream, type ByteSource, type SealStats } from "./stream.js";

const NS = "media";

export interface MediaInfo {
  readonly id: string;
  /** Plaintext size in bytes. */
  readonly size: number;
  readonly name?: string;
  readonly type?: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

interface MediaRecord extends MediaInfo {
  readonly key: string;
  readonly chunks: number;
}

const ID = /^[0-9a-f]{32}$/;

function ad(id: string): Uint8Array {
  return utf8(`parley-storage media v1\0${id}`);
}

export class MediaStore {
  readonly #store: StoreInternals;
  readonly #backend: MediaBackend;
  readonly #crypto: Crypto;

  /** Made by the store (`db.media`). */
  constructor(store: StoreInternals, backend: MediaBackend, crypto: Crypto) {
    this.#store = store;
    this.#backend = backend;
    this.#crypto = crypto;
  }

  /** Encrypts and stores `data` (bytes or a stream of pieces), never holding more than a chunk of it. */
  async put(data: ByteSource, info: { name?: string; type?: string } = {}): Promise<MediaInfo> {
    this.#store.assertOpen();
    const id = bytesToHex(this.#crypto.randomBytes(16));
    const key = this.#crypto.randomBytes(32);
    const stats: SealStats = { size: 0, chunks: 0 };
    try {
      await this.#backend.write(id, sealStream(this.#crypto, key, ad(id), MEDIA_CHUNK_BYTES, data, stats));
    } catch (error) {
      await this.#backend.delete(id).catch(() => undefined);
      if (error instanceof StorageError) throw error;
      throw new StorageError("BACKEND_FAILED", "writing a media item failed; see `cause`", { cause: error });
    }
    const record: MediaRecord = {
      id,
      size: stats.size,
      ...(info.name !== undefined ? { name: info.name } : {}),
      ...(info.type !== undefined ? { type: info.type } : {}),
      createdAt: Date.now(),
      key: bytesToHex(key),
      chunks: stats.chunks,
    };
    key.fill(0);
    await this.#store.namespace(NS).put(id, utf8(JSON.stringify(record)));
    return publicInfo(record);
  }

  async #record(id: string): Promise<MediaRecord> {
    if (typeof id !== "string" || !ID.test(id))
      throw new StorageError("INVALID_ARGUMENT", "a media id is 32 lowercase hex digits");
    const bytes = await this.#store.namespace(NS).get(id);
    if (!bytes) throw new StorageError("NOT_FOUND", "no media item with this id (deleted?)");
    return JSON.parse(fromUtf8(bytes)) as MediaRecord;
  }

  async info(id: string): Promise<MediaInfo> {
    return publicInfo(await this.#record(id));
  }

  /**
   * The plaintext, chunk by chunk. Each chunk is authenticated before it is yielded; if the stream
   * throws TAMPERED part-way, discard what was received (or use `readAll`).
   */
  async *read(id: string): AsyncIterable<Uint8Array> {
    const record = await this.#record(id);
    const key = hexToBytes(record.key);
    let size = 0;
    let chunks = 0;
    for await (const chunk of openStream(
      this.#crypto,
      key,
      ad(id),
      MEDIA_CHUNK_BYTES,
      this.#backend.read(id),
      "a media item",
    )) {
      size += chunk.length;
      chunks++;
      yield chunk;
    }
    if (size !== record.size || chunks !== record.chunks)
      throw new StorageError("TAMPERED", "a media item has the wrong length");
  }

  /** The whole plaintext in memory (small items); TAMPERED before anything is returned. */
  readAll(id: string): Promise<Uint8Array> {
    return collect(this.read(id));
  }

  async list(): Promise<MediaInfo[]> {
    const rows = await this.#store.namespace(NS).scan();
    return rows.map((row) => publicInfo(JSON.parse(fromUtf8(row.value)) as MediaRecord));
  }

  /** Deletes the key record first (crypto-erase), then the bytes. */
  async delete(id: string): Promise<void> {
    await this.#record(id);
    await this.#store.namespace(NS).delete(id);
    await this.#backend.delete(id);
  }

  /**
   * Removes media bytes that no record refers to (left by a crash between writing an item's bytes
   * and committing its record). Returns how many were removed.
   */
  async removeOrphans(): Promise<number> {
    const known = new Set((await this.#store.namespace(NS).scan()).map((row) => row.key));
    let removed = 0;
    for (const id of await this.#backend.list()) {
      if (known.has(id)) continue;
      await this.#backend.delete(id);
      removed++;
    }
    return removed;
  }

  /** Every item: keys in one transaction, then all bytes the backend holds (orphans of crashed writes too), then compaction. */
  async deleteAll(): Promise<void> {
    await this.#store.transaction(NS, async (ns) => {
      for (const row of await ns.scan()) await ns.delete(row.key);
    });
    for (const id of await this.#backend.list()) await this.#backend.delete(id);
    await this.#store.compact();
  }
}

function publicInfo(record: MediaRecord): MediaInfo {
  return {
    id: record.id,
    size: record.size,
    ...(record.name !== undefined ? { name: record.name } : {}),
    ...(record.type !== undefined ? { type: record.type } : {}),
    createdAt: record.createdAt,
  };
}
