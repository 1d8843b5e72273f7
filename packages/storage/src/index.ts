/**
 * @parley/storage: passphrase-encrypted local storage: a key-value store with namespaces, scans and
 * atomic transactions, every record sealed and every lookup key MACed, encrypted media, and a keystore
 * for the passphrase. Backends: memory (here), SQLite (`@parley/storage/sqlite`), IndexedDB
 * (`@parley/storage/indexeddb`), PostgreSQL (`@parley/storage/postgres`); a file keystore for Node in `@parley/storage/file-keystore`.
 * @packageDocumentation
 */
export { EncryptedStore } from "./store.js";
export type {
  CreateStoreOptions,
  KVNamespace,
  Namespace,
  OpenStoreOptions,
  ScanOptions,
  Transaction,
  TransactionOptions,
  TxNamespace,
  VerificationStatus,
  VerifyProgress,
} from "./store.js";
export type { MediaStore, MediaInfo } from "./media.js";
export type { ByteSource } from "./stream.js";
export type {
  BackendLocks,
  BackendTransaction,
  BackendTransactionOptions,
  MediaBackend,
  RawEntry,
  RawWrite,
  StorageBackend,
} from "./backend.js";
export { MemoryBackend, memoryBackend } from "./memory.js";
export type { MemoryMedia } from "./memory.js";
export { MemoryKeystore } from "./keystore.js";
export type { Keystore } from "./keystore.js";
export { StorageError, isStorageError } from "./errors.js";
export type { StorageErrorCode } from "./errors.js";
export { DEFAULT_SCRYPT, MAX_KEY_LENGTH, MAX_NAMESPACE_LENGTH, MAX_VALUE_BYTES, MEDIA_CHUNK_BYTES } from "./consts.js";
export { exportArchive, importArchive } from "./archive.js";
export type { ArchiveOptions } from "./archive.js";
