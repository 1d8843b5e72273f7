/**
 * The two primitives the store runs per record, XChaCha20-Poly1305 and HMAC-SHA256, on the store's
 * hot path. With the native `@parley/crypto` provider in Node they run here straight on node:crypto
 * (HChaCha20 in JavaScript, one block, then OpenSSL's ChaCha20-Poly1305; createHmac): the same bytes as
 * the facade, without its per-call checks and copies, which cost as much as the cipher for records of a
 * few hundred bytes. Everywhere else (browsers, the noble provider, a custom provider) they are the
 * facade's own calls. node:crypto is reached through `process.getBuiltinModule`, never imported, so a
 * browser bundle contains none of it (as in `@parley/crypto`).
 */
import { defaultCrypto, isCryptoError, type Crypto } from "@parley/crypto";

export interface RecordCrypto {
  /** "native" (node:crypto here) or "facade" (the Crypto object's own calls). */
  readonly path: "native" | "facade";
  /**
   * XChaCha20-Poly1305: ciphertext ‖ tag, after `reserve` bytes (default 0) left for the caller to fill
   * (a record's format byte and nonce), so that the sealed record is one allocation, not two.
   */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, reserve?: number): Uint8Array;
  /** The plaintext, or undefined when authentication fails (never a partial plaintext). */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HMAC-SHA256 under one key, many times: natively the key's padded blocks are hashed once (RFC 2104). */
  macFor(key: Uint8Array): (data: Uint8Array) => Uint8Array;
}

interface NodeCipher {
  setAAD(aad: Uint8Array): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  getAuthTag(): Uint8Array;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}
interface NodeCrypto {
  /** One-shot digest (Node 20.12 and later); "latin1": one character per byte. */
  hash?: (alg: string, data: Uint8Array, outputEncoding: "latin1") => string;
  createCipheriv(alg: string, key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeCipher;
  createDecipheriv(alg: string, key: Uint8Array, iv: Uint8Array, options: { authTagLength: number }): NodeCipher;
  createHmac(alg: string, key: Uint8Array): { update(data: Uint8Array): { digest(): Uint8Array } };
}

function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const c = proc?.getBuiltinModule?.("node:crypto") as Partial<NodeCrypto> | undefined;
    if (typeof c?.createCipheriv !== "function" || typeof c.createHmac !== "function") return undefined;
    return c as NodeCrypto;
  } catch {
    return undefined;
  }
}

/** The facade's calls: the browser path, and the reference the native path is tested against. */
export function facadeRecordCrypto(crypto: Crypto): RecordCrypto {
  return {
    path: "facade",
    seal(key, nonce, plaintext, ad, reserve = 0) {
      const sealed = crypto.xchacha20Poly1305Encrypt(key, nonce, plaintext, ad);
      if (reserve === 0) return sealed;
      const out = new Uint8Array(reserve + sealed.length);
      out.set(sealed, reserve);
      return out;
    },
    open(key, nonce, sealed, ad) {
      try {
        return crypto.xchacha20Poly1305Decrypt(key, nonce, sealed, ad);
      } catch (error) {
        if (isCryptoError(error)) return undefined;
        throw error;
      }
    },
    hmacSha256: (key, data) => crypto.hmacSha256(key, data),
    macFor: (key) => (data) => crypto.hmacSha256(key, data),
  };
}

/** The cipher options, one object for every call. */
const TAG_16 = { authTagLength: 16 } as const;

/** node:crypto directly, or undefined where it is missing (browsers). Keys are 32 bytes, nonces 24. */
export function nativeRecordCrypto(): RecordCrypto | undefined {
  const c = nodeCrypto();
  if (!c) return undefined;
  // Reused per call: Node copies key and iv into the cipher context when it is created.
  const subkey = new Uint8Array(32);
  const iv = new Uint8Array(12);
  const prepare = (key: Uint8Array, nonce: Uint8Array) => {
    hchacha20(key, nonce, subkey);
    for (let i = 0; i < 8; i++) iv[4 + i] = nonce[16 + i]!;
  };
  const hmac = (key: Uint8Array, data: Uint8Array): Uint8Array => {
    const mac = c.createHmac("sha256", key).update(data).digest();
    return new Uint8Array(mac.buffer, mac.byteOffset, mac.byteLength);
  };
  return {
    path: "native",
    seal(key, nonce, plaintext, ad, reserve = 0) {
      prepare(key, nonce);
      const cipher = c.createCipheriv("chacha20-poly1305", subkey, iv, TAG_16);
      subkey.fill(0);
      // (The plaintext length that setAAD can take matters only to CCM mode.)
      cipher.setAAD(ad);
      const body = cipher.update(plaintext);
      cipher.final();
      const out = new Uint8Array(reserve + body.length + 16);
      out.set(body, reserve);
      out.set(cipher.getAuthTag(), reserve + body.length);
      return out;
    },
    open(key, nonce, sealed, ad) {
      if (sealed.length < 16) return undefined;
      prepare(key, nonce);
      const length = sealed.length - 16;
      const decipher = c.createDecipheriv("chacha20-poly1305", subkey, iv, TAG_16);
      subkey.fill(0);
      decipher.setAAD(ad);
      decipher.setAuthTag(sealed.subarray(length));
      const body = decipher.update(sealed.subarray(0, length));
      try {
        decipher.final();
      } catch {
        body.fill(0);
        return undefined;
      }
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    },
    hmacSha256: hmac,
    macFor(key) {
      // HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), K zero-padded to the 64-byte block (RFC 2104),
      // with Node's one-shot hash (no Hash object per call). Its digests come back as latin1 strings
      // (one character per byte, exact for every byte value): a short string stays on the JavaScript
      // heap, where a Buffer would be memory of its own to allocate and free, at several times the cost.
      const oneShot = c.hash;
      if (key.length > 64 || typeof oneShot !== "function") return (data) => hmac(key, data);
      let inner = new Uint8Array(64 + 256);
      const outer = new Uint8Array(64 + 32);
      for (let i = 0; i < 64; i++) {
        const k = i < key.length ? key[i]! : 0;
        inner[i] = k ^ 0x36;
        outer[i] = k ^ 0x5c;
      }
      return (data) => {
        if (64 + data.length > inner.length) {
          const grown = new Uint8Array(64 + data.length);
          grown.set(inner.subarray(0, 64));
          inner = grown;
        }
        inner.set(data, 64);
        const innerHash = oneShot("sha256", inner.subarray(0, 64 + data.length), "latin1");
        for (let i = 0; i < 32; i++) outer[64 + i] = innerHash.charCodeAt(i);
        const digest = oneShot("sha256", outer, "latin1");
        const mac = new Uint8Array(32);
        for (let i = 0; i < 32; i++) mac[i] = digest.charCodeAt(i);
        return mac;
      };
    },
  };
}

/**
 * Native only for the package's default Crypto when it computes natively (it is then node:crypto
 * anyway); a Crypto the caller passed is used as given, call by call, whatever its provider says.
 */
export function recordCryptoFor(crypto: Crypto): RecordCrypto {
  const native = crypto === defaultCrypto() && crypto.provider === "native" ? nativeRecordCrypto() : undefined;
  return native ?? facadeRecordCrypto(crypto);
}

const rotl = (a: number, b: number): number => (a << b) | (a >>> (32 - b));

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): key and the nonce's first 16 bytes → a 32-byte subkey in `out`. */
export function hchacha20(key: Uint8Array, nonce: Uint8Array, out: Uint8Array): void {
  // Little-endian words read byte by byte: no DataView per call (this runs once per record).
  let x0 = 0x61707865;
  let x1 = 0x3320646e;
  let x2 = 0x79622d32;
  let x3 = 0x6b206574;
  let x4 = le32(key, 0);
  let x5 = le32(key, 4);
  let x6 = le32(key, 8);
  let x7 = le32(key, 12);
  let x8 = le32(key, 16);
  let x9 = le32(key, 20);
  let x10 = le32(key, 24);
  let x11 = le32(key, 28);
  let x12 = le32(nonce, 0);
  let x13 = le32(nonce, 4);
  let x14 = le32(nonce, 8);
  let x15 = le32(nonce, 12);
  for (let i = 0; i < 10; i++) {
    // Column round.
    x0 = (x0 + x4) | 0;
    x12 = rotl(x12 ^ x0, 16);
    x8 = (x8 + x12) | 0;
    x4 = rotl(x4 ^ x8, 12);
    x0 = (x0 + x4) | 0;
    x12 = rotl(x12 ^ x0, 8);
    x8 = (x8 + x12) | 0;
    x4 = rotl(x4 ^ x8, 7);
    x1 = (x1 + x5) | 0;
    x13 = rotl(x13 ^ x1, 16);
    x9 = (x9 + x13) | 0;
    x5 = rotl(x5 ^ x9, 12);
    x1 = (x1 + x5) | 0;
    x13 = rotl(x13 ^ x1, 8);
    x9 = (x9 + x13) | 0;
    x5 = rotl(x5 ^ x9, 7);
    x2 = (x2 + x6) | 0;
    x14 = rotl(x14 ^ x2, 16);
    x10 = (x10 + x14) | 0;
    x6 = rotl(x6 ^ x10, 12);
    x2 = (x2 + x6) | 0;
    x14 = rotl(x14 ^ x2, 8);
    x10 = (x10 + x14) | 0;
    x6 = rotl(x6 ^ x10, 7);
    x3 = (x3 + x7) | 0;
    x15 = rotl(x15 ^ x3, 16);
    x11 = (x11 + x15) | 0;
    x7 = rotl(x7 ^ x11, 12);
    x3 = (x3 + x7) | 0;
    x15 = rotl(x15 ^ x3, 8);
    x11 = (x11 + x15) | 0;
    x7 = rotl(x7 ^ x11, 7);
    // Diagonal round.
    x0 = (x0 + x5) | 0;
    x15 = rotl(x15 ^ x0, 16);
    x10 = (x10 + x15) | 0;
    x5 = rotl(x5 ^ x10, 12);
    x0 = (x0 + x5) | 0;
    x15 = rotl(x15 ^ x0, 8);
    x10 = (x10 + x15) | 0;
    x5 = rotl(x5 ^ x10, 7);
    x1 = (x1 + x6) | 0;
    x12 = rotl(x12 ^ x1, 16);
    x11 = (x11 + x12) | 0;
    x6 = rotl(x6 ^ x11, 12);
    x1 = (x1 + x6) | 0;
    x12 = rotl(x12 ^ x1, 8);
    x11 = (x11 + x12) | 0;
    x6 = rotl(x6 ^ x11, 7);
    x2 = (x2 + x7) | 0;
    x13 = rotl(x13 ^ x2, 16);
    x8 = (x8 + x13) | 0;
    x7 = rotl(x7 ^ x8, 12);
    x2 = (x2 + x7) | 0;
    x13 = rotl(x13 ^ x2, 8);
    x8 = (x8 + x13) | 0;
    x7 = rotl(x7 ^ x8, 7);
    x3 = (x3 + x4) | 0;
    x14 = rotl(x14 ^ x3, 16);
    x9 = (x9 + x14) | 0;
    x4 = rotl(x4 ^ x9, 12);
    x3 = (x3 + x4) | 0;
    x14 = rotl(x14 ^ x3, 8);
    x9 = (x9 + x14) | 0;
    x4 = rotl(x4 ^ x9, 7);
  }
  put32(out, 0, x0);
  put32(out, 4, x1);
  put32(out, 8, x2);
  put32(out, 12, x3);
  put32(out, 16, x12);
  put32(out, 20, x13);
  put32(out, 24, x14);
  put32(out, 28, x15);
}

const le32 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);

function put32(b: Uint8Array, o: number, x: number): void {
  b[o] = x;
  b[o + 1] = x >>> 8;
  b[o + 2] = x >>> 16;
  b[o + 3] = x >>> 24;
}
