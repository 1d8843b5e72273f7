// Throughput of the encrypted store beside the same SQLite backend unencrypted, SQLCipher (Debian's
// `sqlcipher` CLI) on the same workload, and sql.js (the WASM driver we did not choose); time to open
// with the default scrypt parameters. ratio = ours ÷ peer in ops/s (above 0.5 meets the goal against
// the unencrypted backend). Then PostgreSQL (bench/postgres.ts): the same store workload with ours =
// PostgreSQL and peer = SQLite, and 1/2/4/8 worker processes. Writes bench/results.json. Run: pnpm bench.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, defaultCrypto } from "@parley/crypto";
import initSqlJs from "sql.js";
import { DEFAULT_SCRYPT, EncryptedStore } from "../src/index.js";
import { openSqliteBackend, type SqliteBackend } from "../src/sqlite.js";
import { postgresRows } from "./postgres.js";

const crypto = defaultCrypto();
const FAST = { N: 16, r: 1, p: 1, dkLen: 32 };
const N = 5000; // records per workload
const VALUE = crypto.randomBytes(200); // a ratchet session or trust record is a few hundred bytes
const dir = mkdtempSync(join(tmpdir(), "parley-storage-bench-"));
const keyOf = (i: number) => `alice${i % 50}@example.org/${i}`;
// Every write carries different bytes: SQLite skips rewriting an identical row (no WAL frame, no fsync),
// which would flatter the unencrypted baseline (our sealed rows always differ by their random nonce).
let stampCounter = 0;
function stamp(): Uint8Array {
  const v = VALUE.slice();
  new DataView(v.buffer).setUint32(0, stampCounter++);
  return v;
}

interface Row {
  scenario: string;
  ours: number;
  peer: number;
  unit: string;
  ratio: number;
  peerName: string;
}
const rows: Row[] = [];
function record(scenario: string, ours: number, peerName: string, peer: number, unit = "ops/s"): void {
  rows.push({
    scenario,
    ours: Math.round(ours),
    peer: Math.round(peer),
    unit,
    ratio: Number((ours / peer).toFixed(3)),
    peerName,
  });
}

async function time(run: () => Promise<void> | void): Promise<number> {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

/** Best of `rounds` (the least disturbed run). */
async function best(rounds: number, run: () => Promise<void> | void): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) min = Math.min(min, await time(run));
  return min;
}

let counter = 0;
async function freshEncrypted(sync: "FULL" | "NORMAL" = "FULL"): Promise<EncryptedStore> {
  return EncryptedStore.create(await openSqliteBackend(join(dir, `e${counter++}.db`), { synchronous: sync }), {
    passphrase: "bench",
    kdf: FAST,
  });
}
async function freshRaw(sync: "FULL" | "NORMAL" = "FULL"): Promise<SqliteBackend> {
  return openSqliteBackend(join(dir, `r${counter++}.db`), { synchronous: sync });
}

// ---- encrypted vs the same backend unencrypted ----
for (const sync of ["FULL", "NORMAL"] as const) {
  const single = 300;
  const enc = await freshEncrypted(sync);
  const raw = await freshRaw(sync);
  const ns = enc.namespace("sessions");
  const tEnc = await best(3, async () => {
    for (let i = 0; i < single; i++) await ns.put(keyOf(i), stamp());
  });
  const tRaw = await best(3, async () => {
    for (let i = 0; i < single; i++)
      await raw.commit({ puts: [{ key: keyOf(i), value: stamp() }], deletes: [], meta: [] });
  });
  record(`put, one transaction each (synchronous=${sync})`, single / tEnc, "same SQLite unencrypted", single / tRaw);
  await enc.close();
  await raw.close();
}

const enc = await freshEncrypted();
const raw = await freshRaw();
const ns = enc.namespace("sessions");
{
  const tEnc = await best(3, () =>
    enc.transaction(async (tx) => {
      const s = tx.namespace("sessions");
      for (let i = 0; i < N; i++) await s.put(keyOf(i), stamp());
    }),
  );
  const tRaw = await best(3, () =>
    raw.commit({
      puts: Array.from({ length: N }, (_, i) => ({ key: keyOf(i), value: stamp() })),
      deletes: [],
      meta: [],
    }),
  );
  record(`put, ${N} in one transaction`, N / tEnc, "same SQLite unencrypted", N / tRaw);
}
{
  const tEnc = await best(3, async () => {
    for (let i = 0; i < N; i++) await ns.get(keyOf((i * 7919) % N));
  });
  const tRaw = await best(3, async () => {
    for (let i = 0; i < N; i++) await raw.get(keyOf((i * 7919) % N));
  });
  record("get (random key)", N / tEnc, "same SQLite unencrypted", N / tRaw);
}
{
  // 100 records per contact: scan one contact's records (the trust-store / session-list pattern).
  const tEnc = await best(3, async () => {
    for (let c = 0; c < 50; c++) await ns.scan({ prefix: `alice${c}@example.org/` });
  });
  const tRaw = await best(3, async () => {
    for (let c = 0; c < 50; c++)
      (await raw.scanPrefix(`alice${c}@example.org/`)).sort((a, b) => (a.key < b.key ? -1 : 1));
  });
  record(
    "scan one contact's 100 records (rows/s)",
    (50 * (N / 50)) / tEnc,
    "same SQLite unencrypted",
    (50 * (N / 50)) / tRaw,
  );
}
await enc.close();
await raw.close();

// ---- SQLCipher (Debian's CLI, SQLCipher 3 / SQLite 3.15) on the same workload ----
function sqlcipherSeconds(script: string, keyed: boolean): number {
  const db = join(dir, `c${counter++}.db`);
  const prologue = `${keyed ? `PRAGMA key = "x'${bytesToHex(crypto.randomBytes(32))}'";\n` : ""}PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nCREATE TABLE t (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;\n`;
  const file = join(dir, "script.sql");
  writeFileSync(file, prologue + script);
  const t = performance.now();
  const r = spawnSync("sqlcipher", [db], { stdio: ["pipe", "ignore", "pipe"], input: readFileSync(file) });
  const s = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`sqlcipher failed: ${r.stderr.toString()}`);
  return s;
}
// The CLI parses SQL text and starts a process: run 8x more operations so that noise is small, and
// subtract a run that only keys and creates the table.
const NC = 8 * N;
const hex = bytesToHex(VALUE);
const inserts = `BEGIN;\n${Array.from({ length: NC }, (_, i) => `INSERT INTO t VALUES ('${keyOf(i)}', x'${hex}');`).join("\n")}\nCOMMIT;\n`;
const selects = Array.from(
  { length: NC },
  (_, i) => `SELECT length(v) FROM t WHERE k = '${keyOf((i * 7919) % NC)}';`,
).join("\n");
const hasSqlcipher = spawnSync("sqlcipher", ["-version"]).status === 0;
if (hasSqlcipher) {
  for (const keyed of [true, false]) {
    const base = Math.min(...[0, 1, 2].map(() => sqlcipherSeconds("", keyed)));
    const ins = Math.min(...[0, 1, 2].map(() => sqlcipherSeconds(inserts, keyed))) - base;
    const sel = Math.min(...[0, 1, 2].map(() => sqlcipherSeconds(inserts + selects, keyed))) - base - ins;
    const label = keyed ? "SQLCipher (keyed)" : "SQLCipher CLI unkeyed (plain SQLite)";
    const insRow = rows.find((r) => r.scenario === `put, ${N} in one transaction`)!;
    const getRow = rows.find((r) => r.scenario === "get (random key)")!;
    record(`put, ${N} in one transaction`, insRow.ours, label, NC / ins);
    record("get (random key)", getRow.ours, label, NC / sel);
  }
}

// ---- driver choice: sql.js (WASM, whole database in memory, persisted by exporting the file) ----
{
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID");
  const path = join(dir, "sqljs.db");
  const single = 100;
  // Durability with sql.js means writing the whole exported file after each commit.
  const tSqljs = await best(3, () => {
    for (let i = 0; i < single; i++) {
      db.run("INSERT OR REPLACE INTO t VALUES (?, ?)", [keyOf(i), stamp()]);
      writeFileSync(path, db.export());
    }
  });
  const rawB = await freshRaw("FULL");
  const tBetter = await best(3, async () => {
    for (let i = 0; i < single; i++)
      await rawB.commit({ puts: [{ key: keyOf(i), value: stamp() }], deletes: [], meta: [] });
  });
  record(
    "driver: put one durable transaction each (better-sqlite3 vs sql.js)",
    single / tBetter,
    "sql.js 1.16 + file export",
    single / tSqljs,
  );
  await rawB.close();
  db.close();
}

// ---- open with the default KDF ----
{
  const path = join(dir, "open.db");
  const store = await EncryptedStore.create(await openSqliteBackend(path), {
    passphrase: "bench",
    kdf: DEFAULT_SCRYPT,
  });
  await store.transaction(async (tx) => {
    for (let i = 0; i < N; i++) await tx.namespace("sessions").put(keyOf(i), VALUE);
  });
  await store.close();
  const tOpen = await best(3, async () => {
    const s = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench" });
    await s.close();
  });
  const tNoVerify = await best(3, async () => {
    const s = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench", verify: false });
    await s.close();
  });
  rows.push({
    scenario: `open, default scrypt (N=2^17 r=8 p=2), ${N} records, verify on`,
    ours: Math.round(tOpen * 1000),
    peer: Math.round(tNoVerify * 1000),
    unit: "ms",
    ratio: Number((tOpen / tNoVerify).toFixed(3)),
    peerName: "same open, verify off",
  });
}

rows.push(...(await postgresRows(N)));

rmSync(dir, { recursive: true, force: true });
const machine = `${cpus()[0]?.model ?? "unknown CPU"} ×${cpus().length}, Node ${process.version}, provider ${crypto.provider}`;
console.log(`@parley/storage bench on ${machine}`);
console.table(
  rows.map((r) => ({
    scenario: r.scenario,
    ours: r.ours,
    peer: `${r.peer} (${r.peerName})`,
    unit: r.unit,
    "ours/peer": r.ratio,
  })),
);
writeFileSync(
  new URL("./results.json", import.meta.url),
  `${JSON.stringify(
    rows.map((r) => ({ ...r, machine })),
    null,
    2,
  )}\n`,
);
