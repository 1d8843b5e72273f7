import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  EncryptedStore,
  exportArchive,
  importArchive,
  isStorageError,
  MEDIA_CHUNK_BYTES,
  MemoryBackend,
} from "../src/index.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { collect } from "../src/stream.js";
import { BACKENDS, bytes, FAST_KDF, POSTGRES_URL, tempDir, text } from "./helpers.js";

/**
 * Tests of the local backends (memory, SQLite): they run in the unit suite. The PostgreSQL suite runs
 * this file for its backend-generic tests and does not register these (not applicable there), so its
 * report counts no skipped test.
 */
function describeLocal(name: string, body: () => void): void {
  if (POSTGRES_URL === undefined) describe(name, body);
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function* inPieces(data: Uint8Array, piece: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += piece) yield await Promise.resolve(data.subarray(i, i + piece));
}

for (const kind of BACKENDS) {
  describe(`encrypted media (${kind.name})`, () => {
    it("round-trips items of every size around the chunk boundary, streamed in odd pieces", async () => {
      const loc = kind.fresh();
      cleanups.push(loc.cleanup);
      const db = await EncryptedStore.create(await loc.open(), { passphrase: "p", kdf: FAST_KDF });
      const sizes = [0, 1, MEDIA_CHUNK_BYTES - 1, MEDIA_CHUNK_BYTES, MEDIA_CHUNK_BYTES + 1, 3 * MEDIA_CHUNK_BYTES + 17];
      const items = [];
      for (const [i, size] of sizes.entries()) {
        const data = pattern(size, i);
        const info = await db.media.put(inPieces(data, 10_007), {
          name: `f${i}.bin`,
          type: "application/octet-stream",
        });
        expect(info.size).toBe(size);
        items.push({ info, data });
      }
      await db.close();
      const again = await EncryptedStore.open(await loc.open(), { passphrase: "p" });
      for (const { info, data } of items) {
        expect(await again.media.readAll(info.id)).toEqual(data);
        expect(await again.media.info(info.id)).toEqual(info);
      }
      expect((await again.media.list()).map((m) => m.id).sort()).toEqual(items.map((i) => i.info.id).sort());
      await again.media.delete(items[0]!.info.id);
      await expect(again.media.info(items[0]!.info.id)).rejects.toSatisfy((e) => isStorageError(e, "NOT_FOUND"));
      await again.close();
    });

    it("deleteAllMedia removes every item, its key and its bytes; records stay", async () => {
      const loc = kind.fresh();
      cleanups.push(loc.cleanup);
      const backend = await loc.open();
      const db = await EncryptedStore.create(backend, { passphrase: "p", kdf: FAST_KDF });
      await db.namespace("n").put("k", bytes("kept"));
      for (let i = 0; i < 3; i++) await db.media.put(pattern(1000 + i, i));
      // Bytes without a record (a crash between writing them and committing the record) are orphans.
      await backend.media.write(
        "0".repeat(32),
        (async function* () {
          yield await Promise.resolve(new Uint8Array(10));
        })(),
      );
      expect(await db.media.removeOrphans()).toBe(1);
      expect(await backend.media.list()).toHaveLength(3);
      await db.deleteAllMedia();
      expect(await db.media.list()).toEqual([]);
      expect(await backend.media.list()).toEqual([]);
      expect(text(await db.namespace("n").get("k"))).toBe("kept");
      await db.close();
    });
  });
}

// SQLite or memory only: skipped in the PostgreSQL suite, which runs the generic tests above on PostgreSQL.
describeLocal("media tamper and wipe (SQLite files)", () => {
  it("a flipped, truncated, extended or swapped media file is TAMPERED", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = join(dir, "s.db");
    const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "p", kdf: FAST_KDF });
    const a = await db.media.put(pattern(2 * MEDIA_CHUNK_BYTES + 5, 1));
    const b = await db.media.put(pattern(2 * MEDIA_CHUNK_BYTES + 5, 2));
    const fileA = join(`${path}.media`, a.id);
    const fileB = join(`${path}.media`, b.id);
    const good = readFileSync(fileA);
    const sealedChunk = MEDIA_CHUNK_BYTES + 16;
    const edits: Array<[string, () => void]> = [
      [
        "flip a byte",
        () => {
          writeFileSync(fileA, Buffer.from(good).fill(good[100]! ^ 1, 100, 101));
        },
      ],
      [
        "truncate at a chunk boundary",
        () => {
          writeFileSync(fileA, good.subarray(0, sealedChunk));
        },
      ],
      [
        "drop the last byte",
        () => {
          writeFileSync(fileA, good.subarray(0, good.length - 1));
        },
      ],
      [
        "append bytes",
        () => {
          writeFileSync(fileA, Buffer.concat([good, Buffer.alloc(20)]));
        },
      ],
      [
        "swap two chunks",
        () => {
          writeFileSync(
            fileA,
            Buffer.concat([
              good.subarray(sealedChunk, 2 * sealedChunk),
              good.subarray(0, sealedChunk),
              good.subarray(2 * sealedChunk),
            ]),
          );
        },
      ],
      [
        "another item's file",
        () => {
          writeFileSync(fileA, readFileSync(fileB));
        },
      ],
    ];
    for (const [what, edit] of edits) {
      edit();
      await expect(db.media.readAll(a.id), what).rejects.toSatisfy((e) => isStorageError(e, "TAMPERED"));
    }
    writeFileSync(fileA, good);
    expect(await db.media.readAll(a.id)).toEqual(pattern(2 * MEDIA_CHUNK_BYTES + 5, 1));
    await db.close();
  });

  it("deleteAllMedia leaves no media file and no key bytes in the SQLite file or its WAL", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const path = join(dir, "s.db");
    const backend = await openSqliteBackend(path);
    const db = await EncryptedStore.create(backend, { passphrase: "p", kdf: FAST_KDF });
    const marker = pattern(5000, 9);
    await db.media.put(marker);
    // The sealed key record as stored: it must be gone from every file after the wipe.
    const before = await backend.scanPrefix("");
    await db.deleteAllMedia();
    expect(readdirSync(`${path}.media`)).toEqual([]);
    const files = readdirSync(dir).filter((f) => f.startsWith("s.db") && !f.endsWith(".media"));
    const after = new Set((await backend.scanPrefix("")).map((r) => r.key));
    const removed = before.filter((r) => !after.has(r.key));
    expect(removed.length).toBe(1);
    for (const f of files) {
      const content = readFileSync(join(dir, f));
      for (const r of removed) expect(content.indexOf(Buffer.from(r.value.subarray(1, 40)))).toBe(-1);
    }
    await db.close();
  });
});

describeLocal("archive export and import", () => {
  it("moves every record and media item into another store, under its own passphrase", async () => {
    const source = await EncryptedStore.create(new MemoryBackend(), { passphrase: "src", kdf: FAST_KDF });
    for (let i = 0; i < 1200; i++)
      await source.namespace(i % 2 ? "sessions" : "trust").put(`c${i % 13}/${i}`, bytes(`v${i}`));
    const big = pattern(3 * MEDIA_CHUNK_BYTES + 3, 4);
    await source.media.put(big, { name: "photo.jpg", type: "image/jpeg" });
    await source.media.put(new Uint8Array(0), { name: "empty" });
    const archive = await collect(exportArchive(source, "archive pass", { kdf: FAST_KDF }));
    const target = await EncryptedStore.create(new MemoryBackend(), { passphrase: "dst", kdf: FAST_KDF });
    expect(await importArchive(target, archive, "archive pass")).toEqual({ records: 1200, media: 2 });
    for (const ns of ["trust", "sessions"])
      expect(await target.namespace(ns).scan()).toEqual(await source.namespace(ns).scan());
    const media = await target.media.list();
    const photo = media.find((m) => m.name === "photo.jpg")!;
    expect(photo.type).toBe("image/jpeg");
    expect(await target.media.readAll(photo.id)).toEqual(big);
    await source.close();
    await target.close();
  });

  it("a wrong archive passphrase or any altered byte is TAMPERED", async () => {
    const source = await EncryptedStore.create(new MemoryBackend(), { passphrase: "src", kdf: FAST_KDF });
    await source.namespace("n").put("k", bytes("v"));
    const archive = await collect(exportArchive(source, "right", { kdf: FAST_KDF }));
    const fresh = () => EncryptedStore.create(new MemoryBackend(), { passphrase: "dst", kdf: FAST_KDF });
    await expect(importArchive(await fresh(), archive, "wrong")).rejects.toSatisfy((e) =>
      isStorageError(e, "TAMPERED"),
    );
    for (let i = 16; i < archive.length; i++) {
      const bad = archive.slice();
      bad[i]! ^= 0x10;
      const target = await fresh();
      await expect(importArchive(target, bad, "right"), `byte ${i}`).rejects.toSatisfy((e) =>
        isStorageError(e, "TAMPERED"),
      );
      expect(await target.namespace("n").scan()).toEqual([]);
    }
    await expect(importArchive(await fresh(), archive.subarray(0, archive.length - 1), "right")).rejects.toSatisfy(
      (e) => isStorageError(e, "TAMPERED"),
    );
    await source.close();
  });
});
