import { hkdf } from "@noble/hashes/hkdf.js";
import { sha512 as nobleSha512 } from "@noble/hashes/sha2.js";
import { assertBytes, constantTimeEqual } from "./bytes.js";
import { isAllZero, isCanonicalEd25519Point, isScalarBelowL } from "./checks.js";
import { SCRYPT_MAX_DKLEN, SCRYPT_MAX_MEMORY_BYTES, SCRYPT_MAX_RP } from "./consts.js";
import { CryptoError } from "./errors.js";
import { KeyPair } from "./keys.js";
import { createNativeProvider } from "./native.js";
import { nobleProvider } from "./noble.js";
import type { CryptoProvider, ScryptParams } from "./provider.js";
import { drawRandom, systemRandom, type RandomSource } from "./random.js";
import {
  clampX25519,
  ed25519SeedToX25519,
  edwardsToMontgomery,
  libsignalSign,
  libsignalVerify,
  montgomeryToEdwards,
  x25519PrivateToEdwards,
  xeddsaSign,
  xeddsaVerify,
  type StrictEd25519Verify,
  type XeddsaVerifyOptions,
} from "./xeddsa.js";

/** Largest HKDF-SHA256 output (RFC 5869 §2.3: 255 · HashLen). */
const HKDF_MAX_LENGTH = 255 * 32;
/** Largest HKDF-SHA512 output (255 · 64). */
const HKDF512_MAX_LENGTH = 255 * 64;

export interface CreateCryptoOptions {
  /**
   * "auto" (default): native in Node when node:crypto is available, otherwise noble.
   * "noble" / "native": that one ("native" throws UNSUPPORTED where node:crypto is missing).
   * Or any object implementing CryptoProvider.
   */
  readonly provider?: "auto" | "noble" | "native" | CryptoProvider;
  /** Random source for keys and nonces; the platform CSPRNG by default. */
  readonly random?: RandomSource;
}

/**
 * Every primitive the Parley protocols use, behind one object. Inputs are checked here (type and
 * length) and a CryptoError with code INVALID_ARGUMENT names the bad one; providers trust them.
 * The security checks (all-zero X25519 output, canonical Ed25519 encodings, s < L) run here too, for
 * every provider, so a custom CryptoProvider cannot drop them.
 */
export interface Crypto {
  /** Which provider computes the primitives. */
  readonly provider: CryptoProvider["name"];
  randomBytes(length: number): Uint8Array;

  /** A fresh X25519 key pair; the private key is stored clamped (as libsignal does). */
  generateX25519KeyPair(): KeyPair;
  x25519KeyPair(privateKey: Uint8Array): KeyPair;
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** X25519; throws LOW_ORDER_POINT for an all-zero shared secret (RFC 7748 §6.1), whatever the provider returned. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /** A fresh Ed25519 key pair; the private key is the 32-byte seed. */
  generateEd25519KeyPair(): KeyPair;
  ed25519KeyPair(seed: Uint8Array): KeyPair;
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * RFC 8032 §5.1.7, strict: false for a non-canonical A or R (y >= p, or x = 0 with the sign bit set,
   * §5.1.3) and for s >= L, checked here before the provider runs the cofactorless equation.
   */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;

  /** Montgomery u to Edwards y with the given sign bit (XEdDSA convert_mont when signBit is 0). */
  montgomeryToEdwards(u: Uint8Array, signBit?: 0 | 1): Uint8Array;
  /** Edwards public key to Montgomery u; throws INVALID_KEY for invalid points. */
  edwardsToMontgomery(publicKey: Uint8Array): Uint8Array;
  /** The X25519 private scalar that matches an Ed25519 seed (for Ed25519 identity keys in OMEMO 2). */
  ed25519SeedToX25519(seed: Uint8Array): Uint8Array;

  /** XEdDSA signature by an X25519 private key (spec). `nonce` (64 bytes) defaults to fresh random. */
  xeddsaSign(privateKey: Uint8Array, message: Uint8Array, nonce?: Uint8Array): Uint8Array;
  /** XEdDSA §3; `options.strict` refuses s ≥ q, `options.signBit` verifies against that sign of convert_mont(u). */
  xeddsaVerify(
    publicKey: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
    options?: XeddsaVerifyOptions,
  ): boolean;
  /** libsignal's variant: Edwards sign bit in bit 7 of signature byte 63. */
  libsignalSign(privateKey: Uint8Array, message: Uint8Array, nonce?: Uint8Array): Uint8Array;
  /** Verifies libsignal-variant and spec XEdDSA signatures alike. */
  libsignalVerify(
    publicKey: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
    options?: Pick<XeddsaVerifyOptions, "strict">,
  ): boolean;
  /** A legacy (X25519) identity key's Edwards form: A = k·B with its real sign bit, and that bit. */
  x25519PrivateToEdwards(privateKey: Uint8Array): { publicKey: Uint8Array; signBit: 0 | 1 };

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  /** HMAC-SHA256 over `data`, or over the concatenation of its parts (no copy is made). */
  hmacSha256(key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /**
   * HKDF-SHA512 (RFC 5869), for X3DH profiles that choose SHA-512 (X3DH §2.1 allows it; python-x3dh
   * offers it). Computed with noble for every provider: no protocol on Parley's hot paths uses it.
   */
  hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws DECRYPT_FAILED for a bad length or padding. Authenticate the ciphertext first. */
  aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  /** Returns ciphertext || 16-byte tag. iv: 12 bytes (standard) or 16 (legacy OMEMO media). */
  aesGcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  aesGcmDecrypt(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array;
  xchacha20Poly1305Encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  xchacha20Poly1305Decrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array;

  scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array>;

  constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

const EMPTY = new Uint8Array(0);

let cachedNative: CryptoProvider | null | undefined;
/** The node:crypto provider, or undefined where there is no node:crypto (browsers). */
export function nativeProviderIfAvailable(): CryptoProvider | undefined {
  if (cachedNative === undefined) cachedNative = createNativeProvider() ?? null;
  return cachedNative ?? undefined;
}

function resolveProvider(choice: CreateCryptoOptions["provider"]): CryptoProvider {
  if (choice === undefined || choice === "auto") return nativeProviderIfAvailable() ?? nobleProvider;
  if (choice === "noble") return nobleProvider;
  if (choice === "native") {
    const native = nativeProviderIfAvailable();
    if (!native)
      throw new CryptoError("UNSUPPORTED", "the native provider needs node:crypto, which this platform lacks");
    return native;
  }
  return choice;
}

function assertLength(length: number, max: number, name: string): void {
  if (!Number.isSafeInteger(length) || length < 1 || length > max) {
    throw new CryptoError("INVALID_ARGUMENT", `${name} must be an integer from 1 to ${max}, got ${length}`);
  }
}

function assertScrypt(params: ScryptParams): void {
  const { N, r, p, dkLen } = params;
  for (const [name, v] of [
    ["N", N],
    ["r", r],
    ["p", p],
    ["dkLen", dkLen],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new CryptoError("INVALID_ARGUMENT", `scrypt ${name} must be a positive integer`);
    }
  }
  if (N < 2 || 2 ** Math.round(Math.log2(N)) !== N) {
    throw new CryptoError("INVALID_ARGUMENT", `scrypt N must be a power of two >= 2, got ${N}`);
  }
  // RFC 7914 §2: N < 2^(128·r/8). OpenSSL enforces it, noble does not: the facade does, for both.
  if (Math.log2(N) >= 16 * r) {
    throw new CryptoError("INVALID_ARGUMENT", `scrypt N must be below 2^(16·r) (RFC 7914 §2); got N = ${N}, r = ${r}`);
  }
  if (r * p > SCRYPT_MAX_RP) throw new CryptoError("INVALID_ARGUMENT", `scrypt r·p must be below 2^30, got ${r * p}`);
  if (dkLen > SCRYPT_MAX_DKLEN) throw new CryptoError("INVALID_ARGUMENT", `scrypt dkLen is too large: ${dkLen}`);
  const memory = 128 * r * (N + p);
  if (memory > SCRYPT_MAX_MEMORY_BYTES) {
    throw new CryptoError("INVALID_ARGUMENT", `scrypt would need ${memory} bytes of memory; the limit is 1 GiB`);
  }
}

export function createCrypto(options: CreateCryptoOptions = {}): Crypto {
  const provider = resolveProvider(options.provider);
  const random = options.random ?? systemRandom;
  const randomBytes = (length: number) => drawRandom(random, length);
  const nonce64 = (nonce: Uint8Array | undefined) => nonce ?? randomBytes(64);

  const x25519PublicKey = (privateKey: Uint8Array) => {
    assertBytes(privateKey, "x25519 private key", 32);
    return provider.x25519PublicKey(privateKey);
  };
  const x25519KeyPair = (privateKey: Uint8Array) => {
    assertBytes(privateKey, "x25519 private key", 32);
    const clamped = clampX25519(privateKey);
    return new KeyPair("x25519", clamped, x25519PublicKey(clamped));
  };
  const ed25519PublicKey = (seed: Uint8Array) => {
    assertBytes(seed, "ed25519 seed", 32);
    return provider.ed25519PublicKey(seed);
  };
  // Every Ed25519 verification (plain, XEdDSA, libsignal's variant) goes through here. R is checked
  // too: a cofactorless byte comparison never matches a non-canonical R, but a custom provider that
  // decodes R could, and a second encoding of R is a second valid signature (malleability).
  const strictEd25519Verify: StrictEd25519Verify = (signature, message, publicKey) =>
    isCanonicalEd25519Point(publicKey) &&
    isCanonicalEd25519Point(signature.subarray(0, 32)) &&
    isScalarBelowL(signature) &&
    provider.ed25519Verify(signature, message, publicKey);
  const ed25519KeyPair = (seed: Uint8Array) => {
    assertBytes(seed, "ed25519 seed", 32);
    return new KeyPair("ed25519", seed.slice(), ed25519PublicKey(seed));
  };

  return {
    provider: provider.name,
    randomBytes,
    generateX25519KeyPair: () => x25519KeyPair(randomBytes(32)),
    x25519KeyPair,
    x25519PublicKey,
    x25519(privateKey, publicKey) {
      assertBytes(privateKey, "x25519 private key", 32);
      assertBytes(publicKey, "x25519 public key", 32);
      const shared = provider.x25519(privateKey, publicKey);
      // RFC 7748 §6.1: an all-zero secret means the peer's key is a low-order point and contributed nothing.
      if (isAllZero(shared)) {
        throw new CryptoError(
          "LOW_ORDER_POINT",
          "X25519 produced an all-zero shared secret: the public key is a low-order point",
        );
      }
      return shared;
    },
    generateEd25519KeyPair: () => ed25519KeyPair(randomBytes(32)),
    ed25519KeyPair,
    ed25519PublicKey,
    ed25519Sign(seed, message) {
      assertBytes(seed, "ed25519 seed", 32);
      assertBytes(message, "message");
      return provider.ed25519Sign(seed, message);
    },
    ed25519Verify(signature, message, publicKey) {
      assertBytes(signature, "signature", 64);
      assertBytes(message, "message");
      assertBytes(publicKey, "ed25519 public key", 32);
      return strictEd25519Verify(signature, message, publicKey);
    },
    montgomeryToEdwards: (u, signBit = 0) => montgomeryToEdwards(u, signBit),
    edwardsToMontgomery,
    ed25519SeedToX25519,
    xeddsaSign: (privateKey, message, nonce) => xeddsaSign(privateKey, message, nonce64(nonce)),
    xeddsaVerify: (publicKey, message, signature, options) =>
      xeddsaVerify(publicKey, message, signature, strictEd25519Verify, options),
    libsignalSign: (privateKey, message, nonce) => libsignalSign(privateKey, message, nonce64(nonce)),
    libsignalVerify: (publicKey, message, signature, options) =>
      libsignalVerify(publicKey, message, signature, strictEd25519Verify, options),
    x25519PrivateToEdwards,
    sha256(data) {
      assertBytes(data, "data");
      return provider.sha256(data);
    },
    sha512(data) {
      assertBytes(data, "data");
      return provider.sha512(data);
    },
    hmacSha256(key, data) {
      assertBytes(key, "hmac key");
      const parts = data instanceof Uint8Array ? [data] : data;
      if (!Array.isArray(parts))
        throw new CryptoError("INVALID_ARGUMENT", "data must be a Uint8Array or an array of them");
      for (const part of parts) assertBytes(part, "data");
      return provider.hmacSha256(key, parts);
    },
    hkdfSha256(ikm, salt, info, length) {
      assertBytes(ikm, "hkdf ikm");
      assertBytes(salt, "hkdf salt");
      assertBytes(info, "hkdf info");
      assertLength(length, HKDF_MAX_LENGTH, "hkdf length");
      return provider.hkdfSha256(ikm, salt, info, length);
    },
    hkdfSha512(ikm, salt, info, length) {
      assertBytes(ikm, "hkdf ikm");
      assertBytes(salt, "hkdf salt");
      assertBytes(info, "hkdf info");
      assertLength(length, HKDF512_MAX_LENGTH, "hkdf length");
      return hkdf(nobleSha512, ikm, salt, info, length);
    },
    aesCbcEncrypt(key, iv, plaintext) {
      assertBytes(key, "aes key", 16, 32);
      assertBytes(iv, "aes-cbc iv", 16);
      assertBytes(plaintext, "plaintext");
      return provider.aesCbcEncrypt(key, iv, plaintext);
    },
    aesCbcDecrypt(key, iv, ciphertext) {
      assertBytes(key, "aes key", 16, 32);
      assertBytes(iv, "aes-cbc iv", 16);
      assertBytes(ciphertext, "ciphertext");
      if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
        throw new CryptoError(
          "DECRYPT_FAILED",
          "decryption failed: AES-CBC ciphertext length is not a positive multiple of 16",
        );
      }
      return provider.aesCbcDecrypt(key, iv, ciphertext);
    },
    aesGcmEncrypt(key, iv, plaintext, aad = EMPTY) {
      assertBytes(key, "aes key", 16, 32);
      assertBytes(iv, "aes-gcm iv", 12, 16);
      assertBytes(plaintext, "plaintext");
      assertBytes(aad, "aad");
      return provider.aesGcmEncrypt(key, iv, plaintext, aad);
    },
    aesGcmDecrypt(key, iv, sealed, aad = EMPTY) {
      assertBytes(key, "aes key", 16, 32);
      assertBytes(iv, "aes-gcm iv", 12, 16);
      assertBytes(sealed, "sealed");
      assertBytes(aad, "aad");
      if (sealed.length < 16)
        throw new CryptoError("DECRYPT_FAILED", "decryption failed: input is shorter than the 16-byte tag");
      return provider.aesGcmDecrypt(key, iv, sealed, aad);
    },
    xchacha20Poly1305Encrypt(key, nonce, plaintext, aad = EMPTY) {
      assertBytes(key, "xchacha20-poly1305 key", 32);
      assertBytes(nonce, "xchacha20-poly1305 nonce", 24);
      assertBytes(plaintext, "plaintext");
      assertBytes(aad, "aad");
      return provider.xchacha20Poly1305Encrypt(key, nonce, plaintext, aad);
    },
    xchacha20Poly1305Decrypt(key, nonce, sealed, aad = EMPTY) {
      assertBytes(key, "xchacha20-poly1305 key", 32);
      assertBytes(nonce, "xchacha20-poly1305 nonce", 24);
      assertBytes(sealed, "sealed");
      assertBytes(aad, "aad");
      if (sealed.length < 16)
        throw new CryptoError("DECRYPT_FAILED", "decryption failed: input is shorter than the 16-byte tag");
      return provider.xchacha20Poly1305Decrypt(key, nonce, sealed, aad);
    },
    async scrypt(password, salt, params) {
      assertBytes(password, "scrypt password");
      assertBytes(salt, "scrypt salt");
      assertScrypt(params);
      return await provider.scrypt(password, salt, params);
    },
    constantTimeEqual,
  };
}

let defaultInstance: Crypto | undefined;
/** A shared instance with the "auto" provider and the platform CSPRNG. */
export function defaultCrypto(): Crypto {
  defaultInstance ??= createCrypto();
  return defaultInstance;
}
