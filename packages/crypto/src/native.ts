/**
 * The native provider: node:crypto (OpenSSL) for the primitives where it is faster. Obtained with
 * `process.getBuiltinModule` so this module has no static `node:crypto` import and loads (as
 * `undefined`) in browsers and bundlers. XChaCha20's HChaCha20 step is noble's; the AEAD after it
 * is OpenSSL's ChaCha20-Poly1305, which gives the same bytes (RFC draft-irtf-cfrg-xchacha §2.3).
 */
import type * as NodeCrypto from "node:crypto";
import { hchacha } from "@noble/ciphers/chacha.js";
import { concatBytes, constantTimeEqual, onWipe } from "./bytes.js";
import { NATIVE_PUBLIC_KEY_CACHE_SIZE } from "./consts.js";
import { CryptoError } from "./errors.js";
import type { CryptoProvider } from "./provider.js";

type NodeCryptoModule = typeof NodeCrypto;
type KeyObject = NodeCrypto.KeyObject;

function loadNodeCrypto(): NodeCryptoModule | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:crypto") as NodeCryptoModule | undefined;
  } catch {
    return undefined;
  }
}

// DER prefixes of the RFC 8410 PKCS#8 encodings (the fallback import path); the raw 32-byte key follows.
const X25519_PKCS8 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);
const ED25519_PKCS8 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
type Curve = "X25519" | "Ed25519";
const PKCS8: Record<Curve, Uint8Array> = { X25519: X25519_PKCS8, Ed25519: ED25519_PKCS8 };

/**
 * Importing raw keys is the expensive part of native X25519/Ed25519 on Node 20: a DER (PKCS#8/SPKI)
 * import costs 70-310 µs, a JWK import 8-32 µs, the X25519 itself ~30 µs. So keys are imported as JWK
 * and cached. A private JWK needs an `x`; Node derives the public key from `d` and ignores it, so we pass
 * a placeholder and check that the derived public key is not the placeholder (a Node that trusted `x`
 * would fail this check and we fall back to DER). The all-zero placeholder is never the public key of a
 * real key (for X25519 it is a low-order point, for Ed25519 y = 0 has order 4).
 * Private keys are cached per caller Uint8Array object, with the bytes compared on every hit so a mutated
 * array is never served a stale key; public keys in a small LRU keyed by their bytes (public data).
 */
const PLACEHOLDER_X = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

interface PrivateEntry {
  readonly copy: Uint8Array;
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
}

class PublicKeyCache {
  readonly #map = new Map<string, KeyObject>();
  get(curve: Curve, raw: Uint8Array, make: (x: string) => KeyObject): KeyObject {
    const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
    const id = curve + x;
    let key = this.#map.get(id);
    if (key) {
      this.#map.delete(id);
    } else {
      key = make(x);
      if (this.#map.size >= NATIVE_PUBLIC_KEY_CACHE_SIZE) this.#map.delete(this.#map.keys().next().value!);
    }
    this.#map.set(id, key);
    return key;
  }
}

class PrivateKeyCache {
  readonly #maps: Record<Curve, WeakMap<Uint8Array, PrivateEntry>> = { X25519: new WeakMap(), Ed25519: new WeakMap() };
  get(curve: Curve, raw: Uint8Array, make: () => { key: KeyObject; publicKey: Uint8Array }): PrivateEntry {
    const map = this.#maps[curve];
    const hit = map.get(raw);
    if (hit && constantTimeEqual(hit.copy, raw)) return hit;
    const entry = { copy: raw.slice(), ...make() };
    map.set(raw, entry);
    return entry;
  }
  /** Drops (and zeroes our copy of) everything cached for this array: called by wipe(). */
  forget(raw: Uint8Array): void {
    for (const map of Object.values(this.#maps)) {
      map.get(raw)?.copy.fill(0);
      map.delete(raw);
    }
  }
}

/**
 * A plain Uint8Array of a node:crypto result, never a view into Node's shared Buffer pool (where other
 * data, or a later secret, would sit in the same ArrayBuffer). Digests, signatures and DH outputs come
 * in an ArrayBuffer of their own, so they are viewed without a copy; anything else is copied.
 */
function own(buffer: Uint8Array): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.byteLength) return new Uint8Array(buffer.buffer);
  return new Uint8Array(buffer);
}

function decryptFailed(cause: unknown): CryptoError {
  return new CryptoError("DECRYPT_FAILED", "decryption failed: authentication tag or padding is invalid", { cause });
}

const SIGMA = Uint32Array.from([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function u32le(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

function u32leToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(4 * i, words[i]!, true);
  return out;
}

/** HChaCha20(key, nonce[0..16]) -> subkey, and the 12-byte ChaCha20-Poly1305 nonce 0^4 || nonce[16..24]. */
function xchachaSubkey(key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array; iv: Uint8Array } {
  const out = new Uint32Array(8);
  hchacha(SIGMA, u32le(key), u32le(nonce.subarray(0, 16)), out);
  const iv = new Uint8Array(12);
  iv.set(nonce.subarray(16, 24), 4);
  const subkey = u32leToBytes(out);
  out.fill(0);
  return { subkey, iv };
}

export function createNativeProvider(): CryptoProvider | undefined {
  const c = loadNodeCrypto();
  if (!c || typeof c.diffieHellman !== "function" || typeof c.hkdfSync !== "function") return undefined;
  const privateKeys = new PrivateKeyCache();
  onWipe((bytes) => {
    privateKeys.forget(bytes);
  });
  const publicKeys = new PublicKeyCache();
  const importPrivate = (curve: Curve, raw: Uint8Array): PrivateEntry =>
    privateKeys.get(curve, raw, () => {
      const d = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
      let key = c.createPrivateKey({ key: { kty: "OKP", crv: curve, d, x: PLACEHOLDER_X }, format: "jwk" });
      let x = c.createPublicKey(key).export({ format: "jwk" }).x;
      if (x === undefined || x === PLACEHOLDER_X) {
        const der = Buffer.from(concatBytes(PKCS8[curve], raw));
        key = c.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
        der.fill(0);
        x = c.createPublicKey(key).export({ format: "jwk" }).x!;
      }
      return { key, publicKey: new Uint8Array(Buffer.from(x, "base64url")) };
    });
  const publicKey = (curve: Curve, raw: Uint8Array) =>
    publicKeys.get(curve, raw, (x) => c.createPublicKey({ key: { kty: "OKP", crv: curve, x }, format: "jwk" }));
  const cbcName = (key: Uint8Array) => (key.length === 16 ? "aes-128-cbc" : "aes-256-cbc");
  const gcmName = (key: Uint8Array) => (key.length === 16 ? "aes-128-gcm" : "aes-256-gcm");

  // HMAC-SHA256 (RFC 2104): H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), with Node's one-shot `crypto.hash`
  // (Node ≥ 20.12) over a scratch buffer, its digests asked for as "binary" (latin1) strings, one character per byte:
  // no Hmac object per call (a native handle the garbage collector has to process) and no Buffer per digest
  // (an external allocation). For the short inputs of a ratchet step (chain keys, HKDF blocks, a MAC over
  // one message) that is about three times faster than `createHmac` (0.3 µs per hash against 0.7 µs for a
  // Buffer digest and 2 µs for an Hmac object, Node 20). The scratch is zeroed after every call; the two
  // digest strings, like any JavaScript string, live until the garbage collector frees them (README:
  // JavaScript can't wipe memory reliably). Without `crypto.hash`, createHmac.
  const oneShot = (c as { hash?: (alg: string, data: Uint8Array, encoding: "binary") => string }).hash;
  let inner = new Uint8Array(64 + 256);
  const outer = new Uint8Array(64 + 32);
  const longKey = new Uint8Array(32);
  /** The key's padded blocks into the scratch: K ⊕ ipad at inner[0..64], K ⊕ opad at outer[0..64]. */
  const writePads = (k: Uint8Array): void => {
    for (let i = 0; i < 64; i++) {
      const b = i < k.length ? k[i]! : 0;
      inner[i] = b ^ 0x36;
      outer[i] = b ^ 0x5c;
    }
  };
  /** HMAC over the pads and inner[64..innerLength): the outer digest as a "binary" string. */
  const digest = (hash: NonNullable<typeof oneShot>, innerLength: number): string => {
    const innerHash = hash("sha256", inner.subarray(0, innerLength), "binary");
    for (let i = 0; i < 32; i++) outer[64 + i] = innerHash.charCodeAt(i);
    return hash("sha256", outer, "binary");
  };
  const hmac = (key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array => {
    if (typeof oneShot !== "function") {
      const mac = c.createHmac("sha256", key);
      for (const part of parts) mac.update(part);
      return own(mac.digest());
    }
    // A key longer than the block is hashed first (RFC 2104 §2).
    let k = key;
    if (key.length > 64) {
      const hashed = oneShot("sha256", key, "binary");
      for (let i = 0; i < 32; i++) longKey[i] = hashed.charCodeAt(i);
      k = longKey;
    }
    let total = 64;
    for (const part of parts) total += part.length;
    if (total > inner.length) inner = new Uint8Array(Math.max(total, 2 * inner.length));
    writePads(k);
    let at = 64;
    for (const part of parts) {
      inner.set(part, at);
      at += part.length;
    }
    const d = digest(oneShot, total);
    const mac = new Uint8Array(32);
    for (let i = 0; i < 32; i++) mac[i] = d.charCodeAt(i);
    inner.fill(0, 0, total);
    outer.fill(0);
    longKey.fill(0);
    return mac;
  };

  return {
    name: "native",
    x25519PublicKey: (priv) => importPrivate("X25519", priv).publicKey.slice(),
    x25519(priv, pub) {
      try {
        return own(
          c.diffieHellman({ privateKey: importPrivate("X25519", priv).key, publicKey: publicKey("X25519", pub) }),
        );
      } catch (cause) {
        // OpenSSL refuses to return the all-zero shared secret; that is the only way X25519 fails here.
        // (The facade checks the output for zeros too, for every provider.)
        throw new CryptoError(
          "LOW_ORDER_POINT",
          "X25519 produced an all-zero shared secret: the public key is a low-order point",
          { cause },
        );
      }
    },
    ed25519PublicKey: (seed) => importPrivate("Ed25519", seed).publicKey.slice(),
    ed25519Sign: (seed, message) => own(c.sign(null, message, importPrivate("Ed25519", seed).key)),
    ed25519Verify(signature, message, pub) {
      // OpenSSL's decoder accepts a non-canonical y (>= p) and x = 0 with the sign bit set (RFC 8032
      // §5.1.3 forbids both): the facade rejects those encodings, and s >= L, before calling this.
      try {
        return c.verify(null, message, publicKey("Ed25519", pub), signature);
      } catch {
        return false;
      }
    },
    sha256: (data) => own(c.createHash("sha256").update(data).digest()),
    sha512: (data) => own(c.createHash("sha512").update(data).digest()),
    hmacSha256: (key, parts) => hmac(key, parts),
    hkdfSha256(ikm, salt, info, length) {
      // RFC 5869 from HMAC calls (below): cheaper than node's hkdfSync, whose per-call setup
      // (KeyObject, validation) costs more than the four HMACs of an 80-byte output. An empty salt
      // is HMAC's zero-padded key, as §2.2 asks.
      const prk = hmac(salt, [ikm]);
      const out = new Uint8Array(length);
      if (typeof oneShot !== "function") {
        const counter = new Uint8Array(1);
        let block: Uint8Array = new Uint8Array(0);
        for (let i = 1, offset = 0; offset < length; i++, offset += 32) {
          counter[0] = i;
          const next = hmac(prk, [block, info, counter]);
          block.fill(0);
          block = next;
          out.set(block.subarray(0, Math.min(32, length - offset)), offset);
        }
        prk.fill(0);
        block.fill(0);
        return out;
      }
      // Expand with the PRK's padded blocks written once: T(i) = HMAC(PRK, T(i−1) ‖ info ‖ i), each
      // T(i) read straight into the scratch where the next block's input starts.
      const total = 64 + 32 + info.length + 1;
      if (total > inner.length) inner = new Uint8Array(Math.max(total, 2 * inner.length));
      writePads(prk);
      prk.fill(0);
      let previous = 0; // T(0) is empty
      for (let i = 1, offset = 0; offset < length; i++, offset += 32) {
        inner.set(info, 64 + previous);
        inner[64 + previous + info.length] = i;
        const t = digest(oneShot, 64 + previous + info.length + 1);
        for (let j = 0; j < 32; j++) {
          const byte = t.charCodeAt(j);
          inner[64 + j] = byte;
          if (offset + j < length) out[offset + j] = byte;
        }
        previous = 32;
      }
      inner.fill(0, 0, total);
      outer.fill(0);
      return out;
    },
    aesCbcEncrypt(key, iv, plaintext) {
      const cipher = c.createCipheriv(cbcName(key), key, iv);
      return concatBytes(cipher.update(plaintext), cipher.final());
    },
    aesCbcDecrypt(key, iv, ciphertext) {
      try {
        const decipher = c.createDecipheriv(cbcName(key), key, iv);
        return concatBytes(decipher.update(ciphertext), decipher.final());
      } catch (cause) {
        throw decryptFailed(cause);
      }
    },
    aesGcmEncrypt(key, iv, plaintext, aad) {
      const cipher = c.createCipheriv(gcmName(key), key, iv, { authTagLength: 16 });
      cipher.setAAD(aad);
      return concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    },
    aesGcmDecrypt(key, iv, sealed, aad) {
      if (sealed.length < 16) throw decryptFailed(undefined);
      try {
        const decipher = c.createDecipheriv(gcmName(key), key, iv, { authTagLength: 16 });
        decipher.setAAD(aad);
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        return concatBytes(decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final());
      } catch (cause) {
        throw decryptFailed(cause);
      }
    },
    xchacha20Poly1305Encrypt(key, nonce, plaintext, aad) {
      const { subkey, iv } = xchachaSubkey(key, nonce);
      const cipher = c.createCipheriv("chacha20-poly1305", subkey, iv, { authTagLength: 16 });
      subkey.fill(0);
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      return concatBytes(cipher.update(plaintext), cipher.final(), cipher.getAuthTag());
    },
    xchacha20Poly1305Decrypt(key, nonce, sealed, aad) {
      if (sealed.length < 16) throw decryptFailed(undefined);
      const { subkey, iv } = xchachaSubkey(key, nonce);
      try {
        const decipher = c.createDecipheriv("chacha20-poly1305", subkey, iv, { authTagLength: 16 });
        decipher.setAAD(aad, { plaintextLength: sealed.length - 16 });
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        return concatBytes(decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final());
      } catch (cause) {
        throw decryptFailed(cause);
      } finally {
        subkey.fill(0);
      }
    },
    scrypt: (password, salt, { N, r, p, dkLen }) =>
      new Promise((resolve, reject) => {
        const refused = (cause: unknown) =>
          new CryptoError("INVALID_ARGUMENT", "scrypt parameters were refused by OpenSSL", { cause });
        try {
          // Node validates the parameters synchronously and throws; the callback reports the rest.
          c.scrypt(password, salt, dkLen, { N, r, p, maxmem: 128 * r * (N + p) + 1024 * 1024 }, (err, key) => {
            if (err) reject(refused(err));
            else resolve(own(key));
          });
        } catch (cause) {
          reject(refused(cause));
        }
      }),
  };
}
