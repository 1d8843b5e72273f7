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
 * The largest limits a profile may set (`withLimits`, `createSignalProfile({ limits })`) and so the
 * largest a serialized session can carry: 50× (keys), 4× (jump) and 20× (chains) the defaults. A
 * misconfiguration must not turn one forged message into seconds of HMAC work (100,000 steps are
 * 200,000 HMACs) or an idle session into megabytes (100,000 keys are 3.6 MB serialized).
 */
export const LIMIT_CEILINGS = Object.freeze({
  maxSkippedKeys: 100_000,
  maxForwardJump: 100_000,
  maxSkippedChains: 100,
});

/**
 * The smallest limits: no skipped keys and no forward jump at all are allowed (strictly in-order
 * delivery), but at least one old chain, so a late duplicate of the previous chain is recognised.
 */
export const LIMIT_FLOORS = Object.freeze({
  maxSkippedKeys: 0,
  maxForwardJump: 0,
  maxSkippedChains: 1,
});

/** Largest plaintext `encrypt` accepts: 1 MiB. OMEMO ratchet plaintexts are 32-48 bytes. */
export const MAX_PLAINTEXT_LENGTH = 1 << 20;

/** Largest message `decrypt` parses: plaintext limit plus headers, padding and MAC. */
export const MAX_MESSAGE_LENGTH = MAX_PLAINTEXT_LENGTH + 1024;

/**
 * Current session serialization version (see serialize.ts for the layout and migrations).
 * 1: the first. 2: adds the generation counter (compare-and-swap for session stores).
 */
export const SESSION_FORMAT_VERSION = 2;

/**
 * Ns, Nr and PN are 32-bit on every wire format (protobuf uint32, the signal layout's u32) and in
 * the serialized session: a sending chain ends before its counter would wrap (a wrapped counter
 * would reuse a message key), and a received counter at the top is refused.
 */
export const MAX_COUNTER = 0xffffffff;
