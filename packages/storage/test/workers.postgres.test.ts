/**
 * Several processes on one PostgreSQL store: worker processes (test/postgres-worker.ts) increment one
 * counter per conversation and append to that conversation's ordered log, each step one transaction
 * under the conversation's lock. Nothing is lost or duplicated, the log's order is consistent, and the
 * store verifies on reopening; a worker SIGKILLed inside its transaction (rows and state written, not
 * committed) or at a random moment leaves nothing half-written.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EncryptedStore } from "../src/index.js";
import { openPostgresBackend } from "../src/postgres.js";
import { FAST_KDF, freshTable, POSTGRES_URL, text } from "./helpers.js";

const WORKER = fileURLToPath(new URL("./postgres-worker.ts", import.meta.url));
const URL_ = POSTGRES_URL!;
const CONVERSATIONS = ["alice", "bob"];
const pad = (n: number): string => String(n).padStart(8, "0");

interface Worker {
  readonly child: ChildProcess;
  /** Resolves when the worker printed `line`. */
  waitFor(line: string): Promise<void>;
  /** Commits it reported, per conversation. */
  reported(conversation: string): number;
  /** Resolves with the exit code or signal. */
  readonly exit: Promise<string>;
}

function startWorker(table: string, id: string, iterations: string, hang = false): Worker {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", WORKER, table, id, iterations, CONVERSATIONS.join(","), ...(hang ? ["hang"] : [])],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PARLEY_PG_URL: URL_ } },
  );
  let out = "";
  let err = "";
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) {
      if (out.includes(`${w.line}\n`)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<string>((resolve) => {
    child.on("exit", (code, signal) => {
      resolve(signal ?? (code === 0 ? "0" : `${code} ${err}`));
    });
  });
  return {
    child,
    exit,
    waitFor: (line) =>
      new Promise((resolve, reject) => {
        if (out.includes(`${line}\n`)) resolve();
        else waiters.push({ line, resolve });
        void exit.then((how) => {
          reject(new Error(`worker ${id} exited (${how}) before printing ${line}`));
        });
      }),
    reported: (conversation) => [...out.matchAll(new RegExp(`^committed ${conversation} \\d+$`, "gm"))].length,
  };
}

async function createStore(): Promise<string> {
  const table = freshTable();
  const db = await EncryptedStore.create(await openPostgresBackend({ connection: URL_, table }), {
    passphrase: "workers",
    kdf: FAST_KDF,
  });
  await db.close();
  return table;
}

/**
 * Opens the store (verifying the integrity digest over every row) and checks each conversation: the
 * counter equals the log's length, the log's keys are 0..counter-1 with no gap, every entry
 * "<worker>:<i>" appears once, and each worker's entries appear in the order it made them.
 * Returns, per conversation, how many entries each worker has.
 */
async function checkStore(table: string): Promise<Map<string, Map<string, number>>> {
  const db = await EncryptedStore.open(await openPostgresBackend({ connection: URL_, table }), {
    passphrase: "workers",
  });
  const result = new Map<string, Map<string, number>>();
  try {
    for (const conversation of CONVERSATIONS) {
      const counter = Number(text(await db.namespace("conversations").get(`${conversation}/counter`)) ?? "0");
      const log = await db.namespace("log").scan({ prefix: `${conversation}/` });
      expect(log.map((e) => e.key)).toEqual(Array.from({ length: counter }, (_, n) => `${conversation}/${pad(n)}`));
      const entries = log.map((e) => text(e.value)!);
      expect(new Set(entries).size).toBe(entries.length);
      const perWorker = new Map<string, number>();
      for (const entry of entries) {
        const [worker, i] = entry.split(":") as [string, string];
        // Each worker's i-th step is its i-th entry: none skipped, none repeated, in order.
        expect(Number(i)).toBe(perWorker.get(worker) ?? 0);
        perWorker.set(worker, Number(i) + 1);
      }
      result.set(conversation, perWorker);
    }
  } finally {
    await db.close();
  }
  return result;
}

describe("several processes on one PostgreSQL store", () => {
  it("4 workers x 30 steps on 2 conversations: every increment and log entry exactly once, in order; verifies", async () => {
    const table = await createStore();
    const workers = Array.from({ length: 4 }, (_, w) => startWorker(table, `w${w}`, "30"));
    expect(await Promise.all(workers.map((w) => w.exit))).toEqual(["0", "0", "0", "0"]);
    const counts = await checkStore(table);
    for (const conversation of CONVERSATIONS) {
      expect(counts.get(conversation)).toEqual(new Map(workers.map((_, w) => [`w${w}`, 30])));
    }
  });

  it("a worker SIGKILLed inside its transaction (rows and state written, not committed): none of it lands, the others go on", async () => {
    const table = await createStore();
    const hung = startWorker(table, "hung", "3", true);
    await hung.waitFor("written");
    // It holds alice's lock and the integrity state's row lock: the others wait behind it.
    const others = Array.from({ length: 3 }, (_, w) => startWorker(table, `w${w}`, "10"));
    await Promise.all(others.map((w) => w.waitFor("ready")));
    // Its uncommitted writes are invisible to readers.
    const before = await checkStore(table);
    expect(before.get("alice")).toEqual(new Map([["hung", 3]]));
    hung.child.kill("SIGKILL");
    expect(await hung.exit).toBe("SIGKILL");
    // The server rolls its transaction back and releases its locks; the others finish.
    expect(await Promise.all(others.map((w) => w.exit))).toEqual(["0", "0", "0"]);
    const after = await checkStore(table);
    for (const conversation of CONVERSATIONS) {
      expect(after.get(conversation)).toEqual(
        new Map([
          ["hung", 3],
          ["w0", 10],
          ["w1", 10],
          ["w2", 10],
        ]),
      );
    }
  });

  it("after each of 5 random SIGKILLs of one of 3 workers: every reported commit is there, nothing half-written", async () => {
    const table = await createStore();
    let total = 0;
    for (let round = 0; round < 5; round++) {
      const victim = startWorker(table, `victim${round}`, "forever");
      const others = [0, 1].map((w) => startWorker(table, `r${round}w${w}`, "8"));
      await victim.waitFor("ready");
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 300));
      victim.child.kill("SIGKILL");
      expect(await victim.exit).toBe("SIGKILL");
      expect(await Promise.all(others.map((w) => w.exit))).toEqual(["0", "0"]);
      const counts = await checkStore(table);
      for (const conversation of CONVERSATIONS) {
        const landed = counts.get(conversation)!.get(`victim${round}`) ?? 0;
        // Everything reported is there; at most the one transaction in flight at the kill is extra.
        expect(landed).toBeGreaterThanOrEqual(victim.reported(conversation));
        expect(landed).toBeLessThanOrEqual(victim.reported(conversation) + 1);
        for (const w of others) expect(w.reported(conversation)).toBe(8);
      }
      total += victim.reported("alice");
    }
    // The kills did not all land before the victims' first commit (the test exercised something).
    expect(total).toBeGreaterThan(0);
  });
});
