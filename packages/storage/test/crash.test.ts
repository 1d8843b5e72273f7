/**
 * Crash safety: a child writing in a loop is killed with SIGKILL at random moments; after each kill
 * the store opens, every transaction the child saw committed is there, and no transaction is half there.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError } from "../src/index.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { bytes, FAST_KDF, tempDir, text } from "./helpers.js";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

/** Runs the child until it printed "ready", waits a random 0-150 ms more, kills it; returns the last number it reported. */
function runAndKill(mode: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, mode, path], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let killed = false;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!killed && out.includes("ready\n")) {
        killed = true;
        setTimeout(() => child.kill("SIGKILL"), Math.random() * 150);
      }
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") {
        reject(new Error(`child exited without being killed: ${err}`));
        return;
      }
      const numbers = [...out.matchAll(/(?:committed|changed) (\d+)\n/g)].map((m) => Number(m[1]));
      resolve(numbers.length === 0 ? 0 : numbers[numbers.length - 1]!);
    });
  });
}

const KILLS = 20;

describe("crash safety (SIGKILL during writes, SQLite)", () => {
  it(`after each of ${KILLS} kills: every reported commit is there, nothing is half-committed`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, "store.db");
      const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "p", kdf: FAST_KDF });
      await db.close();
      let progressed = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const reported = await runAndKill("writes", path);
        const store = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "p" });
        const last = Number(text(await store.namespace("meta").get("last")) ?? "0");
        // Everything reported is durable; at most the one commit in flight at the kill is extra.
        expect(last).toBeGreaterThanOrEqual(reported);
        expect(last).toBeLessThanOrEqual(reported + 1);
        const a = (await store.namespace("a").scan()).map((e) => e.key);
        const b = await store.namespace("b").scan();
        // Atomicity: the stored state is exactly the state after transaction `last`.
        const expectedA = [last - 2, last - 1, last]
          .filter((i) => i >= 1)
          .map(String)
          .sort();
        expect(a).toEqual(expectedA);
        expect(b.map((e) => e.key)).toEqual(Array.from({ length: last }, (_, i) => String(i + 1)).sort());
        for (const e of b) expect(text(e.value)).toBe(`b${e.key}`.repeat(Number(e.key) % 7));
        if (last > 0) progressed++;
        // Start the next child from a clean slate with the same invariant.
        await store.transaction(async (tx) => {
          for (const k of a) await tx.namespace("a").delete(k);
          for (const e of b) await tx.namespace("b").delete(e.key);
          await tx.namespace("meta").delete("last");
        });
        await store.close();
      }
      expect(progressed).toBeGreaterThan(KILLS / 2);
    } finally {
      cleanup();
    }
  });
});

describe("crash safety (SIGKILL during changePassphrase, SQLite)", () => {
  it("after each of 10 kills exactly one of the last reported passphrase and the next opens, and data is intact", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, "store.db");
      const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "p0", kdf: FAST_KDF });
      await db.namespace("n").put("k", bytes("survives"));
      await db.close();
      for (let kill = 0; kill < 10; kill++) {
        const reported = await runAndKill("passphrase", path);
        const opened: number[] = [];
        for (const candidate of [reported, reported + 1]) {
          const backend = await openSqliteBackend(path);
          try {
            const store = await EncryptedStore.open(backend, { passphrase: `p${candidate}` });
            expect(text(await store.namespace("n").get("k"))).toBe("survives");
            await store.close();
            opened.push(candidate);
          } catch (error) {
            expect(isStorageError(error, "WRONG_PASSPHRASE")).toBe(true);
            await backend.close();
          }
        }
        expect(opened).toHaveLength(1);
        // Reset to p0 for the next child.
        const store = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: `p${opened[0]!}` });
        await store.changePassphrase(`p${opened[0]!}`, "p0");
        await store.close();
      }
    } finally {
      cleanup();
    }
  });
});
