/**
 * The interfaces the queue consumes. The app wires real implementations (an OMEMO session manager, an
 * OTR session, an XMPP connection, @parley/trust, @parley/storage); the queue imports none of them.
 */

/** An encryption the queue can negotiate. */
export type EncryptionMethod = "omemo" | "otr";

/** What a contact's messages are sent with: an encryption, or `none` (plaintext) where allowed. */
export type SendMethod = EncryptionMethod | "none";

/** The states a message moves through. */
export type MessageState = "queued" | "negotiating" | "sending" | "sent" | "delivered" | "failed";

/** Why a message failed for good (the app shows it; `resend(id)` tries again). */
export type FailureReason =
  /** OMEMO: no device of the contact is trusted (or none is published) and no other method is available. */
  | "no-trusted-device"
  /** OTR is the only usable method and the contact is offline (OTR needs both ends online for its AKE). */
  | "contact-offline-otr-required"
  /** The peer or its server refused the message (an error stanza, a refused AKE, a blocked contact). */
  | "peer-rejected"
  /** Every attempt failed transiently, MAX_ATTEMPTS of them. `lastError` says what the last one was. */
  | "retries-exhausted"
  /** Plaintext would have been needed and the policy does not allow it for this contact. */
  | "plaintext-forbidden"
  /** No provider is wired for the method(s) the contact's policy needs. */
  | "no-encryption-available"
  /** The protocol could not encrypt (a broken session it cannot repair, a bad key). */
  | "encryption-failed";

/** Why one attempt failed but may succeed later (retried with backoff). */
export type TransientReason =
  /** Our connection is down; the attempt waits for `online` and does not count. */
  | "offline"
  /** The server did not acknowledge the stanza in time (it may or may not have arrived). */
  | "ack-timeout"
  /** Negotiation did not finish within the negotiation timeout. */
  | "negotiation-timeout"
  /** The session could not be started now (bundle fetch failed, AKE interrupted). */
  | "session-failed"
  /** OMEMO device list or bundles not fetched yet, or another wait the protocol expects to end. */
  | "not-ready"
  /** Any other error the transport or a protocol threw (not a typed outcome). */
  | "error";

/** A failed step: transient ones are retried with backoff, permanent ones fail the message at once. */
export type StepFailure =
  | { readonly ok: false; readonly transient: true; readonly reason: TransientReason }
  | { readonly ok: false; readonly transient: false; readonly reason: FailureReason };

/** The typed outcome of a protocol or transport step. A thrown error counts as transient `error`. */
export type StepOutcome = { readonly ok: true } | StepFailure;

/** The outcome of `encrypt`: the payload the transport sends, or a failure. */
export type EncryptOutcome = { readonly ok: true; readonly payload: unknown } | StepFailure;

/** Whether a method can be used for a contact now. */
export type Availability =
  | { readonly available: true }
  | { readonly available: false; readonly transient: true; readonly reason: TransientReason }
  | { readonly available: false; readonly transient: false; readonly reason: FailureReason };

/** What a provider is asked to encrypt. `originId` goes into the stanza (XEP-0359), and inside SCE if used. */
export interface OutgoingMessage {
  readonly id: string;
  readonly to: string;
  readonly body: string;
}

/**
 * One encryption protocol, as the queue needs it. OMEMO: `availability` says whether a trusted device
 * exists (contacts may be offline); OTR: whether the contact is online.
 */
export interface EncryptionProvider {
  /** `signal` aborts at the step deadline (STEP_TIMEOUT_MS); the queue ignores a later result. */
  availability(contact: string, signal: AbortSignal): Promise<Availability>;
  /** Start (or confirm) a session. Must stop and settle when `signal` aborts (the negotiation timeout). */
  negotiate(contact: string, signal: AbortSignal): Promise<StepOutcome>;
  /**
   * Encrypt for the contact's devices or session; `payload` is what the transport sends. `signal` aborts
   * at the step deadline: stop then (the attempt already counts as a transient `error`).
   */
  encrypt(message: OutgoingMessage, signal: AbortSignal): Promise<EncryptOutcome>;
}

/** What the transport sends: the payload as its protocol produced it, with the stable id. */
export interface OutgoingStanza {
  readonly to: string;
  /** XEP-0359 origin-id: the same on every attempt of this message. */
  readonly originId: string;
  /** `none` only when the policy allowed plaintext for this contact; then `payload` is the body. */
  readonly method: SendMethod;
  readonly payload: unknown;
  /** 1-based attempt number (a resend after a crash repeats the attempt it interrupted). */
  readonly attempt: number;
}

/** Events from the transport. */
export type TransportEvent =
  | { readonly type: "online" }
  | { readonly type: "offline" }
  /** A XEP-0184 receipt: `id` is the id the peer acknowledged (our origin-id), `from` its JID. */
  | { readonly type: "receipt"; readonly from: string; readonly id: string };

/** The XMPP connection. `send` resolves when the server acknowledged the stanza (XEP-0198), or fails typed. */
export interface Transport {
  isOnline(): boolean;
  /**
   * `signal` aborts at the step deadline (STEP_TIMEOUT_MS): the attempt then counts as the transient
   * `ack-timeout` (the stanza may still arrive; a retry carries the same origin-id) and a later result is ignored.
   */
  send(stanza: OutgoingStanza, signal: AbortSignal): Promise<StepOutcome>;
  /** Subscribe to events; returns the unsubscribe function. */
  subscribe(listener: (event: TransportEvent) => void): () => void;
}

/**
 * Per-contact default encryption. `@parley/trust`'s `TrustStore` satisfies it as is
 * (`getContactSettings(account, contact)` → `{ defaultEncryption: "omemo" | "otr" | "none" }`).
 */
export interface ContactPolicy {
  getContactSettings(account: string, contact: string): Promise<{ readonly defaultEncryption: SendMethod }>;
}

/** A message as the store keeps it. Only `queued`, `sent` and `failed` are stored (in flight is `queued`). */
export interface StoredMessage {
  readonly id: string;
  readonly conversation: string;
  /** Global sequence: order within a conversation is ascending `seq`. */
  readonly seq: number;
  readonly body: string;
  readonly state: "queued" | "sent" | "failed";
  /** Attempts started or reserved (a crash during attempt k repeats attempt k). */
  readonly attempts: number;
  readonly createdAt: number;
  readonly retryAt?: number;
  readonly method?: SendMethod;
  readonly reason?: FailureReason;
  readonly lastError?: TransientReason;
  /**
   * The account (bare JID) whose queue wrote the record. A queue loads only its own account's records;
   * absent in records of format v1 (one store per account), which the opening queue adopts.
   */
  readonly account?: string;
  /**
   * True only when the contact's default was `none` at `send()` (or the last `resend()`): only then may
   * the message go out in plaintext (and only with `allowPlaintext`). Absent means encrypted-only.
   */
  readonly mayBePlaintext?: boolean;
}

/** One atomic write: every put and delete, or none. */
export interface StoreBatch {
  readonly puts: readonly StoredMessage[];
  readonly deletes: readonly string[];
}

/** Where the queue persists. `memoryQueueStore()` for tests; `@parley/queue/storage` over @parley/storage. */
export interface QueueStore {
  load(): Promise<StoredMessage[]>;
  /** Atomic: after a crash either the whole batch is there or none of it. */
  write(batch: StoreBatch): Promise<void>;
}

/** Time and timers, so tests run them by hand. `realTimers()` for apps, `ManualTimers` for tests. */
export interface Timers {
  now(): number;
  /** Calls `callback` after `delayMs`; returns a function that cancels it. */
  schedule(delayMs: number, callback: () => void): () => void;
}
