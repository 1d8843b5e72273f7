/**
 * Child process for the crash test: a queue on the SQLite EncryptedStore sending in a loop through a
 * "network" that is an append-only file (the receiver's inbox). It prints "queued <n>" after each send()
 * resolved; the parent kills it with SIGKILL at a random moment, mid-send.
 *   crash-child.ts <db path> <network path> <first message number>
 */
import { appendFileSync } from "node:fs";
import { EncryptedStore } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { openQueue, realTimers, type TransportEvent } from "../src/index.js";
import { encryptedQueueStore } from "../src/storage.js";
import { reverse } from "./helpers.js";

const [path, network, first] = process.argv.slice(2) as [string, string, string];
const say = (line: string) =>
  new Promise<void>((resolve) =>
    process.stdout.write(`${line}\n`, () => {
      resolve();
    }),
  );

export const CONTACTS = ["a@example.net", "b@example.net", "c@example.net", "d@example.net"];

const db = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "p" });
const listeners = new Set<(e: TransportEvent) => void>();
let sends = 0;
const queue = await openQueue({
  account: "juliet@example.com",
  store: encryptedQueueStore(db),
  timers: realTimers(),
  transport: {
    isOnline: () => true,
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    send: async (stanza) => {
      // The stanza leaves the process: appended to the receiver's inbox before the "server" acks it.
      appendFileSync(network, `${JSON.stringify({ to: stanza.to, id: stanza.originId, payload: stanza.payload })}\n`);
      // Every third receipt comes back (the rest are lost or the peer does not send them).
      if (sends++ % 3 === 0)
        setImmediate(() => {
          for (const l of listeners) l({ type: "receipt", from: stanza.to, id: stanza.originId });
        });
      await new Promise((resolve) => setImmediate(resolve));
      return { ok: true };
    },
  },
  providers: {
    omemo: {
      availability: () => Promise.resolve({ available: true }),
      negotiate: () => Promise.resolve({ ok: true }),
      encrypt: (m) => Promise.resolve({ ok: true, payload: { sealed: reverse(m.body) } }),
    },
  },
  policy: { getContactSettings: () => Promise.resolve({ defaultEncryption: "omemo" }) },
});
await say("ready");
for (let n = Number(first); ; n++) {
  await queue.send(CONTACTS[n % CONTACTS.length]!, `m${n}`);
  await say(`queued ${n}`);
}
