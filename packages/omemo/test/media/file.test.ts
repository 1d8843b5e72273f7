// XEP-0454 v0.1.0 §3 (the file is AES-256-GCM with the tag appended, encrypted on the fly) and §6
// (the encrypted size), through the streaming encryptFile/decryptFile.
import { readFileSync } from "node:fs";
import { bytesToHex, concatBytes, createAesGcmEncryptor, createCrypto, hexToBytes } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isOmemoError, media, type OmemoErrorCode } from "../../src/index.js";

const { decryptFile, encryptFile, encryptedSize, parseAesgcmUrl, aesgcmUrl } = media;
const node = createCrypto({ provider: "native" });
const providers = ["native", "noble"] as const;

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatBytes(...parts);
}

/** Cuts `data` at the given offsets (reduced modulo its length + 1). */
function chunk(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(data.subarray(start, p));
    start = p;
  }
  out.push(data.subarray(start));
  return out;
}

async function* asyncChunks(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) {
    await Promise.resolve();
    yield c;
  }
}

async function decryptAll(
  file: Uint8Array,
  key: Uint8Array,
  iv: Uint8Array,
  cuts: number[] = [],
  provider: "native" | "noble" = "native",
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const { size } = await decryptFile(asyncChunks(chunk(file, cuts)), key, iv, (p) => void parts.push(p.slice()), {
    provider,
  });
  const plaintext = concatBytes(...parts);
  expect(size).toBe(plaintext.length);
  return plaintext;
}

async function failure(promise: Promise<unknown>): Promise<OmemoErrorCode | "no error"> {
  try {
    await promise;
  } catch (error) {
    if (isOmemoError(error)) return error.code;
    throw error;
  }
  return "no error";
}

/** Sizes around the AES block, the 16-byte tag and the 64 KiB slice. */
const sizeArb = fc.oneof(
  fc.nat({ max: 200 }),
  fc.integer({ min: 16 * 1024 - 40, max: 16 * 1024 + 40 }),
  fc.integer({ min: 64 * 1024 - 40, max: 64 * 1024 + 40 }),
  fc.constant(0),
);
const cutsArb = fc.array(fc.nat(), { maxLength: 6 });

describe.each(providers)("XEP-0454 §3 files, %s AES-GCM", (provider) => {
  it("§3: round trip for any size (0 B, around 16 B, 16 KiB and 64 KiB) and any chunking on both sides", async () => {
    await fc.assert(
      fc.asyncProperty(sizeArb, cutsArb, cutsArb, fc.boolean(), async (size, inCuts, outCuts, whole) => {
        const plaintext = node.randomBytes(size);
        const source = whole ? plaintext : asyncChunks(chunk(plaintext, inCuts));
        const enc = encryptFile(source, { provider });
        const file = await collect(enc.ciphertext);
        expect(file.length).toBe(encryptedSize(size));
        // The same bytes as a one-shot AES-256-GCM under the returned key and IV, tag at the end.
        expect(bytesToHex(file)).toBe(bytesToHex(node.aesGcmEncrypt(enc.key, enc.iv, plaintext)));
        expect(bytesToHex(await decryptAll(file, enc.key, enc.iv, outCuts, provider))).toBe(bytesToHex(plaintext));
      }),
      { numRuns: 60 },
    );
  });

  it("§3: key 32 bytes and IV 12 bytes from the injected random source; the fragment is IV hex then key hex", async () => {
    const a = encryptFile(new Uint8Array(5), { provider, random: deterministicRandom("media") });
    const b = encryptFile(new Uint8Array(5), { provider, random: deterministicRandom("media") });
    expect(a.key).toHaveLength(32);
    expect(a.iv).toHaveLength(12);
    expect(bytesToHex(b.key)).toBe(bytesToHex(a.key));
    expect(a.fragment).toBe(bytesToHex(a.iv) + bytesToHex(a.key));
    expect(bytesToHex(await collect(b.ciphertext))).toBe(bytesToHex(await collect(a.ciphertext)));
    const fresh = encryptFile(new Uint8Array(5), { provider });
    expect(bytesToHex(fresh.key)).not.toBe(bytesToHex(encryptFile(new Uint8Array(5), { provider }).key));
  });

  it("§3: a file shared as an aesgcm URL decrypts with the key and IV parsed from it", async () => {
    const plaintext = node.randomBytes(1000);
    const enc = encryptFile(plaintext, { provider });
    const file = await collect(enc.ciphertext);
    const { key, iv } = parseAesgcmUrl(aesgcmUrl("https://upload.example/f/x.jpg", enc.key, enc.iv));
    expect(bytesToHex(await decryptAll(file, key, iv, [7], provider))).toBe(bytesToHex(plaintext));
  });

  it("§3 tag: any flipped bit of ciphertext or tag is DECRYPTION_FAILED", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 300 }), fc.nat(), cutsArb, async (size, bit, cuts) => {
        const enc = encryptFile(node.randomBytes(size), { provider });
        const file = (await collect(enc.ciphertext)).slice();
        const i = bit % (file.length * 8);
        file[i >> 3]! ^= 1 << (i & 7);
        expect(await failure(decryptAll(file, enc.key, enc.iv, cuts, provider))).toBe("DECRYPTION_FAILED");
      }),
      { numRuns: 100 },
    );
  });

  it("§3 tag: a truncated file, a file shorter than the tag, a wrong key or IV is DECRYPTION_FAILED", async () => {
    const enc = encryptFile(node.randomBytes(100), { provider });
    const file = await collect(enc.ciphertext);
    for (const cut of [1, 15, 16, 17, 100, 115]) {
      expect(await failure(decryptAll(file.subarray(0, file.length - cut), enc.key, enc.iv, [3], provider))).toBe(
        "DECRYPTION_FAILED",
      );
    }
    expect(await failure(decryptAll(new Uint8Array(0), enc.key, enc.iv, [], provider))).toBe("DECRYPTION_FAILED");
    const wrongKey = enc.key.slice();
    wrongKey[31]! ^= 1;
    expect(await failure(decryptAll(file, wrongKey, enc.iv, [], provider))).toBe("DECRYPTION_FAILED");
    const wrongIv = enc.iv.slice();
    wrongIv[0]! ^= 0x80;
    expect(await failure(decryptAll(file, enc.key, wrongIv, [], provider))).toBe("DECRYPTION_FAILED");
    // Appended bytes move the tag: also refused.
    expect(await failure(decryptAll(concatBytes(file, new Uint8Array(1)), enc.key, enc.iv, [], provider))).toBe(
      "DECRYPTION_FAILED",
    );
  });

  it("§3: 16-byte IVs of older clients decrypt", async () => {
    const key = node.randomBytes(32);
    const iv = node.randomBytes(16);
    const plaintext = node.randomBytes(3000);
    const file = node.aesGcmEncrypt(key, iv, plaintext);
    expect(bytesToHex(await decryptAll(file, key, iv, [1, 2999], provider))).toBe(bytesToHex(plaintext));
  });
});

describe("XEP-0454 §3 known answers (test/media/vectors/make-kat.mjs, node:crypto one-shot)", () => {
  interface Kat {
    key: string;
    iv: string;
    plaintextLength: number;
    file: string;
  }
  const kat = JSON.parse(readFileSync(new URL("./vectors/aesgcm-kat.json", import.meta.url), "utf8")) as {
    vectors: Kat[];
  };
  const pattern = (length: number) => Uint8Array.from({ length }, (_, i) => (31 * i + 7) & 0xff);

  it.each(providers)(
    "every vector decrypts to its plaintext and streams back to the same file (%s)",
    async (provider) => {
      expect(kat.vectors.length).toBeGreaterThanOrEqual(7);
      for (const v of kat.vectors) {
        const plaintext = pattern(v.plaintextLength);
        const key = hexToBytes(v.key);
        const iv = hexToBytes(v.iv);
        expect(bytesToHex(await decryptAll(hexToBytes(v.file), key, iv, [5, 40], provider))).toBe(
          bytesToHex(plaintext),
        );
        const e = createAesGcmEncryptor(key, iv, { provider });
        expect(bytesToHex(concatBytes(e.update(plaintext), e.final()))).toBe(v.file);
      }
    },
  );
});

describe("streaming: bounded memory", () => {
  const MiB = 1024 * 1024;

  it("encryptFile reads the source only as the ciphertext is consumed (8 MiB, bytes in flight counted)", async () => {
    let pulled = 0;
    let emitted = 0;
    let maxInFlight = 0;
    const piece = new Uint8Array(100_000).fill(7);
    async function* source(): AsyncGenerator<Uint8Array> {
      while (pulled < 8 * MiB) {
        maxInFlight = Math.max(maxInFlight, pulled - emitted);
        pulled += piece.length;
        await Promise.resolve();
        yield piece;
      }
    }
    const enc = encryptFile(source());
    for await (const part of enc.ciphertext) emitted += part.length;
    expect(emitted).toBe(pulled + 16);
    // GCM output has the input's length, so before each pull everything read so far has gone out.
    expect(maxInFlight).toBe(0);
  });

  it("decryptFile holds at most one slice plus the 16 tag bytes (8 MiB through a counting sink)", async () => {
    const key = node.randomBytes(32);
    const iv = node.randomBytes(12);
    const total = 8 * MiB + 123;
    const encryptor = createAesGcmEncryptor(key, iv);
    const piece = new Uint8Array(100_003).fill(9);
    let pulled = 0;
    let delivered = 0;
    let maxHeld = 0;
    async function* download(): AsyncGenerator<Uint8Array> {
      let produced = 0;
      while (produced < total) {
        const n = Math.min(piece.length, total - produced);
        produced += n;
        const c = encryptor.update(piece.subarray(0, n));
        maxHeld = Math.max(maxHeld, pulled - delivered);
        pulled += c.length;
        await Promise.resolve();
        yield c;
      }
      const tag = encryptor.final();
      maxHeld = Math.max(maxHeld, pulled - delivered);
      pulled += tag.length;
      yield tag;
    }
    const { size } = await decryptFile(download(), key, iv, (p) => {
      delivered += p.length;
    });
    expect(size).toBe(total);
    expect(delivered).toBe(total);
    // Before each pull, the decryptor holds what it has read but not yet released: at most the
    // previous chunk's last 16 bytes (an implementation that waited for the tag would hold 8 MiB).
    expect(maxHeld).toBeLessThanOrEqual(16);
  });
});

describe("API guards", () => {
  it("the ciphertext stream can be iterated only once", async () => {
    const enc = encryptFile(new Uint8Array(3));
    await collect(enc.ciphertext);
    await expect(collect(enc.ciphertext)).rejects.toSatisfy((e) => isOmemoError(e, "INVALID_ARGUMENT"));
  });

  it("bad key or IV lengths are INVALID_ARGUMENT; source and sink failures are IO_FAILED", async () => {
    const sink = () => undefined;
    expect(await failure(decryptFile(new Uint8Array(32), new Uint8Array(31), new Uint8Array(12), sink))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await failure(decryptFile(new Uint8Array(32), new Uint8Array(32), new Uint8Array(8), sink))).toBe(
      "INVALID_ARGUMENT",
    );
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield await Promise.resolve(new Uint8Array(40));
      throw new Error("network down");
    }
    expect(await failure(decryptFile(broken(), new Uint8Array(32), new Uint8Array(12), sink))).toBe("IO_FAILED");
    expect(await failure(collect(encryptFile(broken()).ciphertext))).toBe("IO_FAILED");
    const enc = encryptFile(new Uint8Array(100));
    const file = await collect(enc.ciphertext);
    const failingSink = () => {
      throw new Error("disk full");
    };
    expect(await failure(decryptFile(file, enc.key, enc.iv, failingSink))).toBe("IO_FAILED");
  });

  it("§6: encryptedSize is the plaintext size plus the 16-byte tag", () => {
    expect(encryptedSize(0)).toBe(16);
    expect(encryptedSize(1_000_000)).toBe(1_000_016);
    expect(() => encryptedSize(-1)).toThrow();
  });
});
