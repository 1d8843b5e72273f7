// Open time by store size (SQLite, cheap KDF so that only the rest shows): one file grown to 1k, 10k,
// 100k and 1M records with bulk transactions, and at each size the time to open (default: integrity
// check in the background), to open with `verify: false`, and how long the background check then takes
// to finish (one run; at 1M it is the long part of the bench). Open time should not grow with the size.
import { join } from "node:path";
import { EncryptedStore } from "../src/index.js";
import { openSqliteBackend } from "../src/sqlite.js";
import type { BenchRow } from "./postgres.js";

const FAST = { N: 16, r: 1, p: 1, dkLen: 32 };
const SIZES = (process.env.OPEN_SIZES ?? "1000,10000,100000,1000000").split(",").map(Number);
const ROUNDS = 15;
/** Records per build transaction: few commits (each rewrites the pages it touches, all over the file). */
const BATCH = 100_000;
/** SQLite page cache while building (1 GiB, allocated as used): the whole file stays in memory. */
const BUILD_CACHE_KIB = 1 << 20;

async function ms(run: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await run();
  return performance.now() - t;
}

/** Best of `rounds` of opening (in ms; the close after each is not timed). */
async function bestOpen(rounds: number, open: () => Promise<EncryptedStore>): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    const db = await open();
    min = Math.min(min, performance.now() - t);
    await db.close();
  }
  return min;
}

export async function openRows(dir: string, log: (line: string) => void = console.log): Promise<BenchRow[]> {
  const path = join(dir, "open-by-size.db");
  const value = new Uint8Array(200).fill(7);
  // A messenger's history: conversations of sequence-numbered messages.
  const keyOf = (i: number) => `conversation${i % 500}/${String(i).padStart(8, "0")}`;
  await (
    await EncryptedStore.create(await openSqliteBackend(path, { synchronous: "NORMAL" }), {
      passphrase: "bench",
      kdf: FAST,
    })
  ).close();
  const rows: BenchRow[] = [];
  let built = 0;
  let baseline: { open: number; unverified: number } | undefined;
  for (const size of SIZES) {
    const tBuild = await ms(async () => {
      const db = await EncryptedStore.open(
        await openSqliteBackend(path, { synchronous: "NORMAL", cacheKiB: BUILD_CACHE_KIB }),
        { passphrase: "bench", verify: false },
      );
      while (built < size) {
        const end = Math.min(size, built + BATCH);
        await db.transaction(async (tx) => {
          const log = tx.namespace("history");
          // Each put is buffered synchronously; awaiting only the last one saves a million microtasks.
          let last: Promise<void> = Promise.resolve();
          for (let i = built; i < end; i++) last = log.put(keyOf(i), value);
          await last;
        });
        built = end;
      }
      await db.close();
    });
    // Warm the file cache once, as an app restarting finds it (and as every later round does).
    await (await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench", verify: false })).close();
    const open = await bestOpen(ROUNDS, async () =>
      EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench" }),
    );
    const unverified = await bestOpen(ROUNDS, async () =>
      EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench", verify: false }),
    );
    const db = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "bench" });
    const check = await ms(() => db.verification);
    await db.close();
    baseline ??= { open, unverified };
    log(
      `open by size: ${size} records (built in ${Math.round(tBuild)} ms): open ${open.toFixed(2)} ms, verify off ${unverified.toFixed(2)} ms, background check ${Math.round(check)} ms`,
    );
    const label = size >= 1_000_000 ? `${size / 1_000_000}M` : `${size / 1000}k`;
    rows.push(
      {
        scenario: `open, cheap KDF, ${label} records (integrity check in the background)`,
        ours: Number(open.toFixed(2)),
        peer: Number(baseline.open.toFixed(2)),
        unit: "ms",
        ratio: Number((open / baseline.open).toFixed(3)),
        peerName: "same open at 1k records",
      },
      {
        scenario: `open, cheap KDF, ${label} records, verify off`,
        ours: Number(unverified.toFixed(2)),
        peer: Number(baseline.unverified.toFixed(2)),
        unit: "ms",
        ratio: Number((unverified / baseline.unverified).toFixed(3)),
        peerName: "same open at 1k records",
      },
      {
        scenario: `background integrity check to completion, ${label} records (after open returned)`,
        ours: Math.round(check),
        peer: size,
        unit: "ms",
        ratio: Number((check / size).toFixed(4)),
        peerName: "records checked (ratio: ms per record)",
      },
    );
  }
  return rows;
}
