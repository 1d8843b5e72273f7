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
  /** The session cannot do this yet (a responder session without a sending chain). */
  | "INVALID_STATE"
  /** A serialized session is corrupt, of an unknown version, or for another profile. */
  | "INVALID_SESSION";

/**
 * The one error class of @parley/double-ratchet. Messages never contain key material or plaintext.
 * A thrown error never changes a session: the session value you passed in stays valid.
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
