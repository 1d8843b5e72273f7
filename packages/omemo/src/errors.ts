/**
 * What was wrong with a stanza or an argument, as a closed set a caller can switch on; the session
 * manager's codes follow the stanza codes.
 */
export type OmemoErrorCode =
  /** Not well-formed XML, or well-formed XML that is not the element the XEP defines (the message names the element and attribute). */
  | "MALFORMED_STANZA"
  /** Over one of the limits in consts.ts: bytes, nesting depth, keys per header, devices per list, prekeys per bundle, field length. */
  | "STANZA_TOO_LARGE"
  /** A field that must be base64 is not strict, canonical, padded base64 (ASCII whitespace is allowed anywhere). */
  | "INVALID_BASE64"
  /** The element is in a namespace this decoder does not handle (for example a legacy element given to the OMEMO 2 decoder). */
  | "UNSUPPORTED_NAMESPACE"
  /** XEP-0420 `<to/>` affix names someone other than the expected recipient, or is missing where it is required (group chats). */
  | "SCE_WRONG_RECIPIENT"
  /** XEP-0420 `<from/>` affix names someone other than the sender of the enclosing stanza. */
  | "SCE_WRONG_SENDER"
  /** An argument given to an encoder has the wrong type, length or range (the message names it). */
  | "INVALID_ARGUMENT"
  // Session manager (src/session/). A failed operation changes no stored state.
  /** The message has no `<key>` for this device (XEP-0384 v0.8.3 §5.6: not encrypted for us). */
  | "NO_KEY_FOR_US"
  /** A normal message (no key exchange) from a device we have no session with. */
  | "NO_SESSION"
  /** Already decrypted, or from a session replaced since (a MAM, carbon or network replay): ignore it (v0.8.3 §6). */
  | "DUPLICATE_MESSAGE"
  /** The key or payload does not decrypt: wrong MAC, corrupt data, a ratchet limit (the cause says which). */
  | "DECRYPTION_FAILED"
  /** A key exchange we cannot answer: unknown or used one-time prekey, unknown signed prekey, none at all in OMEMO 2. */
  | "KEY_EXCHANGE_FAILED"
  /** The trust decision for the sending device is "untrusted": its message is not decrypted. */
  | "UNTRUSTED_DEVICE"
  /** A device's bundle is missing, malformed, or its signed prekey signature does not verify. */
  | "BUNDLE_INVALID"
  /** Another writer (a second tab or process) stored a newer session first: nothing was sent; try again. */
  | "CONCURRENT_UPDATE"
  /** A stored record does not decode: the store is corrupt or was written by an unknown version. */
  | "STORE_CORRUPT"
  /** The app's transport or store failed (the cause is its error). */
  | "IO_FAILED"
  /** A recipient has no device this message could be encrypted for (none, none trusted, or all failed). */
  | "NO_ELIGIBLE_DEVICES"
  /** An account lists more devices than one message is encrypted to (MAX_DEVICES_PER_ACCOUNT): this one was left out. */
  | "TOO_MANY_DEVICES"
  // Media sharing (src/media/, XEP-0454).
  /** Not an XEP-0454 aesgcm:// URL: another scheme, no host, or a fragment that is not 24 or 32 hex digits of IV and 64 of key. */
  | "MEDIA_INVALID_URL";

/**
 * The one error class of @parley/omemo. Messages say which element or attribute was wrong and never
 * contain key material, payloads or other text taken from the stanza.
 */
export class OmemoError extends Error {
  override readonly name = "OmemoError";
  readonly code: OmemoErrorCode;
  constructor(code: OmemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Type guard: `isOmemoError(e)` or `isOmemoError(e, "MALFORMED_STANZA")`. */
export function isOmemoError(error: unknown, code?: OmemoErrorCode): error is OmemoError {
  return error instanceof OmemoError && (code === undefined || error.code === code);
}
