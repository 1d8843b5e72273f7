import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, edwardsToMontgomery, isCryptoError, montgomeryToEdwards } from "../src/index.js";
import { hex, loadVectors, providers } from "./helpers.js";

interface Vector {
  privateKey: string;
  publicKey: string;
  message: string;
  nonce: string;
  edwardsPublicKeySign0: string;
  signBitOfKTimesB: 0 | 1;
  xeddsaSignature: string;
  libsignalSignature: string;
  seed: string;
  seedEd25519PublicKey: string;
  seedX25519PrivateKey: string;
  seedMontgomeryPublicKey: string;
}
const vectors = loadVectors<Vector>("xeddsa-python-xeddsa.json");
const c = createCrypto({ provider: "noble" });

describe("XEdDSA §2.3 conversions against python3-xeddsa", () => {
  it.each(vectors.slice(0, 16))("convert_mont and the Ed25519-seed conversions, vector $publicKey", (v) => {
    expect(bytesToHex(c.montgomeryToEdwards(hex(v.publicKey)))).toBe(v.edwardsPublicKeySign0);
    expect(bytesToHex(c.edwardsToMontgomery(hex(v.edwardsPublicKeySign0)))).toBe(v.publicKey);
    expect(bytesToHex(c.ed25519PublicKey(hex(v.seed)))).toBe(v.seedEd25519PublicKey);
    expect(bytesToHex(c.ed25519SeedToX25519(hex(v.seed)))).toBe(v.seedX25519PrivateKey);
    expect(bytesToHex(c.edwardsToMontgomery(hex(v.seedEd25519PublicKey)))).toBe(v.seedMontgomeryPublicKey);
    expect(bytesToHex(c.x25519PublicKey(hex(v.seedX25519PrivateKey)))).toBe(v.seedMontgomeryPublicKey);
  });
});

describe("XEdDSA §2.3 conversions: Edwards to Montgomery validates the point", () => {
  const P = (1n << 255n) - 19n;
  const encodeY = (y: bigint, signBit = 0) => {
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = Number((y >> BigInt(8 * i)) & 0xffn);
    out[31]! |= signBit << 7;
    return out;
  };
  const code = (f: () => unknown) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return isCryptoError(e) ? e.code : String(e);
    }
  };

  it.each([
    ["off the curve (y = 2)", encodeY(2n)],
    ["non-canonical y = p + 3 (the on-curve y = 3 plus p)", encodeY(P + 3n)],
    ["x = 0 with the sign bit set (y = p − 1)", encodeY(P - 1n, 1)],
    ["the identity (y = 1), which has no Montgomery form", encodeY(1n)],
  ])("rejects a key %s with INVALID_KEY, standalone and through the facade", (_label, key) => {
    expect(code(() => edwardsToMontgomery(key))).toBe("INVALID_KEY");
    expect(code(() => c.edwardsToMontgomery(key))).toBe("INVALID_KEY");
  });

  it("accepts the on-curve y = 3 and the base point (u = 9, RFC 7748 §4.1), and checks the argument", () => {
    expect(code(() => edwardsToMontgomery(encodeY(3n)))).toBe("ok");
    const B = hex("58" + "66".repeat(31)); // y = 4/5
    expect(bytesToHex(edwardsToMontgomery(B))).toBe("09" + "00".repeat(31));
    expect(bytesToHex(montgomeryToEdwards(edwardsToMontgomery(B)))).toBe(bytesToHex(B));
    expect(code(() => edwardsToMontgomery(new Uint8Array(31)))).toBe("INVALID_ARGUMENT");
  });
});

describe.each(providers)("XEdDSA §3 against python3-xeddsa vectors (%s provider)", (_name, p) => {
  it("their spec signatures verify here, and ours are byte-identical where the spec and libxeddsa hash the same scalar", () => {
    let identical = 0;
    for (const v of vectors) {
      const [priv, pub, msg, nonce] = [hex(v.privateKey), hex(v.publicKey), hex(v.message), hex(v.nonce)];
      expect(p.xeddsaVerify(pub, msg, hex(v.xeddsaSignature))).toBe(true);
      const ours = p.xeddsaSign(priv, msg, nonce);
      expect(p.xeddsaVerify(pub, msg, ours)).toBe(true);
      // Our signature is a plain Ed25519 signature under convert_mont(u) (spec §1).
      expect(p.ed25519Verify(ours, msg, hex(v.edwardsPublicKeySign0))).toBe(true);
      if (v.signBitOfKTimesB === 1) {
        // Both negate k and hash a = −k mod q into the nonce: the bytes must match.
        expect(bytesToHex(ours)).toBe(v.xeddsaSignature);
        identical++;
      } else {
        // libxeddsa hashes the unreduced clamped k, the spec a = k mod q (README: differences).
        expect(bytesToHex(ours.subarray(0, 32))).not.toBe(v.xeddsaSignature.slice(0, 64));
      }
    }
    expect(identical).toBeGreaterThan(10);
  });

  it("libsignal variant: byte-identical to libxeddsa's raw signing with the sign bit in byte 63", () => {
    for (const v of vectors) {
      const [priv, pub, msg, nonce] = [hex(v.privateKey), hex(v.publicKey), hex(v.message), hex(v.nonce)];
      expect(bytesToHex(p.libsignalSign(priv, msg, nonce))).toBe(v.libsignalSignature);
      expect(p.libsignalVerify(pub, msg, hex(v.libsignalSignature))).toBe(true);
      // A strict XEdDSA verifier accepts it only when the sign bit happens to be 0.
      expect(p.xeddsaVerify(pub, msg, hex(v.libsignalSignature))).toBe(v.signBitOfKTimesB === 0);
      // libsignal's verifier accepts spec signatures.
      expect(p.libsignalVerify(pub, msg, hex(v.xeddsaSignature))).toBe(true);
    }
  });
});

describe("XEdDSA properties", () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const nonce = fc.uint8Array({ minLength: 64, maxLength: 64 });

  it("sign/verify round-trips for any key, message and nonce, in both variants", () => {
    fc.assert(
      fc.property(key, fc.uint8Array({ maxLength: 200 }), nonce, (k, msg, z) => {
        const pub = c.x25519PublicKey(k);
        expect(c.xeddsaVerify(pub, msg, c.xeddsaSign(k, msg, z))).toBe(true);
        expect(c.libsignalVerify(pub, msg, c.libsignalSign(k, msg, z))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("a tampered signature, message or key never verifies", () => {
    fc.assert(
      fc.property(
        key,
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        nonce,
        fc.nat(),
        fc.constantFrom(0, 1, 2),
        (k, msg, z, bit, where) => {
          const pub = c.x25519PublicKey(k);
          const sig = c.xeddsaSign(k, msg, z);
          const t = [sig.slice(), msg.slice(), pub.slice()][where]!;
          const i = bit % (t.length * 8);
          t[i >> 3]! ^= 1 << (i & 7);
          const args: [Uint8Array, Uint8Array, Uint8Array] =
            where === 0 ? [pub, msg, t] : where === 1 ? [pub, t, sig] : [t, msg, sig];
          expect(c.xeddsaVerify(...args)).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("Montgomery -> Edwards -> Montgomery is the identity on public keys; the sign bit round-trips too", () => {
    fc.assert(
      fc.property(key, (seed) => {
        const u = c.x25519PublicKey(seed);
        expect(c.edwardsToMontgomery(c.montgomeryToEdwards(u))).toEqual(u);
        const A = c.ed25519PublicKey(seed);
        const back = c.montgomeryToEdwards(c.edwardsToMontgomery(A), (A[31]! >> 7) as 0 | 1);
        expect(back).toEqual(A);
      }),
      { numRuns: 60 },
    );
  });

  it.each(providers)(
    "accepts s + q below 2^253 but rejects s + 2q (spec §3 verify step 1: s < 2^253, not s < q), %s provider",
    (_name, c) => {
      const Q = (1n << 252n) + 27742317777372353535851937790883648493n;
      const sOf = (sig: Uint8Array) => sig.subarray(32).reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
      const withS = (sig: Uint8Array, s: bigint) => {
        const out = sig.slice();
        for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
        return out;
      };
      const kp = c.generateX25519KeyPair();
      let checkedBelow = 0;
      for (let i = 0; checkedBelow < 3 && i < 64; i++) {
        const msg = new Uint8Array([i]);
        type Sign = (k: Uint8Array, m: Uint8Array) => Uint8Array;
        type Verify = (u: Uint8Array, m: Uint8Array, s: Uint8Array) => boolean;
        const variants: Array<[Sign, Verify]> = [
          [(k, m) => c.xeddsaSign(k, m), (u, m, s) => c.xeddsaVerify(u, m, s)],
          [(k, m) => c.libsignalSign(k, m), (u, m, s) => c.libsignalVerify(u, m, s)],
        ];
        for (const [sign, verify] of variants) {
          const sig = sign(kp.privateKey, msg);
          const signBit = sig[63]! & 0x80;
          const s = sOf(sig) & ((1n << 255n) - 1n); // without libsignal's sign bit (bit 255)
          const mark = (x: Uint8Array) => {
            x[63]! |= signBit;
            return x;
          };
          // s + 2q ≡ s (mod q): only the bound rejects it.
          expect(verify(kp.publicKey, msg, mark(withS(sig, s + 2n * Q)))).toBe(false);
          if (s + Q < 1n << 253n) {
            expect(verify(kp.publicKey, msg, mark(withS(sig, s + Q)))).toBe(true);
            checkedBelow++;
          }
        }
      }
      expect(checkedBelow).toBeGreaterThanOrEqual(3);
    },
  );

  it("rejects u >= p", () => {
    const kp = c.generateX25519KeyPair();
    const msg = new Uint8Array([1, 2, 3]);
    const sig = c.xeddsaSign(kp.privateKey, msg);
    const bigU = kp.publicKey.slice();
    bigU[31]! |= 0x80; // u + 2^255 > p
    expect(c.xeddsaVerify(bigU, msg, sig)).toBe(false);
  });

  it("validates its inputs before using them", () => {
    expect(() => c.montgomeryToEdwards(new Uint8Array(32), 2 as 0)).toThrow("signBit must be 0 or 1");
    expect(() => c.x25519KeyPair(null as unknown as Uint8Array)).toThrow("x25519 private key must be a Uint8Array");
    expect(() => c.ed25519KeyPair(undefined as unknown as Uint8Array)).toThrow("ed25519 seed must be a Uint8Array");
  });

  it("draws a fresh 64-byte nonce when none is given, so two signatures differ", () => {
    const kp = c.generateX25519KeyPair();
    const msg = new Uint8Array([9]);
    expect(c.xeddsaSign(kp.privateKey, msg)).not.toEqual(c.xeddsaSign(kp.privateKey, msg));
  });
});

describe("a legacy identity key's Edwards form, explicit sign bits, strict s (conformance kit needs)", () => {
  const Q = (1n << 252n) + 27742317777372353535851937790883648493n;
  const withS = (sig: Uint8Array, add: bigint) => {
    let s = sig.subarray(32).reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n) & ((1n << 255n) - 1n);
    s += add;
    const out = sig.slice();
    for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
    return out;
  };

  it.each(providers)(
    "x25519PrivateToEdwards gives A = k·B with its sign bit, libsignal's byte-63 bit, %s provider",
    (_n, c) => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), (seed, msg) => {
          const kp = c.x25519KeyPair(seed);
          const { publicKey, signBit } = c.x25519PrivateToEdwards(kp.privateKey);
          expect(bytesToHex(publicKey)).toBe(bytesToHex(c.montgomeryToEdwards(kp.publicKey, signBit)));
          expect(bytesToHex(c.edwardsToMontgomery(publicKey))).toBe(bytesToHex(kp.publicKey));
          expect((c.libsignalSign(kp.privateKey, msg)[63]! & 0x80) >> 7).toBe(signBit);
          // An OMEMO 2 identity (Ed25519 seed) and its X25519 scalar have the same Edwards key, sign included.
          expect(bytesToHex(c.x25519PrivateToEdwards(c.ed25519SeedToX25519(seed)).publicKey)).toBe(
            bytesToHex(c.ed25519PublicKey(seed)),
          );
        }),
        { numRuns: 40 },
      );
      expect(() => c.x25519PrivateToEdwards(new Uint8Array(31))).toThrow();
    },
  );

  it.each(providers)("xeddsaVerify({signBit}) verifies against that sign of convert_mont(u), %s provider", (_n, c) => {
    const seen = new Set<number>();
    for (let i = 0; seen.size < 2 && i < 64; i++) {
      const kp = c.generateX25519KeyPair();
      const msg = new Uint8Array([i, 1, 2]);
      const sig = c.libsignalSign(kp.privateKey, msg);
      const bit = ((sig[63]! & 0x80) >> 7) as 0 | 1;
      seen.add(bit);
      const cleared = sig.slice();
      cleared[63]! &= 0x7f;
      expect(c.xeddsaVerify(kp.publicKey, msg, cleared, { signBit: bit })).toBe(true);
      expect(c.xeddsaVerify(kp.publicKey, msg, cleared, { signBit: (1 - bit) as 0 | 1 })).toBe(false);
      expect(c.xeddsaVerify(kp.publicKey, msg, cleared)).toBe(bit === 0);
      // Spec signatures verify with sign bit 0 only.
      const spec = c.xeddsaSign(kp.privateKey, msg);
      expect(c.xeddsaVerify(kp.publicKey, msg, spec, { signBit: 0 })).toBe(true);
      expect(c.xeddsaVerify(kp.publicKey, msg, spec, { signBit: 1 })).toBe(false);
    }
    expect([...seen].sort()).toEqual([0, 1]);
    const kp = c.generateX25519KeyPair();
    expect(() => c.xeddsaVerify(kp.publicKey, new Uint8Array(1), new Uint8Array(64), { signBit: 2 as 0 })).toThrow();
  });

  it.each(providers)(
    "strict: s + q is refused with {strict: true} and accepted by default (spec), %s provider",
    (_n, c) => {
      let checked = 0;
      for (let i = 0; checked < 4 && i < 64; i++) {
        const kp = c.generateX25519KeyPair();
        const msg = new Uint8Array([i]);
        for (const [sig, verify] of [
          [
            c.xeddsaSign(kp.privateKey, msg),
            (u: Uint8Array, m: Uint8Array, g: Uint8Array, o?: { strict?: boolean }) => c.xeddsaVerify(u, m, g, o),
          ] as const,
          [
            c.libsignalSign(kp.privateKey, msg),
            (u: Uint8Array, m: Uint8Array, g: Uint8Array, o?: { strict?: boolean }) => c.libsignalVerify(u, m, g, o),
          ] as const,
        ]) {
          const high = withS(sig, Q);
          high[63]! |= sig[63]! & 0x80;
          if ((high[63]! & 0x60) !== 0) continue; // s + q reached 2^253: refused either way
          expect(verify(kp.publicKey, msg, sig, { strict: true })).toBe(true);
          expect(verify(kp.publicKey, msg, high)).toBe(true);
          expect(verify(kp.publicKey, msg, high, { strict: true })).toBe(false);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(0);
    },
  );
});
