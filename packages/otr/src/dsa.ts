/**
 * DSA long-term keys as OTR uses them: 1024-bit p, 160-bit q; signatures over a 32-byte value taken
 * modulo q (not truncated, not hashed again), encoded as r || s with 20 bytes each (libotr's
 * otrl_privkey_sign over libgcrypt). Fingerprint: SHA-1 of the four MPIs p, q, g, y (the PUBKEY
 * without its type short).
 */
import { bigintToFixed, bytesToBigint, bytesToHex, hexToBytes, Reader, Writer } from "./bytes.js";
import { DSA_Q_BITS, MAX_DSA_P_BITS, MILLER_RABIN_ROUNDS, MIN_DSA_P_BITS, STATE_VERSION } from "./consts.js";
import {
  bitLength,
  createEngine,
  mod,
  modInverse,
  randomBelow,
  randomBits,
  trustNativeModulus,
  type EngineChoice,
  type OtrEngine,
  type RandomSource,
} from "./engine.js";
import { OtrError } from "./errors.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** A DSA public key (p, q, g, y) as carried in OTR's PUBKEY field. */
export class DsaPublicKey {
  readonly p: bigint;
  readonly q: bigint;
  readonly g: bigint;
  readonly y: bigint;
  /** The PUBKEY encoding: type 0x0000 then the MPIs p, q, g, y. */
  readonly encoded: Uint8Array;
  #fingerprint: Uint8Array | undefined;

  constructor(p: bigint, q: bigint, g: bigint, y: bigint) {
    this.p = p;
    this.q = q;
    this.g = g;
    this.y = y;
    this.encoded = new Writer().short(0).mpi(p).mpi(q).mpi(g).mpi(y).finish();
  }

  /** Shape checks that need no exponentiation: sizes and ranges. */
  static checkShape(p: bigint, q: bigint, g: bigint, y: bigint): void {
    const pBits = bitLength(p);
    if (pBits < MIN_DSA_P_BITS || pBits > MAX_DSA_P_BITS || (p & 1n) === 0n)
      throw new OtrError("INVALID_KEY", `DSA p must be an odd number of ${MIN_DSA_P_BITS} to ${MAX_DSA_P_BITS} bits`);
    if (bitLength(q) !== DSA_Q_BITS) throw new OtrError("INVALID_KEY", `DSA q must have ${DSA_Q_BITS} bits`);
    if (mod(p - 1n, q) !== 0n) throw new OtrError("INVALID_KEY", "DSA q does not divide p-1");
    if (g < 2n || g >= p - 1n) throw new OtrError("INVALID_KEY", "DSA g is out of range");
    if (y < 2n || y >= p - 1n) throw new OtrError("INVALID_KEY", "DSA y is out of range");
  }

  /**
   * A key read from the network: shape checks plus subgroup membership of g and y (g^q = y^q = 1 mod p).
   * Throws INVALID_KEY.
   */
  static validated(p: bigint, q: bigint, g: bigint, y: bigint, engine: OtrEngine): DsaPublicKey {
    DsaPublicKey.checkShape(p, q, g, y);
    if (engine.modPow(g, q, p) !== 1n || engine.modPow(y, q, p) !== 1n)
      throw new OtrError("INVALID_KEY", "DSA g or y is not in the order-q subgroup");
    return new DsaPublicKey(p, q, g, y);
  }

  /**
   * Parses a PUBKEY field (type 0x0000 and four MPIs) from a reader; the shape is checked, not the subgroup.
   * @internal The reader is this package's own; the session calls this while parsing the AKE.
   */
  static read(reader: Reader): DsaPublicKey {
    const type = reader.short();
    if (type !== 0) throw new OtrError("INVALID_KEY", `unsupported public key type ${type}`);
    const p = reader.mpi();
    const q = reader.mpi();
    const g = reader.mpi();
    const y = reader.mpi();
    DsaPublicKey.checkShape(p, q, g, y);
    return new DsaPublicKey(p, q, g, y);
  }

  /** The 20-byte OTR fingerprint (SHA-1 of the MPIs p, q, g, y). */
  fingerprint(engine: OtrEngine = createEngine()): Uint8Array {
    this.#fingerprint ??= engine.sha1(this.encoded.subarray(2));
    return this.#fingerprint.slice();
  }

  /** Lowercase hex of the fingerprint (format it for people with @parley/trust's formatFingerprint(…, "otr")). */
  fingerprintHex(engine?: OtrEngine): string {
    return bytesToHex(this.fingerprint(engine));
  }

  equals(other: DsaPublicKey): boolean {
    return this.p === other.p && this.q === other.q && this.g === other.g && this.y === other.y;
  }

  /** Verifies an OTR DSA signature (r || s, 20 bytes each) over a value taken modulo q. Never throws. */
  verify(value: Uint8Array, signature: Uint8Array, engine: OtrEngine): boolean {
    const n = DSA_Q_BITS / 8;
    if (signature.length !== 2 * n) return false;
    const r = bytesToBigint(signature.subarray(0, n));
    const s = bytesToBigint(signature.subarray(n));
    if (r <= 0n || r >= this.q || s <= 0n || s >= this.q) return false;
    const h = bytesToBigint(value);
    let w: bigint;
    try {
      w = modInverse(s, this.q);
    } catch {
      return false; // s shares a factor with a composite q: no valid signature
    }
    const u1 = mod(h * w, this.q);
    const u2 = mod(r * w, this.q);
    const v = mod(mod(engine.modPow(this.g, u1, this.p) * engine.modPow(this.y, u2, this.p), this.p), this.q);
    return v === r;
  }

  toJSON(): unknown {
    return { type: "otr-dsa-public", fingerprint: this.fingerprintHex() };
  }
}

/** A DSA private key. Never prints its secret: inspect, toString and JSON show the fingerprint only. */
export class DsaPrivateKey {
  readonly publicKey: DsaPublicKey;
  readonly #x: bigint;

  /** Builds a key from its parameters; throws INVALID_KEY if they are inconsistent (y != g^x). */
  constructor(p: bigint, q: bigint, g: bigint, y: bigint, x: bigint, engine: OtrEngine = createEngine()) {
    DsaPublicKey.checkShape(p, q, g, y);
    if (x <= 0n || x >= q) throw new OtrError("INVALID_KEY", "DSA x is out of range");
    if (engine.modPow(g, x, p) !== y) throw new OtrError("INVALID_KEY", "DSA y does not match x");
    if (engine.modPow(g, q, p) !== 1n) throw new OtrError("INVALID_KEY", "DSA g is not of order q");
    this.publicKey = new DsaPublicKey(p, q, g, y);
    this.#x = x;
    // Our own modulus: signing may use OpenSSL's exponentiation (never done for a peer's modulus).
    trustNativeModulus(p);
  }

  /** Signs a value (OTR passes the 32-byte MAC M_A or M_B) taken modulo q; returns r || s, 20 bytes each. */
  sign(value: Uint8Array, engine: OtrEngine): Uint8Array {
    const { p, q, g } = this.publicKey;
    const h = bytesToBigint(value);
    for (;;) {
      const k = randomBelow(engine.randomBytes, q);
      const r = mod(engine.modPow(g, k, p), q);
      if (r === 0n) continue;
      const s = mod(modInverse(k, q) * (h + this.#x * r), q);
      if (s === 0n) continue;
      const n = Math.ceil(bitLength(q) / 8);
      const out = new Uint8Array(2 * n);
      out.set(bigintToFixed(r, n), 0);
      out.set(bigintToFixed(s, n), n);
      return out;
    }
  }

  fingerprint(engine?: OtrEngine): Uint8Array {
    return this.publicKey.fingerprint(engine);
  }

  fingerprintHex(engine?: OtrEngine): string {
    return this.publicKey.fingerprintHex(engine);
  }

  /**
   * The key with its secret, as a versioned JSON string for the app's key storage (encrypt it at rest,
   * e.g. with @parley/storage). Read it back with DsaPrivateKey.import.
   */
  export(): string {
    const { p, q, g, y } = this.publicKey;
    return JSON.stringify({
      v: STATE_VERSION,
      type: "otr-dsa-private",
      p: p.toString(16),
      q: q.toString(16),
      g: g.toString(16),
      y: y.toString(16),
      x: this.#x.toString(16),
    });
  }

  /** Reads DsaPrivateKey.export's format; INVALID_KEY for anything else. */
  static import(text: string, engine?: OtrEngine): DsaPrivateKey {
    if (typeof text !== "string" || text.length > 16384) throw new OtrError("INVALID_KEY", "not an exported OTR key");
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new OtrError("INVALID_KEY", "not an exported OTR key (not JSON)");
    }
    if (typeof o !== "object" || o === null || o["type"] !== "otr-dsa-private")
      throw new OtrError("INVALID_KEY", "not an exported OTR key");
    if (typeof o["v"] !== "number" || o["v"] > STATE_VERSION)
      throw new OtrError("UNSUPPORTED_STATE_VERSION", "the key was exported by a newer version");
    const n = (k: string): bigint => {
      const v = o[k];
      if (typeof v !== "string" || !/^[0-9a-f]{1,1024}$/.test(v))
        throw new OtrError("INVALID_KEY", `field ${k} is missing or not hex`);
      return BigInt("0x" + v);
    };
    return new DsaPrivateKey(n("p"), n("q"), n("g"), n("y"), n("x"), engine);
  }

  /** The five parameters including the secret x (for libotr export). Handle with care. */
  exportParameters(): { p: bigint; q: bigint; g: bigint; y: bigint; x: bigint } {
    const { p, q, g, y } = this.publicKey;
    return { p, q, g, y, x: this.#x };
  }

  toJSON(): unknown {
    return { type: "otr-dsa-private", fingerprint: this.fingerprintHex() };
  }
  toString(): string {
    return `DsaPrivateKey(${this.fingerprintHex()})`;
  }
  [INSPECT](): string {
    return this.toString();
  }
}

const SMALL_PRIMES: bigint[] = (() => {
  const out: bigint[] = [];
  const sieve = new Uint8Array(2000);
  for (let i = 2; i < 2000; i++) {
    if (sieve[i]) continue;
    out.push(BigInt(i));
    for (let j = i * i; j < 2000; j += i) sieve[j] = 1;
  }
  return out;
})();

/** Miller-Rabin with random bases, after trial division by the primes below 2000. */
export function isProbablePrime(n: bigint, engine: OtrEngine, rounds = MILLER_RABIN_ROUNDS): boolean {
  if (n < 2n) return false;
  for (const sp of SMALL_PRIMES) {
    if (n === sp) return true;
    if (n % sp === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  outer: for (let i = 0; i < rounds; i++) {
    const a = 2n + mod(randomBits(engine.randomBytes, bitLength(n) + 64), n - 3n);
    let x = engine.modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let j = 1; j < s; j++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

/** Options for generateDsaKey. */
export interface GenerateDsaKeyOptions {
  /** Engine (default "auto"). Key generation takes well under a second natively, a few seconds on BigInt. */
  readonly engine?: EngineChoice;
  /** Random source for the built-in engines (tests). */
  readonly random?: RandomSource;
}

/**
 * A fresh DSA key with 1024-bit p and 160-bit q, the size libotr generates (FIPS 186-2 style: random q,
 * then p = k·2q + 1, then g = h^((p-1)/q)).
 */
export function generateDsaKey(options: GenerateDsaKeyOptions = {}): DsaPrivateKey {
  const engine = createEngine(options.engine ?? "auto", options.random);
  let q: bigint;
  do {
    q = randomBits(engine.randomBytes, DSA_Q_BITS) | (1n << BigInt(DSA_Q_BITS - 1)) | 1n;
  } while (!isProbablePrime(q, engine));
  const twoQ = 2n * q;
  let p: bigint;
  for (;;) {
    const x = randomBits(engine.randomBytes, 1024) | (1n << 1023n);
    p = x - mod(x, twoQ) + 1n;
    if (bitLength(p) === 1024 && isProbablePrime(p, engine)) break;
  }
  const e = (p - 1n) / q;
  let g = 1n;
  for (let h = 2n; g === 1n; h++) g = engine.modPow(h, e, p);
  const x = randomBelow(engine.randomBytes, q);
  const y = engine.modPow(g, x, p);
  return new DsaPrivateKey(p, q, g, y, x, engine);
}

/** Hex parameters for the libotr export (uppercase like libgcrypt; a leading 00 when the top bit is set). */
export function gcryHex(n: bigint): string {
  let hex = n.toString(16).toUpperCase();
  if (hex.length % 2) hex = "0" + hex;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = "00" + hex;
  return hex;
}

export { hexToBytes };
