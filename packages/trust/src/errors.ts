/** What went wrong, as a closed set a caller can switch on. */
export type TrustErrorCode =
  /** An argument has the wrong type or shape (the message names the argument). */
  | "INVALID_ARGUMENT"
  /** A fingerprint is not hex, or has the wrong length for its protocol. */
  | "INVALID_FINGERPRINT"
  /** A sharing URI is not an `xmpp:` URI we can read (scheme, JID, percent-encoding, size, conflicts). */
  | "INVALID_URI"
  /** An `omemo-sid-<id>` parameter whose device id is not a decimal integer in 1..2^32-1. */
  | "INVALID_DEVICE_ID"
  /** A scanned URI names another contact than the chat it was scanned in (`applyUri`'s `expectedContact`). */
  | "CONTACT_MISMATCH"
  /** An `omemo-sid-<id>` or `otr-fingerprint` parameter without a value. */
  | "MISSING_FINGERPRINT"
  /**
   * A contact already has MAX_KEYS_PER_PROTOCOL records for the protocol and none can be evicted (all tofu,
   * verified, compromised or distrusted by the user): the new keys are not stored.
   */
  | "TOO_MANY_KEYS"
  /** A stored record could not be decoded (not JSON, missing or mistyped fields). */
  | "CORRUPT_RECORD"
  /** A stored record was written by a newer version of this package. */
  | "UNSUPPORTED_VERSION";

/**
 * The one error class of @parley/trust. Messages say what was wrong and what to do;
 * they may name a JID or a device id, which are not secret, but never echo a whole input.
 */
export class TrustError extends Error {
  override readonly name = "TrustError";
  readonly code: TrustErrorCode;
  constructor(code: TrustErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isTrustError(error: unknown, code?: TrustErrorCode): error is TrustError {
  return error instanceof TrustError && (code === undefined || error.code === code);
}
