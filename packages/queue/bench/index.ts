// Throughput of the queue on @parley/storage's SQLite EncryptedStore through an in-memory transport
// (instant acknowledgements and receipts), beside the raw encrypted-store writes of the same records
// measured in the same run; and the heap after GC at 10k and 100k messages. ratio = ours ÷ peer
// (msgs/s: above 0.5 means less than 2x overhead; heap: near 1 means flat). Writes bench/results.json.
// Run: pnpm bench (node --expose-gc).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { EncryptedStore } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { encodeRecord } from "../src/codec.js";
import { ManualTimers, openQueue, type Queue, type StoredMessage, type TransportEvent } from "../src/index.js";
import { encryptedQueueStore } from "../src/storage.js";

const FAST_KDF = { N: 16, r: 1, p: 1, dkLen: 32 };
const CONVERSATIONS = 100;
const MESSAGES = 10_000;
const BODY = "Wherefore art thou Romeo? Deny thy father and refuse thy name."; // a typical chat line
const dir = mkdtempSync(join(tmpdir(), "parley-queue-bench-"));
let files = 0;
const contact = (c: number) => `contact${c}@example.net`;

interface Row {
  scenario: string;
  ours: number;
  peer: number;
  unit: string;
  ratio: number;
  peerName: string;
}
const rows: Row[] = [];
function record(scenario: string, ours: number, peerName: string, peer: number, unit: string): void {
  const round = (x: number) => (x >= 100 ? Math.round(x) : Number(x.toFixed(1)));
  rows.push({
    scenario,
    ours: round(ours),
    peer: round(peer),
    unit,
    ratio: Number((ours / peer).toFixed(3)),
    peerName,
  });
}

async function freshDb(): Promise<EncryptedStore> {
  return EncryptedStore.create(await openSqliteBackend(join(dir, `q${files++}.db`)), {
    passphrase: "bench",
    kdf: FAST_KDF,
  });
}

interface BenchQueue {
  readonly queue: Queue;
  /** Resolves once `n` messages in total were delivered. */
  until(n: number): Promise<void>;
}

/** A queue over the SQLite store, with a transport that acks at once and returns a receipt for every stanza. */
async function benchQueue(db: EncryptedStore): Promise<BenchQueue> {
  const listeners = new Set<(e: TransportEvent) => void>();
  let delivered = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  const queue = await openQueue({
    account: "juliet@example.com",
    store: encryptedQueueStore(db),
    timers: new ManualTimers(),
    transport: {
      isOnline: () => true,
      subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
      send: (stanza) => {
        queueMicrotask(() => {
          for (const l of listeners) l({ type: "receipt", from: stanza.to, id: stanza.originId });
        });
        return Promise.resolve({ ok: true });
      },
    },
    providers: {
      omemo: {
        availability: () => Promise.resolve({ available: true }),
        negotiate: () => Promise.resolve({ ok: true }),
        encrypt: (m) => Promise.resolve({ ok: true, payload: m.body.length }),
      },
    },
    policy: { getContactSettings: () => Promise.resolve({ defaultEncryption: "omemo" }) },
    onEvent: (e) => {
      if (e.type === "state" && e.message.state === "delivered") {
        delivered++;
        if (delivered >= target) wake?.();
      }
    },
  });
  return {
    queue,
    until(n) {
      target = n;
      return delivered >= n ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve));
    },
  };
}

/** Enqueues `count` messages over the conversations, 100 at a time (one per conversation), and waits for all deliveries. */
async function enqueueAndDrain(q: BenchQueue, count: number, deliveredBefore: number): Promise<void> {
  for (let i = 0; i < count; i += CONVERSATIONS) {
    const round: Array<Promise<string>> = [];
    for (let c = 0; c < CONVERSATIONS && i + c < count; c++) round.push(q.queue.send(contact(c), BODY));
    await Promise.all(round);
  }
  await q.until(deliveredBefore + count);
  await q.queue.flush(); // and every write stored
}

function messages(count: number): StoredMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    conversation: contact(i % CONVERSATIONS),
    seq: i,
    body: BODY,
    state: "queued" as const,
    attempts: 1,
    createdAt: 1_700_000_000_000,
  }));
}

async function seconds(run: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapMiB(): number {
  if (!gc) throw new Error("run with node --expose-gc (pnpm bench does)");
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

try {
  // ---- 1. 10,000 messages across 100 conversations, sends 100 at a time ----
  {
    const ours = await (async () => {
      const db = await freshDb();
      const q = await benchQueue(db);
      const s = await seconds(() => enqueueAndDrain(q, MESSAGES, 0));
      await q.queue.close();
      await db.close();
      return s;
    })();
    // The same records, raw: each put in the transaction of its round (100), then each deleted (100 per transaction).
    const raw = await (async () => {
      const db = await freshDb();
      const ns = "queue";
      const all = messages(MESSAGES);
      const s = await seconds(async () => {
        for (let i = 0; i < all.length; i += CONVERSATIONS) {
          const round = all.slice(i, i + CONVERSATIONS);
          await db.transaction(async (tx) => {
            for (const m of round) await tx.namespace(ns).put(m.id, encodeRecord(m));
          });
        }
        for (let i = 0; i < all.length; i += CONVERSATIONS) {
          const round = all.slice(i, i + CONVERSATIONS);
          await db.transaction(async (tx) => {
            for (const m of round) await tx.namespace(ns).delete(m.id);
          });
        }
      });
      await db.close();
      return s;
    })();
    record(
      `enqueue + drain ${MESSAGES} msgs, ${CONVERSATIONS} conversations, SQLite (FULL)`,
      MESSAGES / ours,
      "raw EncryptedStore put + delete of the same records, 100 per transaction",
      MESSAGES / raw,
      "msgs/s",
    );
  }

  // ---- 2. one at a time: await send() for each, one conversation ----
  {
    const N = 1_000;
    const ours = await (async () => {
      const db = await freshDb();
      const q = await benchQueue(db);
      const s = await seconds(async () => {
        for (let i = 0; i < N; i++) await q.queue.send(contact(0), BODY);
        await q.until(N);
        await q.queue.flush();
      });
      await q.queue.close();
      await db.close();
      return s;
    })();
    const raw = await (async () => {
      const db = await freshDb();
      const ns = db.namespace("queue");
      const all = messages(N);
      const s = await seconds(async () => {
        for (const m of all) await ns.put(m.id, encodeRecord(m));
        for (const m of all) await ns.delete(m.id);
      });
      await db.close();
      return s;
    })();
    record(
      `await send() one at a time, ${N} msgs, SQLite (FULL)`,
      N / ours,
      "raw EncryptedStore put, then delete, one transaction each",
      N / raw,
      "msgs/s",
    );
  }

  // ---- 3. memory: heap after GC at 10k and at 100k messages through one queue ----
  {
    const db = await freshDb();
    const q = await benchQueue(db);
    const before = heapMiB();
    await enqueueAndDrain(q, MESSAGES, 0);
    const at10k = heapMiB();
    for (let wave = 1; wave < 10; wave++) await enqueueAndDrain(q, MESSAGES, wave * MESSAGES);
    const at100k = heapMiB();
    record(
      "heap after GC at 100k messages (ours) vs at 10k (peer), one queue",
      at100k,
      "same queue at 10k messages",
      at10k,
      "MiB",
    );
    console.log(
      `heap after GC: before ${before.toFixed(1)} MiB, after 10k ${at10k.toFixed(1)} MiB, after 100k ${at100k.toFixed(1)} MiB; queue holds ${q.queue.size.held}, awaiting ${q.queue.size.awaitingReceipt}`,
    );
    await q.queue.close();
    await db.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const machine = `${cpus()[0]?.model ?? "unknown CPU"} ×${cpus().length}, Node ${process.version}`;
console.log(`@parley/queue bench on ${machine}`);
console.table(rows.map((r) => ({ ...r, overhead: Number((r.peer / r.ours).toFixed(2)) })));
writeFileSync(
  new URL("./results.json", import.meta.url),
  `${JSON.stringify(
    rows.map((r) => ({ ...r, machine })),
    null,
    2,
  )}\n`,
);
