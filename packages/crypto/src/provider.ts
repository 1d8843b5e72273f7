/** scrypt cost parameters (RFC 7914). */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
  /** Output length in bytes. */
  readonly dkLen: number;
}

/**
 * The primitives that have more than one implementation. Every provider gives byte-identical
 * results for every input (a property test holds both to that) and throws the same CryptoError codes.
 * Inputs are validated by the Crypto facade before a provider is called, and the facade runs the
 * security checks around it (all-zero X25519 output; canonical Ed25519 A and R, s < L) for every
 * provider, so a custom provider needs to implement only the primitives.
 */
export interface CryptoProvider {
  readonly name: "noble" | "native";
  /** X25519 public key for a 32-byte private key (clamped as RFC 7748 says). */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** X25519. May return the all-zero secret or throw LOW_ORDER_POINT for it: the facade rejects it either way. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * RFC 8032 verification with the cofactorless equation; false (never a throw) for any invalid key or
   * signature. Called only with canonical A and R and s < L (the facade rejects the rest).
   */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  /** HMAC-SHA256 over the concatenation of the parts. */
  hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** AES-CBC with PKCS#7 padding; key 16 or 32 bytes, iv 16 bytes. */
  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws DECRYPT_FAILED on bad length or padding. */
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** AES-GCM; key 16 or 32 bytes, iv 12 or 16 bytes; returns ciphertext || 16-byte tag. */
  aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Throws DECRYPT_FAILED when the tag does not verify. */
  aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
  /** XChaCha20-Poly1305; key 32 bytes, nonce 24 bytes; returns ciphertext || 16-byte tag. */
  xchacha20Poly1305Encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  xchacha20Poly1305Decrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array;
  scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array>;
}
