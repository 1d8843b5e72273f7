/**
 * XEdDSA (XEd25519) from the spec (Perrin, rev. 1, 2016; our summary with its section numbers in docs/xeddsa.md)
 * and libsignal's variant, which signs with the Montgomery scalar as is and stores the Edwards sign
 * bit of the public key in the top bit of signature byte 63 (libsignal-protocol-c curve_sigs.c).
 */
import { sha512 } from "@noble/hashes/sha2.js";
import { assertBytes, concatBytes } from "./bytes.js";
import { decodePoint, encodedY, fromLE, modQ, P, Point, Q, scalarMultBase, toLE32, verifyEquation } from "./edwards.js";
import { CryptoError } from "./errors.js";

const Fp = Point.Fp;

/** hash_1's prefix: encode_256(2^256 − 1 − 1) = 0xFE followed by 31 × 0xFF (spec §2.5). */
const HASH1_PREFIX = (() => {
  const prefix = new Uint8Array(32).fill(0xff);
  prefix[0] = 0xfe;
  return prefix;
})();

/** RFC 7748 clamping of a 32-byte X25519 private key. Idempotent on an already clamped key. */
export function clampX25519(privateKey: Uint8Array): Uint8Array {
  const k = privateKey.slice();
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

/** convert_mont (spec §2.3): Montgomery u to the Edwards public key with the given sign bit. */
export function montgomeryToEdwards(u: Uint8Array, signBit: 0 | 1 = 0): Uint8Array {
  assertBytes(u, "montgomery public key", 32);
  if (signBit !== 0 && signBit !== 1) throw new CryptoError("INVALID_ARGUMENT", "signBit must be 0 or 1");
  const uMasked = fromLE(u) & ((1n << 255n) - 1n);
  // u_to_y: y = (u − 1) · inv(u + 1), with inv(0) = 0 as the spec defines it (Fermat's little theorem).
  const uf = Fp.create(uMasked);
  const denominator = Fp.add(uf, Fp.ONE);
  const y = Fp.mul(Fp.sub(uf, Fp.ONE), Fp.is0(denominator) ? Fp.ZERO : Fp.inv(denominator));
  const out = toLE32(y);
  out[31]! |= signBit << 7;
  return out;
}

/** Edwards public key to Montgomery u = (1 + y) / (1 − y). Rejects invalid points and y = 1 (u = ∞). */
export function edwardsToMontgomery(publicKey: Uint8Array): Uint8Array {
  assertBytes(publicKey, "ed25519 public key", 32);
  if (!decodePoint(publicKey)) throw new CryptoError("INVALID_KEY", "ed25519 public key is not a valid curve point");
  const y = Fp.create(encodedY(publicKey));
  if (y === Fp.ONE) throw new CryptoError("INVALID_KEY", "ed25519 public key is the identity point");
  return toLE32(Fp.mul(Fp.add(Fp.ONE, y), Fp.inv(Fp.sub(Fp.ONE, y))));
}

/** calculate_key_pair (spec §2.3): Edwards public key A with sign bit 0, and the matching scalar a. */
function calculateKeyPair(k: bigint): { A: Uint8Array; a: bigint } {
  const E = scalarMultBase(modQ(k));
  const encoded = E.toBytes();
  const negative = (encoded[31]! & 0x80) !== 0;
  encoded[31]! &= 0x7f;
  return { A: encoded, a: negative ? modQ(Q - modQ(k)) : modQ(k) };
}

function signWith(
  a: bigint,
  aBytesForNonce: Uint8Array,
  A: Uint8Array,
  message: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  const r = modQ(fromLE(sha512(concatBytes(HASH1_PREFIX, aBytesForNonce, message, nonce))));
  const R = scalarMultBase(r).toBytes();
  const h = modQ(fromLE(sha512(concatBytes(R, A, message))));
  const s = modQ(r + h * a);
  return concatBytes(R, toLE32(s));
}

function checkSignInputs(privateKey: Uint8Array, message: Uint8Array, nonce: Uint8Array): bigint {
  assertBytes(privateKey, "x25519 private key", 32);
  assertBytes(message, "message");
  assertBytes(nonce, "nonce", 64);
  const k = fromLE(clampX25519(privateKey));
  if (modQ(k) === 0n) throw new CryptoError("INVALID_KEY", "x25519 private key is zero modulo the group order");
  return k;
}

/** XEdDSA sign (spec §3): 64-byte signature that verifies against convert_mont(u) with sign bit 0. */
export function xeddsaSign(privateKey: Uint8Array, message: Uint8Array, nonce: Uint8Array): Uint8Array {
  const k = checkSignInputs(privateKey, message, nonce);
  const { A, a } = calculateKeyPair(k);
  return signWith(a, toLE32(a), A, message, nonce);
}

/** Checks the argument types (throwing INVALID_ARGUMENT); false when u >= p (spec §3 verify step 1). */
function acceptableVerifyInputs(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  assertBytes(publicKey, "x25519 public key", 32);
  assertBytes(message, "message");
  assertBytes(signature, "signature", 64);
  return fromLE(publicKey) < P;
}

/** RFC 8032 strict, cofactorless Ed25519 verification: what every CryptoProvider's ed25519Verify does. */
export type StrictEd25519Verify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;
const referenceVerify: StrictEd25519Verify = (signature, message, publicKey) =>
  verifyEquation(publicKey, message, signature, "canonical");

/**
 * The XEdDSA equation for an Edwards key already converted from u. XEdDSA bounds s by 2^253, Ed25519
 * by q; for s < q the two checks are the same cofactorless equation, so the provider's (native, fast)
 * Ed25519 verify decides; the rare q <= s < 2^253 goes to the reference equation.
 */
function verifyConverted(
  A: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  strict: StrictEd25519Verify,
  options: XeddsaVerifyOptions,
): boolean {
  const s = fromLE(signature.subarray(32, 64));
  if (s < Q) return strict(signature, message, A);
  if (options.strict === true) return false;
  return verifyEquation(A, message, signature, "below-2^253");
}

/** Options of `xeddsaVerify` and `libsignalVerify`. */
export interface XeddsaVerifyOptions {
  /**
   * Refuse s ≥ q (RFC 8032 §5.1.7 and libxeddsa) instead of the spec's s < 2^253 bound (XEdDSA §3 and
   * libsignal). No honest signer produces such an s (it is reduced mod q); accepting it only gives a
   * signature a second valid encoding. Default false: what libsignal accepts, we accept.
   */
  readonly strict?: boolean;
  /**
   * `xeddsaVerify` only: the sign bit of the Edwards key to verify against (convert_mont(u) with this
   * bit), for a signer whose key's real sign bit is known from elsewhere; default 0, the spec's.
   */
  readonly signBit?: 0 | 1;
}

/** XEdDSA verify (spec §3): rejects u ≥ p and s ≥ 2^253, checks the equation without the cofactor. */
export function xeddsaVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  strictVerify: StrictEd25519Verify = referenceVerify,
  options: XeddsaVerifyOptions = {},
): boolean {
  if (!acceptableVerifyInputs(publicKey, message, signature)) return false;
  const signBit = options.signBit ?? 0;
  // All 256 bits of the second half are s: a set bit 255 makes s >= 2^253 and the signature invalid.
  // Only libsignal's variant (below) reads that bit as A's sign; masking it here would give every
  // signature a second valid encoding (malleability).
  return verifyConverted(montgomeryToEdwards(publicKey, signBit), message, signature, strictVerify, options);
}

/**
 * libsignal's Curve25519 signature (curve25519_sign): the clamped scalar k used as is, A = k·B with
 * its real sign bit, nonce hash over k's bytes, and A's sign bit stored in bit 7 of byte 63.
 */
export function libsignalSign(privateKey: Uint8Array, message: Uint8Array, nonce: Uint8Array): Uint8Array {
  const k = checkSignInputs(privateKey, message, nonce);
  const A = scalarMultBase(modQ(k)).toBytes();
  const signature = signWith(modQ(k), clampX25519(privateKey), A, message, nonce);
  signature[63]! |= A[31]! & 0x80;
  return signature;
}

/**
 * libsignal's verification (curve25519_verify): take the sign bit from byte 63 into the Edwards key,
 * clear it in the signature, then verify. Accepts spec XEdDSA signatures too (their bit is 0).
 */
export function libsignalVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  strictVerify: StrictEd25519Verify = referenceVerify,
  options: Pick<XeddsaVerifyOptions, "strict"> = {},
): boolean {
  if (!acceptableVerifyInputs(publicKey, message, signature)) return false;
  const signBit = ((signature[63]! & 0x80) >> 7) as 0 | 1;
  const cleared = signature.slice();
  cleared[63]! &= 0x7f;
  return verifyConverted(montgomeryToEdwards(publicKey, signBit), message, cleared, strictVerify, options);
}

/**
 * The Edwards form of an X25519 private key k (a legacy OMEMO / libsignal identity key): A = k·B with
 * its real sign bit, which libsignal's variant stores in signature byte 63, and that bit.
 * `montgomeryToEdwards(x25519PublicKey(k), signBit)` gives the same A.
 */
export function x25519PrivateToEdwards(privateKey: Uint8Array): { publicKey: Uint8Array; signBit: 0 | 1 } {
  assertBytes(privateKey, "x25519 private key", 32);
  const k = modQ(fromLE(clampX25519(privateKey)));
  if (k === 0n) throw new CryptoError("INVALID_KEY", "x25519 private key is zero modulo the group order");
  const A = scalarMultBase(k).toBytes();
  return { publicKey: A, signBit: (A[31]! >> 7) as 0 | 1 };
}

/** The X25519 private scalar of an Ed25519 seed: SHA-512(seed)[0..32], clamped (RFC 8032 §5.1.5). */
export function ed25519SeedToX25519(seed: Uint8Array): Uint8Array {
  assertBytes(seed, "ed25519 seed", 32);
  return clampX25519(sha512(seed).subarray(0, 32));
}

/**
 * `xeddsaVerify` / `libsignalVerify` up to the equation (`signBit`: xeddsaVerify's option), for an asynchronous Ed25519 verify
 * (`@parley/crypto/webcrypto`): the same argument checks, the same refusal of u >= p (false), the same
 * conversion to Edwards (libsignal: sign bit from byte 63, cleared in the signature). `strict` says which
 * equation decides, as in verifyConverted: a strict Ed25519 verify for s < q, else the reference
 * `verifyEquation(A, message, signature, "below-2^253")`.
 */
export function convertForVerify(
  variant: "xeddsa" | "libsignal",
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  signBit: 0 | 1 = 0,
): false | { A: Uint8Array; signature: Uint8Array; strict: boolean } {
  if (!acceptableVerifyInputs(publicKey, message, signature)) return false;
  let A: Uint8Array;
  let checked = signature;
  if (variant === "xeddsa") {
    A = montgomeryToEdwards(publicKey, signBit);
  } else {
    checked = signature.slice();
    checked[63]! &= 0x7f;
    A = montgomeryToEdwards(publicKey, signature[63]! >> 7 === 1 ? 1 : 0);
  }
  return { A, signature: checked, strict: fromLE(checked.subarray(32, 64)) < Q };
}
