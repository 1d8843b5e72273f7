/** What went wrong in the Double Ratchet, as a closed set a caller can switch on. */
export type DoubleRatchetErrorCode =
  /** An argument has the wrong type or range (the message names it). */
  | "INVALID_ARGUMENT"
  /** The bytes are not a message of this profile (bad version byte, truncated, missing field, bad key encoding). */
  | "MALFORMED_MESSAGE"
  /** Authentication failed: wrong MAC, wrong identity keys in the MAC input, or a corrupted ciphertext. */
  | "BAD_MAC"
  /** This message was decrypted before, or its key was discarded (too old): it is not decrypted twice. */
  | "DUPLICATE_MESSAGE"
  /** The message is further ahead of its chain than the session's limit allows (consts MAX_FORWARD_JUMP). */
  | "TOO_MANY_SKIPPED"
  /** A key-exchange message whose base key is not this session's: build a new session from it instead. */
  | "KEY_EXCHANGE_MISMATCH"
  /** The session cannot do this (a responder session without a sending chain, a sending chain used up). */
  | "INVALID_STATE"
  /** A serialized session is corrupt, of an unknown version, for another profile, or raises its own limits. */
  | "INVALID_SESSION"
  /**
   * This Session value is spent: an earlier encrypt/decrypt already returned its successor. Use (and
   * persist) the session the last call returned. With a store, the record changed under you
   * (compare-and-swap on `session.generation` failed): reload and retry, and never send a message
   * whose session you could not persist.
   */
  | "STALE_SESSION"
  /**
   * acceptSession: the key exchange names a one-time prekey we do not have: never published, or
   * already used (a replayed key exchange). The cause is @parley/x3dh's error.
   */
  | "UNKNOWN_PRE_KEY"
  /** acceptSession: the key exchange names a signed prekey we do not have (rotated away long ago, or forged). */
  | "UNKNOWN_SIGNED_PRE_KEY"
  /** createInitiatorSession: the bundle's signed-prekey signature does not verify. Do not talk to this bundle. */
  | "BAD_SIGNATURE"
  /** OMEMO 2 requires a one-time prekey: the bundle has none left (fetch it again later), or the key exchange names none. */
  | "MISSING_ONE_TIME_PRE_KEY"
  /** createInitiatorSession: a key in the bundle is malformed or a low-order point. */
  | "INVALID_BUNDLE";

/**
 * The one error class of @parley/double-ratchet: every function of the package throws only this
 * (key-agreement errors of @parley/x3dh arrive wrapped, with the original as `cause`). Messages never
 * contain key material or plaintext. A thrown error never changes a session: the session value you
 * passed in stays valid.
 */
export class DoubleRatchetError extends Error {
  override readonly name = "DoubleRatchetError";
  readonly code: DoubleRatchetErrorCode;
  constructor(code: DoubleRatchetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Type guard: `isDoubleRatchetError(e)` or `isDoubleRatchetError(e, "BAD_MAC")`. */
export function isDoubleRatchetError(error: unknown, code?: DoubleRatchetErrorCode): error is DoubleRatchetError {
  return error instanceof DoubleRatchetError && (code === undefined || error.code === code);
}
