/**
 * The reference provider: audited pure-JS noble primitives. Runs everywhere; default in browsers.
 * Import it on its own (`@parley/crypto/noble`) to keep node:crypto code out of a browser bundle.
 */
import { gcm, cbc } from "@noble/ciphers/aes.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { verifyEquation } from "./edwards.js";
import { CryptoError } from "./errors.js";
import type { CryptoProvider } from "./provider.js";

function decryptFailed(cause: unknown): CryptoError {
  return new CryptoError("DECRYPT_FAILED", "decryption failed: authentication tag or padding is invalid", { cause });
}

export const nobleProvider: CryptoProvider = {
  name: "noble",
  x25519PublicKey: (privateKey) => x25519.getPublicKey(privateKey),
  x25519(privateKey, publicKey) {
    try {
      return x25519.getSharedSecret(privateKey, publicKey);
    } catch (cause) {
      // noble throws exactly when the result is the all-zero point (low-order peer key). The facade
      // checks the output for zeros too, for every provider.
      throw new CryptoError(
        "LOW_ORDER_POINT",
        "X25519 produced an all-zero shared secret: the public key is a low-order point",
        { cause },
      );
    }
  },
  ed25519PublicKey: (seed) => ed25519.getPublicKey(seed),
  ed25519Sign: (seed, message) => ed25519.sign(message, seed),
  // RFC 8032 §5.1.7 with strict encodings and the cofactorless equation (what OpenSSL checks too).
  ed25519Verify: (signature, message, publicKey) => verifyEquation(publicKey, message, signature, "canonical"),
  sha256: (data) => sha256(data),
  sha512: (data) => sha512(data),
  hmacSha256(key, parts) {
    const mac = hmac.create(sha256, key);
    for (const part of parts) mac.update(part);
    return mac.digest();
  },
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  aesCbcEncrypt: (key, iv, plaintext) => cbc(key, iv).encrypt(plaintext),
  aesCbcDecrypt(key, iv, ciphertext) {
    try {
      return cbc(key, iv).decrypt(ciphertext);
    } catch (cause) {
      throw decryptFailed(cause);
    }
  },
  aesGcmEncrypt: (key, iv, plaintext, aad) => gcm(key, iv, aad).encrypt(plaintext),
  aesGcmDecrypt(key, iv, sealed, aad) {
    try {
      return gcm(key, iv, aad).decrypt(sealed);
    } catch (cause) {
      throw decryptFailed(cause);
    }
  },
  xchacha20Poly1305Encrypt: (key, nonce, plaintext, aad) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  xchacha20Poly1305Decrypt(key, nonce, sealed, aad) {
    try {
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch (cause) {
      throw decryptFailed(cause);
    }
  },
  scrypt: (password, salt, { N, r, p, dkLen }) =>
    scryptAsync(password, salt, { N, r, p, dkLen, maxmem: 128 * r * (N + p) + 1024 * 1024 }),
};
