/** The stored format is versioned: v1 stores keep opening, newer headers are refused by name. */
import { readFileSync } from "node:fs";
import { concatBytes, defaultCrypto, hexToBytes } from "@parley/crypto";
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError, MemoryBackend } from "../src/index.js";

interface Vector {
  passphrase: string;
  content: Record<string, Record<string, string>>;
  meta: Record<string, string>;
  rows: Record<string, string>;
}
const vector = JSON.parse(readFileSync(new URL("../vectors/store-v1.json", import.meta.url), "utf8")) as Vector;

function load(): MemoryBackend {
  const backend = new MemoryBackend();
  for (const [k, v] of Object.entries(vector.meta)) backend.metaRows.set(k, hexToBytes(v));
  for (const [k, v] of Object.entries(vector.rows)) backend.rows.set(k, hexToBytes(v));
  return backend;
}

/** The v1 vector with its header JSON edited and the checksum recomputed (what an attacker can do). */
function withHeaderBody(edit: (body: string) => string): MemoryBackend {
  const backend = load();
  const header = backend.metaRows.get("header")!;
  const bodyBytes = new TextEncoder().encode(edit(new TextDecoder().decode(header.subarray(16, header.length - 32))));
  const head = concatBytes(header.subarray(0, 12), new Uint8Array(4), bodyBytes);
  new DataView(head.buffer).setUint32(12, bodyBytes.length);
  backend.metaRows.set("header", concatBytes(head, defaultCrypto().sha256(head)));
  return backend;
}

describe("stored format, header v1", () => {
  it("a v1 store written by the generator opens and reads back its content", async () => {
    const db = await EncryptedStore.open(load(), { passphrase: vector.passphrase });
    for (const [ns, entries] of Object.entries(vector.content)) {
      const scanned = await db.namespace(ns).scan();
      expect(scanned.map((e) => [e.key, new TextDecoder().decode(e.value)])).toEqual(Object.entries(entries));
    }
    await db.close();
  });

  it("a header from a newer version (valid checksum) is UNSUPPORTED_VERSION, not a wrong passphrase", async () => {
    const backend = load();
    const header = backend.metaRows.get("header")!;
    const head = header.slice(0, header.length - 32);
    new DataView(head.buffer).setUint32(8, 2);
    backend.metaRows.set("header", concatBytes(head, defaultCrypto().sha256(head)));
    await expect(EncryptedStore.open(backend, { passphrase: vector.passphrase })).rejects.toSatisfy((e) =>
      isStorageError(e, "UNSUPPORTED_VERSION"),
    );
  });

  it("a header demanding an absurd scrypt cost (N = 2^30) is refused before any work: CORRUPTED", async () => {
    const backend = withHeaderBody((body) => body.replace('"N":1024', `"N":${2 ** 30}`));
    await expect(EncryptedStore.open(backend, { passphrase: vector.passphrase })).rejects.toSatisfy((e) =>
      isStorageError(e, "CORRUPTED"),
    );
  });

  it("a header naming a weaker KDF than it was made with (checksum recomputed) does not open: WRONG_PASSPHRASE", async () => {
    const backend = withHeaderBody((body) => body.replace('"N":1024', '"N":512'));
    await expect(EncryptedStore.open(backend, { passphrase: vector.passphrase })).rejects.toSatisfy((e) =>
      isStorageError(e, "WRONG_PASSPHRASE"),
    );
  });
});
