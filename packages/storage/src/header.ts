/**
 * The versioned header: scrypt parameters and salt, the store id, and the random data key wrapped
 * (XChaCha20-Poly1305) by the key derived from the passphrase. Changing the passphrase rewrites only this.
 *
 * Layout: "PARLEYKV" · u32 version · u32 body length · body (UTF-8 JSON) · SHA-256 of all before.
 * The checksum tells accidental corruption (CORRUPTED) apart from a wrong passphrase; an attacker can
 * recompute it, but any change to the wrapped key, salt or parameters still fails the unwrap.
 */
import { bytesToHex, concatBytes, hexToBytes, type Crypto, type ScryptParams } from "@parley/crypto";
import {
  HEADER_VERSION,
  MAX_SCRYPT_MEMORY_BYTES,
  MAX_SCRYPT_N,
  MAX_SCRYPT_P,
  MAX_SCRYPT_R,
  MAX_SCRYPT_WORK,
  MIN_SCRYPT_N,
} from "./consts.js";
import { readU32be, u32be, utf8, fromUtf8 } from "./encoding.js";
import { StorageError } from "./errors.js";

const MAGIC = utf8("PARLEYKV");
const WRAP_AD = "parley-storage key-wrap v1";

export interface StoreHeader {
  readonly version: number;
  readonly storeId: string;
  readonly kdf: {
    readonly alg: "scrypt";
    readonly N: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
  };
  readonly aead: "xchacha20-poly1305";
  readonly wrapNonce: string;
  readonly wrappedKey: string;
}

export function encodeHeader(crypto: Crypto, header: StoreHeader): Uint8Array {
  const body = utf8(JSON.stringify(header));
  const head = concatBytes(MAGIC, u32be(header.version), u32be(body.length), body);
  return concatBytes(head, crypto.sha256(head));
}

export function decodeHeader(crypto: Crypto, bytes: Uint8Array): StoreHeader {
  const corrupted = (why: string) =>
    new StorageError(
      "CORRUPTED",
      `the store header is unreadable (${why}); restore the store from a backup or archive`,
    );
  if (bytes.length < 48 || !crypto.constantTimeEqual(bytes.subarray(0, 8), MAGIC))
    throw corrupted("not a Parley store");
  const version = readU32be(bytes, 8);
  const bodyLength = readU32be(bytes, 12);
  if (bytes.length !== 16 + bodyLength + 32) throw corrupted("wrong length");
  const head = bytes.subarray(0, 16 + bodyLength);
  if (!crypto.constantTimeEqual(crypto.sha256(head), bytes.subarray(16 + bodyLength)))
    throw corrupted("checksum mismatch");
  // The frame (magic, version, length, checksum) is the same in every version; only then is the version trusted.
  if (version > HEADER_VERSION) {
    throw new StorageError(
      "UNSUPPORTED_VERSION",
      `the store was written by a newer @parley/storage (header v${version}, this one reads up to v${HEADER_VERSION}); upgrade the package`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(bytes.subarray(16, 16 + bodyLength)));
  } catch {
    throw corrupted("bad JSON");
  }
  const h = parsed as StoreHeader;
  const k = h.kdf as StoreHeader["kdf"] | undefined;
  const hex = (s: unknown) => typeof s === "string" && /^([0-9a-f]{2})+$/.test(s);
  if (
    h.version !== version ||
    !hex(h.storeId) ||
    h.aead !== "xchacha20-poly1305" ||
    !hex(h.wrapNonce) ||
    !hex(h.wrappedKey) ||
    !k ||
    k.alg !== "scrypt" ||
    !hex(k.salt) ||
    !validScrypt(k)
  ) {
    throw corrupted("bad fields");
  }
  return h;
}

/** The bounds every scrypt cost must meet before we run it: from a header, an archive or a caller. */
function validScrypt(k: { N: unknown; r: unknown; p: unknown }): boolean {
  const { N, r, p } = k;
  if (typeof N !== "number" || typeof r !== "number" || typeof p !== "number") return false;
  if (!Number.isSafeInteger(N) || !Number.isSafeInteger(r) || !Number.isSafeInteger(p)) return false;
  if (N < MIN_SCRYPT_N || N > MAX_SCRYPT_N || (N & (N - 1)) !== 0) return false;
  if (r < 1 || r > MAX_SCRYPT_R || p < 1 || p > MAX_SCRYPT_P) return false;
  // RFC 7914 §2 requires N < 2^(128·r/8); @parley/crypto refuses more, and must never be the one to say no.
  if (N >= 2 ** (16 * r)) return false;
  // Each factor in range is not enough: their products are the memory (as @parley/crypto counts it) and the time.
  return 128 * r * (N + p) <= MAX_SCRYPT_MEMORY_BYTES && N * r * p <= MAX_SCRYPT_WORK;
}

export function assertScryptParams(params: ScryptParams): void {
  if (!validScrypt(params) || params.dkLen !== 32) {
    throw new StorageError(
      "INVALID_ARGUMENT",
      `scrypt parameters out of range: N a power of two in [${MIN_SCRYPT_N}, ${MAX_SCRYPT_N}], r <= ${MAX_SCRYPT_R}, p <= ${MAX_SCRYPT_P}, N < 2^(16·r), 128·r·(N + p) <= ${MAX_SCRYPT_MEMORY_BYTES} bytes, N·r·p <= ${MAX_SCRYPT_WORK}, dkLen 32`,
    );
  }
}

/** NFC so the same passphrase typed on two keyboards (composed or decomposed accents) opens the store. */
export function passphraseBytes(passphrase: unknown): Uint8Array {
  if (typeof passphrase !== "string" || passphrase.length === 0) {
    throw new StorageError("INVALID_ARGUMENT", "the passphrase must be a non-empty string");
  }
  return utf8(passphrase.normalize("NFC"));
}

function wrapAd(storeId: string, kdf: StoreHeader["kdf"]): Uint8Array {
  return utf8(`${WRAP_AD}\0${storeId}\0${kdf.alg}\0${kdf.N}\0${kdf.r}\0${kdf.p}\0${kdf.salt}`);
}

async function deriveKek(crypto: Crypto, passphrase: string, kdf: StoreHeader["kdf"]): Promise<Uint8Array> {
  return crypto.scrypt(passphraseBytes(passphrase), hexToBytes(kdf.salt), { N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32 });
}

/** A header wrapping `dataKey` under `passphrase` with fresh salt and nonce. */
export async function wrapDataKey(
  crypto: Crypto,
  storeId: string,
  dataKey: Uint8Array,
  passphrase: string,
  params: ScryptParams,
): Promise<StoreHeader> {
  const kdf = {
    alg: "scrypt" as const,
    N: params.N,
    r: params.r,
    p: params.p,
    salt: bytesToHex(crypto.randomBytes(16)),
  };
  const kek = await deriveKek(crypto, passphrase, kdf);
  const nonce = crypto.randomBytes(24);
  const wrapped = crypto.xchacha20Poly1305Encrypt(kek, nonce, dataKey, wrapAd(storeId, kdf));
  kek.fill(0);
  return {
    version: HEADER_VERSION,
    storeId,
    kdf,
    aead: "xchacha20-poly1305",
    wrapNonce: bytesToHex(nonce),
    wrappedKey: bytesToHex(wrapped),
  };
}

/**
 * The data key, or WRONG_PASSPHRASE. Always runs the full KDF with the stored parameters and
 * then one AEAD check, so a wrong passphrase costs exactly what a right one does.
 */
export async function unwrapDataKey(crypto: Crypto, header: StoreHeader, passphrase: string): Promise<Uint8Array> {
  const kek = await deriveKek(crypto, passphrase, header.kdf);
  try {
    return crypto.xchacha20Poly1305Decrypt(
      kek,
      hexToBytes(header.wrapNonce),
      hexToBytes(header.wrappedKey),
      wrapAd(header.storeId, header.kdf),
    );
  } catch {
    // No cause attached: the CryptoError says nothing more, and keeping errors free of key context is the rule.
    throw new StorageError("WRONG_PASSPHRASE", "wrong passphrase: it does not unlock this store (nothing was changed)");
  } finally {
    kek.fill(0);
  }
}
