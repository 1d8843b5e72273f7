/** How failures of other layers become this package's OmemoError, with the original as `cause`. */
import { isCryptoError } from "@parley/crypto";
import { isDoubleRatchetError } from "@parley/double-ratchet";
import { isOmemoError, OmemoError, type OmemoErrorCode } from "../errors.js";

/** Any failure as this package's error: OmemoErrors pass, ratchet and crypto errors get a code by meaning. */
export function asOmemoError(error: unknown, fallback: OmemoErrorCode, what: string): OmemoError {
  if (isOmemoError(error)) return error;
  if (isDoubleRatchetError(error)) {
    switch (error.code) {
      case "DUPLICATE_MESSAGE":
        return new OmemoError("DUPLICATE_MESSAGE", `${what}: the message was decrypted before`, { cause: error });
      case "UNKNOWN_PRE_KEY":
      case "UNKNOWN_SIGNED_PRE_KEY":
      case "MISSING_ONE_TIME_PRE_KEY":
        return new OmemoError("KEY_EXCHANGE_FAILED", `${what}: ${error.message}`, { cause: error });
      case "BAD_SIGNATURE":
      case "INVALID_BUNDLE":
        return new OmemoError("BUNDLE_INVALID", `${what}: ${error.message}`, { cause: error });
      case "INVALID_SESSION":
        return new OmemoError("STORE_CORRUPT", `${what}: ${error.message}`, { cause: error });
      default:
        return new OmemoError(fallback, `${what}: ${error.message}`, { cause: error });
    }
  }
  if (isCryptoError(error)) return new OmemoError(fallback, `${what}: ${error.message}`, { cause: error });
  return new OmemoError(fallback, `${what}: unexpected failure`, { cause: error });
}

/** Runs app I/O; its failures become IO_FAILED (OmemoErrors pass unchanged). */
export function io<T>(what: string, body: () => Promise<T>): Promise<T> {
  let pending: Promise<T>;
  try {
    pending = Promise.resolve(body());
  } catch (error) {
    return Promise.reject(asIoError(error, what));
  }
  // One promise instead of an async function's two, and no extra hop for the value.
  return pending.then(undefined, (error: unknown) => {
    throw asIoError(error, what);
  });
}

function asIoError(error: unknown, what: string): OmemoError {
  return isOmemoError(error) ? error : new OmemoError("IO_FAILED", `${what} failed`, { cause: error });
}
