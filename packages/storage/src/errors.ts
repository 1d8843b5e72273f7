/** What went wrong, as a closed set a caller can switch on. */
export type StorageErrorCode =
  /** The passphrase does not unwrap the data key (or the header was altered: the two are indistinguishable by design). */
  | "WRONG_PASSPHRASE"
  /** A record, the integrity state, a media chunk or an archive failed authentication: flipped, truncated, swapped, replayed or deleted. */
  | "TAMPERED"
  /** The store's bytes are unreadable (not a Parley store, SQLite reports corruption, header checksum mismatch). */
  | "CORRUPTED"
  /** No store exists at this location (open) or no such media item. */
  | "NOT_FOUND"
  /** A store already exists at this location (create). */
  | "ALREADY_EXISTS"
  /** The header was written by a newer version of this package. */
  | "UNSUPPORTED_VERSION"
  /** The store or the transaction was closed. */
  | "CLOSED"
  /** An argument has the wrong type, is too long, or is a reserved name. */
  | "INVALID_ARGUMENT"
  /** Opening from the keystore was asked for, but it holds no passphrase for this store. */
  | "KEYSTORE_EMPTY"
  /** The keystore itself failed (unreadable file, wrong permissions, OS keychain error). */
  | "KEYSTORE_FAILED"
  /** The backend (SQLite, IndexedDB, file system) failed; `cause` has its error. */
  | "BACKEND_FAILED"
  /**
   * A write, transaction, passphrase change or close through the store, called inside one of its own
   * transaction bodies (which would wait for that body forever). Detected in Node; use `tx` in the body.
   */
  | "DEADLOCK";

/**
 * The one error class of @parley/storage. Messages say what to do; they never contain a
 * passphrase, a key, a record's contents or a lookup key (which may be a contact's name).
 */
export class StorageError extends Error {
  override readonly name = "StorageError";
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}
