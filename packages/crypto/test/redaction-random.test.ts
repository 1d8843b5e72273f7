import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, constantTimeEqual, createCrypto, CryptoError, isCryptoError } from "../src/index.js";
import { deterministicRandom } from "../src/testing.js";

describe("secrets never print", () => {
  it("KeyPair hides its private key from inspect, toString, template strings and JSON", () => {
    const c = createCrypto();
    for (const kp of [c.generateX25519KeyPair(), c.generateEd25519KeyPair()]) {
      const secret = bytesToHex(kp.privateKey);
      const renderings = [
        inspect(kp),
        inspect({ nested: kp }, { depth: 5 }),
        String(kp),
        kp.toString(),
        JSON.stringify(kp),
        JSON.stringify({ kp }),
      ];
      for (const r of renderings) {
        expect(r).not.toContain(secret);
        expect(r).toContain(bytesToHex(kp.publicKey));
      }
      expect(JSON.parse(JSON.stringify(kp))).toMatchObject({ privateKey: "[redacted]" });
    }
  });

  it("errors name the argument and length, never the bytes", () => {
    const c = createCrypto();
    const secret = new Uint8Array(31).fill(0xab);
    try {
      c.x25519(secret, new Uint8Array(32));
      expect.unreachable();
    } catch (e) {
      expect(isCryptoError(e, "INVALID_ARGUMENT")).toBe(true);
      expect(inspect(e)).not.toContain("abab");
      expect(String(e)).not.toContain("171");
    }
  });
});

describe("injectable randomness", () => {
  it("the same seed gives the same keys and nonces; another seed differs", () => {
    const a = createCrypto({ random: deterministicRandom("seed") });
    const b = createCrypto({ random: deterministicRandom("seed") });
    const d = createCrypto({ random: deterministicRandom("other") });
    const ka = a.generateX25519KeyPair();
    expect(ka.publicKey).toEqual(b.generateX25519KeyPair().publicKey);
    expect(ka.publicKey).not.toEqual(d.generateX25519KeyPair().publicKey);
    const msg = new Uint8Array([1]);
    expect(a.xeddsaSign(ka.privateKey, msg)).toEqual(b.xeddsaSign(ka.privateKey, msg));
  });

  it("deterministicRandom is a stream: chunking does not change the bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 8 }), (sizes) => {
        const one = deterministicRandom("x");
        const two = deterministicRandom("x");
        const total = sizes.reduce((n, s) => n + s, 0);
        const whole = one(total);
        let offset = 0;
        for (const s of sizes) {
          expect(two(s)).toEqual(whole.subarray(offset, offset + s));
          offset += s;
        }
      }),
      { numRuns: 50 },
    );
  });

  it("a broken random source fails loudly with RANDOM_FAILED", () => {
    const short = createCrypto({ random: (n) => new Uint8Array(Math.max(0, n - 1)) });
    expect(() => short.generateX25519KeyPair()).toThrow(CryptoError);
    // randomBytes hands the bytes straight to the caller (IVs, nonces): a short answer must not pass.
    for (const wrong of [short, createCrypto({ random: (n) => new Uint8Array(n + 1) })]) {
      try {
        wrong.randomBytes(16);
        expect.unreachable();
      } catch (e) {
        expect(isCryptoError(e, "RANDOM_FAILED")).toBe(true);
      }
    }
    const throwing = createCrypto({
      random: () => {
        throw new Error("entropy pool exploded");
      },
    });
    try {
      throwing.randomBytes(8);
      expect.unreachable();
    } catch (e) {
      expect(isCryptoError(e, "RANDOM_FAILED")).toBe(true);
    }
  });

  it("system randomness fills large requests (above WebCrypto's 64 KiB per call)", () => {
    const r = createCrypto().randomBytes(200_000);
    expect(r.length).toBe(200_000);
    expect(r.subarray(150_000).some((x) => x !== 0)).toBe(true);
  });
});

describe("constantTimeEqual", () => {
  it("is false for arrays of different lengths, a prefix and the empty array included", () => {
    const mac = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    expect(constantTimeEqual(mac, mac.slice())).toBe(true);
    expect(constantTimeEqual(mac.subarray(0, 16), mac)).toBe(false);
    expect(constantTimeEqual(mac, mac.subarray(0, 16))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), mac)).toBe(false);
    expect(constantTimeEqual(mac, new Uint8Array(0))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(new Uint8Array(31), new Uint8Array(32))).toBe(false);
  });

  it("compares every byte: a difference in the last byte only is found", () => {
    const a = new Uint8Array(32).fill(0xaa);
    const b = a.slice();
    b[31] = 0xab;
    expect(constantTimeEqual(a, b)).toBe(false);
  });

  it("agrees with plain equality", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        const plain = a.length === b.length && a.every((x, i) => x === b[i]);
        expect(constantTimeEqual(a, b)).toBe(plain);
        expect(constantTimeEqual(a, a.slice())).toBe(true);
      }),
    );
  });
});
