import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, isCryptoError } from "../src/index.js";
import { hex, loadVectors, providers } from "./helpers.js";

interface Vector {
  scalar: string;
  u: string;
  output: string;
}
const vectors = loadVectors<Vector>("x25519-rfc7748.json");

// Points of small order on Curve25519 and their non-canonical encodings (u + p), as listed by
// libsodium's and Wycheproof's X25519 rejection tests. X25519 of any of them is all zeros.
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

describe.each(providers)("RFC 7748 X25519 (%s provider)", (_name, c) => {
  it.each(vectors)("§5.2 scalar $scalar", (v) => {
    expect(bytesToHex(c.x25519(hex(v.scalar), hex(v.u)))).toBe(v.output);
  });

  it("derives the public key as X25519(k, 9)", () => {
    const nine = new Uint8Array(32);
    nine[0] = 9;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (k) => {
        expect(c.x25519PublicKey(k)).toEqual(c.x25519(k, nine));
      }),
      { numRuns: 50 },
    );
  });

  it("§6.1 Diffie-Hellman agrees from both sides", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (a, b) => {
          expect(c.x25519(a, c.x25519PublicKey(b))).toEqual(c.x25519(b, c.x25519PublicKey(a)));
        },
      ),
      { numRuns: 50 },
    );
  });

  it.each(LOW_ORDER)("rejects the low-order point %s with LOW_ORDER_POINT", (u) => {
    const k = c.generateX25519KeyPair().privateKey;
    let thrown: unknown;
    try {
      c.x25519(k, hex(u));
    } catch (e) {
      thrown = e;
    }
    expect(isCryptoError(thrown, "LOW_ORDER_POINT")).toBe(true);
    expect((thrown as Error).message).not.toContain(bytesToHex(k));
  });

  it("key pairs are stored clamped and match X25519 of the clamped scalar", () => {
    const kp = c.x25519KeyPair(new Uint8Array(32).fill(0xff));
    expect(kp.privateKey[0]! & 7).toBe(0);
    expect(kp.privateKey[31]! & 0xc0).toBe(0x40);
    expect(kp.publicKey).toEqual(c.x25519PublicKey(new Uint8Array(32).fill(0xff)));
  });

  it("rejects keys of the wrong length with INVALID_ARGUMENT", () => {
    expect(() => c.x25519(new Uint8Array(31), new Uint8Array(32))).toThrow(
      /x25519 private key must be 32 bytes, got 31/,
    );
    expect(() => c.x25519(new Uint8Array(32), new Uint8Array(33))).toThrow(/x25519 public key must be 32 bytes/);
  });
});
