/**
 * The arithmetic and symmetric primitives OTR needs, with two implementations that give identical
 * results (a property test holds them to it):
 * - "bigint": BigInt modular exponentiation and noble's SHA-1/SHA-256/HMAC/AES-CTR, for browsers;
 * - "native": node:crypto, obtained with `process.getBuiltinModule` so no Node built-in is imported
 *   statically and nothing of it reaches a browser bundle. Modular exponentiation runs on OpenSSL
 *   through DiffieHellman objects: `setPrivateKey(e)` then `computeSecret(b)` is b^e mod p, for the DH
 *   group and our own DSA moduli only; any other modulus (a peer's DSA p) is exponentiated with BigInt.
 */
import type * as NodeCrypto from "node:crypto";
import { ctr } from "@noble/ciphers/aes.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bigintToBytes, bytesToBigint } from "./bytes.js";
import { OtrError } from "./errors.js";
import { MODP_P } from "./group.js";

/** A source of random bytes (the platform CSPRNG by default; injectable for reproducible tests). */
export type RandomSource = (length: number) => Uint8Array;

/** The primitives OTR runs on. Both built-in engines give byte-identical results for every input. */
export interface OtrEngine {
  readonly name: "native" | "bigint";
  /** base^exponent mod modulus, for 0 <= base < modulus, exponent >= 0, odd modulus > 2. */
  readonly modPow: (base: bigint, exponent: bigint, modulus: bigint) => bigint;
  readonly sha1: (data: Uint8Array) => Uint8Array;
  readonly sha256: (data: Uint8Array) => Uint8Array;
  readonly hmacSha1: (key: Uint8Array, data: Uint8Array) => Uint8Array;
  readonly hmacSha256: (key: Uint8Array, data: Uint8Array) => Uint8Array;
  /** AES-128 in counter mode (the whole 16-byte block is the big-endian counter). */
  readonly aesCtr: (key: Uint8Array, iv: Uint8Array, data: Uint8Array) => Uint8Array;
  readonly randomBytes: (length: number) => Uint8Array;
}

export function systemRandom(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let o = 0; o < length; o += 65536)
    globalThis.crypto.getRandomValues(out.subarray(o, Math.min(length, o + 65536)));
  return out;
}

/** Left-to-right fixed-window (4 bits) exponentiation over BigInt. */
export function modPowBigint(base: bigint, exponent: bigint, modulus: bigint): bigint {
  if (modulus === 1n) return 0n;
  let b = base % modulus;
  if (b < 0n) b += modulus;
  if (exponent === 0n) return 1n;
  const table: bigint[] = [1n, b];
  for (let i = 2; i < 16; i++) table.push((table[i - 1]! * b) % modulus);
  const hex = exponent.toString(16);
  let r = 1n;
  for (let i = 0; i < hex.length; i++) {
    if (i > 0) {
      r = (r * r) % modulus;
      r = (r * r) % modulus;
      r = (r * r) % modulus;
      r = (r * r) % modulus;
    }
    const d = parseInt(hex[i]!, 16);
    if (d) r = (r * table[d]!) % modulus;
  }
  return r;
}

/** Modular inverse (a must be coprime with m). */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new OtrError("INVALID_ARGUMENT", "value has no modular inverse");
  return ((oldS % m) + m) % m;
}

export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

export function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** A uniformly random integer of `bits` bits (top bits may be zero). */
export function randomBits(random: RandomSource, bits: number): bigint {
  const bytes = random(Math.ceil(bits / 8));
  const extra = bytes.length * 8 - bits;
  if (extra > 0) bytes[0]! &= 0xff >> extra;
  return bytesToBigint(bytes);
}

/** A uniformly random integer in [1, n-1] by rejection sampling. */
export function randomBelow(random: RandomSource, n: bigint): bigint {
  const bits = bitLength(n);
  for (;;) {
    const v = randomBits(random, bits);
    if (v >= 1n && v < n) return v;
  }
}

function toU8(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The BigInt + noble engine (browsers, and the reference). */
export function createBigintEngine(random: RandomSource = systemRandom): OtrEngine {
  return {
    name: "bigint",
    modPow: modPowBigint,
    sha1: (d) => sha1(d),
    sha256: (d) => sha256(d),
    hmacSha1: (k, d) => hmac(sha1, k, d),
    hmacSha256: (k, d) => hmac(sha256, k, d),
    aesCtr: (k, iv, d) => ctr(k, iv).encrypt(d),
    randomBytes: random,
  };
}

type NodeCryptoModule = typeof NodeCrypto;

function loadNodeCrypto(): NodeCryptoModule | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:crypto") as NodeCryptoModule | undefined;
  } catch {
    return undefined;
  }
}

/** Most DiffieHellman objects kept besides the DH group's (our own DSA moduli). */
const NATIVE_MODULUS_CACHE = 16;

/**
 * DiffieHellman objects by modulus, shared by every native engine: creating one checks the prime with OpenSSL's
 * DH_check (tens of milliseconds for 1536 bits, about a second for 3072), so it is done once per modulus, and only
 * for moduli we chose: the DH group's MODP_P (pinned, never evicted) and the p of our own DSA keys (see
 * trustNativeModulus). A modulus a peer sends (its DSA p) never gets one: a peer rotating moduli could otherwise
 * make every message cost a DH_check and evict MODP_P. Holds only public moduli; the exponent set with
 * setPrivateKey is overwritten by the next call, which runs synchronously right after.
 */
const nativeDhCache = new Map<bigint, NodeCrypto.DiffieHellman>();
/** Moduli the native engine exponentiates with OpenSSL; every other modulus goes to modPowBigint. */
const nativeModuli = new Set<bigint>([MODP_P]);

/**
 * Lets the native engine use OpenSSL for exponentiations modulo `p` (the DSA p of one of our own private keys;
 * called by DsaPrivateKey). Never call it with a modulus received from a peer. Keeps the newest
 * NATIVE_MODULUS_CACHE moduli besides MODP_P.
 * @internal
 */
export function trustNativeModulus(p: bigint): void {
  if (nativeModuli.has(p)) return;
  nativeModuli.add(p);
  while (nativeModuli.size > NATIVE_MODULUS_CACHE + 1) {
    const oldest = [...nativeModuli].find((m) => m !== MODP_P)!;
    nativeModuli.delete(oldest);
    nativeDhCache.delete(oldest);
  }
}

/** The node:crypto engine, or undefined where node:crypto does not exist. */
export function createNativeEngine(random: RandomSource = systemRandom): OtrEngine | undefined {
  const nc = loadNodeCrypto();
  if (!nc?.createDiffieHellman) return undefined;
  const cache = nativeDhCache;
  const dhFor = (modulus: bigint): NodeCrypto.DiffieHellman => {
    let dh = cache.get(modulus);
    if (!dh) {
      dh = nc.createDiffieHellman(Buffer.from(bigintToBytes(modulus)), Buffer.of(2));
      cache.set(modulus, dh);
    }
    return dh;
  };
  return {
    name: "native",
    modPow: (base, exponent, modulus) => {
      const b = mod(base, modulus);
      // OpenSSL's DH refuses public values outside 2..p-2 and tiny moduli; those cases are trivial anyway.
      // Moduli we did not choose (a peer's DSA p, primality-test candidates) also take the BigInt path: see
      // nativeDhCache.
      if (exponent < 2n || b < 2n || b > modulus - 2n || !nativeModuli.has(modulus) || bitLength(modulus) < 512) {
        return modPowBigint(b, exponent, modulus);
      }
      const dh = dhFor(modulus);
      const run = (e: bigint): bigint | undefined => {
        dh.setPrivateKey(Buffer.from(bigintToBytes(e)));
        try {
          return bytesToBigint(toU8(dh.computeSecret(Buffer.from(bigintToBytes(b)))));
        } catch {
          // OpenSSL 3 refuses a shared secret of 1 or p-1 (SP 800-56A 5.7.1.1).
          return undefined;
        }
      };
      const r = run(exponent);
      if (r !== undefined) return r;
      // b^e = b^(e-1) * b, computed natively unless that too is refused.
      const r1 = run(exponent - 1n);
      return r1 === undefined ? modPowBigint(b, exponent, modulus) : (r1 * b) % modulus;
    },
    sha1: (d) => toU8(nc.createHash("sha1").update(d).digest()),
    sha256: (d) => toU8(nc.createHash("sha256").update(d).digest()),
    hmacSha1: (k, d) => toU8(nc.createHmac("sha1", k).update(d).digest()),
    hmacSha256: (k, d) => toU8(nc.createHmac("sha256", k).update(d).digest()),
    aesCtr: (k, iv, d) => {
      const c = nc.createCipheriv("aes-128-ctr", k, iv);
      return toU8(Buffer.concat([c.update(d), c.final()]));
    },
    randomBytes: random,
  };
}

/** Which engine: "auto" (native where node:crypto exists, else bigint), "native" (throws UNSUPPORTED elsewhere), "bigint", or your own. */
export type EngineChoice = "auto" | "native" | "bigint" | OtrEngine;

/** Resolves an engine choice; `random` replaces the CSPRNG of a built-in engine (tests). */
export function createEngine(choice: EngineChoice = "auto", random?: RandomSource): OtrEngine {
  if (typeof choice === "object") return choice;
  if (choice === "bigint") return createBigintEngine(random);
  const native = createNativeEngine(random);
  if (native) return native;
  if (choice === "native")
    throw new OtrError("UNSUPPORTED", "the native engine needs node:crypto, which this platform lacks");
  return createBigintEngine(random);
}
