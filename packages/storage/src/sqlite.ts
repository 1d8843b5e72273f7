/**
 * SQLite backend for Node (better-sqlite3): one real file in WAL mode, each commit one SQLite
 * transaction, synchronous=FULL by default (a committed transaction survives power loss, which
 * matters for ratchet state: a rolled-back chain key would be reused), secure_delete on, and an
 * exclusive lock so a second process cannot open the same store. Media live in `<path>.media/`.
 * @packageDocumentation
 */
import type BetterSqlite3 from "better-sqlite3";
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { MediaBackend, RawEntry, RawWrite, StorageBackend } from "./backend.js";
import { StorageError } from "./errors.js";

export interface SqliteBackendOptions {
  /** "FULL" (default): durable across power loss. "NORMAL": durable across process crashes only, faster. */
  readonly synchronous?: "FULL" | "NORMAL";
  /** Directory for encrypted media; `<path>.media` by default. */
  readonly mediaDir?: string;
  /**
   * SQLite's page cache for this store, in KiB (default 16384: 16 MiB, allocated as pages are read).
   * Row keys are MACs, so reads and writes land all over the file; SQLite's own default of 2 MiB makes
   * a store of a few hundred thousand records read the disk for most of them.
   */
  readonly cacheKiB?: number;
}

function sqliteError(error: unknown): StorageError {
  if (error instanceof StorageError) return error; // ours already (a row of the wrong type)
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") {
    return new StorageError(
      "CORRUPTED",
      "the SQLite file is corrupt or not a database; restore it from a backup or archive",
      { cause: error },
    );
  }
  if (code === "SQLITE_BUSY") {
    return new StorageError(
      "BACKEND_FAILED",
      "the store is open in another connection or process (SQLite holds it exclusively); close that first",
      { cause: error },
    );
  }
  return new StorageError("BACKEND_FAILED", "SQLite failed; see `cause`", { cause: error });
}

function guard<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(sqliteError(error));
  }
}

/**
 * The SQLite backend that {@link openSqliteBackend} returns. An interface, so that the published types do
 * not name better-sqlite3's (which users of this entry would otherwise need `@types/better-sqlite3` for).
 */
export interface SqliteBackend extends StorageBackend {
  readonly kind: "sqlite";
  readonly media: FileMedia;
}

class SqliteBackendImpl implements SqliteBackend {
  readonly kind = "sqlite";
  readonly media: FileMedia;
  readonly #db: BetterSqlite3.Database;
  /** Plucked: the value itself, no row object per read. */
  readonly #get: BetterSqlite3.Statement<[string], Uint8Array>;
  readonly #getMeta: BetterSqlite3.Statement<[string], { v: Uint8Array }>;
  /** Raw: each row as [k, v], no row object per row. */
  readonly #scan: BetterSqlite3.Statement<[string, string], [string, Uint8Array]>;
  readonly #after: BetterSqlite3.Statement<[string, number], { k: string; v: Uint8Array }>;
  readonly #afterHead: BetterSqlite3.Statement<[number, string, number], { k: string; v: Uint8Array }>;
  readonly #put: BetterSqlite3.Statement<[string, Uint8Array]>;
  readonly #del: BetterSqlite3.Statement<[string]>;
  readonly #putMeta: BetterSqlite3.Statement<[string, Uint8Array]>;
  readonly #apply: (write: RawWrite) => void;

  /** Made by `openSqliteBackend` only: it sets the pragmas (WAL, synchronous, secure_delete, exclusive lock). */
  constructor(db: BetterSqlite3.Database, mediaDir: string) {
    this.#db = db;
    this.media = new FileMedia(mediaDir);
    this.#get = db.prepare<[string], Uint8Array>("SELECT v FROM records WHERE k = ?").pluck();
    this.#getMeta = db.prepare("SELECT v FROM meta WHERE name = ?");
    this.#scan = db
      .prepare<[string, string], [string, Uint8Array]>("SELECT k, v FROM records WHERE k >= ? AND k < ?")
      .raw();
    // "" sorts before every row key, so it stands for "from the start".
    this.#after = db.prepare("SELECT k, v FROM records WHERE k > ? ORDER BY k LIMIT ?");
    this.#afterHead = db.prepare("SELECT k, substr(v, 1, ?) AS v FROM records WHERE k > ? ORDER BY k LIMIT ?");
    this.#put = db.prepare("INSERT OR REPLACE INTO records (k, v) VALUES (?, ?)");
    this.#del = db.prepare("DELETE FROM records WHERE k = ?");
    this.#putMeta = db.prepare("INSERT OR REPLACE INTO meta (name, v) VALUES (?, ?)");
    this.#apply = db.transaction((write: RawWrite) => {
      for (const key of write.deletes) this.#del.run(key);
      // Row keys are MACs, so a big commit lands all over the B-tree: in key order it touches each page
      // once. (A stable sort: of two puts of one key the later still wins.)
      const puts = write.puts.length > 16 ? [...write.puts].sort(byKey) : write.puts;
      for (const { key, value } of puts) this.#put.run(key, value);
      for (const { key, value } of write.meta) this.#putMeta.run(key, value);
    });
  }

  getMeta(name: string): Promise<Uint8Array | undefined> {
    return guard(() => bytes(this.#getMeta.get(name)?.v as unknown));
  }
  get(key: string): Promise<Uint8Array | undefined> {
    // The store's hottest call: no closure per read.
    try {
      return Promise.resolve(bytes(this.#get.get(key) as unknown));
    } catch (error) {
      return Promise.reject(sqliteError(error));
    }
  }
  getMany(keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    return guard(() => {
      const out = new Map<string, Uint8Array>();
      for (const key of keys) {
        const value = bytes(this.#get.get(key));
        if (value) out.set(key, value);
      }
      return out;
    });
  }
  scanPrefix(prefix: string): Promise<RawEntry[]> {
    // Row keys are ASCII below 0x7f, so prefix + DEL bounds every key with that prefix.
    return guard(() => this.#scan.all(prefix, `${prefix}\u007f`).map(([key, value]) => entry(key, value)));
  }
  scanAfter(after: string | undefined, limit: number, head?: number): Promise<RawEntry[]> {
    return guard(() =>
      (head === undefined ? this.#after.all(after ?? "", limit) : this.#afterHead.all(head, after ?? "", limit)).map(
        (row) => entry(row.k, row.v),
      ),
    );
  }
  commit(write: RawWrite): Promise<void> {
    return guard(() => {
      this.#apply(write);
    });
  }
  compact(): Promise<void> {
    return guard(() => {
      this.#db.pragma("wal_checkpoint(TRUNCATE)");
      this.#db.exec("VACUUM");
      this.#db.pragma("wal_checkpoint(TRUNCATE)");
    });
  }
  close(): Promise<void> {
    return guard(() => {
      if (this.#db.open) this.#db.close();
    });
  }
}

const byKey = (a: RawEntry, b: RawEntry): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * better-sqlite3 returns a Buffer per value, with memory of its own (copied out of SQLite, never
 * Node's shared pool): hand out a plain Uint8Array over the same memory, without a second copy.
 */
function bytes(value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  // A damaged file can hand back a cell of another type (its type byte flipped): typed, not a TypeError later.
  if (!(value instanceof Uint8Array)) throw damaged();
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** A row as the store reads it: a string key and a byte value, else the file is damaged. */
function entry(key: unknown, value: unknown): RawEntry {
  if (typeof key !== "string") throw damaged();
  const v = bytes(value);
  if (v === undefined) throw damaged();
  return { key, value: v };
}

function damaged(): StorageError {
  return new StorageError(
    "CORRUPTED",
    "the SQLite file holds a row of the wrong type; restore it from a backup or archive",
  );
}

/** Opens (or creates) the SQLite file at `path`. Needs the optional peer dependency better-sqlite3. */
export async function openSqliteBackend(path: string, options: SqliteBackendOptions = {}): Promise<SqliteBackend> {
  let Database: typeof BetterSqlite3;
  try {
    Database = (await import("better-sqlite3")).default;
  } catch (cause) {
    throw new StorageError(
      "BACKEND_FAILED",
      "the SQLite backend needs better-sqlite3: add it to your dependencies (npm i better-sqlite3)",
      { cause },
    );
  }
  const synchronous = options.synchronous ?? "FULL";
  if (synchronous !== "FULL" && synchronous !== "NORMAL")
    throw new StorageError("INVALID_ARGUMENT", 'synchronous must be "FULL" or "NORMAL"');
  const cacheKiB = options.cacheKiB ?? 16384;
  if (!Number.isSafeInteger(cacheKiB) || cacheKiB < 0)
    throw new StorageError("INVALID_ARGUMENT", "cacheKiB must be a non-negative integer");
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(path, { timeout: 1000 });
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma("secure_delete = ON");
    db.pragma(`cache_size = -${cacheKiB}`);
    db.exec("CREATE TABLE IF NOT EXISTS records (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    db.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    const backend = new SqliteBackendImpl(db, options.mediaDir ?? `${path}.media`);
    await backend.media.removeIncomplete();
    return backend;
  } catch (error) {
    db?.close();
    if (error instanceof StorageError) throw error;
    throw sqliteError(error);
  }
}

const MEDIA_ID = /^[0-9a-f]{32}$/;
const PART = ".part";

/** Media as files: written to `<id>.part`, fsynced, renamed; overwritten with zeros before unlinking. */
class FileMedia implements MediaBackend {
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
  }

  #path(id: string): string {
    if (!MEDIA_ID.test(id)) throw new StorageError("INVALID_ARGUMENT", "a media id is 32 lowercase hex digits");
    return join(this.#dir, id);
  }

  async write(id: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const path = this.#path(id);
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const file = await open(path + PART, "w", 0o600);
    try {
      for await (const piece of data) await file.write(piece);
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(path + PART, { force: true });
      throw error;
    }
    await file.close();
    await rename(path + PART, path);
    syncDir(this.#dir);
  }

  async *read(id: string): AsyncIterable<Uint8Array> {
    const path = this.#path(id);
    let file;
    try {
      file = await open(path, "r");
    } catch (cause) {
      throw new StorageError("NOT_FOUND", "the media item's file is missing", { cause });
    }
    try {
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        yield buffer.slice(0, bytesRead);
      }
    } finally {
      await file.close();
    }
  }

  async delete(id: string): Promise<void> {
    await this.#overwriteAndRemove(this.#path(id));
  }

  async #overwriteAndRemove(path: string): Promise<void> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return;
    }
    // Best effort on journaling/flash file systems; the real guarantee is that the item's key is gone.
    const file = await open(path, "r+");
    try {
      const zeros = new Uint8Array(Math.min(size, 1024 * 1024));
      for (let offset = 0; offset < size; offset += zeros.length) {
        await file.write(zeros, 0, Math.min(zeros.length, size - offset), offset);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rm(path, { force: true });
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.#dir)).filter((name) => MEDIA_ID.test(name));
    } catch {
      return [];
    }
  }

  /** Removes files of writes that a crash interrupted. */
  async removeIncomplete(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return;
    }
    for (const name of names) if (name.endsWith(PART)) await this.#overwriteAndRemove(join(this.#dir, name));
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Types only: a backend made without openSqliteBackend would lack its pragmas and schema.
export type { FileMedia };
