import fc from "fast-check";
import { hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bytesToHex, concatBytes, createCrypto } from "../src/index.js";
import { hex, loadVectors, providers } from "./helpers.js";

const sha2 = loadVectors<{ algorithm: "sha256" | "sha512"; message: string; digest: string }>("sha2-fips180.json");
const hmac = loadVectors<{ key: string; message: string; mac: string }>("hmac-sha256-rfc4231.json");
const hkdf = loadVectors<{ ikm: string; salt: string; info: string; length: number; okm: string }>(
  "hkdf-sha256-rfc5869.json",
);
const scrypt = loadVectors<{
  password: string;
  salt: string;
  N: number;
  r: number;
  p: number;
  dkLen: number;
  key: string;
}>("scrypt-rfc7914.json");

describe.each(providers)("hashes and KDFs (%s provider)", (_name, c) => {
  it("FIPS 180-4 SHA-256 / SHA-512 (NIST CAVP)", () => {
    for (const v of sha2) expect(bytesToHex(c[v.algorithm](hex(v.message)))).toBe(v.digest);
  });

  it("RFC 4231 HMAC-SHA256 (test 5 is truncated to 128 bits)", () => {
    for (const v of hmac) {
      const mac = bytesToHex(c.hmacSha256(hex(v.key), hex(v.message)));
      expect(mac.slice(0, v.mac.length)).toBe(v.mac);
    }
  });

  it("HMAC over parts equals HMAC over their concatenation", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 6 }),
        (key, parts) => {
          expect(c.hmacSha256(key, parts)).toEqual(c.hmacSha256(key, concatBytes(...parts)));
        },
      ),
      { numRuns: 100 },
    );
    expect(() => c.hmacSha256(new Uint8Array(1), [new Uint8Array(1), "x" as unknown as Uint8Array])).toThrow(
      "data must be a Uint8Array",
    );
  });

  it("RFC 5869 HKDF-SHA256, including the empty salt and info case", () => {
    for (const v of hkdf) expect(bytesToHex(c.hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length))).toBe(v.okm);
  });

  it("HKDF refuses lengths outside 1..8160", () => {
    expect(() => c.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 8161)).toThrow(
      /hkdf length must be an integer from 1 to 8160/,
    );
    expect(() => c.hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 0)).toThrow(/hkdf length/);
  });

  it("RFC 7914 §12 scrypt", async () => {
    for (const v of scrypt) {
      const key = await c.scrypt(hex(v.password), hex(v.salt), { N: v.N, r: v.r, p: v.p, dkLen: v.dkLen });
      expect(bytesToHex(key)).toBe(v.key);
    }
  });

  it("scrypt refuses N that is not a power of two", async () => {
    await expect(c.scrypt(new Uint8Array(1), new Uint8Array(1), { N: 1000, r: 8, p: 1, dkLen: 32 })).rejects.toThrow(
      /power of two/,
    );
  });

  it("scrypt enforces RFC 7914 §2 (N < 2^(16r)) and a 1 GiB memory cap with INVALID_ARGUMENT, on both providers", async () => {
    const pw = new Uint8Array(4);
    for (const params of [
      { N: 2 ** 16, r: 1, p: 1, dkLen: 16 }, // OpenSSL refuses, noble would compute: the facade refuses first
      { N: 2 ** 17, r: 1, p: 1, dkLen: 16 },
      { N: 2 ** 21, r: 8, p: 1, dkLen: 32 }, // 2 GiB
      { N: 16, r: 2 ** 16, p: 2 ** 15, dkLen: 32 },
      { N: 16, r: 1, p: 1, dkLen: 2 ** 40 },
      { N: 16, r: 1, p: 1.5, dkLen: 32 },
    ]) {
      await expect(c.scrypt(pw, pw, params)).rejects.toMatchObject({ name: "CryptoError", code: "INVALID_ARGUMENT" });
    }
    // The largest N that r = 1 allows works.
    expect((await c.scrypt(pw, pw, { N: 2 ** 15, r: 1, p: 1, dkLen: 16 })).length).toBe(16);
  });
});

describe("HKDF-SHA512 (RFC 5869 with SHA-512) against node:crypto's hkdfSync", () => {
  it.each(providers)("agrees on random inputs, empty salt and info included, %s provider", (_name, c) => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 96 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 400 }),
        (ikm, salt, info, length) => {
          const ours = c.hkdfSha512(ikm, salt, info, length);
          const node = new Uint8Array(hkdfSync("sha512", ikm, salt, info, length));
          expect(Buffer.from(ours).toString("hex")).toBe(Buffer.from(node).toString("hex"));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses lengths outside 1 … 255 · 64 and non-byte inputs", () => {
    const c = createCrypto({ provider: "noble" });
    for (const length of [0, 255 * 64 + 1, 1.5, -1]) {
      expect(() => c.hkdfSha512(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), length)).toThrow(
        /hkdf length/,
      );
    }
    expect(c.hkdfSha512(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 255 * 64)).toHaveLength(255 * 64);
    expect(() => c.hkdfSha512("x" as unknown as Uint8Array, new Uint8Array(0), new Uint8Array(0), 32)).toThrow();
  });
});
