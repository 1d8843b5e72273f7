import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScryptParams } from "@parley/crypto";
import type { StorageBackend } from "../src/index.js";
import { memoryBackend } from "../src/index.js";
import "fake-indexeddb/auto";
import { openIndexedDbBackend } from "../src/indexeddb.js";
import { openPostgresBackend } from "../src/postgres.js";
import { openSqliteBackend } from "../src/sqlite.js";

/** Tiny scrypt cost so tests open stores in microseconds; the default is measured in the bench. */
export const FAST_KDF: ScryptParams = { N: 16, r: 1, p: 1, dkLen: 32 };

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "parley-storage-"));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A way to open the same location again and again, for each backend under test. */
export interface BackendKind {
  readonly name: string;
  /** A fresh, empty location; `open()` gives a backend over it (again after close). */
  fresh(): { open: () => Promise<StorageBackend>; cleanup: () => void };
}

/**
 * The PostgreSQL suite (vitest.postgres.config.ts) starts a server and sets this to its URL: the
 * backend-generic tests then run on PostgreSQL only, and the tests tied to another backend are skipped.
 */
export const POSTGRES_URL: string | undefined = process.env.PARLEY_TEST_POSTGRES;

let tables = 0;
/** A table prefix no other test in this run uses (the suite's server is thrown away afterwards). */
export function freshTable(): string {
  return `t${process.pid}_${Date.now().toString(36)}_${tables++}`;
}

export const POSTGRES: BackendKind = {
  name: "postgres",
  fresh() {
    const table = freshTable();
    return { open: () => openPostgresBackend({ connection: POSTGRES_URL!, table }), cleanup: () => undefined };
  },
};

const LOCAL_BACKENDS: BackendKind[] = [
  {
    name: "memory",
    fresh() {
      const backend = memoryBackend();
      return { open: () => Promise.resolve(backend), cleanup: () => undefined };
    },
  },
  {
    name: "sqlite",
    fresh() {
      const { dir, cleanup } = tempDir();
      return { open: () => openSqliteBackend(join(dir, "store.db")), cleanup };
    },
  },
  {
    // fake-indexeddb in Node complements the real-Chromium test (test/indexeddb.browser.test.ts).
    name: "indexeddb (fake-indexeddb)",
    fresh() {
      const name = `parley-${Math.random().toString(36).slice(2)}`;
      return { open: () => openIndexedDbBackend(name), cleanup: () => undefined };
    },
  },
];

export const BACKENDS: BackendKind[] = POSTGRES_URL === undefined ? LOCAL_BACKENDS : [POSTGRES];
