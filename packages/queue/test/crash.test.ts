/**
 * Crash safety on the SQLite store: a child process queueing and sending in a loop is killed with
 * SIGKILL at random moments (mid-send, mid-write). After each kill the queue is reopened here and
 * drained: every message the child saw queued reached the receiver, none was lost, and after the
 * receiver's origin-id dedup none arrived twice; order within each conversation held.
 */
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EncryptedStore } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { describe, expect, it } from "vitest";
import { DuplicateFilter, ManualTimers, openQueue } from "../src/index.js";
import { encryptedQueueStore } from "../src/storage.js";
import { reverse, settleMany } from "./helpers.js";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const FAST_KDF = { N: 16, r: 1, p: 1, dkLen: 32 };
const KILLS = 8;

/** Runs the child until "ready", waits a random 20-200 ms more, kills it; returns the numbers it reported queued. */
function runAndKill(path: string, network: string, first: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, path, network, String(first)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let killed = false;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!killed && out.includes("ready\n")) {
        killed = true;
        setTimeout(() => child.kill("SIGKILL"), 20 + Math.random() * 180);
      }
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") {
        reject(new Error(`child exited without being killed: ${err}`));
        return;
      }
      resolve([...out.matchAll(/queued (\d+)\n/g)].map((m) => Number(m[1])));
    });
  });
}

interface Arrival {
  to: string;
  id: string;
  payload: { sealed: string };
}

/** The receiver: every complete line of the inbox, deduplicated by origin-id. */
function receive(network: string): {
  accepted: Map<string, string[]>;
  arrivals: number;
  idsOf: Map<string, Set<string>>;
} {
  const filter = new DuplicateFilter();
  const accepted = new Map<string, string[]>();
  const idsOf = new Map<string, Set<string>>();
  let arrivals = 0;
  for (const line of readFileSync(network, "utf8").split("\n")) {
    let a: Arrival;
    try {
      a = JSON.parse(line) as Arrival;
    } catch {
      continue; // an empty line, or a line the kill cut short: it never left
    }
    arrivals++;
    const body = reverse(a.payload.sealed);
    idsOf.set(body, (idsOf.get(body) ?? new Set()).add(a.id));
    if (filter.isDuplicate("juliet@example.com", a.id)) continue;
    const list = accepted.get(a.to) ?? [];
    list.push(body);
    accepted.set(a.to, list);
  }
  return { accepted, arrivals, idsOf };
}

/** Reopens the queue in this process and sends whatever the child left queued. */
async function drain(path: string, network: string): Promise<void> {
  const db = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "p" });
  const queue = await openQueue({
    account: "juliet@example.com",
    store: encryptedQueueStore(db),
    timers: new ManualTimers(),
    transport: {
      isOnline: () => true,
      subscribe: () => () => undefined,
      send: (stanza) => {
        appendFileSync(
          network,
          `\n${JSON.stringify({ to: stanza.to, id: stanza.originId, payload: stanza.payload })}\n`,
        );
        return Promise.resolve({ ok: true });
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
  for (let i = 0; i < 200 && queue.size.held > 0; i++) await settleMany(2);
  expect(queue.size.held).toBe(0);
  await queue.close();
  await db.close();
}

describe("crash safety (SIGKILL mid-send, SQLite)", () => {
  it(`after each of ${KILLS} kills nothing queued is lost and nothing is delivered twice`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-queue-crash-"));
    try {
      const path = join(dir, "queue.db");
      const network = join(dir, "network.jsonl");
      appendFileSync(network, "");
      const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "p", kdf: FAST_KDF });
      await db.close();
      const reported: number[] = [];
      let next = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const numbers = await runAndKill(path, network, next);
        reported.push(...numbers);
        // Numbers the child may have stored without reporting are skipped: the next child starts after them.
        next = (numbers.at(-1) ?? next) + 100;
        await drain(path, network);
        const { accepted, idsOf } = receive(network);
        const all = [...accepted.values()].flat();
        // Nothing lost: every message the child saw queued arrived.
        for (const n of reported) expect(all).toContain(`m${n}`);
        // Nothing twice: after dedup each body once; and a body never travelled under two origin-ids
        // (which the receiver could not have recognised).
        expect(new Set(all).size).toBe(all.length);
        for (const ids of idsOf.values()) expect(ids.size).toBe(1);
        // Order within each conversation: ascending message numbers.
        for (const list of accepted.values()) {
          const numbersInOrder = list.map((b) => Number(b.slice(1)));
          expect(numbersInOrder).toEqual([...numbersInOrder].sort((x, y) => x - y));
        }
      }
      const { arrivals } = receive(network);
      // The kills did land mid-work: messages were queued, and some arrived more than once (resent after a crash).
      expect(reported.length).toBeGreaterThan(KILLS);
      console.log(`crash test: ${reported.length} queued, ${arrivals} arrivals`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
