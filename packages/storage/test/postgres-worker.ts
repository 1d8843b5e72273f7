/**
 * Worker process for the multi-process PostgreSQL tests and the bench. Each iteration is one
 * transaction per conversation, under that conversation's lock: read the counter, append the log entry
 * at that position ("<worker>:<i>"), write counter + 1. Reports each commit on stdout once it resolved.
 *   PARLEY_PG_URL=postgres://… node --import tsx postgres-worker.ts <table> <worker> <iterations|forever> [conversations] [hang]
 * conversations: comma-separated (default "alice,bob"). With "hang" the worker commits `iterations`
 * times, then starts one more transaction on the first conversation, writes its rows and the integrity
 * state inside the PostgreSQL transaction, prints "written" and waits, never committing, to be SIGKILLed.
 * With PARLEY_WORKER_GO=1 (the bench) it waits after "ready" for a line on stdin, so all start together.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EncryptedStore, type BackendTransaction, type StorageBackend } from "../src/index.js";
import { openPostgresBackend } from "../src/postgres.js";

const [table, worker, iterations, conversationList, hangArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string | undefined,
  string | undefined,
];
// The server's URL (with its password) comes in the environment: `ps` shows argv to every local user.
const url = process.env.PARLEY_PG_URL!;
const count = iterations === "forever" ? Infinity : Number(iterations);
const conversations = (conversationList ?? "alice,bob").split(",");
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const say = (line: string) =>
  new Promise<void>((resolve) =>
    process.stdout.write(`${line}\n`, () => {
      resolve();
    }),
  );
const pad = (n: number): string => String(n).padStart(8, "0");

let hang = false;
const inner = await openPostgresBackend({ connection: url, table });
/** The backend, with one hook for the "hang" mode: stop after the rows are written, before COMMIT. */
const backend: StorageBackend = {
  kind: inner.kind,
  media: inner.media,
  getMeta: (name) => inner.getMeta(name),
  get: (key) => inner.get(key),
  scanPrefix: (prefix) => inner.scanPrefix(prefix),
  commit: (write) => inner.commit(write),
  compact: () => inner.compact(),
  close: () => inner.close(),
  transaction: (options, body) =>
    inner.transaction(options, (btx) => {
      const hooked: BackendTransaction = {
        ...btx,
        write: async (write) => {
          await btx.write(write);
          if (hang) {
            await say("written");
            await new Promise(() => undefined);
          }
        },
      };
      return body(hooked);
    }),
};
const db = await EncryptedStore.open(backend, { passphrase: "workers", verify: false });
await say("ready");
if (process.env.PARLEY_WORKER_GO === "1") {
  await new Promise<void>((resolve) => {
    process.stdin.once("data", () => {
      process.stdin.destroy(); // or the open pipe keeps this process alive after its work
      resolve();
    });
  });
}

async function step(conversation: string, i: number): Promise<void> {
  await db.transaction(
    async (tx) => {
      const state = tx.namespace("conversations");
      const n = Number(dec(await state.get(`${conversation}/counter`)) ?? "0");
      // A pause between the read and the write: without the lock, another worker would read the same n.
      await sleep(Math.random() * 2);
      await tx.namespace("log").put(`${conversation}/${pad(n)}`, enc(`${worker}:${i}`));
      await state.put(`${conversation}/counter`, enc(String(n + 1)));
    },
    { lock: [`conversation/${conversation}`] },
  );
}

for (let i = 0; i < count; i++) {
  for (const conversation of conversations) {
    await step(conversation, i);
    await say(`committed ${conversation} ${i}`);
  }
}
if (hangArg === "hang") {
  hang = true;
  await step(conversations[0]!, count);
}
await db.close();
