import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createCrypto } from "../src/index.js";
import { outcome } from "./helpers.js";

// The native provider is a faster implementation of the same functions: for every input it must
// give the same bytes, or fail with the same error code, as the noble reference.
const noble = createCrypto({ provider: "noble" });
const native = createCrypto({ provider: "native" });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const b32 = bytes(32, 32);
const RUNS = { numRuns: 200 };

function agree(f: (c: typeof noble) => unknown): void {
  expect(outcome(() => f(native))).toEqual(outcome(() => f(noble)));
}

describe("providers agree byte for byte (noble is the reference)", () => {
  it("x25519 and x25519PublicKey, including arbitrary (off-curve, non-canonical) u", () => {
    fc.assert(
      fc.property(b32, b32, (k, u) => {
        agree((c) => c.x25519PublicKey(k));
        agree((c) => c.x25519(k, u));
      }),
      RUNS,
    );
  });

  it("ed25519 public key, sign and verify of genuine, random and mangled signatures", () => {
    fc.assert(
      fc.property(b32, bytes(0, 100), bytes(64, 64), b32, (seed, msg, junk, junkKey) => {
        agree((c) => c.ed25519PublicKey(seed));
        agree((c) => c.ed25519Sign(seed, msg));
        const pub = noble.ed25519PublicKey(seed);
        const sig = noble.ed25519Sign(seed, msg);
        agree((c) => c.ed25519Verify(sig, msg, pub));
        agree((c) => c.ed25519Verify(junk, msg, pub));
        agree((c) => c.ed25519Verify(sig, msg, junkKey));
        const mangled = sig.slice();
        mangled[63]! |= 0xf0; // s >= L
        agree((c) => c.ed25519Verify(mangled, msg, pub));
      }),
      RUNS,
    );
  });

  it("sha256, sha512, hmac, hkdf (including empty ikm and info longer than node's 1024-byte limit)", () => {
    fc.assert(
      fc.property(
        bytes(0, 300),
        bytes(0, 100),
        bytes(0, 1100),
        fc.integer({ min: 1, max: 8160 }),
        (data, key, info, len) => {
          agree((c) => c.sha256(data));
          agree((c) => c.sha512(data));
          agree((c) => c.hmacSha256(key, data));
          agree((c) => c.hkdfSha256(data, key, info, len));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("AES-CBC, AES-GCM and XChaCha20-Poly1305 encrypt, decrypt and reject alike", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 32),
        b32,
        bytes(0, 200),
        bytes(0, 40),
        fc.constantFrom(12, 16),
        bytes(24, 24),
        bytes(0, 64),
        (keyLen, keyBytes, pt, aad, ivLen, nonce24, junk) => {
          const key = keyBytes.subarray(0, keyLen);
          const iv16 = nonce24.subarray(0, 16);
          const iv = nonce24.subarray(0, ivLen);
          agree((c) => c.aesCbcEncrypt(key, iv16, pt));
          agree((c) => c.aesCbcDecrypt(key, iv16, noble.aesCbcEncrypt(key, iv16, pt)));
          agree((c) => c.aesCbcDecrypt(key, iv16, junk));
          agree((c) => c.aesGcmEncrypt(key, iv, pt, aad));
          agree((c) => c.aesGcmDecrypt(key, iv, noble.aesGcmEncrypt(key, iv, pt, aad), aad));
          agree((c) => c.aesGcmDecrypt(key, iv, junk, aad));
          agree((c) => c.xchacha20Poly1305Encrypt(keyBytes, nonce24, pt, aad));
          agree((c) =>
            c.xchacha20Poly1305Decrypt(
              keyBytes,
              nonce24,
              noble.xchacha20Poly1305Encrypt(keyBytes, nonce24, pt, aad),
              aad,
            ),
          );
          agree((c) => c.xchacha20Poly1305Decrypt(keyBytes, nonce24, junk, aad));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("scrypt, including parameters at and beyond RFC 7914's N < 2^(16r)", async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes(0, 20),
        bytes(0, 20),
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 3 }),
        async (pw, salt, logN, r) => {
          const params = { N: 2 ** logN, r, p: 1, dkLen: 32 };
          const run = async (c: typeof noble) => {
            try {
              return { ok: await c.scrypt(pw, salt, params) };
            } catch (e) {
              return { code: (e as { code?: string }).code };
            }
          };
          if (logN > 12 && logN < 16 * r) return; // valid but slow: RFC vectors cover large N
          expect(await run(native)).toEqual(await run(noble));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("the native provider keeps serving the right key after the caller mutates a cached private key array", () => {
    const k = native.randomBytes(32);
    const u = native.x25519PublicKey(native.randomBytes(32));
    const first = native.x25519(k, u);
    k[5]! ^= 1;
    expect(native.x25519(k, u)).toEqual(noble.x25519(k, u));
    expect(native.x25519(k, u)).not.toEqual(first);
  });

  it("native results are plain Uint8Arrays that own their memory (never a view into Node's Buffer pool)", () => {
    const key = native.randomBytes(32);
    const kp = native.generateX25519KeyPair();
    const ed = native.generateEd25519KeyPair();
    const msg = native.randomBytes(40);
    const results = [
      native.sha256(msg),
      native.sha512(msg),
      native.hmacSha256(key, msg),
      native.hkdfSha256(key, key, msg, 80),
      native.x25519(kp.privateKey, native.x25519PublicKey(native.randomBytes(32))),
      native.x25519PublicKey(native.randomBytes(32)),
      native.ed25519Sign(ed.privateKey, msg),
      native.aesCbcEncrypt(key, msg.subarray(0, 16), msg),
      native.aesCbcDecrypt(key, msg.subarray(0, 16), native.aesCbcEncrypt(key, msg.subarray(0, 16), msg)),
      native.aesGcmEncrypt(key, msg.subarray(0, 12), msg),
      native.xchacha20Poly1305Encrypt(key, msg.subarray(0, 24), msg),
    ];
    for (const r of results) {
      expect(Object.getPrototypeOf(r)).toBe(Uint8Array.prototype);
      expect(r.byteOffset).toBe(0);
      expect(r.buffer.byteLength).toBe(r.length);
    }
  });
});
