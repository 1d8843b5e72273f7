/**
 * PostgreSQL backend for Node (`pg`), for bots and bridges that run several worker processes, on one
 * machine or several, against one database. Each store transaction is one PostgreSQL transaction
 * (READ COMMITTED) that first takes advisory transaction locks (the store lock, shared or exclusive,
 * then the transaction's named locks), and at commit locks the integrity state row (`SELECT ... FOR
 * UPDATE`), so the store updates the digest from the state other processes left. Opening verifies in
 * one REPEATABLE READ snapshot. Several stores share a database under distinct `table` prefixes.
 * Media live in a table beside the records, one row per piece.
 * @packageDocumentation
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import type {
  BackendTransaction,
  BackendTransactionOptions,
  MediaBackend,
  RawEntry,
  RawWrite,
  StorageBackend,
} from "./backend.js";
import { StorageError, isStorageError } from "./errors.js";

/** Where the server is: a connection string, or the usual fields (anything else `pg` reads from PG* variables). */
export interface PostgresConnection {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** Passed to `pg` as is (`true`, or `{ ca, rejectUnauthorized, ... }`). */
  readonly ssl?: boolean | Readonly<Record<string, unknown>>;
}

export interface PostgresBackendOptions {
  /** `postgres://user:password@host:port/database`, or the fields; PG* environment variables otherwise. */
  readonly connection?: string | PostgresConnection;
  /**
   * Prefix of this store's tables (`<table>_records`, `<table>_meta`, `<table>_media`) and of its lock
   * ids: several stores share one database under distinct prefixes. Default "parley_storage".
   */
  readonly table?: string;
  /** The schema the tables live in (must exist). Default "public". */
  readonly schema?: string;
  /**
   * At most this many connections in this process's pool (default 4, at least 2): a transaction holds
   * one while its body's reads, and reads through `db.namespace()`, use the others.
   */
  readonly maxConnections?: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,39}$/;

function pgError(error: unknown): StorageError {
  if (isStorageError(error)) return error;
  return new StorageError("BACKEND_FAILED", "PostgreSQL failed; see `cause`", { cause: error });
}

async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw pgError(error);
  }
}

/** pg sends Buffers as bytea; a Uint8Array view over the same memory, without a copy. */
function buf(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** pg returns Buffers; hand out plain Uint8Arrays that own their memory. */
function bytes(value: Uint8Array | undefined): Uint8Array | undefined {
  return value === undefined ? undefined : new Uint8Array(value);
}

/** A 64-bit advisory lock id, from SHA-256 so it is the same in every process and server version. */
function lockId(scope: string, name: string): string {
  const digest = createHash("sha256").update(`parley-storage lock v1\0${scope}\0${name}`).digest();
  return digest.readBigInt64BE(0).toString();
}

interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** The SQL of one store's tables, with identifiers checked and quoted once. */
class Statements {
  readonly records: string;
  readonly meta: string;
  readonly media: string;
  readonly scope: string;
  constructor(schema: string, table: string) {
    const q = (name: string) => `"${schema}"."${table}_${name}"`;
    this.records = q("records");
    this.meta = q("meta");
    this.media = q("media");
    this.scope = `${schema}.${table}`;
  }

  async get(db: Queryable, key: string): Promise<Uint8Array | undefined> {
    const r = await db.query<{ v: Buffer }>(`SELECT v FROM ${this.records} WHERE k = $1`, [key]);
    return bytes(r.rows[0]?.v);
  }
  async getMany(db: Queryable, keys: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    if (keys.length === 0) return out;
    const r = await db.query<{ k: string; v: Buffer }>(`SELECT k, v FROM ${this.records} WHERE k = ANY($1::text[])`, [
      [...keys],
    ]);
    for (const row of r.rows) out.set(row.k, bytes(row.v)!);
    return out;
  }
  async getMeta(db: Queryable, name: string, forUpdate: boolean): Promise<Uint8Array | undefined> {
    const r = await db.query<{ v: Buffer }>(
      `SELECT v FROM ${this.meta} WHERE name = $1${forUpdate ? " FOR UPDATE" : ""}`,
      [name],
    );
    return bytes(r.rows[0]?.v);
  }
  async scanPrefix(db: Queryable, prefix: string): Promise<RawEntry[]> {
    // Row keys are ASCII below 0x7f and the column sorts bytewise ("C"), so prefix + DEL bounds the range.
    const r = await db.query<{ k: string; v: Buffer }>(`SELECT k, v FROM ${this.records} WHERE k >= $1 AND k < $2`, [
      prefix,
      `${prefix}\u007f`,
    ]);
    return r.rows.map((row) => ({ key: row.k, value: bytes(row.v)! }));
  }
  async scanAfter(db: Queryable, after: string | undefined, limit: number, head?: number): Promise<RawEntry[]> {
    // The column sorts bytewise ("C"), as the store's cursor compares row keys.
    const r = await db.query<{ k: string; v: Buffer }>(
      head === undefined
        ? `SELECT k, v FROM ${this.records} WHERE k > $1 ORDER BY k LIMIT $2`
        : `SELECT k, substring(v from 1 for $3) AS v FROM ${this.records} WHERE k > $1 ORDER BY k LIMIT $2`,
      head === undefined ? [after ?? "", limit] : [after ?? "", limit, head],
    );
    return r.rows.map((row) => ({ key: row.k, value: bytes(row.v)! }));
  }
  /**
   * Deletes, puts and meta rows in one statement (one round trip). Its parts see one snapshot, so a key
   * both deleted and put is only put, and of a key put twice the last value is kept: the same results
   * as the other backends' deleting first, then putting in order.
   */
  async write(db: Queryable, write: RawWrite): Promise<void> {
    const put = new Map(write.puts.map((p) => [p.key, p.value]));
    const meta = new Map(write.meta.map((m) => [m.key, m.value]));
    await db.query(
      `WITH deleted AS (DELETE FROM ${this.records} WHERE k = ANY($1::text[])),
            stored AS (INSERT INTO ${this.records} (k, v) SELECT * FROM unnest($2::text[], $3::bytea[])
                       ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v)
       INSERT INTO ${this.meta} (name, v) SELECT * FROM unnest($4::text[], $5::bytea[])
       ON CONFLICT (name) DO UPDATE SET v = EXCLUDED.v`,
      [
        write.deletes.filter((key) => !put.has(key)),
        [...put.keys()],
        [...put.values()].map(buf),
        [...meta.keys()],
        [...meta.values()].map(buf),
      ],
    );
  }
}

/**
 * The PostgreSQL backend that {@link openPostgresBackend} returns. An interface, so that the published
 * types do not name pg's (which users of this entry would otherwise need `@types/pg` for).
 */
export interface PostgresBackend extends StorageBackend {
  readonly kind: "postgres";
  readonly media: MediaBackend;
  transaction<T>(options: BackendTransactionOptions, body: (tx: BackendTransaction) => Promise<T>): Promise<T>;
}

class PostgresBackendImpl implements PostgresBackend {
  readonly kind = "postgres";
  readonly media: MediaBackend;
  readonly #pool: pg.Pool;
  readonly #sql: Statements;
  #closed = false;

  constructor(pool: pg.Pool, sql: Statements) {
    this.#pool = pool;
    this.#sql = sql;
    this.media = new PostgresMedia(pool, sql);
  }

  getMeta(name: string): Promise<Uint8Array | undefined> {
    return guard(() => this.#sql.getMeta(this.#pool, name, false));
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return guard(() => this.#sql.get(this.#pool, key));
  }
  scanPrefix(prefix: string): Promise<RawEntry[]> {
    return guard(() => this.#sql.scanPrefix(this.#pool, prefix));
  }
  commit(write: RawWrite): Promise<void> {
    return this.transaction({}, (tx) => tx.write(write));
  }

  async transaction<T>(options: BackendTransactionOptions, body: (tx: BackendTransaction) => Promise<T>): Promise<T> {
    const client = await guard(() => this.#pool.connect());
    const sql = this.#sql;
    let broken = false;
    try {
      // BEGIN and the locks in one round trip: the statements of a simple query run in order, so the locks
      // are taken in this order (store lock, then the sorted names) and store transactions never deadlock.
      // The lock ids are integers computed here (lockId), so writing them into the SQL is safe.
      const statements = [
        options.snapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED",
      ];
      const locks = options.locks;
      if (locks) {
        const store = locks.store === "exclusive" ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared";
        statements.push(`SELECT ${store}('${lockId(sql.scope, "store")}'::bigint)`);
        for (const key of locks.keys)
          statements.push(`SELECT pg_advisory_xact_lock('${lockId(sql.scope, `key\0${key}`)}'::bigint)`);
      }
      await guard(() => client.query(statements.join("; ")));
      let result: T;
      try {
        result = await body({
          getMeta: (name) => guard(() => sql.getMeta(client, name, false)),
          lockMeta: (name) => guard(() => sql.getMeta(client, name, true)),
          get: (key) => guard(() => sql.get(client, key)),
          getMany: (keys) => guard(() => sql.getMany(client, keys)),
          scanPrefix: (prefix) => guard(() => sql.scanPrefix(client, prefix)),
          scanAfter: (after, limit, head) => guard(() => sql.scanAfter(client, after, limit, head)),
          write: (write) => guard(() => sql.write(client, write)),
        });
      } catch (error) {
        // The body's own error passes through unchanged; the transaction is rolled back.
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw error;
      }
      await guard(() => client.query("COMMIT"));
      return result;
    } catch (error) {
      if (!isStorageError(error)) throw error;
      broken ||= isStorageError(error, "BACKEND_FAILED");
      throw error;
    } finally {
      // A connection that failed mid-transaction is dropped, not handed to the next caller.
      client.release(broken);
    }
  }

  compact(): Promise<void> {
    return guard(async () => {
      await this.#pool.query(`VACUUM ${this.#sql.records}, ${this.#sql.meta}, ${this.#sql.media}`);
    });
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await guard(() => this.#pool.end());
  }
}

const MEDIA_ID = /^[0-9a-f]{32}$/;
/** Pieces fetched per query while reading an item. */
const READ_BATCH = 16;

/** Media in a table: one row per piece (seq 1, 2, ...) and a marker row (seq 0), written in one transaction. */
class PostgresMedia implements MediaBackend {
  readonly #pool: pg.Pool;
  readonly #sql: Statements;
  constructor(pool: pg.Pool, sql: Statements) {
    this.#pool = pool;
    this.#sql = sql;
  }

  #check(id: string): void {
    if (!MEDIA_ID.test(id)) throw new StorageError("INVALID_ARGUMENT", "a media id is 32 lowercase hex digits");
  }

  async write(id: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    this.#check(id);
    const client = await guard(() => this.#pool.connect());
    let broken = false;
    try {
      await guard(() => client.query("BEGIN"));
      try {
        await guard(() => client.query(`DELETE FROM ${this.#sql.media} WHERE id = $1`, [id]));
        await guard(() =>
          client.query(`INSERT INTO ${this.#sql.media} (id, seq, chunk) VALUES ($1, 0, $2)`, [id, Buffer.alloc(0)]),
        );
        let seq = 0;
        for await (const piece of data) {
          seq++;
          await guard(() =>
            client.query(`INSERT INTO ${this.#sql.media} (id, seq, chunk) VALUES ($1, $2, $3)`, [id, seq, buf(piece)]),
          );
        }
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw error;
      }
      await guard(() => client.query("COMMIT"));
    } catch (error) {
      broken ||= isStorageError(error, "BACKEND_FAILED");
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async *read(id: string): AsyncIterable<Uint8Array> {
    this.#check(id);
    for (let next = 0; ;) {
      const r = await guard(() =>
        this.#pool.query<{ seq: number; chunk: Buffer }>(
          `SELECT seq, chunk FROM ${this.#sql.media} WHERE id = $1 AND seq >= $2 ORDER BY seq LIMIT ${READ_BATCH}`,
          [id, next],
        ),
      );
      if (next === 0 && r.rows[0]?.seq !== 0) throw new StorageError("NOT_FOUND", "no media item with this id");
      for (const row of r.rows) if (row.seq > 0) yield new Uint8Array(row.chunk);
      if (r.rows.length < READ_BATCH) return;
      next = r.rows[r.rows.length - 1]!.seq + 1;
    }
  }

  async delete(id: string): Promise<void> {
    this.#check(id);
    await guard(() => this.#pool.query(`DELETE FROM ${this.#sql.media} WHERE id = $1`, [id]));
  }

  async list(): Promise<string[]> {
    const r = await guard(() => this.#pool.query<{ id: string }>(`SELECT id FROM ${this.#sql.media} WHERE seq = 0`));
    return r.rows.map((row) => row.id);
  }
}

/**
 * Connects to PostgreSQL and creates this store's tables if missing (under an advisory lock, so workers
 * starting together do not race). Needs the optional peer dependency pg. The returned backend holds a
 * small connection pool; `close()` (or the store's) ends it.
 */
export async function openPostgresBackend(options: PostgresBackendOptions = {}): Promise<PostgresBackend> {
  const table = options.table ?? "parley_storage";
  const schema = options.schema ?? "public";
  if (!IDENTIFIER.test(table))
    throw new StorageError("INVALID_ARGUMENT", "table must be lowercase letters, digits and _ (at most 40)");
  if (!IDENTIFIER.test(schema))
    throw new StorageError("INVALID_ARGUMENT", "schema must be lowercase letters, digits and _ (at most 40)");
  const max = options.maxConnections ?? 4;
  if (!Number.isSafeInteger(max) || max < 2)
    throw new StorageError("INVALID_ARGUMENT", "maxConnections must be an integer of at least 2");
  let Pool: typeof pg.Pool;
  try {
    Pool = (await import("pg")).default.Pool;
  } catch (cause) {
    throw new StorageError(
      "BACKEND_FAILED",
      "the PostgreSQL backend needs pg: add it to your dependencies (npm i pg)",
      {
        cause,
      },
    );
  }
  const connection = options.connection;
  const config: pg.PoolConfig =
    typeof connection === "string" ? { connectionString: connection, max } : { ...connection, max };
  const pool = new Pool(config);
  // An idle connection that the server drops must not crash the process; the next query reports it.
  pool.on("error", () => undefined);
  const sql = new Statements(schema, table);
  try {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [lockId(sql.scope, "schema")]);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${sql.records} (k text COLLATE "C" PRIMARY KEY, v bytea NOT NULL)`,
      );
      await client.query(`CREATE TABLE IF NOT EXISTS ${sql.meta} (name text PRIMARY KEY, v bytea NOT NULL)`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${sql.media} (id text NOT NULL, seq integer NOT NULL, chunk bytea NOT NULL, PRIMARY KEY (id, seq))`,
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw pgError(error);
  }
  return new PostgresBackendImpl(pool, sql);
}
