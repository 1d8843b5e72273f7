// The PostgreSQL backend in the bench: the same encrypted-store workload on SQLite and on PostgreSQL
// (a real server from Debian's postgresql, started in a temporary directory as for the tests), and the
// throughput of 1, 2, 4 and 8 worker processes (test/postgres-worker.ts) on one PostgreSQL store.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EncryptedStore } from "../src/index.js";
import { openPostgresBackend } from "../src/postgres.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { startPostgres } from "../test/postgres-server.js";

export interface BenchRow {
  scenario: string;
  ours: number;
  peer: number;
  unit: string;
  ratio: number;
  peerName: string;
}

const FAST = { N: 16, r: 1, p: 1, dkLen: 32 };
const WORKER = fileURLToPath(new URL("../test/postgres-worker.ts", import.meta.url));
const VALUE = new Uint8Array(200).fill(7);
const keyOf = (i: number) => `alice${i % 50}@example.org/${i}`;

async function seconds(run: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

async function best(rounds: number, run: () => Promise<void>): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) min = Math.min(min, await seconds(run));
  return min;
}

/** Ops/s of each workload on one store. */
async function workload(db: EncryptedStore, n: number): Promise<Record<string, number>> {
  const ns = db.namespace("sessions");
  const single = 300;
  const out: Record<string, number> = {};
  out["put, one transaction each"] =
    single /
    (await best(3, async () => {
      for (let i = 0; i < single; i++) await ns.put(keyOf(i), VALUE);
    }));
  out[`put, ${n} in one transaction`] =
    n /
    (await best(3, () =>
      db.transaction(async (tx) => {
        const s = tx.namespace("sessions");
        for (let i = 0; i < n; i++) await s.put(keyOf(i), VALUE);
      }),
    ));
  out["get (random key)"] =
    n /
    (await best(3, async () => {
      for (let i = 0; i < n; i++) await ns.get(keyOf((i * 7919) % n));
    }));
  out[`scan one contact's ${n / 50} records (rows/s)`] =
    n /
    (await best(3, async () => {
      for (let c = 0; c < 50; c++) await ns.scan({ prefix: `alice${c}@example.org/` });
    }));
  return out;
}

/** Transactions per second of `workers` processes, each `steps` transactions on its own conversation. */
async function scaling(url: string, table: string, workers: number, steps: number): Promise<number> {
  const children = Array.from({ length: workers }, (_, w) =>
    spawn(process.execPath, ["--import", "tsx", WORKER, table, `w${w}`, String(steps), `c${w}`], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, PARLEY_WORKER_GO: "1", PARLEY_PG_URL: url },
    }),
  );
  const exits = children.map(
    (child) =>
      new Promise<void>((resolve, reject) => {
        child.on("exit", (code) => {
          if (code === 0) resolve();
          else reject(new Error(`bench worker exited with ${code}`));
        });
      }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          let out = "";
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            if (out.includes("ready\n")) resolve();
          });
        }),
    ),
  );
  const t = await seconds(async () => {
    for (const child of children) child.stdin.end("go\n");
    await Promise.all(exits);
  });
  return (workers * steps) / t;
}

export async function postgresRows(n: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const server = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), "parley-storage-bench-pg-"));
  try {
    const sqlite = await EncryptedStore.create(await openSqliteBackend(join(dir, "s.db")), {
      passphrase: "bench",
      kdf: FAST,
    });
    const onSqlite = await workload(sqlite, n);
    await sqlite.close();
    const pg = await EncryptedStore.create(await openPostgresBackend({ connection: server.url, table: "bench" }), {
      passphrase: "bench",
      kdf: FAST,
    });
    const onPostgres = await workload(pg, n);
    await pg.close();
    for (const [scenario, ops] of Object.entries(onPostgres)) {
      const peer = onSqlite[scenario]!;
      rows.push({
        scenario: `PostgreSQL: ${scenario}`,
        ours: Math.round(ops),
        peer: Math.round(peer),
        unit: "ops/s",
        ratio: Number((ops / peer).toFixed(3)),
        peerName: "same store on SQLite (synchronous=FULL)",
      });
    }
    const table = "workers";
    const setup = await EncryptedStore.create(await openPostgresBackend({ connection: server.url, table }), {
      passphrase: "workers",
      kdf: FAST,
    });
    await setup.close();
    const steps = 200;
    let one = 0;
    for (const workers of [1, 2, 4, 8]) {
      const tps = await scaling(server.url, table, workers, steps);
      if (workers === 1) one = tps;
      rows.push({
        scenario: `PostgreSQL, ${workers} worker process${workers === 1 ? "" : "es"}: counter + log transaction, each worker its own conversation`,
        ours: Math.round(tps),
        peer: Math.round(one),
        unit: "tx/s",
        ratio: Number((tps / one).toFixed(3)),
        peerName: "1 worker process",
      });
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
