/**
 * Limits of the Double Ratchet, each with its reason and the deployed peers' figures
 * (libsignal-protocol-java SessionCipher/SessionState, libsignal (Rust) consts.rs,
 * python-doubleratchet, XEP-0384 v0.8.3 §4.3). Every session carries its own copy (`Limits`).
 */

/**
 * Skipped message keys stored per session, oldest dropped first (FIFO). Bounds memory an attacker
 * can make us hold. libsignal: 2000 (MAX_MESSAGE_KEYS, per chain); python-doubleratchet and
 * XEP-0384 v0.8.3: 1000 per session (the omemo2 profile uses 1000).
 */
export const MAX_SKIPPED_MESSAGE_KEYS = 2000;

/** OMEMO 2's recommended per-session figure (XEP-0384 v0.8.3 §4.3 MAX_SKIP). */
export const OMEMO2_MAX_SKIPPED_MESSAGE_KEYS = 1000;

/**
 * Largest counter jump one message may ask for. Bounds the HMAC work one forged message can cause
 * (two HMACs per step). libsignal (Rust) MAX_FORWARD_JUMPS = 25000; libsignal-java/-c reject beyond
 * 2000; python-doubleratchet 1000 by default. Keys beyond MAX_SKIPPED_MESSAGE_KEYS are derived and dropped.
 */
export const MAX_FORWARD_JUMP = 25000;

/**
 * Old receiving chains whose skipped keys (and whose ratchet keys, for duplicate detection) are kept.
 * libsignal keeps 5 receiver chains (MAX_RECEIVER_CHAINS) per session state.
 */
export const MAX_SKIPPED_CHAINS = 5;

/**
 * Previous session states a session manager should keep per peer device and try old messages
 * against (libsignal ARCHIVED_STATES_MAX_LENGTH = 40). Not used inside this package: the manager
 * (@parley/omemo) owns session records; it is here so the figure has one home.
 */
export const ARCHIVED_STATES_MAX = 40;

/** Largest plaintext `encrypt` accepts: 1 MiB. OMEMO ratchet plaintexts are 32-48 bytes. */
export const MAX_PLAINTEXT_LENGTH = 1 << 20;

/** Largest message `decrypt` parses: plaintext limit plus headers, padding and MAC. */
export const MAX_MESSAGE_LENGTH = MAX_PLAINTEXT_LENGTH + 1024;

/** Current session serialization version (see serialize.ts for the layout and migrations). */
export const SESSION_FORMAT_VERSION = 1;
