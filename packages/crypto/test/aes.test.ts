import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, isCryptoError } from "../src/index.js";
import { hex, loadVectors, outcome, providers } from "./helpers.js";

type GcmVector = { key: string; iv: string; plaintext: string; aad: string; ciphertext: string; tag: string };
const gcm = [...loadVectors<GcmVector>("aes-gcm-nist.json"), ...loadVectors<GcmVector>("aes-gcm-iv16-pyca.json")];
const cbc = loadVectors<{ key: string; iv: string; plaintext: string; ciphertext: string }>("aes-cbc-nist.json");

describe.each(providers)("AES (%s provider)", (_name, c) => {
  it("AES-GCM NIST CAVP (12-byte IVs) and pyca/OpenSSL (16-byte IVs), 128- and 256-bit keys: encrypt and decrypt", () => {
    const ivLengths = new Set<number>();
    for (const v of gcm) {
      const sealed = c.aesGcmEncrypt(hex(v.key), hex(v.iv), hex(v.plaintext), hex(v.aad));
      expect(bytesToHex(sealed)).toBe(v.ciphertext + v.tag);
      expect(bytesToHex(c.aesGcmDecrypt(hex(v.key), hex(v.iv), sealed, hex(v.aad)))).toBe(v.plaintext);
      ivLengths.add(v.iv.length / 2);
    }
    expect([...ivLengths].sort()).toEqual([12, 16]);
  });

  it("AES-GCM: any flipped bit in ciphertext, tag or AAD is DECRYPT_FAILED", () => {
    const key = c.randomBytes(32);
    const iv = c.randomBytes(12);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.boolean(),
        (pt, aad, bit, inAad) => {
          const sealed = c.aesGcmEncrypt(key, iv, pt, aad);
          const target = inAad ? aad.slice() : sealed.slice();
          const i = bit % (target.length * 8);
          target[i >> 3]! ^= 1 << (i & 7);
          const r = outcome(() =>
            inAad ? c.aesGcmDecrypt(key, iv, sealed, target) : c.aesGcmDecrypt(key, iv, target, aad),
          );
          expect(r).toEqual({ code: "DECRYPT_FAILED" });
        },
      ),
      { numRuns: 100 },
    );
  });

  it("AES-CBC NIST CAVP (CBCMMT): our PKCS#7 output is their ciphertext plus one padding block", () => {
    for (const v of cbc) {
      const out = c.aesCbcEncrypt(hex(v.key), hex(v.iv), hex(v.plaintext));
      expect(out.length).toBe(v.ciphertext.length / 2 + 16);
      expect(bytesToHex(out.subarray(0, v.ciphertext.length / 2))).toBe(v.ciphertext);
      expect(bytesToHex(c.aesCbcDecrypt(hex(v.key), hex(v.iv), out))).toBe(v.plaintext);
    }
  });

  it("AES-CBC round-trips any plaintext; bad lengths are DECRYPT_FAILED", () => {
    const key = c.randomBytes(32);
    const iv = c.randomBytes(16);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (pt) => {
        const ct = c.aesCbcEncrypt(key, iv, pt);
        expect(ct.length % 16).toBe(0);
        expect(c.aesCbcDecrypt(key, iv, ct)).toEqual(pt);
        expect(outcome(() => c.aesCbcDecrypt(key, iv, ct.subarray(0, ct.length - 1)))).toEqual({
          code: "DECRYPT_FAILED",
        });
      }),
      { numRuns: 100 },
    );
    expect(outcome(() => c.aesCbcDecrypt(key, iv, new Uint8Array(0)))).toEqual({ code: "DECRYPT_FAILED" });
  });

  it("XChaCha20-Poly1305 round-trips and detects tampering", () => {
    const key = c.randomBytes(32);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 20 }), fc.nat(), (pt, aad, bit) => {
        const nonce = c.randomBytes(24);
        const sealed = c.xchacha20Poly1305Encrypt(key, nonce, pt, aad);
        expect(c.xchacha20Poly1305Decrypt(key, nonce, sealed, aad)).toEqual(pt);
        const t = sealed.slice();
        const i = bit % (t.length * 8);
        t[i >> 3]! ^= 1 << (i & 7);
        expect(outcome(() => c.xchacha20Poly1305Decrypt(key, nonce, t, aad))).toEqual({ code: "DECRYPT_FAILED" });
      }),
      { numRuns: 100 },
    );
  });

  it("rejects wrong key and IV lengths by name", () => {
    let e: unknown;
    try {
      c.aesGcmEncrypt(new Uint8Array(24), new Uint8Array(12), new Uint8Array(1));
    } catch (err) {
      e = err;
    }
    expect(isCryptoError(e, "INVALID_ARGUMENT")).toBe(true);
    expect((e as Error).message).toBe("aes key must be 16 or 32 bytes, got 24");
    expect(() => c.aesGcmEncrypt(new Uint8Array(32), new Uint8Array(8), new Uint8Array(1))).toThrow(
      "aes-gcm iv must be 12 or 16 bytes, got 8",
    );
  });
});
