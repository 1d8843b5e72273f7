/**
 * Tamper detection: every flipped, truncated, swapped, deleted, added or replayed-from-an-older-copy
 * record is a typed StorageError, never wrong plaintext.
 */
import Database from "better-sqlite3";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError, MemoryBackend, type StorageBackend } from "../src/index.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { bytes, FAST_KDF, tempDir } from "./helpers.js";

const PASS = "tamper test";
const CONTENT: Record<string, Record<string, string>> = {
  trust: { "alice@example.org/omemo/05ab": "verified", "bob@example.org/otr/77": "tofu" },
  sessions: { "alice@example.org/1": "session-1", "alice@example.org/2": "session-2", "carol/9": "s9" },
};

async function fill(db: EncryptedStore): Promise<void> {
  for (const [ns, entries] of Object.entries(CONTENT))
    for (const [k, v] of Object.entries(entries)) await db.namespace(ns).put(k, bytes(v));
}

type Outcome =
  | { kind: "same" }
  | { kind: "error"; code: string }
  | { kind: "WRONG PLAINTEXT" }
  | { kind: "foreign error"; message: string };

/**
 * Opens, lets the integrity check finish and reads everything; reports whether the content is the
 * original, a typed error, or (the failure) anything else. `"background"` (the default open) awaits
 * `db.verification` before reading, as an app that must not act on unverified data does; `"full"`
 * verifies inside open.
 */
async function readBack(backend: StorageBackend, verify: "background" | "full" = "background"): Promise<Outcome> {
  let db: EncryptedStore | undefined;
  try {
    db = await EncryptedStore.open(backend, { passphrase: PASS, verify });
    if (verify === "background") await db.verification;
    for (const [ns, entries] of Object.entries(CONTENT)) {
      const scanned = await db.namespace(ns).scan();
      const expected = Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1));
      if (JSON.stringify(scanned.map((e) => [e.key, new TextDecoder().decode(e.value)])) !== JSON.stringify(expected))
        return { kind: "WRONG PLAINTEXT" };
      for (const [k, v] of expected) {
        const got = await db.namespace(ns).get(k);
        if (got === undefined || new TextDecoder().decode(got) !== v) return { kind: "WRONG PLAINTEXT" };
      }
    }
    return { kind: "same" };
  } catch (error) {
    if (isStorageError(error)) return { kind: "error", code: error.code };
    return { kind: "foreign error", message: String(error) };
  } finally {
    await db?.close();
    await backend.close();
  }
}

/** The same edit read back with the check in the background and in full: the two must agree. */
async function readBackBoth(original: MemoryBackend, edit: (b: MemoryBackend) => void): Promise<Outcome> {
  const background = await readBack(copy(original, edit), "background");
  const full = await readBack(copy(original, edit), "full");
  expect(background).toEqual(full);
  return full;
}

async function memoryStore(): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  const db = await EncryptedStore.create(backend, { passphrase: PASS, kdf: FAST_KDF });
  await fill(db);
  await db.close();
  return backend;
}

function copy(from: MemoryBackend, edit: (b: MemoryBackend) => void): MemoryBackend {
  const b = new MemoryBackend();
  for (const [k, v] of from.rows) b.rows.set(k, v.slice());
  for (const [k, v] of from.metaRows) b.metaRows.set(k, v.slice());
  edit(b);
  return b;
}

const DETECTED = ["TAMPERED", "CORRUPTED", "WRONG_PASSPHRASE"];

describe("tamper detection (memory backend, every byte)", () => {
  it("the untouched copy reads back the same (the harness can tell)", async () => {
    expect(await readBack(copy(await memoryStore(), () => undefined))).toEqual({ kind: "same" });
  });

  it("flipping any bit pattern of any byte of any record value, record key, header or state is detected", async () => {
    const original = await memoryStore();
    let cases = 0;
    for (const [rowKey, value] of original.rows) {
      for (let i = 0; i < value.length; i++) {
        const outcome = await readBackBoth(original, (b) => (b.rows.get(rowKey)![i]! ^= 1 << (i % 8)));
        expect(
          outcome.kind === "error" && DETECTED.includes(outcome.code),
          `value byte ${i}: ${JSON.stringify(outcome)}`,
        ).toBe(true);
        cases++;
      }
      for (let i = 0; i < rowKey.length; i++) {
        const flipped = rowKey.slice(0, i) + (rowKey[i] === "A" ? "B" : "A") + rowKey.slice(i + 1);
        const outcome = await readBack(
          copy(original, (b) => {
            b.rows.delete(rowKey);
            b.rows.set(flipped, value.slice());
          }),
        );
        expect(outcome, `key char ${i}`).toMatchObject({ kind: "error", code: "TAMPERED" });
        cases++;
      }
    }
    for (const [name, value] of original.metaRows) {
      for (let i = 0; i < value.length; i++) {
        const outcome = await readBackBoth(original, (b) => (b.metaRows.get(name)![i]! ^= 0x80));
        expect(
          outcome.kind === "error" && DETECTED.includes(outcome.code),
          `${name} byte ${i}: ${JSON.stringify(outcome)}`,
        ).toBe(true);
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(500);
  });

  it("truncating, swapping, deleting or duplicating records is TAMPERED", async () => {
    const original = await memoryStore();
    const [[k1, v1], [k2, v2]] = [...original.rows] as [[string, Uint8Array], [string, Uint8Array]];
    const edits: Array<[string, (b: MemoryBackend) => void]> = [
      ["truncate by one byte", (b) => b.rows.set(k1, v1.slice(0, -1))],
      ["truncate to nothing", (b) => b.rows.set(k1, new Uint8Array(0))],
      ["swap two values", (b) => (b.rows.set(k1, v2), b.rows.set(k2, v1))],
      ["delete a record", (b) => b.rows.delete(k1)],
      ["copy a record under another row key", (b) => b.rows.set(`${k1}x`, v1)],
      ["delete the state", (b) => b.metaRows.delete("state")],
    ];
    for (const [what, edit] of edits)
      expect(await readBackBoth(original, edit), what).toMatchObject({ kind: "error", code: "TAMPERED" });
  });

  it("a record copied to a row key with a non-ASCII character is TAMPERED at read, with verify off too", async () => {
    const original = await memoryStore();
    const [k1, v1] = [...original.rows][0]!;
    // Same length in characters, one byte longer in UTF-8: read right after the real row, its
    // associated data must still be this row key's, not the end of the previous one.
    const forged = copy(original, (b) => {
      // The real row, then the forged one, last in the map: a scan reads them one after the other.
      b.rows.delete(k1);
      b.rows.set(k1, v1.slice());
      b.rows.set(`${k1.slice(0, -1)}\u00e9`, v1.slice());
    });
    const db = await EncryptedStore.open(forged, { passphrase: PASS, verify: false });
    try {
      const outcomes = await Promise.all(
        Object.keys(CONTENT).map((ns) =>
          db
            .namespace(ns)
            .scan()
            .then(
              () => "ok",
              (e: unknown) => (isStorageError(e) ? e.code : String(e)),
            ),
        ),
      );
      expect(outcomes).toContain("TAMPERED");
    } finally {
      await db.close();
    }
    expect(await readBack(copy(forged, () => undefined))).toEqual({ kind: "error", code: "TAMPERED" });
  });

  it("a record replayed from an older copy of the store is TAMPERED", async () => {
    const backend = await memoryStore();
    const old = copy(backend, () => undefined);
    const db = await EncryptedStore.open(backend, { passphrase: PASS });
    await db.namespace("sessions").put("alice@example.org/1", bytes("newer ratchet state"));
    await db.close();
    const changedKey = [...backend.rows.keys()].find((k) => !equal(backend.rows.get(k)!, old.rows.get(k)));
    expect(changedKey).toBeDefined();
    const replay = (b: MemoryBackend) => b.rows.set(changedKey!, old.rows.get(changedKey!)!);
    await expect(EncryptedStore.open(copy(backend, replay), { passphrase: PASS, verify: "full" })).rejects.toSatisfy(
      (e) => isStorageError(e, "TAMPERED"),
    );
    expect(await readBack(copy(backend, replay))).toEqual({ kind: "error", code: "TAMPERED" });
    // The old state row with the new records does not verify either.
    const oldState = (b: MemoryBackend) => b.metaRows.set("state", old.metaRows.get("state")!);
    await expect(EncryptedStore.open(copy(backend, oldState), { passphrase: PASS, verify: "full" })).rejects.toSatisfy(
      (e) => isStorageError(e, "TAMPERED"),
    );
    expect(await readBack(copy(backend, oldState))).toEqual({ kind: "error", code: "TAMPERED" });
  });
});

function equal(a: Uint8Array, b: Uint8Array | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle));
}

describe("tamper detection (SQLite file)", () => {
  it("every byte of every stored record, header and state in the file, and a random sample of the rest: detected or unchanged", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, "store.db");
      const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: PASS, kdf: FAST_KDF });
      await fill(db);
      await db.close();
      const file = new Uint8Array(readFileSync(path));
      // Locate the stored blobs in the file with SQLite itself.
      const raw = new Database(path, { readonly: true });
      const blobs = [
        ...raw
          .prepare<[], { v: Buffer }>("SELECT v FROM records")
          .all()
          .map((r) => r.v),
        ...raw
          .prepare<[], { v: Buffer }>("SELECT v FROM meta")
          .all()
          .map((r) => r.v),
      ];
      raw.close();
      const inside = new Set<number>();
      for (const blob of blobs) {
        const at = indexOf(file, blob);
        expect(at).toBeGreaterThan(0);
        for (let i = 0; i < blob.length; i++) inside.add(at + i);
      }
      const random = new Set<number>();
      while (random.size < 1000) random.add(Math.floor(Math.random() * file.length));
      const target = join(dir, "tampered.db");
      let detected = 0;
      for (const offset of [...inside, ...random]) {
        const bad = file.slice();
        bad[offset]! ^= 0x01 << (offset % 8);
        writeFileSync(target, bad);
        let outcome: Outcome;
        try {
          outcome = await readBack(await openSqliteBackend(target));
        } catch (error) {
          outcome = isStorageError(error)
            ? { kind: "error", code: error.code }
            : { kind: "foreign error", message: String(error) };
        }
        if (inside.has(offset)) {
          expect(
            outcome.kind === "error" && DETECTED.includes(outcome.code),
            `record byte at ${offset}: ${JSON.stringify(outcome)}`,
          ).toBe(true);
        } else {
          // Slack space in a SQLite page changes nothing; anything else must be a typed error.
          expect(
            outcome.kind === "same" || outcome.kind === "error",
            `file byte ${offset}: ${JSON.stringify(outcome)}`,
          ).toBe(true);
        }
        if (outcome.kind === "error") detected++;
      }
      expect(detected).toBeGreaterThanOrEqual(inside.size);
      copyFileSync(path, target);
      expect(await readBack(await openSqliteBackend(target))).toEqual({ kind: "same" });
    } finally {
      cleanup();
    }
  });
});

describe("a damaged SQLite file that hands back a cell of another type", () => {
  // A flipped type byte in a page makes SQLite return text or a number where the store wrote a blob, or a
  // blob where it wrote a key: CORRUPTED at once, never a TypeError from deeper in the store.
  it.each([
    ["a value that comes back as text", "UPDATE records SET v = 'not a blob'"],
    ["a value that comes back as a number", "UPDATE records SET v = 42"],
  ])("%s: get, scan and the integrity check are CORRUPTED", async (_what, sql) => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, "store.db");
      const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: PASS, kdf: FAST_KDF });
      await fill(db);
      await db.close();
      const raw = new Database(path);
      raw.exec(sql);
      raw.close();
      const reopened = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: PASS, verify: false });
      const code = (e: unknown) => (isStorageError(e) ? e.code : String(e));
      await expect(reopened.namespace("sessions").get("carol/9").catch(code)).resolves.toBe("CORRUPTED");
      await expect(reopened.namespace("sessions").scan().catch(code)).resolves.toBe("CORRUPTED");
      await reopened.close();
      await expect(readBack(await openSqliteBackend(path))).resolves.toEqual({ kind: "error", code: "CORRUPTED" });
    } finally {
      cleanup();
    }
  });
});
