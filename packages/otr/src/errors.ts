/** What went wrong, as a closed set a caller can switch on. */
export type OtrErrorCode =
  /** An argument has the wrong type or shape (the message names the argument). */
  | "INVALID_ARGUMENT"
  /** A message could not be parsed: bad base64, truncated, trailing bytes, a field out of range. */
  | "MALFORMED_MESSAGE"
  /** A message or field is larger than a limit in consts.ts. */
  | "TOO_LARGE"
  /** The message's protocol version is not one we speak or our policy does not allow it. */
  | "UNSUPPORTED_VERSION"
  /** A message addressed to another instance tag, or from an invalid one. */
  | "WRONG_INSTANCE"
  /** A value outside its group or range: a DH public value not in 2..p-2, an SMP value or exponent out of range. */
  | "INVALID_GROUP_ELEMENT"
  /** A MAC did not verify (data message, AKE signature MAC). */
  | "BAD_MAC"
  /** A DSA signature did not verify, or a signed field did not match. */
  | "BAD_SIGNATURE"
  /** The AKE commitment (hash of g^x) did not match the revealed value. */
  | "BAD_COMMITMENT"
  /** A data message for keys we no longer (or never) had. */
  | "UNKNOWN_KEY"
  /** A data message whose counter is not larger than the last one seen with its keys (a replay). */
  | "REPLAY"
  /** A data message arrived while no encrypted session exists for it. */
  | "NOT_ENCRYPTED"
  /** The operation is not allowed in the current state (send in FINISHED, SMP outside ENCRYPTED). */
  | "INVALID_STATE"
  /** An SMP message failed a zero-knowledge proof check or came out of order. */
  | "SMP_CHECK_FAILED"
  /** A key (DSA) is invalid, or a key file could not be read. */
  | "INVALID_KEY"
  /** A stored state or key could not be decoded. */
  | "CORRUPT_STATE"
  /** The stored state was written by a newer version of this package. */
  | "UNSUPPORTED_STATE_VERSION"
  /** The native engine was asked for where node:crypto does not exist. */
  | "UNSUPPORTED";

/**
 * The one error class of @parley/otr. Messages say what was wrong in words a developer can act on;
 * they never carry key material, plaintext or whole inputs.
 */
export class OtrError extends Error {
  override readonly name = "OtrError";
  readonly code: OtrErrorCode;
  constructor(code: OtrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Whether `error` is an OtrError (with the given code, if one is given). */
export function isOtrError(error: unknown, code?: OtrErrorCode): error is OtrError {
  return error instanceof OtrError && (code === undefined || error.code === code);
}
