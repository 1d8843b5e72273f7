/**
 * OMEMO media sharing, XEP-0454 v0.1.0: files encrypted with AES-256-GCM for HTTP upload, shared as an
 * aesgcm:// URL (key and IV in the fragment) inside an OMEMO message.
 * @packageDocumentation
 */
export { aesgcmFragment, aesgcmUrl, parseAesgcmUrl } from "./url.js";
export type { AesgcmUrl } from "./url.js";
export { decryptFile, encryptedSize, encryptFile } from "./file.js";
export type { DecryptFileOptions, EncryptedFile, EncryptFileOptions, MediaSink, MediaSource } from "./file.js";
export {
  MEDIA_IV_BYTES,
  MEDIA_KEY_BYTES,
  MEDIA_LEGACY_IV_BYTES,
  MEDIA_SLICE_BYTES,
  MEDIA_TAG_BYTES,
} from "./consts.js";
