/**
 * scrypt costs come from files (a store header, an archive header) and from callers. None of them
 * may make us run scrypt with parameters beyond the limits in src/consts.ts: the check comes before
 * any derivation, and the Crypto below records every scrypt call to prove none was made.
 */
import { concatBytes, defaultCrypto, type Crypto, type ScryptParams } from "@parley/crypto";
import { describe, expect, it } from "vitest";
import { EncryptedStore, exportArchive, importArchive, isStorageError, MemoryBackend } from "../src/index.js";
import { collect } from "../src/stream.js";
import { bytes, FAST_KDF } from "./helpers.js";

const PASS = "costs test";

/** A Crypto that records scrypt calls and refuses to run them (an absurd cost must never get this far). */
function recordingCrypto(): { crypto: Crypto; calls: ScryptParams[] } {
  const calls: ScryptParams[] = [];
  const crypto: Crypto = {
    ...defaultCrypto(),
    scrypt(_password, _salt, params) {
      calls.push(params);
      return Promise.reject(new Error("scrypt was called"));
    },
  };
  return { crypto, calls };
}

/** Each case is within the old per-factor limits (N <= 2^22, r <= 32, p <= 16) and beyond one product limit. */
const ABSURD: Array<[string, { N: number; r: number; p: number }]> = [
  ["too much memory (N=2^21, r=8: 2 GiB)", { N: 2 ** 21, r: 8, p: 1 }],
  ["too much work (N=2^19, r=8, p=16: 32 times the default)", { N: 2 ** 19, r: 8, p: 16 }],
  ["N beyond RFC 7914 for its r (N=2^17, r=1)", { N: 2 ** 17, r: 1, p: 1 }],
];

async function storeWithHeaderCost(cost: { N: number; r: number; p: number }): Promise<MemoryBackend> {
  const backend = new MemoryBackend();
  const db = await EncryptedStore.create(backend, { passphrase: PASS, kdf: FAST_KDF });
  await db.close();
  const header = backend.metaRows.get("header")!;
  const body = JSON.parse(new TextDecoder().decode(header.subarray(16, header.length - 32))) as {
    kdf: Record<string, unknown>;
  };
  Object.assign(body.kdf, cost);
  const json = bytes(JSON.stringify(body));
  const head = concatBytes(header.subarray(0, 12), new Uint8Array(4), json);
  new DataView(head.buffer).setUint32(12, json.length);
  backend.metaRows.set("header", concatBytes(head, defaultCrypto().sha256(head)));
  return backend;
}

async function code(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    return isStorageError(error) ? error.code : `foreign error: ${String(error)}`;
  }
}

describe("scrypt costs from a store header", () => {
  it("the recording Crypto sees the scrypt of an ordinary open (the harness can tell)", async () => {
    const backend = await storeWithHeaderCost({ N: FAST_KDF.N, r: FAST_KDF.r, p: FAST_KDF.p });
    const { crypto, calls } = recordingCrypto();
    expect(await code(() => EncryptedStore.open(backend, { passphrase: PASS, crypto }))).toMatch(/^foreign error/);
    expect(calls).toHaveLength(1);
  });

  for (const [what, cost] of ABSURD) {
    it(`a header asking for ${what} is CORRUPTED before scrypt runs`, async () => {
      const backend = await storeWithHeaderCost(cost);
      const { crypto, calls } = recordingCrypto();
      expect(await code(() => EncryptedStore.open(backend, { passphrase: PASS, crypto }))).toBe("CORRUPTED");
      expect(calls).toEqual([]);
    });
  }
});

describe("scrypt costs from an archive header", () => {
  async function archiveWithCost(cost: { N: number; r: number; p: number }): Promise<Uint8Array> {
    const source = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF });
    await source.namespace("n").put("k", bytes("v"));
    const archive = await collect(exportArchive(source, "archive pass", { kdf: FAST_KDF }));
    await source.close();
    const length = new DataView(archive.buffer, archive.byteOffset).getUint32(12);
    const header = JSON.parse(new TextDecoder().decode(archive.subarray(16, 16 + length))) as {
      kdf: Record<string, unknown>;
    };
    Object.assign(header.kdf, cost);
    const json = bytes(JSON.stringify(header));
    const head = concatBytes(archive.subarray(0, 12), new Uint8Array(4), json);
    new DataView(head.buffer).setUint32(12, json.length);
    return concatBytes(head, archive.subarray(16 + length));
  }

  for (const [what, cost] of ABSURD) {
    it(`an archive asking for ${what} is TAMPERED before scrypt runs`, async () => {
      const archive = await archiveWithCost(cost);
      const target = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF });
      const { crypto, calls } = recordingCrypto();
      expect(await code(() => importArchive(target, archive, "archive pass", { crypto }))).toBe("TAMPERED");
      expect(calls).toEqual([]);
      await target.close();
    });
  }
});

describe("scrypt costs from callers", () => {
  for (const [what, cost] of ABSURD) {
    it(`create, changePassphrase and exportArchive with ${what} are INVALID_ARGUMENT before scrypt runs`, async () => {
      const kdf = { ...cost, dkLen: 32 };
      const { crypto, calls } = recordingCrypto();
      expect(await code(() => EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf, crypto }))).toBe(
        "INVALID_ARGUMENT",
      );
      const db = await EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf: FAST_KDF });
      expect(await code(() => db.changePassphrase(PASS, "next", { kdf }))).toBe("INVALID_ARGUMENT");
      expect(await code(() => collect(exportArchive(db, "archive pass", { kdf, crypto })))).toBe("INVALID_ARGUMENT");
      expect(calls).toEqual([]);
      await db.close();
    });
  }

  it("the default cost, 512 MiB of memory and the work limit itself are allowed", async () => {
    const { crypto, calls } = recordingCrypto();
    for (const kdf of [
      { N: 2 ** 17, r: 8, p: 2, dkLen: 32 },
      { N: 2 ** 19, r: 8, p: 1, dkLen: 32 },
      { N: 2 ** 18, r: 8, p: 16, dkLen: 32 },
    ]) {
      // Refused by the recording Crypto, not by the bounds: the call was made.
      expect(await code(() => EncryptedStore.create(new MemoryBackend(), { passphrase: PASS, kdf, crypto }))).toMatch(
        /^foreign error/,
      );
    }
    expect(calls).toHaveLength(3);
  });
});
