/**
 * XEP-0454 v0.1.0 (OMEMO media sharing) sizes and the limits of the streaming decryptor.
 */

/** §3: "a 32 byte random key": AES-256. */
export const MEDIA_KEY_BYTES = 32;
/** §3: "a 12 byte random IV", the GCM IV length every current client sends. */
export const MEDIA_IV_BYTES = 12;
/**
 * Older clients (Conversations before 2.x, ChatSecure, early Dino) sent a 16-byte IV (a 96-hex-digit
 * fragment). Receivers accept it; we never send it.
 */
export const MEDIA_LEGACY_IV_BYTES = 16;
/** §3: "The authentication tag MUST be appended to the end of the file": GCM's full 16-byte tag. */
export const MEDIA_TAG_BYTES = 16;
/**
 * Largest piece `encryptFile` and `decryptFile` hand on at once: a source chunk larger than this is
 * processed in slices of it, so one huge chunk from a source never doubles in memory as ciphertext.
 * 64 KiB is Node's default highWaterMark for file streams.
 */
export const MEDIA_SLICE_BYTES = 64 * 1024;
