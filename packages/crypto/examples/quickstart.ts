// Run with: pnpm --filter @parley/crypto exec tsx examples/quickstart.ts
import { bytesToHex, createCrypto, isCryptoError } from "@parley/crypto";

const crypto = createCrypto(); // native provider in Node, noble in browsers

// X25519 agreement
const alice = crypto.generateX25519KeyPair();
const bob = crypto.generateX25519KeyPair();
const shared = crypto.x25519(alice.privateKey, bob.publicKey);
console.log("same secret:", bytesToHex(shared) === bytesToHex(crypto.x25519(bob.privateKey, alice.publicKey)));

// XEdDSA: sign with the X25519 identity key, verify with its public key
const prekey = crypto.generateX25519KeyPair();
const signature = crypto.xeddsaSign(alice.privateKey, prekey.publicKey);
console.log("signature valid:", crypto.xeddsaVerify(alice.publicKey, prekey.publicKey, signature));

// HKDF, then authenticated encryption
const key = crypto.hkdfSha256(shared, new Uint8Array(32), new TextEncoder().encode("example"), 32);
const iv = crypto.randomBytes(12);
const sealed = crypto.aesGcmEncrypt(key, iv, new TextEncoder().encode("hello"));
console.log("decrypted:", new TextDecoder().decode(crypto.aesGcmDecrypt(key, iv, sealed)));

// Errors are typed; private keys never print
sealed[0]! ^= 1;
try {
  crypto.aesGcmDecrypt(key, iv, sealed);
} catch (error) {
  console.log("tampered:", isCryptoError(error, "DECRYPT_FAILED"));
}
console.log(String(alice).includes("[redacted]"));
