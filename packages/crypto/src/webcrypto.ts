/**
 * @parley/crypto/webcrypto: an optional, asynchronous path through the platform's WebCrypto
 * (`crypto.subtle` with "X25519" and "Ed25519") for the public-key work that can wait for a promise:
 * one-time prekey generation, bundle (signed prekey) verification, Ed25519 signing. In a browser that is
 * several times faster than noble's pure-JS curves and runs off the main thread; the ratchet core stays
 * synchronous on the `Crypto` facade, which `createX25519KeyPairPool` can serve key pairs made ahead.
 *
 * Every function gives the same result as the synchronous facade for every input, or rejects with the same
 * `CryptoError` (code and message): the facade's checks run first (lengths, u < p, canonical A and R, s < L),
 * WebCrypto computes, and every WebCrypto failure (a refused key, an all-zero secret, a missing algorithm)
 * is answered by noble, which then decides exactly as the facade does. `webCryptoAvailable()` probes each
 * algorithm once against known answers, including a signature that only a cofactored verifier accepts
 * (the facade's equation is cofactorless); an algorithm that fails the probe is never used.
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { assertBytes, concatBytes, constantTimeEqual } from "./bytes.js";
import type { Crypto } from "./crypto.js";
import { isAllZero, isCanonicalEd25519Point, isScalarBelowL } from "./checks.js";
import { verifyEquation } from "./edwards.js";
import { CryptoError } from "./errors.js";
import { KeyPair } from "./keys.js";
import { drawRandom, systemRandom, type RandomSource } from "./random.js";
import { clampX25519, convertForVerify, type XeddsaVerifyOptions } from "./xeddsa.js";

/** Which WebCrypto algorithms passed the probe (and so are used) on this platform. */
export interface WebCryptoSupport {
  readonly x25519: boolean;
  readonly ed25519: boolean;
}

/**
 * The part of WebCrypto's `SubtleCrypto` this module calls, written without DOM types so that a project
 * compiled without `lib: ["DOM"]` (Node) can use this module; `crypto.subtle` is one.
 */
export interface WebCryptoSubtle {
  importKey(
    format: "raw" | "pkcs8",
    keyData: ArrayBuffer,
    algorithm: { name: string },
    extractable: boolean,
    keyUsages: string[],
  ): Promise<unknown>;
  exportKey(format: "jwk", key: unknown): Promise<{ x?: string }>;
  deriveBits(algorithm: { name: string; public: unknown }, baseKey: unknown, length: number): Promise<ArrayBuffer>;
  sign(algorithm: { name: string }, key: unknown, data: ArrayBuffer): Promise<ArrayBuffer>;
  verify(algorithm: { name: string }, key: unknown, signature: ArrayBuffer, data: ArrayBuffer): Promise<boolean>;
}

export interface WebCryptoOptions {
  /**
   * The SubtleCrypto to use; `globalThis.crypto.subtle` by default (absent on an insecure `http:` page).
   * `null` forces noble (the same results, synchronous work behind a promise).
   */
  readonly subtle?: WebCryptoSubtle | null;
  /** Random source for `generateX25519KeyPairs`; the platform CSPRNG (`systemRandom`) by default. */
  readonly random?: RandomSource;
}

/** Most key pairs one `generateX25519KeyPairs` call makes. */
export const MAX_KEY_PAIRS_PER_CALL = 10_000;

/**
 * How many WebCrypto key generations are in flight at once (each is two platform calls). More does not
 * help on a 2-core machine (Chromium 150: 100 keys took about the same time in flight 1 to 32, and more
 * with 100), and a bounded batch keeps a large count from queueing thousands of operations.
 */
const BATCH = 8;

const X25519_PKCS8 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);
const ED25519_PKCS8 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const X25519 = { name: "X25519" } as const;
const ED25519 = { name: "Ed25519" } as const;
const LOW_ORDER_MESSAGE = "X25519 produced an all-zero shared secret: the public key is a low-order point";

// ---------------------------------------------------------------------------------------------
// Byte helpers. WebCrypto is given ArrayBuffers of our own: inputs are copied (a caller's array may be a
// view into a larger or shared buffer), and the copies of secrets are zeroed after use.

const copy = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;
const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!, (byte) => Number.parseInt(byte, 16));

function fromBase64Url(text: unknown): Uint8Array | undefined {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(text)) return undefined;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=");
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function pkcs8(prefix: Uint8Array, raw: Uint8Array): Uint8Array {
  return concatBytes(prefix, raw);
}

// ---------------------------------------------------------------------------------------------
// Raw WebCrypto operations. Each returns undefined (never throws) when the platform refuses; the
// callers then let noble decide.

async function webX25519PublicKey(subtle: WebCryptoSubtle, clamped: Uint8Array): Promise<Uint8Array | undefined> {
  const der = pkcs8(X25519_PKCS8, clamped);
  try {
    const key = await subtle.importKey("pkcs8", der.buffer as ArrayBuffer, X25519, true, ["deriveBits"]);
    const jwk = await subtle.exportKey("jwk", key);
    return fromBase64Url(jwk.x);
  } catch {
    return undefined;
  } finally {
    der.fill(0);
  }
}

async function webX25519(
  subtle: WebCryptoSubtle,
  privateKey: Uint8Array,
  publicKey: Uint8Array,
): Promise<Uint8Array | undefined> {
  const der = pkcs8(X25519_PKCS8, privateKey);
  try {
    const [ours, theirs] = await Promise.all([
      subtle.importKey("pkcs8", der.buffer as ArrayBuffer, X25519, false, ["deriveBits"]),
      subtle.importKey("raw", copy(publicKey), X25519, false, []),
    ]);
    const bits = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: theirs }, ours, 256));
    return bits.length === 32 ? bits : undefined;
  } catch {
    return undefined;
  } finally {
    der.fill(0);
  }
}

async function webEd25519Sign(
  subtle: WebCryptoSubtle,
  seed: Uint8Array,
  message: Uint8Array,
): Promise<Uint8Array | undefined> {
  const der = pkcs8(ED25519_PKCS8, seed);
  try {
    const key = await subtle.importKey("pkcs8", der.buffer as ArrayBuffer, ED25519, false, ["sign"]);
    const signature = new Uint8Array(await subtle.sign(ED25519, key, copy(message)));
    return signature.length === 64 ? signature : undefined;
  } catch {
    return undefined;
  } finally {
    der.fill(0);
  }
}

async function webEd25519Verify(
  subtle: WebCryptoSubtle,
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean | undefined> {
  try {
    const key = await subtle.importKey("raw", copy(publicKey), ED25519, false, ["verify"]);
    const ok: unknown = await subtle.verify(ED25519, key, copy(signature), copy(message));
    return typeof ok === "boolean" ? ok : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Feature detection: known answers per algorithm, once per SubtleCrypto object.

/** RFC 7748 §6.1: Alice's private and public key, Bob's public key, the shared secret. */
const RFC7748 = {
  alicePrivate: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  alicePublic: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  bobPublic: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
};
/** RFC 8032 §7.1 TEST 2 (one-byte message 0x72). */
const RFC8032 = {
  seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
  publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
  message: "72",
  signature:
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
};
/**
 * A signature that only a cofactored verifier accepts: A = a·B + T with T of order 8, R = r·B,
 * s = r + h·a with h ≢ 0 (mod 8), so s·B − h·A = R − h·T ≠ R. The facade's equation is cofactorless
 * (RFC 8032 §5.1.7 as OpenSSL and BoringSSL check it) and rejects it; a platform that accepts it would
 * disagree with the facade on such keys, so its Ed25519 is not used.
 */
const COFACTORED_ONLY = {
  publicKey: "c043524245c0513bb0d2dba6b5e3ddacbd9b521c1fcfb27a64e627d94ad5e1e0",
  message: "7061726c657920636f666163746f722070726f62652030",
  signature:
    "14cb7f298f9d01335a3a3f5f71f93fc0e959ae3b9c80a111cf091a029e007615006130fafd92b502e75458fa1098bc2e2efa4a2d7eade21f6692663b21f33800",
};

async function probeX25519(subtle: WebCryptoSubtle): Promise<boolean> {
  const privateKey = fromHex(RFC7748.alicePrivate);
  const [publicKey, shared] = await Promise.all([
    webX25519PublicKey(subtle, clampX25519(privateKey)),
    webX25519(subtle, privateKey, fromHex(RFC7748.bobPublic)),
  ]);
  return (
    publicKey !== undefined &&
    shared !== undefined &&
    constantTimeEqual(publicKey, fromHex(RFC7748.alicePublic)) &&
    constantTimeEqual(shared, fromHex(RFC7748.shared))
  );
}

async function probeEd25519(subtle: WebCryptoSubtle): Promise<boolean> {
  const message = fromHex(RFC8032.message);
  const publicKey = fromHex(RFC8032.publicKey);
  const signature = fromHex(RFC8032.signature);
  const tampered = signature.slice();
  tampered[0]! ^= 1;
  const [signed, valid, invalid, cofactored] = await Promise.all([
    webEd25519Sign(subtle, fromHex(RFC8032.seed), message),
    webEd25519Verify(subtle, signature, message, publicKey),
    webEd25519Verify(subtle, tampered, message, publicKey),
    webEd25519Verify(
      subtle,
      fromHex(COFACTORED_ONLY.signature),
      fromHex(COFACTORED_ONLY.message),
      fromHex(COFACTORED_ONLY.publicKey),
    ),
  ]);
  return (
    signed !== undefined &&
    constantTimeEqual(signed, signature) &&
    valid === true &&
    invalid === false &&
    // false, or a refusal (then noble decides): never true.
    cofactored !== true
  );
}

const NONE: WebCryptoSupport = Object.freeze({ x25519: false, ed25519: false });
const probes = new WeakMap<WebCryptoSubtle, Promise<WebCryptoSupport>>();

function subtleOf(options: WebCryptoOptions | undefined): WebCryptoSubtle | null {
  if (options?.subtle !== undefined) return options.subtle;
  const webcrypto = globalThis.crypto as { subtle?: WebCryptoSubtle } | undefined;
  return webcrypto?.subtle ?? null;
}

/**
 * Which of X25519 and Ed25519 this platform's WebCrypto computes correctly (known answers, probed once
 * per SubtleCrypto and cached). Never rejects: a platform without WebCrypto, or without an algorithm,
 * gives false for it, and the functions of this module then use noble.
 */
export function webCryptoAvailable(options?: WebCryptoOptions): Promise<WebCryptoSupport> {
  const subtle = subtleOf(options);
  if (!subtle) return Promise.resolve(NONE);
  let probe = probes.get(subtle);
  if (!probe) {
    const safely = (p: Promise<boolean>) => p.catch(() => false);
    probe = Promise.all([safely(probeX25519(subtle)), safely(probeEd25519(subtle))]).then(([x25519, ed25519]) =>
      Object.freeze({ x25519, ed25519 }),
    );
    probes.set(subtle, probe);
  }
  return probe;
}

/** The SubtleCrypto to use for an algorithm, or null when noble must compute. */
async function subtleFor(options: WebCryptoOptions | undefined, algorithm: keyof WebCryptoSupport) {
  const subtle = subtleOf(options);
  if (!subtle) return null;
  return (await webCryptoAvailable(options))[algorithm] ? subtle : null;
}

// ---------------------------------------------------------------------------------------------
// The facade's checks and noble's answers, as `createCrypto({ provider: "noble" })` gives them.

// nobleProvider's X25519 and Ed25519 calls (src/noble.ts), imported one by one: the provider object
// would bring all of noble (AES, ChaCha, scrypt) into a bundle that needs only the curves.
const noble = {
  x25519PublicKey: (privateKey: Uint8Array): Uint8Array => x25519.getPublicKey(privateKey),
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(privateKey, publicKey);
    } catch (cause) {
      // noble throws exactly when the result is the all-zero point (low-order peer key).
      throw new CryptoError("LOW_ORDER_POINT", LOW_ORDER_MESSAGE, { cause });
    }
    if (isAllZero(shared)) throw new CryptoError("LOW_ORDER_POINT", LOW_ORDER_MESSAGE);
    return shared;
  },
  ed25519Sign: (seed: Uint8Array, message: Uint8Array): Uint8Array => ed25519.sign(message, seed),
  ed25519Verify: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean =>
    verifyEquation(publicKey, message, signature, "canonical"),
};

/** The facade's strict Ed25519 verification: canonical A and R, s < L, then the equation decides. */
async function strictVerify(
  subtle: WebCryptoSubtle | null,
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): Promise<boolean> {
  if (
    !isCanonicalEd25519Point(publicKey) ||
    !isCanonicalEd25519Point(signature.subarray(0, 32)) ||
    !isScalarBelowL(signature)
  ) {
    return false;
  }
  const answer = subtle ? await webEd25519Verify(subtle, signature, message, publicKey) : undefined;
  return answer ?? noble.ed25519Verify(signature, message, publicKey);
}

// ---------------------------------------------------------------------------------------------
// The API.

function assertCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_KEY_PAIRS_PER_CALL) {
    throw new CryptoError(
      "INVALID_ARGUMENT",
      `count must be an integer from 1 to ${MAX_KEY_PAIRS_PER_CALL}, got ${String(count)}`,
    );
  }
}

/**
 * `count` fresh X25519 key pairs, as `Crypto.generateX25519KeyPair()` makes them: 32 random bytes from
 * `options.random` (the platform CSPRNG by default), stored clamped, with their public key. WebCrypto
 * computes the public keys (an import of the private key and a JWK export, 8 at a time); without
 * it, noble does. The same random source gives byte-identical key pairs on either path.
 */
export async function generateX25519KeyPairs(count: number, options?: WebCryptoOptions): Promise<KeyPair[]> {
  assertCount(count);
  const random = options?.random ?? systemRandom;
  const subtle = await subtleFor(options, "x25519");
  const pairs: KeyPair[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const privateKeys: Uint8Array[] = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) privateKeys.push(clampX25519(drawRandom(random, 32)));
    const publicKeys = await Promise.all(
      privateKeys.map(async (privateKey) => {
        const fromPlatform = subtle ? await webX25519PublicKey(subtle, privateKey) : undefined;
        return fromPlatform ?? noble.x25519PublicKey(privateKey);
      }),
    );
    privateKeys.forEach((privateKey, i) => pairs.push(new KeyPair("x25519", privateKey, publicKeys[i]!)));
  }
  return pairs;
}

/**
 * `Crypto.x25519` through WebCrypto: the same shared secret, and LOW_ORDER_POINT for an all-zero one
 * (low-order or zero public key), INVALID_ARGUMENT for a wrong length. The private key is clamped as
 * RFC 7748 says whether or not it is stored clamped.
 */
export async function x25519Async(
  privateKey: Uint8Array,
  publicKey: Uint8Array,
  options?: WebCryptoOptions,
): Promise<Uint8Array> {
  assertBytes(privateKey, "x25519 private key", 32);
  assertBytes(publicKey, "x25519 public key", 32);
  const subtle = await subtleFor(options, "x25519");
  const shared = subtle ? await webX25519(subtle, privateKey, publicKey) : undefined;
  // A refusal (WebCrypto throws on an all-zero secret, and may refuse an unusual encoding): noble decides.
  if (shared === undefined) return noble.x25519(privateKey, publicKey);
  // RFC 7748 §6.1, as the facade checks it for every provider: a platform may return the zeros.
  if (isAllZero(shared)) {
    throw new CryptoError("LOW_ORDER_POINT", LOW_ORDER_MESSAGE);
  }
  return shared;
}

/** `Crypto.ed25519Sign` through WebCrypto: Ed25519 is deterministic, so the signature is byte-identical. */
export async function ed25519SignAsync(
  seed: Uint8Array,
  message: Uint8Array,
  options?: WebCryptoOptions,
): Promise<Uint8Array> {
  assertBytes(seed, "ed25519 seed", 32);
  assertBytes(message, "message");
  const subtle = await subtleFor(options, "ed25519");
  const signature = subtle ? await webEd25519Sign(subtle, seed, message) : undefined;
  return signature ?? noble.ed25519Sign(seed, message);
}

/**
 * `Crypto.ed25519Verify` through WebCrypto: RFC 8032 with the facade's strict encodings (canonical A
 * and R, s < L, checked here first) and the cofactorless equation. False for any invalid signature or
 * key; INVALID_ARGUMENT for a wrong length, as the facade.
 */
export async function ed25519VerifyAsync(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
  options?: WebCryptoOptions,
): Promise<boolean> {
  assertBytes(signature, "signature", 64);
  assertBytes(message, "message");
  assertBytes(publicKey, "ed25519 public key", 32);
  return strictVerify(await subtleFor(options, "ed25519"), signature, message, publicKey);
}

async function montgomeryVerify(
  variant: "xeddsa" | "libsignal",
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  options: (WebCryptoOptions & XeddsaVerifyOptions) | undefined,
): Promise<boolean> {
  const converted = convertForVerify(variant, publicKey, message, signature, options?.signBit ?? 0);
  if (!converted) return false;
  if (!converted.strict) {
    // s ≥ q: refused with `strict`, else the spec's bound and the reference equation (as the facade).
    if (options?.strict === true) return false;
    return verifyEquation(converted.A, message, converted.signature, "below-2^253");
  }
  return strictVerify(await subtleFor(options, "ed25519"), converted.signature, message, converted.A);
}

/**
 * `Crypto.xeddsaVerify` through WebCrypto (a bundle's signed prekey in the XEdDSA profiles): u < p,
 * convert_mont with sign bit 0 (or `options.signBit`), s < 2^253 (bit 255 is part of s; s < q with
 * `options.strict`), the cofactorless equation.
 */
export async function xeddsaVerifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  options?: WebCryptoOptions & XeddsaVerifyOptions,
): Promise<boolean> {
  return montgomeryVerify("xeddsa", publicKey, message, signature, options);
}

/**
 * `Crypto.libsignalVerify` through WebCrypto (legacy OMEMO bundles): the Edwards sign bit from bit 7 of
 * signature byte 63, then as `xeddsaVerifyAsync`. Accepts spec XEdDSA signatures too.
 */
export async function libsignalVerifyAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  options?: WebCryptoOptions & Pick<XeddsaVerifyOptions, "strict">,
): Promise<boolean> {
  return montgomeryVerify("libsignal", publicKey, message, signature, options);
}

// ---------------------------------------------------------------------------------------------
// A pool of key pairs for the synchronous core.

/** Largest `capacity` of an X25519 key pair pool. */
export const MAX_POOL_CAPACITY = 1000;

export interface X25519KeyPairPoolOptions extends WebCryptoOptions {
  /** How many key pairs the pool holds when full (1 to 1000); 32 by default. */
  readonly capacity?: number;
}

export interface X25519KeyPairPool {
  /**
   * The `Crypto` it was made from, except that `generateX25519KeyPair()` hands out a pooled key pair
   * (made by `generateX25519KeyPairs`) while there is one, and asks the original when the pool is empty.
   * Pass it to the synchronous X3DH and Double Ratchet code: their ephemeral and ratchet key pairs then
   * cost nothing on the main thread.
   */
  readonly crypto: Crypto;
  /** Key pairs ready now. */
  readonly size: number;
  /** Tops the pool up to its capacity. Started by itself (never rejecting) when it falls below half. */
  refill(): Promise<void>;
}

/**
 * Fresh X25519 key pairs made ahead of time through WebCrypto, for the synchronous core: in a DH
 * ratchet step or an X3DH initiation, key generation is the one public-key operation whose input does
 * not come from the peer, so it can be done before the message arrives. Resolves when the pool is full.
 * The pooled pairs come from `options.random` (the platform CSPRNG by default), not from the random
 * source `crypto` was created with; each pair is handed out once and then dropped from the pool.
 */
export async function createX25519KeyPairPool(
  crypto: Crypto,
  options: X25519KeyPairPoolOptions = {},
): Promise<X25519KeyPairPool> {
  const capacity = options.capacity ?? 32;
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_POOL_CAPACITY) {
    throw new CryptoError(
      "INVALID_ARGUMENT",
      `capacity must be an integer from 1 to ${MAX_POOL_CAPACITY}, got ${String(capacity)}`,
    );
  }
  const ready: KeyPair[] = [];
  let filling: Promise<void> | undefined;
  const refill = (): Promise<void> => {
    filling ??= (async () => {
      while (ready.length < capacity) {
        ready.push(...(await generateX25519KeyPairs(Math.min(BATCH, capacity - ready.length), options)));
      }
    })().finally(() => {
      filling = undefined;
    });
    return filling;
  };
  const generateX25519KeyPair = (): KeyPair => {
    const pair = ready.shift();
    if (ready.length < capacity / 2 && !filling) {
      // A failed refill (a broken random source) leaves the pool short; the original Crypto serves.
      void refill().catch(() => undefined);
    }
    return pair ?? crypto.generateX25519KeyPair();
  };
  const wrapped = new Proxy(crypto, {
    get(target, name) {
      if (name === "generateX25519KeyPair") return generateX25519KeyPair;
      const value: unknown = Reflect.get(target, name);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  await refill();
  return {
    crypto: wrapped,
    get size() {
      return ready.length;
    },
    refill,
  };
}
