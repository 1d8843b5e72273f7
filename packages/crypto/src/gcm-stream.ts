/**
 * Streaming AES-GCM (NIST SP 800-38D): encrypt or decrypt a file chunk by chunk, for media that does
 * not fit a one-shot call (XEP-0454 encrypts "on the fly while uploading"). Two implementations that
 * give the same bytes as `Crypto.aesGcmEncrypt` (a property test holds them to it):
 *
 * - native: node:crypto's createCipheriv/createDecipheriv (OpenSSL, AES-NI), where node:crypto exists;
 * - noble: GCM assembled from noble's public AES-ECB (the counter blocks, SP 800-38D §6.5 GCTR with
 *   inc32) and GHASH (§6.4), for browsers.
 *
 * DECRYPTION RELEASES PLAINTEXT BEFORE IT IS AUTHENTICATED. GCM's tag covers the whole ciphertext, so
 * a streaming decryptor can only check it at the end: every chunk `update()` returns is unauthenticated
 * until `final(tag)` returned without throwing. A caller must not act on the plaintext (display it,
 * parse it, hand it on) before that, and must discard all of it when `final` throws.
 */
import type * as NodeCrypto from "node:crypto";
import { ecb } from "@noble/ciphers/aes.js";
import { GHASH } from "@noble/ciphers/_polyval.js";
import { assertBytes, constantTimeEqual } from "./bytes.js";
import { CryptoError } from "./errors.js";

/** GCM's tag is 16 bytes here, as in `aesGcmEncrypt` and every OMEMO use. */
export const GCM_STREAM_TAG_BYTES = 16;
/**
 * SP 800-38D §5.2.1.1: at most 2^39 − 256 bits of plaintext under one IV (2^32 − 2 counter blocks),
 * i.e. 64 GiB − 32 bytes. Past it the 32-bit counter would wrap and reuse keystream.
 */
export const GCM_STREAM_MAX_BYTES = 2 ** 36 - 32;

export type GcmStreamProvider = "auto" | "native" | "noble";

export interface GcmStreamOptions {
  /** "auto" (the default) is native where node:crypto exists, else noble, as in `createCrypto`. */
  readonly provider?: GcmStreamProvider;
  /** Additional authenticated data, given up front (XEP-0454 uses none). */
  readonly aad?: Uint8Array;
}

export interface AesGcmEncryptor {
  /** Which implementation runs. */
  readonly provider: "native" | "noble";
  /** Encrypts the next chunk; the output has the chunk's length (GCM is a counter mode). */
  update(plaintext: Uint8Array): Uint8Array;
  /** Ends the stream and returns the 16-byte tag; the encryptor is spent afterwards. */
  final(): Uint8Array;
}

export interface AesGcmDecryptor {
  /** Which implementation runs. */
  readonly provider: "native" | "noble";
  /**
   * Decrypts the next ciphertext chunk (without the tag). The result is UNAUTHENTICATED: it may be
   * an attacker's choice until `final` verified the tag. Do not use it before, discard it on failure.
   */
  update(ciphertext: Uint8Array): Uint8Array;
  /** Checks the tag over everything given to `update`; throws `DECRYPT_FAILED` on mismatch. Spent afterwards. */
  final(tag: Uint8Array): void;
  /** True only once `final` verified the tag. */
  readonly verified: boolean;
}

type NodeCryptoModule = typeof NodeCrypto;

function loadNodeCrypto(): NodeCryptoModule | undefined {
  // Same lookup as the native provider: no static node:crypto import, so browsers bundle this unchanged.
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.("node:crypto") as NodeCryptoModule | undefined;
  } catch {
    return undefined;
  }
}

function resolve(choice: GcmStreamProvider | undefined): NodeCryptoModule | undefined {
  if (choice === "noble") return undefined;
  const c = loadNodeCrypto();
  if (choice === "native" && !c) {
    throw new CryptoError("UNSUPPORTED", "the native provider needs node:crypto, which this platform lacks");
  }
  return c;
}

function checkArgs(key: unknown, iv: unknown, aad: unknown): asserts key is Uint8Array {
  assertBytes(key, "aes-gcm key", 16, 32);
  assertBytes(iv, "aes-gcm iv", 12, 16);
  if (aad !== undefined) assertBytes(aad, "aes-gcm aad");
}

/** Counts bytes and refuses to pass the SP 800-38D limit, and any use after `final`. */
class Budget {
  #total = 0;
  #done = false;
  take(length: number): void {
    if (this.#done) throw new CryptoError("INVALID_ARGUMENT", "aes-gcm stream already finished");
    this.#total += length;
    if (this.#total > GCM_STREAM_MAX_BYTES) {
      this.#done = true;
      throw new CryptoError("INVALID_ARGUMENT", `aes-gcm stream longer than ${GCM_STREAM_MAX_BYTES} bytes`);
    }
  }
  finish(): void {
    if (this.#done) throw new CryptoError("INVALID_ARGUMENT", "aes-gcm stream already finished");
    this.#done = true;
  }
}

function u8(buffer: Uint8Array): Uint8Array {
  // A Buffer is a Uint8Array; hand out a plain view so callers see one type on both providers.
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The noble GCM core: GCTR with inc32 counters and GHASH over the ciphertext, SP 800-38D §7. */
class NobleGcm {
  readonly #key: Uint8Array;
  readonly #ghash: GHASH;
  readonly #tagMask: Uint8Array;
  readonly #counter: Uint8Array;
  #keystream: Uint8Array = new Uint8Array(0);
  #pending = new Uint8Array(16);
  #pendingLength = 0;
  #length = 0;
  readonly #aadLength: number;

  constructor(key: Uint8Array, iv: Uint8Array, aad: Uint8Array) {
    this.#key = key.slice();
    const h = this.#encryptBlocks(new Uint8Array(16)); // H = E(K, 0^128), §7.1 step 1
    let j0: Uint8Array;
    if (iv.length === 12) {
      j0 = new Uint8Array(16); // §7.1 step 2: J0 = IV || 0^31 || 1
      j0.set(iv);
      j0[15] = 1;
    } else {
      // §7.1 step 2: J0 = GHASH_H(IV || 0^s || 0^64 || [len(IV)]_64); noble pads each update to 16 bytes.
      const g = new GHASH(h);
      g.update(iv);
      g.update(lengthBlock(0, iv.length));
      j0 = g.digest();
    }
    this.#tagMask = this.#encryptBlocks(j0); // E(K, J0), §7.1 step 6
    this.#counter = j0.slice();
    inc32(this.#counter); // the first keystream block is E(K, inc32(J0)), step 3
    this.#ghash = new GHASH(h);
    if (aad.length > 0) this.#ghash.update(aad);
    this.#aadLength = aad.length;
  }

  #encryptBlocks(blocks: Uint8Array): Uint8Array {
    return ecb(this.#key, { disablePadding: true }).encrypt(blocks);
  }

  /** XORs `data` with the next keystream bytes. */
  xor(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    let i = 0;
    const fromLeftover = Math.min(this.#keystream.length, data.length);
    for (; i < fromLeftover; i++) out[i] = data[i]! ^ this.#keystream[i]!;
    this.#keystream = this.#keystream.subarray(fromLeftover);
    const rest = data.length - i;
    if (rest > 0) {
      const blocks = Math.ceil(rest / 16);
      const counters = new Uint8Array(blocks * 16);
      for (let b = 0; b < blocks; b++) {
        counters.set(this.#counter, b * 16);
        inc32(this.#counter);
      }
      const stream = this.#encryptBlocks(counters);
      for (let j = 0; j < rest; j++) out[i + j] = data[i + j]! ^ stream[j]!;
      this.#keystream = stream.subarray(rest);
    }
    return out;
  }

  /** Absorbs ciphertext into GHASH in whole blocks (noble zero-pads each update, so never feed a partial one early). */
  absorb(ciphertext: Uint8Array): void {
    this.#length += ciphertext.length;
    let offset = 0;
    if (this.#pendingLength > 0) {
      const take = Math.min(16 - this.#pendingLength, ciphertext.length);
      this.#pending.set(ciphertext.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      offset = take;
      if (this.#pendingLength < 16) return;
      this.#ghash.update(this.#pending);
      this.#pendingLength = 0;
    }
    const whole = (ciphertext.length - offset) & ~15;
    if (whole > 0) this.#ghash.update(ciphertext.subarray(offset, offset + whole));
    const tail = ciphertext.subarray(offset + whole);
    this.#pending.set(tail);
    this.#pendingLength = tail.length;
  }

  tag(): Uint8Array {
    if (this.#pendingLength > 0) this.#ghash.update(this.#pending.subarray(0, this.#pendingLength));
    this.#ghash.update(lengthBlock(this.#aadLength, this.#length));
    const s = this.#ghash.digest();
    for (let i = 0; i < 16; i++) s[i]! ^= this.#tagMask[i]!;
    this.#key.fill(0);
    return s;
  }
}

/** @internal Exported for its test only (not from the package root). */
export function inc32(block: Uint8Array): void {
  // SP 800-38D §6.2: increment the rightmost 32 bits modulo 2^32 (a 16-byte IV's J0 may wrap).
  for (let i = 15; i >= 12; i--) {
    block[i] = (block[i]! + 1) & 0xff;
    if (block[i] !== 0) return;
  }
}

function lengthBlock(aadBytes: number, dataBytes: number): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(aadBytes) * 8n);
  view.setBigUint64(8, BigInt(dataBytes) * 8n);
  return out;
}

/** An incremental AES-GCM encryptor; the concatenated outputs then `final()` equal `aesGcmEncrypt`. */
export function createAesGcmEncryptor(
  key: Uint8Array,
  iv: Uint8Array,
  options: GcmStreamOptions = {},
): AesGcmEncryptor {
  checkArgs(key, iv, options.aad);
  const aad = options.aad ?? new Uint8Array(0);
  const budget = new Budget();
  const c = resolve(options.provider);
  if (c) {
    const cipher = c.createCipheriv(key.length === 16 ? "aes-128-gcm" : "aes-256-gcm", key, iv, { authTagLength: 16 });
    if (aad.length > 0) cipher.setAAD(aad);
    return {
      provider: "native",
      update(plaintext) {
        assertBytes(plaintext, "plaintext");
        budget.take(plaintext.length);
        return u8(cipher.update(plaintext));
      },
      final() {
        budget.finish();
        cipher.final(); // GCM emits nothing here: all bytes left with update()
        return u8(cipher.getAuthTag());
      },
    };
  }
  const gcm = new NobleGcm(key, iv, aad);
  return {
    provider: "noble",
    update(plaintext) {
      assertBytes(plaintext, "plaintext");
      budget.take(plaintext.length);
      const out = gcm.xor(plaintext);
      gcm.absorb(out);
      return out;
    },
    final() {
      budget.finish();
      return gcm.tag();
    },
  };
}

/**
 * An incremental AES-GCM decryptor. Its `update` output is UNAUTHENTICATED until `final(tag)` returns
 * (see the module comment); `verified` says whether it has.
 */
export function createAesGcmDecryptor(
  key: Uint8Array,
  iv: Uint8Array,
  options: GcmStreamOptions = {},
): AesGcmDecryptor {
  checkArgs(key, iv, options.aad);
  const aad = options.aad ?? new Uint8Array(0);
  const budget = new Budget();
  let verified = false;
  const fail = (cause?: unknown) =>
    new CryptoError(
      "DECRYPT_FAILED",
      "aes-gcm: tag or padding is invalid",
      cause === undefined ? undefined : { cause },
    );
  const c = resolve(options.provider);
  if (c) {
    const decipher = c.createDecipheriv(key.length === 16 ? "aes-128-gcm" : "aes-256-gcm", key, iv, {
      authTagLength: 16,
    });
    if (aad.length > 0) decipher.setAAD(aad);
    return {
      provider: "native",
      get verified() {
        return verified;
      },
      update(ciphertext) {
        assertBytes(ciphertext, "ciphertext");
        budget.take(ciphertext.length);
        return u8(decipher.update(ciphertext));
      },
      final(tag) {
        assertBytes(tag, "aes-gcm tag", GCM_STREAM_TAG_BYTES);
        budget.finish();
        try {
          decipher.setAuthTag(tag);
          decipher.final();
        } catch (error) {
          throw fail(error);
        }
        verified = true;
      },
    };
  }
  const gcm = new NobleGcm(key, iv, aad);
  return {
    provider: "noble",
    get verified() {
      return verified;
    },
    update(ciphertext) {
      assertBytes(ciphertext, "ciphertext");
      budget.take(ciphertext.length);
      gcm.absorb(ciphertext);
      return gcm.xor(ciphertext);
    },
    final(tag) {
      assertBytes(tag, "aes-gcm tag", GCM_STREAM_TAG_BYTES);
      budget.finish();
      if (!constantTimeEqual(gcm.tag(), tag)) throw fail();
      verified = true;
    },
  };
}
