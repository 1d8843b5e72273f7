/**
 * The store's path for a backend that several processes share (PostgreSQL), without a server: a
 * memory backend behind a `transaction` that takes one lock for all (standing in for PostgreSQL's
 * locks) and applies a transaction's writes when its body resolves. Two store instances over it act
 * as two processes. test/*.postgres.test.ts run the same on a real server.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  EncryptedStore,
  isStorageError,
  MemoryBackend,
  type BackendLocks,
  type BackendTransaction,
  type BackendTransactionOptions,
  type RawEntry,
  type RawWrite,
  type StorageBackend,
} from "../src/index.js";
import { bytes, FAST_KDF, text } from "./helpers.js";

class SharedMemory implements StorageBackend {
  readonly kind = "shared-memory";
  /** Every `locks` a transaction asked for, as the backend saw them. */
  readonly seen: BackendLocks[] = [];
  readonly #inner: MemoryBackend;
  readonly #lock: { tail: Promise<unknown> };
  constructor(inner: MemoryBackend, lock: { tail: Promise<unknown> }) {
    this.#inner = inner;
    this.#lock = lock;
  }
  get media() {
    return this.#inner.media;
  }
  getMeta(name: string): Promise<Uint8Array | undefined> {
    return this.#inner.getMeta(name);
  }
  get(key: string): Promise<Uint8Array | undefined> {
    return this.#inner.get(key);
  }
  scanPrefix(prefix: string): Promise<RawEntry[]> {
    return this.#inner.scanPrefix(prefix);
  }
  commit(write: RawWrite): Promise<void> {
    return this.#inner.commit(write);
  }
  compact(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  transaction<T>(options: BackendTransactionOptions, body: (tx: BackendTransaction) => Promise<T>): Promise<T> {
    if (options.locks) this.seen.push(options.locks);
    const inner = this.#inner;
    const run = async () => {
      const writes: RawWrite[] = [];
      const result = await body({
        getMeta: (name) => inner.getMeta(name),
        lockMeta: (name) => inner.getMeta(name),
        get: (key) => inner.get(key),
        getMany: async (keys) => {
          const out = new Map<string, Uint8Array>();
          for (const key of keys) {
            const value = await inner.get(key);
            if (value) out.set(key, value);
          }
          return out;
        },
        scanPrefix: (prefix) => inner.scanPrefix(prefix),
        write: (write) => {
          writes.push(write);
          return Promise.resolve();
        },
      });
      for (const write of writes) await inner.commit(write);
      return result;
    };
    const result = this.#lock.tail.then(run);
    this.#lock.tail = result.catch(() => undefined);
    return result;
  }
}

/** One shared location; `connect()` is another process's backend over it. */
function sharedLocation() {
  const inner = new MemoryBackend();
  const lock = { tail: Promise.resolve<unknown>(undefined) };
  return { inner, connect: () => new SharedMemory(inner, lock) };
}

describe("a store on a backend several processes share (simulated)", () => {
  it("each store commits on top of the other's integrity state: the digest verifies on reopening", async () => {
    const loc = sharedLocation();
    const a = await EncryptedStore.create(loc.connect(), { passphrase: "p", kdf: FAST_KDF });
    const b = await EncryptedStore.open(loc.connect(), { passphrase: "p" });
    await a.namespace("n").put("1", bytes("a1"));
    await b.namespace("n").put("2", bytes("b2"));
    await a.namespace("n").put("2", bytes("a2"));
    await b.transaction(async (tx) => {
      await tx.namespace("n").delete("1");
      await tx.namespace("m").put("x", bytes("bx"));
    });
    await a.close();
    await b.close();
    const again = await EncryptedStore.open(loc.connect(), { passphrase: "p" });
    expect(again.commitCounter).toBe(4);
    expect((await again.namespace("n").scan()).map((e) => [e.key, text(e.value)])).toEqual([["2", "a2"]]);
    expect(text(await again.namespace("m").get("x"))).toBe("bx");
    await again.close();
  });

  it("an integrity state older than one this store has seen is TAMPERED at its next commit", async () => {
    const loc = sharedLocation();
    const a = await EncryptedStore.create(loc.connect(), { passphrase: "p", kdf: FAST_KDF });
    const b = await EncryptedStore.open(loc.connect(), { passphrase: "p" });
    const old = loc.inner.metaRows.get("state")!.slice();
    await a.namespace("n").put("k", bytes("1"));
    await b.namespace("n").put("k", bytes("2"));
    loc.inner.metaRows.set("state", old);
    await expect(b.namespace("n").put("k", bytes("3"))).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    expect(text(await b.namespace("n").get("k"))).toBe("2");
  });

  it("the backend gets lock names MACed, sorted and distinct; no lock: the store lock exclusive; single writes: shared", async () => {
    const loc = sharedLocation();
    const backend = loc.connect();
    const db = await EncryptedStore.create(backend, { passphrase: "p", kdf: FAST_KDF });
    backend.seen.length = 0;
    const names = ["conversation/zed@example.org", "conversation/alice@example.org", "conversation/zed@example.org"];
    await db.transaction((tx) => tx.namespace("n").put("k", bytes("v")), { lock: names });
    await db.transaction((tx) => tx.namespace("n").put("k", bytes("v")), { lock: ["conversation/alice@example.org"] });
    await db.transaction((tx) => tx.namespace("n").put("k", bytes("v")));
    await db.namespace("n").put("k", bytes("v"));
    const [two, one, none, single] = backend.seen;
    expect(two!.store).toBe("shared");
    expect(two!.keys).toHaveLength(2);
    expect([...two!.keys].sort()).toEqual(two!.keys);
    for (const key of two!.keys) for (const name of names) expect(key).not.toContain(name.split("/")[1]);
    // The same name gives the same token (so two processes contend), another name another one.
    expect(two!.keys).toContain(one!.keys[0]);
    expect(none).toEqual({ store: "exclusive", keys: [] });
    expect(single).toEqual({ store: "shared", keys: [] });
    await db.close();
  });

  it("two stores creating at once: one creates it, the other gets ALREADY_EXISTS", async () => {
    const loc = sharedLocation();
    const results = await Promise.allSettled(
      [0, 1].map((i) => EncryptedStore.create(loc.connect(), { passphrase: `p${i}`, kdf: FAST_KDF })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected");
    expect(isStorageError(rejected?.reason, "ALREADY_EXISTS")).toBe(true);
  });
});

describe("@parley/storage/postgres in a browser bundle", () => {
  it('the "browser" condition resolves to a module that refuses with BACKEND_FAILED and carries no Node code', async () => {
    const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      exports: Record<string, Record<string, string>>;
    };
    const entry = manifest.exports["./postgres"]!;
    // Bundlers take the first matching condition: "browser" must come before "import" and "default".
    expect(Object.keys(entry)).toEqual(["types", "browser", "import", "default"]);
    expect(entry.browser).toBe("./dist/postgres-browser.js");
    const { openPostgresBackend } = await import("../src/postgres-browser.js");
    await expect(openPostgresBackend()).rejects.toSatisfy((e) => isStorageError(e, "BACKEND_FAILED"));
    const source = readFileSync(new URL("../src/postgres-browser.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^import (?!type)[^;]*from "(node:|pg)/m);
  });
});
