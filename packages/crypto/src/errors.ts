/** What went wrong, as a closed set a caller can switch on. */
export type CryptoErrorCode =
  /** An argument has the wrong type or length (the message names the argument and the length expected). */
  | "INVALID_ARGUMENT"
  /** A key is not a valid encoding for its algorithm (not on the curve, u >= p, bad length). */
  | "INVALID_KEY"
  /** X25519 produced the all-zero shared secret: the peer's key is a low-order point. */
  | "LOW_ORDER_POINT"
  /** Authenticated decryption failed (tag mismatch) or CBC padding is invalid. Deliberately unspecific. */
  | "DECRYPT_FAILED"
  /** The random source failed or returned the wrong number of bytes. */
  | "RANDOM_FAILED"
  /** The requested provider or operation is not available on this platform. */
  | "UNSUPPORTED";

/**
 * The one error class of @parley/crypto. Messages name the operation and the problem,
 * never key material or plaintext.
 */
export class CryptoError extends Error {
  override readonly name = "CryptoError";
  readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isCryptoError(error: unknown, code?: CryptoErrorCode): error is CryptoError {
  return error instanceof CryptoError && (code === undefined || error.code === code);
}
