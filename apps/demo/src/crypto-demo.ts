import { createCrypto, isCryptoError } from "@parley/crypto";

const text = (s: string) => new TextEncoder().encode(s);

export function runCryptoDemo(): string[] {
  const out: string[] = [];
  const crypto = createCrypto();
  out.push(`provider chosen automatically: ${crypto.provider}`);

  const alice = crypto.generateX25519KeyPair();
  const bob = crypto.generateX25519KeyPair();
  const ab = crypto.x25519(alice.privateKey, bob.publicKey);
  const ba = crypto.x25519(bob.privateKey, alice.publicKey);
  out.push(
    `X25519: Alice and Bob each derive a ${ab.length}-byte secret -> ${crypto.constantTimeEqual(ab, ba) ? "same secret" : "MISMATCH"} (not printed: it is a secret)`,
  );

  const signedPreKey = crypto.generateX25519KeyPair();
  const sig = crypto.xeddsaSign(alice.privateKey, signedPreKey.publicKey);
  const libsignalSig = crypto.libsignalSign(alice.privateKey, signedPreKey.publicKey);
  out.push(
    `XEdDSA signature over a signed prekey: ${crypto.xeddsaVerify(alice.publicKey, signedPreKey.publicKey, sig) ? "valid" : "INVALID"}`,
  );
  out.push(
    `libsignal variant (sign bit ${libsignalSig[63]! >> 7} in byte 63): ${crypto.libsignalVerify(alice.publicKey, signedPreKey.publicKey, libsignalSig) ? "valid" : "INVALID"}`,
  );

  const key = crypto.hkdfSha256(ab, new Uint8Array(32), text("Parley demo"), 32);
  const iv = crypto.randomBytes(12);
  const sealed = crypto.aesGcmEncrypt(key, iv, text("Hello from Parley"));
  out.push(`AES-256-GCM: "${new TextDecoder().decode(crypto.aesGcmDecrypt(key, iv, sealed))}" round-trips`);
  sealed[3]! ^= 0x40;
  try {
    crypto.aesGcmDecrypt(key, iv, sealed);
    out.push("tampered ciphertext: ACCEPTED (bug)");
  } catch (error) {
    out.push(`tampered ciphertext: rejected with ${isCryptoError(error) ? error.code : String(error)}`);
  }
  out.push(`a key pair prints as: ${String(alice).replace(/public [0-9a-f]+/, (m) => `${m.slice(0, 23)}…`)}`);
  return out;
}
