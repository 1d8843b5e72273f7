import type { ScryptParams } from "@parley/crypto";

/** Header format version written by this package; older versions load, newer ones are refused. */
export const HEADER_VERSION = 1;

/**
 * Default scrypt cost: N = 2^17, r = 8 (128 MiB, RFC 7914 §2's interactive figure), p = 2. Measured with
 * the native provider on the project machine: p = 1 takes 0.30 s, p = 2 about 0.6 s, the middle of the
 * 0.3-1 s interactive budget (N = 2^18 takes 1.0-1.25 s). Stored in the header; raise it per store later.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 2, dkLen: 32 };

/** Smallest scrypt cost accepted on open: a header with less was tampered with or is not ours. */
export const MIN_SCRYPT_N = 2;
/** Largest scrypt cost accepted on open: 2^22 · r=8 is 4 GiB of memory, beyond any phone. */
export const MAX_SCRYPT_N = 2 ** 22;
export const MAX_SCRYPT_R = 32;
export const MAX_SCRYPT_P = 16;

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
