/** No passphrase, key, lookup key or value in any error, log, inspect output or the file itself. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EncryptedStore, isStorageError, MemoryBackend, MemoryKeystore } from "../src/index.js";
import { FileKeystore } from "../src/file-keystore.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { bytes, FAST_KDF, tempDir } from "./helpers.js";

const PASS = "hunter2-Passphrase";
const CONTACT = "juliet@capulet.example";
const VALUE = "ratchet-root-key-material";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.restoreAllMocks();
});

function everyRendering(x: unknown): string {
  const parts = [String(x), inspect(x, { showHidden: true, depth: 20 }), JSON.stringify(x) ?? ""];
  if (x instanceof Error) {
    parts.push(x.message, x.stack ?? "");
    let cause: unknown = x.cause;
    while (cause !== undefined) {
      parts.push(inspect(cause, { showHidden: true, depth: 20 }));
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return parts.join("\n");
}

function assertClean(rendered: string): void {
  for (const secret of [PASS, CONTACT, VALUE]) expect(rendered).not.toContain(secret);
}

describe("secrets never print", () => {
  it("the store, keystores and every error we can provoke render without secrets or contact names", async () => {
    const backend = new MemoryBackend();
    const keystore = new MemoryKeystore();
    const db = await EncryptedStore.create(backend, { passphrase: PASS, kdf: FAST_KDF, keystore });
    await db.namespace("trust").put(`${CONTACT}/omemo`, bytes(VALUE));
    assertClean(everyRendering(db));
    assertClean(everyRendering(keystore));
    assertClean(everyRendering(db.namespace("trust")));
    const errors: unknown[] = [];
    const collect = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        errors.push(e);
      }
    };
    await collect(EncryptedStore.open(backend, { passphrase: `${PASS}x` }));
    await collect(db.changePassphrase(`${PASS}x`, PASS));
    await collect(db.namespace("trust").get(`${CONTACT}\ud800`));
    await collect(db.namespace("trust").put(`${CONTACT}${"x".repeat(2000)}`, bytes("v")));
    // Tamper with the record, then read it: the TAMPERED error must not name the contact either.
    const [rowKey] = [...backend.rows.keys()];
    backend.rows.get(rowKey!)![40]! ^= 1;
    await collect(db.namespace("trust").get(`${CONTACT}/omemo`));
    await db.close();
    await collect(db.namespace("trust").get(`${CONTACT}/omemo`));
    expect(errors).toHaveLength(6);
    for (const e of errors) {
      expect(isStorageError(e)).toBe(true);
      assertClean(everyRendering(e));
    }
  });

  it("the SQLite file, its WAL and media files contain no passphrase, contact name, namespace name or value", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = join(dir, "s.db");
    const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: PASS, kdf: FAST_KDF });
    await db.namespace("trust").put(`${CONTACT}/omemo/1234`, bytes(VALUE));
    await db.media.put(bytes(`${VALUE} in a photo`), { name: `${CONTACT}.jpg` });
    const check = () => {
      for (const f of readdirSync(dir, { recursive: true }) as string[]) {
        const p = join(dir, f);
        if (!statSync(p).isFile()) continue;
        const content = readFileSync(p).toString("latin1");
        for (const s of [PASS, CONTACT, VALUE, "trust", "omemo"])
          expect(content, `${f} contains ${s}`).not.toContain(s);
      }
    };
    check(); // while open (WAL present)
    await db.close();
    check();
  });

  it("FileKeystore: 0600 file, a warning that names the file but not the secret, refuses a world-readable file", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const path = join(dir, "keys", "keystore.json");
    const keystore = new FileKeystore(path);
    const db = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF, keystore });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "keys")).mode & 0o777).toBe(0o700);
    expect(warn).toHaveBeenCalledTimes(1);
    const message = warn.mock.calls.map((c) => c.join(" ")).join("\n");
    expect(message).toContain(path);
    assertClean(message);
    assertClean(everyRendering(keystore));
    const { chmodSync } = await import("node:fs");
    chmodSync(path, 0o644);
    await expect(keystore.get("x")).rejects.toSatisfy((e) => isStorageError(e, "KEYSTORE_FAILED"));
    chmodSync(path, 0o600);
    await db.removePassphraseFromKeystore(keystore);
    expect(readFileSync(path, "utf8")).toBe("{}");
    await db.close();
  });
});
