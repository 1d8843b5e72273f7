/**
 * The trust state of one fingerprint.
 * - `tofu`: trusted without verification, because a policy said so (first key seen, or blind trust).
 * - `verified`: the user verified it (compared fingerprints, scanned a QR code, SMP, an `xmpp:` URI).
 * - `untrusted`: not trusted: a new key the policy did not trust, or a key the user distrusted.
 * - `compromised`: the user says this key is in someone else's hands. Never trusted, never accepted.
 */
export type TrustState = "tofu" | "verified" | "untrusted" | "compromised";

export const TRUST_STATES: readonly TrustState[] = ["tofu", "verified", "untrusted", "compromised"];

/** How a user verified a key. `manual` is the user saying "trust it" without a check. */
export type VerificationMethod = "fingerprint-compared" | "qr" | "smp" | "xmpp-uri" | "manual";

export const VERIFICATION_METHODS: readonly VerificationMethod[] = [
  "fingerprint-compared",
  "qr",
  "smp",
  "xmpp-uri",
  "manual",
];

/** Why a record entered a state. */
export type TrustCause =
  /** A policy chose the state when the key was first seen. `firstBatch` is true when it arrived in the contact's first batch. */
  | { readonly kind: "first-seen"; readonly policy: string; readonly firstBatch: boolean }
  /** The user changed the state; `method` for verifications, `actor` names who (a local user or device) when the app says. */
  | { readonly kind: "user"; readonly method?: VerificationMethod; readonly actor?: string };

export interface TrustHistoryEntry {
  readonly state: TrustState;
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly cause: TrustCause;
}

/** One fingerprint of one contact, for one protocol, as seen from one account. */
export interface TrustRecord {
  readonly account: string;
  readonly contact: string;
  /** A free protocol identifier: `omemo`, `otr`, or any other the app uses. */
  readonly protocol: string;
  /** Canonical form: lowercase hex, no separators (OMEMO without the 0x05 type byte). */
  readonly fingerprint: string;
  readonly state: TrustState;
  /** OMEMO device id, when the protocol told us. */
  readonly deviceId?: number;
  /** When a protocol first reported the key (or the user first acted on it), ms since the epoch. */
  readonly firstSeenAt: number;
  /**
   * When a protocol reported another fingerprint for this record's device id (ms since the epoch): the device no
   * longer uses this key, so it is not encrypted to (`trustedRecords` leaves it out, `shouldEncryptTo` says
   * `superseded`). Cleared if the device reports this key again. Absent for a device's current key.
   */
  readonly supersededAt?: number;
  /** How the record got to its state, oldest first (bounded, the first entry is always kept). */
  readonly history: readonly TrustHistoryEntry[];
}

/** What the user encrypts to this contact with by default. */
export type EncryptionMethod = "omemo" | "otr" | "none";

export const ENCRYPTION_METHODS: readonly EncryptionMethod[] = ["omemo", "otr", "none"];

export interface ContactSettings {
  readonly defaultEncryption: EncryptionMethod;
  readonly muted: boolean;
}
