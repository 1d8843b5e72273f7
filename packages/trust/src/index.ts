/**
 * @parley/trust: the trust store of an end-to-end encrypted messenger, protocol-agnostic: which keys of
 * which contact are trusted, why and since when. TOFU, blind trust before verification and manual
 * policies; fingerprint formatting and comparison; `xmpp:` URIs and QR payloads for out-of-band checks.
 * @packageDocumentation
 */
export { createTrustStore, TrustStore } from "./store.js";
export type { KeysSeenOptions, SeenKey, TrustEvents, TrustStoreOptions, UriApplyOptions, UserAction } from "./store.js";
export { btbvPolicy, decideAccept, decideEncrypt, manualPolicy, tofuPolicy } from "./policy.js";
export type { PolicyContext, TrustDecision, TrustPolicy, TrustReason } from "./policy.js";
export { omemoTrustDecider } from "./omemo.js";
export type { OmemoDevice, OmemoTrustDecider } from "./omemo.js";
export { memoryTrustStorage } from "./storage.js";
export type { TrustStorage, TrustStorageTransaction } from "./storage.js";
export { normalizeJid } from "./jid.js";
export {
  FINGERPRINT_FORMATS,
  fingerprintsEqual,
  formatFingerprint,
  normalizeFingerprint,
  omemo2FingerprintFromEd25519,
} from "./fingerprint.js";
export type { FingerprintFormat } from "./fingerprint.js";
export { buildXmppUri, formatShareText, parseShareUri, parseXmppUri, qrPayload } from "./uri.js";
export type { BuildXmppUriInput, ParseShareUriOptions, QrPayload, SharedFingerprint, XmppUri } from "./uri.js";
export { TrustError, isTrustError } from "./errors.js";
export type { TrustErrorCode } from "./errors.js";
export { ENCRYPTION_METHODS, TRUST_STATES, VERIFICATION_METHODS } from "./types.js";
export type {
  ContactSettings,
  EncryptionMethod,
  TrustCause,
  TrustHistoryEntry,
  TrustRecord,
  TrustState,
  VerificationMethod,
} from "./types.js";
export {
  FORMAT_VERSION,
  MAX_BATCH_KEYS,
  MAX_KEYS_PER_PROTOCOL,
  MAX_URI_FINGERPRINTS,
  MAX_URI_LENGTH,
} from "./consts.js";
