import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex } from "../src/index.js";
import { hex, loadVectors, providers } from "./helpers.js";

interface Vector {
  seed: string;
  publicKey: string;
  message: string;
  signature: string;
}
const vectors = loadVectors<Vector>("ed25519-rfc8032.json");
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function withS(signature: Uint8Array, s: bigint): Uint8Array {
  const out = signature.slice();
  for (let i = 0; i < 32; i++) out[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return out;
}
function sOf(signature: Uint8Array): bigint {
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(signature[32 + i]!);
  return s;
}

describe.each(providers)("RFC 8032 Ed25519 (%s provider)", (_name, c) => {
  it("§7.1 and djb's sign.input: public key, deterministic signature, verification", () => {
    for (const v of vectors) {
      const seed = hex(v.seed);
      const message = hex(v.message);
      expect(bytesToHex(c.ed25519PublicKey(seed))).toBe(v.publicKey);
      expect(bytesToHex(c.ed25519Sign(seed, message))).toBe(v.signature);
      expect(c.ed25519Verify(hex(v.signature), message, hex(v.publicKey))).toBe(true);
    }
  });

  it("§5.1.7 rejects s + L (non-canonical scalar)", () => {
    const v = vectors[1]!;
    const sig = hex(v.signature);
    expect(c.ed25519Verify(withS(sig, sOf(sig) + L), hex(v.message), hex(v.publicKey))).toBe(false);
  });

  it("§5.1.3 rejects a non-canonical public key encoding (y >= p)", () => {
    // y = p + 1 encodes the same point as y = 1 (the identity) in a non-canonical way.
    const nonCanonical = hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    const v = vectors[0]!;
    expect(c.ed25519Verify(hex(v.signature), hex(v.message), nonCanonical)).toBe(false);
  });

  it("a flipped bit in the signature, message or key never verifies", () => {
    const kp = c.generateEd25519KeyPair();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(),
        fc.constantFrom("sig", "msg", "key"),
        (message, bit, where) => {
          const sig = c.ed25519Sign(kp.privateKey, message);
          expect(c.ed25519Verify(sig, message, kp.publicKey)).toBe(true);
          const target = where === "sig" ? sig.slice() : where === "key" ? kp.publicKey.slice() : message.slice();
          if (target.length === 0) return;
          const i = bit % (target.length * 8);
          target[i >> 3]! ^= 1 << (i & 7);
          const ok =
            where === "sig"
              ? c.ed25519Verify(target, message, kp.publicKey)
              : where === "key"
                ? c.ed25519Verify(sig, message, target)
                : c.ed25519Verify(sig, target, kp.publicKey);
          expect(ok).toBe(false);
        },
      ),
      { numRuns: 100 },
    );
  });
});
