import type { ScryptParams } from "@parley/crypto";

/** Header format version written by this package; older versions load, newer ones are refused. */
export const HEADER_VERSION = 1;

/**
 * Default scrypt cost: N = 2^17, r = 8 (128 MiB, RFC 7914 §2's interactive figure), p = 2: about 0.6 s
 * with the native provider on the machine in docs/measurements/storage.md, the middle of a 0.3-1 s
 * interactive budget. Stored in the header; raise it per store later (changePassphrase with `kdf`).
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 2, dkLen: 32 };

/**
 * Smallest scrypt N accepted (RFC 7914 §2: N > 1). Tests and demos create stores with tiny costs on
 * purpose; a header cannot lower a store's cost, because the parameters feed the KDF and the key-wrap's
 * associated data (a changed N unwraps nothing).
 */
export const MIN_SCRYPT_N = 2;
/** Largest scrypt N accepted, in a header, an archive or an argument. */
export const MAX_SCRYPT_N = 2 ** 22;
export const MAX_SCRYPT_R = 32;
export const MAX_SCRYPT_P = 16;
/**
 * Largest scrypt working memory (128·r·(N + p) bytes) accepted: 1 GiB, 8 times the default and the most
 * @parley/crypto will run. Checked before deriving anything, so a header or archive cannot make us
 * allocate more (each of N, r, p alone in range still multiplies to 16 GiB).
 */
export const MAX_SCRYPT_MEMORY_BYTES = 2 ** 30;
/**
 * Largest scrypt work (N·r·p, proportional to the time one derivation takes) accepted: 16 times the
 * default's 2^21. A file asking for more is a denial of service, not a stronger passphrase.
 */
export const MAX_SCRYPT_WORK = 2 ** 25;

/** Record values above this belong in the media store (streamed, chunked). */
export const MAX_VALUE_BYTES = 16 * 1024 * 1024;
/** Lookup keys are short identifiers (address, device id, sequence number), never content. */
export const MAX_KEY_LENGTH = 1024;
/** Namespaces name a package's store ("trust", "sessions"); a short name is enough. */
export const MAX_NAMESPACE_LENGTH = 128;

/** MACed lookup-key segment length in bytes: 128 bits makes collisions negligible (2^-64 at 2^32 keys). */
export const KEY_TOKEN_BYTES = 16;
/** Cache of MACed key prefixes: address/device prefixes repeat, HMAC per segment does not need to. */
export const KEY_TOKEN_CACHE_SIZE = 4096;

/** Media plaintext chunk: 64 KiB keeps memory flat for any file size, and tag overhead at 0.02%. */
export const MEDIA_CHUNK_BYTES = 64 * 1024;
/** Archive plaintext chunk: same trade-off as media. */
export const ARCHIVE_CHUNK_BYTES = 64 * 1024;
