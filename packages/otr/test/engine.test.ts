import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToBigint, bytesToHex, hexToBytes, mpi } from "../src/bytes.js";
import { createBigintEngine, createEngine, createNativeEngine, modInverse } from "../src/engine.js";
import { MODP_P } from "../src/group.js";
import { deriveDataKeys } from "../src/session.js";
import vectors from "./vectors/libotr-sesskeys.json" with { type: "json" };

const native = createNativeEngine()!;
const bigint = createBigintEngine();
const big = (bits: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });

describe("engines", () => {
  it("auto picks native in Node; bigint is available everywhere", () => {
    expect(native).toBeDefined();
    expect(createEngine().name).toBe("native");
    expect(createEngine("bigint").name).toBe("bigint");
  });

  it("modPow: native and BigInt agree for every base and exponent, including 0, 1, p-1 and results 1 and p-1", () => {
    fc.assert(
      fc.property(big(1536), big(400), (b, e) => {
        const base = b % MODP_P;
        expect(native.modPow(base, e, MODP_P)).toBe(bigint.modPow(base, e, MODP_P));
      }),
      { numRuns: 40 },
    );
    const q = (MODP_P - 1n) / 2n;
    let nonResidue = 2n;
    while (bigint.modPow(nonResidue, q, MODP_P) !== MODP_P - 1n) nonResidue++;
    for (const [b, e] of [
      [0n, 5n],
      [1n, 99n],
      [MODP_P - 1n, 3n],
      [MODP_P - 1n, 2n],
      [2n, 0n],
      [2n, 1n],
      [2n, q], // = 1 (2 is a quadratic residue): OpenSSL refuses that result, the engine must still answer
      [nonResidue, q], // = p-1
    ] as const) {
      expect(native.modPow(b, e, MODP_P)).toBe(bigint.modPow(b, e, MODP_P));
    }
    expect(bigint.modPow(2n, q, MODP_P)).toBe(1n);
  });

  it("modPow agrees with a naive square-and-multiply", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 2n, max: 1n << 64n }),
        fc.bigInt({ min: 0n, max: 1n << 64n }),
        fc.bigInt({ min: 3n, max: 1n << 70n }),
        (b, e, m0) => {
          const m = m0 | 1n;
          let r = 1n;
          let x = b % m;
          for (let k = e; k > 0n; k >>= 1n) {
            if (k & 1n) r = (r * x) % m;
            x = (x * x) % m;
          }
          expect(bigint.modPow(b % m, e, m)).toBe(r);
        },
      ),
    );
  });

  it("hashes, HMACs and AES-128-CTR are byte-identical across engines", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (d, k, iv) => {
          expect(native.sha1(d)).toEqual(bigint.sha1(d));
          expect(native.sha256(d)).toEqual(bigint.sha256(d));
          expect(native.hmacSha1(k, d)).toEqual(bigint.hmacSha1(k, d));
          expect(native.hmacSha256(k, d)).toEqual(bigint.hmacSha256(k, d));
          expect(native.aesCtr(k, iv, d)).toEqual(bigint.aesCtr(k, iv, d));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("known answers: SHA-1('abc') and AES-128-CTR (NIST SP 800-38A F.5.1), on both engines", () => {
    for (const e of [native, bigint]) {
      expect(bytesToHex(e.sha1(new TextEncoder().encode("abc")))).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
      const out = e.aesCtr(
        hexToBytes("2b7e151628aed2a6abf7158809cf4f3c"),
        hexToBytes("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
        hexToBytes("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"),
      );
      expect(bytesToHex(out)).toBe("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff");
    }
  });

  it("modInverse inverts", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MODP_P - 1n }), (a) => {
        expect((a * modInverse(a, MODP_P)) % MODP_P).toBe(1n);
      }),
      { numRuns: 50 },
    );
  });
});

describe("data-message keys against libotr (otr_sesskeys, otr_mackey)", () => {
  it.each(vectors.sesskeys.map((v, i) => [i, v] as const))("vector %i", (_i, v) => {
    for (const engine of [native, bigint]) {
      const priv = bytesToBigint(hexToBytes(v.ourPrivate));
      const ourPub = engine.modPow(2n, priv, MODP_P);
      expect(ourPub.toString(16)).toBe(v.ourPublic);
      const theirPub = bytesToBigint(hexToBytes(v.theirPublic));
      const k = deriveDataKeys(engine, priv, ourPub, theirPub);
      expect(k.high).toBe(v.high);
      expect(bytesToHex(k.sendAes)).toBe(v.sendAes);
      expect(bytesToHex(k.sendMac)).toBe(v.sendMac);
      expect(bytesToHex(k.recvAes)).toBe(v.recvAes);
      expect(bytesToHex(k.recvMac)).toBe(v.recvMac);
      // libotr's "Session id" here is SHA-1(0x00 || secbytes).
      const s = engine.modPow(theirPub, priv, MODP_P);
      expect(bytesToHex(engine.sha1(Uint8Array.of(0, ...mpi(s))))).toBe(v.sessionId);
    }
  });

  it("MAC key = SHA-1(AES key)", () => {
    expect(bytesToHex(native.sha1(hexToBytes(vectors.mackey.aes)))).toBe(vectors.mackey.mac);
  });
});
