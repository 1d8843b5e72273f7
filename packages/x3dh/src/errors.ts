/** What went wrong in a key agreement, as a closed set a caller can switch on. */
export type X3dhErrorCode =
  /** An argument has the wrong type, length or range (the message names it). */
  | "INVALID_ARGUMENT"
  /** A public key is not a valid encoding for the profile (wrong length, missing 0x05 type byte, not a curve point). */
  | "MALFORMED_KEY"
  /** A Diffie-Hellman step gave the all-zero output: the peer sent a low-order point. */
  | "LOW_ORDER_POINT"
  /** The signed prekey's signature does not verify under the bundle's identity key. Do not talk to this bundle. */
  | "BAD_SIGNATURE"
  /** The profile requires a one-time prekey (OMEMO 2) and the bundle or the initial message has none. */
  | "MISSING_ONE_TIME_PRE_KEY"
  /** The initial message names a signed prekey we do not have (rotated away long ago, or forged). */
  | "UNKNOWN_SIGNED_PRE_KEY"
  /** The initial message names a one-time prekey we do not have: never published, or already used once. */
  | "UNKNOWN_PRE_KEY";

/**
 * The one error class of @parley/x3dh. Messages say what was wrong in words a messenger developer
 * can act on and never contain key material.
 */
export class X3dhError extends Error {
  override readonly name = "X3dhError";
  readonly code: X3dhErrorCode;
  constructor(code: X3dhErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Type guard: `isX3dhError(e)` or `isX3dhError(e, "BAD_SIGNATURE")`. */
export function isX3dhError(error: unknown, code?: X3dhErrorCode): error is X3dhError {
  return error instanceof X3dhError && (code === undefined || error.code === code);
}
