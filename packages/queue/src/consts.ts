/**
 * Every limit of the queue, each with the reason for its figure. `QueueOptions.limits` may lower the
 * bounds (tests do); it may not raise them above these ceilings.
 */

/**
 * Messages held per conversation (queued, in flight or failed and not yet resent or cancelled): 1,000.
 * A person does not type 1,000 messages to one contact while it is unreachable; a runaway bot does,
 * and must hear QUEUE_FULL instead of filling the disk.
 */
export const MAX_PER_CONVERSATION = 1_000;

/**
 * Messages held in total: 10,000 (100 conversations with 100 messages each, the benchmark's shape).
 * Every held message is in memory, so this bounds memory with MAX_TOTAL_BYTES.
 */
export const MAX_TOTAL = 10_000;

/**
 * UTF-8 bytes of message bodies held in total: 64 MiB. With MAX_BODY_BYTES this keeps the worst case
 * (MAX_TOTAL bodies of the largest size would be 640 MiB) to a figure a phone can hold.
 */
export const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/**
 * Largest body: 64 KiB of UTF-8. ejabberd's default c2s `max_stanza_size` is 65,536 bytes (Prosody's
 * is 256 KiB); a larger body would be refused by the server after encryption anyway.
 */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Longest conversation address: 3,071 bytes, the largest JID RFC 7622 §3.1 allows
 * (1023-byte localpart, domainpart and resourcepart, two separators).
 */
export const MAX_CONVERSATION_BYTES = 3_071;

/**
 * Attempts per message before it fails with `retries-exhausted`: 8. With the backoff below the last
 * one runs after roughly 2 minutes of failures (1 + 2 + 4 + ... + 64 s, before jitter): long enough to
 * ride out a reconnect, short enough that the user learns within minutes. `resend()` starts over.
 */
export const MAX_ATTEMPTS = 8;

/** First retry delay: 1 s, the order of one XMPP round trip on a mobile link plus a reconnect. */
export const BACKOFF_BASE_MS = 1_000;

/** Longest retry delay: 5 minutes (XEP-0198 resumption windows are typically 5 minutes). */
export const BACKOFF_MAX_MS = 5 * 60_000;

/**
 * Session negotiation timeout: 30 s. An OTR AKE is four messages, an OMEMO bundle fetch one PEP round
 * trip; 30 s covers a slow mobile link, after which the attempt counts as a transient failure.
 */
export const NEGOTIATION_TIMEOUT_MS = 30_000;

/**
 * Deadline of every other call the queue makes (contact policy, availability, encrypt, transport send):
 * 60 s. A policy lookup or an encryption takes milliseconds and a server's XEP-0198 acknowledgement one
 * round trip; a call still unsettled after a minute is hung (a dead socket the OS has not noticed: TCP
 * keepalive defaults are hours), and until it settles every message behind it in its conversation waits.
 * A timed-out send counts as the transient `ack-timeout`, any other timed-out call as the transient `error`.
 */
export const STEP_TIMEOUT_MS = 60_000;

/**
 * Sent messages whose delivery receipt (XEP-0184) we still wait for: 10,000. A peer that never sends
 * receipts (many clients do not) must not grow this set without end; beyond it the oldest is forgotten
 * (event `forgotten`, state stays `sent` in the app's history).
 */
export const MAX_AWAITING_RECEIPT = 10_000;

/**
 * Receiver-side duplicate filter capacity: 10,000 origin-ids. A resend arrives within minutes of the
 * original (MAX_ATTEMPTS with BACKOFF_MAX_MS, or after a restart): 10,000 covers hours of a busy account;
 * about 1 MB of memory.
 */
export const DEDUP_CAPACITY = 10_000;

/** Longest origin-id the duplicate filter accepts: 256 characters (ours are 36; XEP-0359 sets no bound). */
export const MAX_ORIGIN_ID_LENGTH = 256;

/**
 * Stored record format version written by this package; older versions load, newer are refused.
 * v2 added the account (`ac`) and whether plaintext may ever be used (`pt`); v1 records load as the
 * opening account's, encrypted-only.
 */
export const RECORD_VERSION = 2;
