/**
 * The bindings, tested by what they prevent, on each real backend's raw rows: a record sealed for
 * one row opens at no other (associated data = row key), the integrity state and the wrapped key
 * belong to one store, and the digest over all rows catches what a single record cannot (an older
 * ciphertext of the same row). The README promises when each is detected: the digest by the integrity
 * check after opening (in the background by default, `db.verification`; before open returns with
 * `verify: "full"`), a record's position whenever it is read (verify off too).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { concatBytes, defaultCrypto } from "@parley/crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  EncryptedStore,
  exportArchive,
  importArchive,
  isStorageError,
  MemoryBackend,
  type StorageBackend,
} from "../src/index.js";
import { openIndexedDbBackend } from "../src/indexeddb.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { storeInternals } from "../src/store.js";
import { collect } from "../src/stream.js";
import { bytes, FAST_KDF, POSTGRES, POSTGRES_URL, tempDir, text } from "./helpers.js";

/**
 * Tests of the local backends (memory, SQLite): they run in the unit suite. The PostgreSQL suite runs
 * this file for its backend-generic tests and does not register these (not applicable there), so its
 * report counts no skipped test.
 */
function describeLocal(name: string, body: () => void): void {
  if (POSTGRES_URL === undefined) describe(name, body);
}

const PASS = "bindings test";
const OTHER_PASS = "the other store";

/** Direct access to a closed store's rows, as an attacker with the files has it. */
interface RawRows {
  rows(): Promise<Map<string, Uint8Array>>;
  meta(name: string): Promise<Uint8Array>;
  write(edit: {
    puts?: Array<[string, Uint8Array]>;
    deletes?: string[];
    meta?: Array<[string, Uint8Array]>;
  }): Promise<void>;
}

interface Location {
  open(): Promise<StorageBackend>;
  readonly raw: RawRows;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Edits through the backend interface itself: for the memory and IndexedDB backends that is the raw store. */
function throughBackend(open: () => Promise<StorageBackend>): RawRows {
  const use = async <T>(run: (b: StorageBackend) => Promise<T>): Promise<T> => {
    const backend = await open();
    try {
      return await run(backend);
    } finally {
      await backend.close();
    }
  };
  return {
    rows: () => use(async (b) => new Map((await b.scanPrefix("")).map((r) => [r.key, r.value]))),
    meta: (name) =>
      use(async (b) => {
        const value = await b.getMeta(name);
        if (!value) throw new Error(`no meta row ${name}`);
        return value;
      }),
    write: (edit) =>
      use((b) =>
        b.commit({
          puts: (edit.puts ?? []).map(([key, value]) => ({ key, value })),
          deletes: edit.deletes ?? [],
          meta: (edit.meta ?? []).map(([key, value]) => ({ key, value })),
        }),
      ),
  };
}

/** Edits the SQLite file with SQLite itself, outside the backend (the store is closed, so the lock is free). */
function sqliteFile(path: string): RawRows {
  const use = <T>(run: (db: Database.Database) => T): Promise<T> => {
    const db = new Database(path);
    try {
      return Promise.resolve(run(db));
    } finally {
      db.close();
    }
  };
  return {
    rows: () =>
      use(
        (db) =>
          new Map(
            db
              .prepare<[], { k: string; v: Buffer }>("SELECT k, v FROM records")
              .all()
              .map((r) => [r.k, new Uint8Array(r.v)]),
          ),
      ),
    meta: (name) =>
      use((db) => {
        const row = db.prepare<[string], { v: Buffer }>("SELECT v FROM meta WHERE name = ?").get(name);
        if (!row) throw new Error(`no meta row ${name}`);
        return new Uint8Array(row.v);
      }),
    write: (edit) =>
      use((db) => {
        db.transaction(() => {
          for (const k of edit.deletes ?? []) db.prepare("DELETE FROM records WHERE k = ?").run(k);
          for (const [k, v] of edit.puts ?? [])
            db.prepare("INSERT OR REPLACE INTO records (k, v) VALUES (?, ?)").run(k, v);
          for (const [n, v] of edit.meta ?? [])
            db.prepare("INSERT OR REPLACE INTO meta (name, v) VALUES (?, ?)").run(n, v);
        })();
      }),
  };
}

const LOCAL_KINDS: Array<{ name: string; fresh: () => Location }> = [
  {
    name: "memory",
    fresh() {
      const backend = new MemoryBackend();
      const open = () => Promise.resolve<StorageBackend>(backend);
      return { open, raw: throughBackend(open) };
    },
  },
  {
    name: "sqlite",
    fresh() {
      const { dir, cleanup } = tempDir();
      cleanups.push(cleanup);
      const path = join(dir, "store.db");
      return { open: () => openSqliteBackend(path), raw: sqliteFile(path) };
    },
  },
  {
    name: "indexeddb (fake-indexeddb)",
    fresh() {
      const name = `parley-bindings-${Math.random().toString(36).slice(2)}`;
      const open = () => openIndexedDbBackend(name);
      return { open, raw: throughBackend(open) };
    },
  },
];

/** PostgreSQL's rows edited through a second connection to the same tables, as a database administrator can. */
const POSTGRES_KIND: { name: string; fresh: () => Location } = {
  name: "postgres",
  fresh() {
    const { open } = POSTGRES.fresh();
    return { open, raw: throughBackend(open) };
  },
};

/** The PostgreSQL suite (vitest.postgres.config.ts) runs these on PostgreSQL only. */
const KINDS = POSTGRES_URL === undefined ? LOCAL_KINDS : [POSTGRES_KIND];

const CONTENT: Array<[string, string, string]> = [
  ["sessions", "alice/1", "session alice 1"],
  ["sessions", "alice/2", "session alice 2"],
  ["sessions", "bob/1", "session bob 1"],
  ["trust", "alice/1", "trust alice 1"],
];

/** A closed store holding CONTENT, and the row key of each (namespace, key). */
async function filled(kind: { fresh: () => Location }, passphrase = PASS) {
  const loc = kind.fresh();
  const db = await EncryptedStore.create(await loc.open(), { passphrase, kdf: FAST_KDF });
  const row = new Map<string, string>();
  for (const [ns, key, value] of CONTENT) {
    await db.namespace(ns).put(key, bytes(value));
    row.set(`${ns}:${key}`, storeInternals(db).rawKey(ns, key));
  }
  await db.close();
  const rowKey = (ns: string, key: string) => row.get(`${ns}:${key}`)!;
  return { loc, rowKey };
}

/** "ok", a StorageError code, or (a failure of the test) anything else. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    return isStorageError(error) ? error.code : `foreign error: ${String(error)}`;
  }
}

/**
 * With `verify` given, the outcome of opening with it. Without: the outcome of the integrity check in
 * both of its modes, which must agree: `"full"` (TAMPERED from open itself) and the default
 * `"background"` (open returns; `db.verification` rejects with TAMPERED, and from then on the store
 * refuses every operation with TAMPERED).
 */
async function openOutcome(loc: Location, passphrase = PASS, verify?: boolean): Promise<string> {
  if (verify !== undefined) {
    return outcome(async () => {
      const db = await EncryptedStore.open(await loc.open(), { passphrase, verify });
      await db.close();
    });
  }
  const full = await outcome(async () => {
    const db = await EncryptedStore.open(await loc.open(), { passphrase, verify: "full" });
    await db.close();
  });
  const background = await outcome(async () => {
    const db = await EncryptedStore.open(await loc.open(), { passphrase });
    try {
      await db.verification;
      expect(db.verificationStatus).toBe("verified");
    } catch (error) {
      if (isStorageError(error, "TAMPERED")) {
        expect(db.verificationStatus).toBe("tampered");
        expect(await read(db, "sessions", "alice/1")).toBe("TAMPERED");
        expect(await scan(db, "trust")).toBe("TAMPERED");
        expect(await outcome(() => db.namespace("sessions").put("carol/1", bytes("x")))).toBe("TAMPERED");
      }
      throw error;
    } finally {
      await db.close();
    }
  });
  expect(background, "the background check agrees with the full one").toBe(full);
  return full;
}

/** Opens with verify off (so only per-record checks run) and hands the store to `check`. */
async function withUnverified(loc: Location, check: (db: EncryptedStore) => Promise<void>): Promise<void> {
  const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: false });
  try {
    await check(db);
  } finally {
    await db.close();
  }
}

const read = (db: EncryptedStore, ns: string, key: string) => outcome(() => db.namespace(ns).get(key));
const scan = (db: EncryptedStore, ns: string, prefix?: string) =>
  outcome(() => db.namespace(ns).scan(prefix === undefined ? {} : { prefix }));

async function readsBack(db: EncryptedStore, ns: string, key: string, expected: string): Promise<void> {
  expect(text(await db.namespace(ns).get(key)), `${ns}/${key}`).toBe(expected);
}

/** The header with its JSON body edited and its checksum recomputed (the checksum is no MAC). */
function editHeader(header: Uint8Array, edit: (body: Record<string, unknown>) => void): Uint8Array {
  const body = JSON.parse(new TextDecoder().decode(header.subarray(16, header.length - 32))) as Record<string, unknown>;
  edit(body);
  const json = bytes(JSON.stringify(body));
  const head = concatBytes(header.subarray(0, 12), new Uint8Array(4), json);
  new DataView(head.buffer).setUint32(12, json.length);
  return concatBytes(head, defaultCrypto().sha256(head));
}

for (const kind of KINDS) {
  describe(`bindings on the raw rows of the ${kind.name} backend`, () => {
    it("the untouched store opens, verified or not, and reads back (the harness can tell)", async () => {
      const { loc } = await filled(kind);
      expect(await openOutcome(loc)).toBe("ok");
      await withUnverified(loc, async (db) => {
        for (const [ns, key, value] of CONTENT) await readsBack(db, ns, key, value);
        expect(await scan(db, "sessions")).toBe("ok");
      });
    });

    it("swapping two records' ciphertexts in one namespace: TAMPERED at open; verify off, at every read of either", async () => {
      const { loc, rowKey } = await filled(kind);
      const a = rowKey("sessions", "alice/1");
      const b = rowKey("sessions", "alice/2");
      const rows = await loc.raw.rows();
      await loc.raw.write({
        puts: [
          [a, rows.get(b)!],
          [b, rows.get(a)!],
        ],
      });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      await withUnverified(loc, async (db) => {
        expect(await read(db, "sessions", "alice/1")).toBe("TAMPERED");
        expect(await read(db, "sessions", "alice/2")).toBe("TAMPERED");
        expect(await scan(db, "sessions")).toBe("TAMPERED");
        expect(await scan(db, "sessions", "alice/")).toBe("TAMPERED");
        await readsBack(db, "sessions", "bob/1", "session bob 1");
        expect(await scan(db, "sessions", "bob/")).toBe("ok");
      });
    });

    it("swapping two records' ciphertexts across namespaces: TAMPERED at open; verify off, at every read of either", async () => {
      const { loc, rowKey } = await filled(kind);
      const s = rowKey("sessions", "alice/1");
      const t = rowKey("trust", "alice/1");
      const rows = await loc.raw.rows();
      await loc.raw.write({
        puts: [
          [s, rows.get(t)!],
          [t, rows.get(s)!],
        ],
      });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      await withUnverified(loc, async (db) => {
        expect(await read(db, "sessions", "alice/1")).toBe("TAMPERED");
        expect(await read(db, "trust", "alice/1")).toBe("TAMPERED");
        expect(await scan(db, "sessions")).toBe("TAMPERED");
        expect(await scan(db, "trust")).toBe("TAMPERED");
        await readsBack(db, "sessions", "alice/2", "session alice 2");
      });
    });

    it("moving a record into another namespace: TAMPERED at open; verify off, when that namespace is read", async () => {
      const { loc, rowKey } = await filled(kind);
      const from = rowKey("sessions", "bob/1");
      // Same MACed segments under the other namespace's token: where a scan of "trust" looks.
      const trustToken = rowKey("trust", "alice/1").split("/")[0]!;
      const to = [trustToken, ...from.split("/").slice(1)].join("/");
      const rows = await loc.raw.rows();
      await loc.raw.write({ deletes: [from], puts: [[to, rows.get(from)!]] });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      await withUnverified(loc, async (db) => {
        expect(await scan(db, "trust")).toBe("TAMPERED");
        await readsBack(db, "sessions", "alice/1", "session alice 1");
      });
    });

    it("copying a record onto another key: TAMPERED at open; verify off, at every read of the copy", async () => {
      const { loc, rowKey } = await filled(kind);
      const from = rowKey("sessions", "alice/1");
      const onto = rowKey("sessions", "bob/1");
      const rows = await loc.raw.rows();
      await loc.raw.write({ puts: [[onto, rows.get(from)!]] });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      await withUnverified(loc, async (db) => {
        expect(await read(db, "sessions", "bob/1")).toBe("TAMPERED");
        expect(await scan(db, "sessions")).toBe("TAMPERED");
        expect(await scan(db, "sessions", "bob/")).toBe("TAMPERED");
        await readsBack(db, "sessions", "alice/1", "session alice 1");
      });
    });

    it("replaying an older ciphertext of the same row: TAMPERED at open (verify off reads it: the documented limit)", async () => {
      const { loc, rowKey } = await filled(kind);
      const row = rowKey("sessions", "alice/1");
      const older = (await loc.raw.rows()).get(row)!;
      const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS });
      await db.namespace("sessions").put("alice/1", bytes("newer ratchet state"));
      await db.close();
      expect(await openOutcome(loc)).toBe("ok");
      await loc.raw.write({ puts: [[row, older]] });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      await withUnverified(loc, async (unverified) => {
        await readsBack(unverified, "sessions", "alice/1", "session alice 1");
      });
    });

    it("grafting another store's integrity state: TAMPERED at open, with verify on or off", async () => {
      const { loc } = await filled(kind);
      const other = await filled(kind);
      await loc.raw.write({ meta: [["state", await other.loc.raw.meta("state")]] });
      expect(await openOutcome(loc)).toBe("TAMPERED");
      expect(await openOutcome(loc, PASS, false)).toBe("TAMPERED");
    });

    it("grafting another store's header: WRONG_PASSPHRASE with this store's passphrase, TAMPERED with the other's", async () => {
      const { loc } = await filled(kind);
      const other = await filled(kind, OTHER_PASS);
      await loc.raw.write({ meta: [["header", await other.loc.raw.meta("header")]] });
      expect(await openOutcome(loc)).toBe("WRONG_PASSPHRASE");
      // The other store's key unwraps, but this store's integrity state is not sealed under it.
      expect(await openOutcome(loc, OTHER_PASS)).toBe("TAMPERED");
      expect(await openOutcome(loc, OTHER_PASS, false)).toBe("TAMPERED");
    });

    it("grafting another store's header and integrity state onto these records: TAMPERED at open", async () => {
      const { loc } = await filled(kind);
      const other = await filled(kind, OTHER_PASS);
      await loc.raw.write({
        meta: [
          ["header", await other.loc.raw.meta("header")],
          ["state", await other.loc.raw.meta("state")],
        ],
      });
      expect(await openOutcome(loc)).toBe("WRONG_PASSPHRASE");
      expect(await openOutcome(loc, OTHER_PASS)).toBe("TAMPERED");
    });

    it("a header naming another store id (checksum recomputed) unwraps nothing: WRONG_PASSPHRASE", async () => {
      const { loc } = await filled(kind);
      const other = await filled(kind);
      const otherId = JSON.parse(new TextDecoder().decode((await other.loc.raw.meta("header")).slice(16, -32))) as {
        storeId: string;
      };
      const header = await loc.raw.meta("header");
      await loc.raw.write({
        meta: [
          [
            "header",
            editHeader(header, (body) => {
              body.storeId = otherId.storeId;
            }),
          ],
        ],
      });
      expect(await openOutcome(loc)).toBe("WRONG_PASSPHRASE");
      expect(await openOutcome(loc, PASS, false)).toBe("WRONG_PASSPHRASE");
      // Putting the original back opens again: the edit, not the harness, made it fail.
      await loc.raw.write({ meta: [["header", header]] });
      expect(await openOutcome(loc)).toBe("ok");
    });
  });
}

/**
 * The second line of defence inside each record: its plaintext names its namespace and key, checked
 * on every read. It matters only if two positions share a row key (a 128-bit MAC collision), so it is
 * tested by forcing one: a Crypto whose index MAC maps "mallory" to "alice" and "shadow" to "trust".
 */
// Memory only: skipped in the PostgreSQL suite.
describeLocal("a lookup-key token collision is TAMPERED, never another key's value", () => {
  const base = defaultCrypto();
  const decoder = new TextDecoder();
  const colliding = {
    ...base,
    hmacSha256(key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
      if (data instanceof Uint8Array) {
        const input = decoder.decode(data);
        if (input.endsWith("\0mallory")) return base.hmacSha256(key, bytes(`${input.slice(0, -7)}alice`));
        if (input === "ns\0shadow") return base.hmacSha256(key, bytes("ns\0trust"));
      }
      return base.hmacSha256(key, data);
    },
  };

  async function store() {
    const db = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF, crypto: colliding });
    await db.namespace("sessions").put("alice/1", bytes("alice's session"));
    await db.namespace("trust").put("alice/1", bytes("alice's trust"));
    return db;
  }

  it("the forced collision is real: two keys, one row key", async () => {
    const db = await store();
    const internals = storeInternals(db);
    expect(internals.rawKey("sessions", "mallory/1")).toBe(internals.rawKey("sessions", "alice/1"));
    expect(internals.rawKey("shadow", "alice/1")).toBe(internals.rawKey("trust", "alice/1"));
    expect(internals.rawKey("sessions", "bob/1")).not.toBe(internals.rawKey("sessions", "alice/1"));
    await db.close();
  });

  it("get of a colliding key in the same namespace is TAMPERED", async () => {
    const db = await store();
    expect(await read(db, "sessions", "mallory/1")).toBe("TAMPERED");
    expect(text(await db.namespace("sessions").get("alice/1"))).toBe("alice's session");
    await db.close();
  });

  it("get and scan of a colliding namespace are TAMPERED", async () => {
    const db = await store();
    expect(await read(db, "shadow", "alice/1")).toBe("TAMPERED");
    expect(await scan(db, "shadow")).toBe("TAMPERED");
    expect(await scan(db, "shadow", "alice/")).toBe("TAMPERED");
    expect((await db.namespace("trust").scan()).map((e) => text(e.value))).toEqual(["alice's trust"]);
    await db.close();
  });
});

describeLocal("an archive binds its whole header", () => {
  /** The archive with its header JSON edited (length updated); the body is left as it was sealed. */
  function editArchiveHeader(archive: Uint8Array, edit: (header: Record<string, unknown>) => void): Uint8Array {
    const length = new DataView(archive.buffer, archive.byteOffset).getUint32(12);
    const header = JSON.parse(new TextDecoder().decode(archive.subarray(16, 16 + length))) as Record<string, unknown>;
    edit(header);
    const json = bytes(JSON.stringify(header));
    const head = concatBytes(archive.subarray(0, 12), new Uint8Array(4), json);
    new DataView(head.buffer).setUint32(12, json.length);
    return concatBytes(head, archive.subarray(16 + length));
  }

  it("a field added to the header, the KDF left alone, is TAMPERED and imports nothing", async () => {
    const source = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF });
    await source.namespace("n").put("k", bytes("v"));
    const archive = await collect(exportArchive(source, "archive pass", { kdf: FAST_KDF }));
    await source.close();
    const target = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF });
    const edited = editArchiveHeader(archive, (header) => {
      header.note = "added after export";
    });
    expect(await outcome(() => importArchive(target, edited, "archive pass"))).toBe("TAMPERED");
    expect(await target.namespace("n").scan()).toEqual([]);
    // The same archive re-framed without the edit imports (the harness can tell).
    expect(
      await importArchive(
        target,
        editArchiveHeader(archive, () => undefined),
        "archive pass",
      ),
    ).toEqual({
      records: 1,
      media: 0,
    });
    await target.close();
  });
});
