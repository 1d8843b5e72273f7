import { bytesToHex, concatBytes } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import { DoubleRatchetError } from "./errors.js";
import type { Limits, RatchetProfile } from "./profiles.js";

/**
 * Skipped message keys of one receiving chain. Keys are only ever added with growing counters and
 * evicted from the front (FIFO), so `counters` stays ascending: lookup is a binary search and the
 * copy a commit makes is two flat arrays (much cheaper than copying a Map; measured by the
 * reverse-delivery benchmark).
 */
export interface SkippedChain {
  /** Their ratchet public key (32-byte u), or the header key with header encryption (§4.3 MKSKIPPED). */
  readonly key: Uint8Array;
  /** Counters N, ascending. */
  readonly counters: readonly number[];
  /** Message keys, parallel to `counters`. */
  readonly keys: readonly Uint8Array[];
}

/** Index of counter `n` in a chain, or −1. */
export function findSkipped(chain: SkippedChain, n: number): number {
  const c = chain.counters;
  let lo = 0;
  let hi = c.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = c[mid]!;
    if (v === n) return mid;
    if (v < n) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The X3DH fields repeated in front of every message until the peer answers
 * (docs/libsignal-wire-format.md §2.2, XEP-0384 §4.3).
 */
export interface PendingKeyExchange {
  readonly oneTimePreKeyId: number | undefined;
  readonly signedPreKeyId: number;
  /** EK_A, profile-encoded. */
  readonly ephemeralKey: Uint8Array;
  /** IK_A, profile-encoded. */
  readonly identityKey: Uint8Array;
  /** libsignal registration id (legacy only, informational). */
  readonly registrationId: number | undefined;
}

/** The Double Ratchet state (§3.2 and §4.3 variables), plus the session's identity context. */
export interface RatchetState {
  readonly profile: RatchetProfile;
  readonly limits: Limits;
  readonly role: "initiator" | "responder";
  /** Profile-encoded identity keys. */
  readonly localIdentityKey: Uint8Array;
  readonly remoteIdentityKey: Uint8Array;
  /** X3DH AD = Encode(IK_initiator) || Encode(IK_responder). */
  readonly associatedData: Uint8Array;
  /** EK_A of the X3DH exchange that built this session, profile-encoded (XEP-0384 §4.3 compares it). */
  readonly baseKey: Uint8Array;
  readonly rootKey: Uint8Array;
  readonly dhsPrivate: Uint8Array;
  readonly dhsPublic: Uint8Array;
  readonly dhr: Uint8Array | null;
  readonly cks: Uint8Array | null;
  readonly ns: number;
  readonly pn: number;
  readonly ckr: Uint8Array | null;
  readonly nr: number;
  /** Oldest chain first. */
  readonly skipped: readonly SkippedChain[];
  readonly pending: PendingKeyExchange | null;
  readonly hks: Uint8Array | null;
  readonly hkr: Uint8Array | null;
  readonly nhks: Uint8Array | null;
  readonly nhkr: Uint8Array | null;
}

/** The fields a ratchet step changes (all of them, so a step names every one). */
export type RatchetChanges = Pick<
  RatchetState,
  | "rootKey"
  | "dhsPrivate"
  | "dhsPublic"
  | "dhr"
  | "cks"
  | "ns"
  | "pn"
  | "ckr"
  | "nr"
  | "skipped"
  | "pending"
  | "hks"
  | "hkr"
  | "nhks"
  | "nhkr"
>;

/**
 * A new state: the session's fixed context from `s`, everything else from `c`. Spelled out field by
 * field rather than `{ ...s, ...changes }`: one fixed object shape, and the spread-then-override
 * literal was the largest cost of encrypt and decrypt outside the primitives (CPU profile).
 */
export function nextState(s: RatchetState, c: RatchetChanges): RatchetState {
  return {
    profile: s.profile,
    limits: s.limits,
    role: s.role,
    localIdentityKey: s.localIdentityKey,
    remoteIdentityKey: s.remoteIdentityKey,
    associatedData: s.associatedData,
    baseKey: s.baseKey,
    rootKey: c.rootKey,
    dhsPrivate: c.dhsPrivate,
    dhsPublic: c.dhsPublic,
    dhr: c.dhr,
    cks: c.cks,
    ns: c.ns,
    pn: c.pn,
    ckr: c.ckr,
    nr: c.nr,
    skipped: c.skipped,
    pending: c.pending,
    hks: c.hks,
    hkr: c.hkr,
    nhks: c.nhks,
    nhkr: c.nhkr,
  };
}

/** MAC prefixes derived from the identity keys, computed once per session and handed to its successors. */
export interface MacContext {
  readonly send: Uint8Array;
  readonly receive: Uint8Array;
}

function macContext(state: RatchetState): MacContext {
  if (state.profile.macIdentityOrder === "initiatorResponder") {
    return { send: state.associatedData, receive: state.associatedData };
  }
  // libsignal: sender's identity key || receiver's identity key, whoever started (docs/libsignal-wire-format.md §2.1).
  return {
    send: concatBytes(state.localIdentityKey, state.remoteIdentityKey),
    receive: concatBytes(state.remoteIdentityKey, state.localIdentityKey),
  };
}

/** Proves a construction comes from this module: `new Session(...)` from anywhere else throws. */
const CONSTRUCT: unique symbol = Symbol("Session.construct");

function staleSession(): DoubleRatchetError {
  return new DoubleRatchetError(
    "STALE_SESSION",
    "this Session value is spent: an earlier encrypt/decrypt returned its successor. Use the session the last call " +
      "returned and persist it (compare-and-swap on session.generation) before sending; an old value would reuse a " +
      "message key or accept a replay",
  );
}

// Module-private access to a Session's fields, set by the class's static block (the only code that
// can read `#` fields); ratchet.ts and serialize.ts use these, the package's users cannot.
let readState: (session: Session) => RatchetState;
let readMac: (session: Session) => MacContext;
let claimSession: (session: Session) => RatchetState;
let releaseSession: (session: Session) => void;
let makeSuccessor: (session: Session, next: RatchetState) => Session;
let makeSession: (state: RatchetState, generation: number) => Session;

/**
 * A Double Ratchet session. **Single use:** `encrypt` and `decrypt` return its successor and spend
 * the value passed in; any later operation on a spent value throws `STALE_SESSION` (an old value
 * would reuse a message key or accept a replayed message). A failed operation spends nothing
 * (commit on success). `generation` grows by one with every successor and is serialized, so a
 * store can refuse to overwrite a newer session (compare-and-swap). There is no public
 * constructor: sessions come from createInitiatorSession, acceptSession or deserializeSession.
 * It never prints key material (`inspect`, `toString`, `JSON.stringify` show public facts only).
 */
export class Session {
  readonly #state: RatchetState;
  readonly #mac: MacContext;
  readonly #generation: number;
  /** Set when an operation claims this value; cleared again if the operation fails. */
  #spent = false;

  private constructor(token: symbol, state: RatchetState, mac: MacContext, generation: number) {
    if (token !== CONSTRUCT) {
      throw new DoubleRatchetError(
        "INVALID_ARGUMENT",
        "a Session cannot be constructed: use createInitiatorSession, acceptSession or deserializeSession",
      );
    }
    this.#state = state;
    this.#mac = mac;
    this.#generation = generation;
  }

  static {
    readState = (session) => session.#state;
    readMac = (session) => session.#mac;
    claimSession = (session) => {
      if (session.#spent) throw staleSession();
      session.#spent = true;
      return session.#state;
    };
    releaseSession = (session) => {
      session.#spent = false;
    };
    makeSuccessor = (session, next) => new Session(CONSTRUCT, next, session.#mac, session.#generation + 1);
    makeSession = (state, generation) => new Session(CONSTRUCT, state, macContext(state), generation);
  }

  /** The profile name ("legacyOmemo", "omemo2", "signal"). */
  get profileName(): RatchetProfile["name"] {
    return this.#state.profile.name;
  }
  /** Whether we started this session (X3DH initiator, "Alice"). */
  get role(): "initiator" | "responder" {
    return this.#state.role;
  }
  /** The peer's identity key, profile-encoded (for trust decisions and fingerprints). */
  get remoteIdentityKey(): Uint8Array {
    return this.#state.remoteIdentityKey.slice();
  }
  /** Our identity key, profile-encoded. */
  get localIdentityKey(): Uint8Array {
    return this.#state.localIdentityKey.slice();
  }
  /** X3DH AD = Encode(IK_initiator) || Encode(IK_responder). */
  get associatedData(): Uint8Array {
    return this.#state.associatedData.slice();
  }
  /** EK_A of the key exchange that built this session, profile-encoded. */
  get baseKey(): Uint8Array {
    return this.#state.baseKey.slice();
  }
  /** True while every outgoing message still carries the key exchange (no reply decrypted yet). */
  get keyExchangePending(): boolean {
    return this.#state.pending !== null;
  }
  /** Ns: messages sent in the current sending chain. */
  get sendingCounter(): number {
    return this.#state.ns;
  }
  /** Nr: messages received in the current receiving chain. */
  get receivingCounter(): number {
    return this.#state.nr;
  }
  /** Skipped message keys currently stored. */
  get skippedKeyCount(): number {
    let n = 0;
    for (const c of this.#state.skipped) n += c.keys.length;
    return n;
  }
  /**
   * How many operations led to this value: 0 for a new session, +1 for every successful encrypt or
   * decrypt (acceptSession's first decryption included). Serialized with the session. A store keeps
   * it beside the record and writes a successor only where the stored generation is still the one
   * it loaded (compare-and-swap), so two tasks that loaded the same record cannot both persist.
   */
  get generation(): number {
    return this.#generation;
  }
  /** True once an operation returned this value's successor: every further operation throws STALE_SESSION. */
  get spent(): boolean {
    return this.#spent;
  }

  toString(): string {
    const s = this.#state;
    return `Session(${s.profile.name}, ${s.role}, remote identity ${bytesToHex(s.remoteIdentityKey)}, generation ${this.#generation}${this.#spent ? " (spent)" : ""}, sent ${s.ns}, received ${s.nr}, skipped keys ${this.skippedKeyCount}, keys [redacted])`;
  }
  toJSON(): Record<string, unknown> {
    const s = this.#state;
    return {
      profile: s.profile.name,
      role: s.role,
      remoteIdentityKey: bytesToHex(s.remoteIdentityKey),
      generation: this.#generation,
      spent: this.#spent,
      keyExchangePending: s.pending !== null,
      sendingCounter: s.ns,
      receivingCounter: s.nr,
      skippedKeyCount: this.skippedKeyCount,
      keys: "[redacted]",
    };
  }
  [INSPECT_CUSTOM](): string {
    return this.toString();
  }
}

/** The state of any session, spent or not (getters, serialization after its own spent check). */
export function stateOf(session: Session): RatchetState {
  return readState(session);
}

/** The MAC prefixes of a session. */
export function macOf(session: Session): MacContext {
  return readMac(session);
}

/**
 * Claims a session for an operation that will return its successor: throws STALE_SESSION if it is
 * spent, marks it spent otherwise (so even a re-entrant call cannot derive a second successor).
 * The operation must call {@link release} if it fails, and {@link successor} if it succeeds.
 */
export function claim(session: Session): RatchetState {
  return claimSession(session);
}

/** Gives a claimed session back after a failed operation: it stays usable (commit on success). */
export function release(session: Session): void {
  releaseSession(session);
}

/** Throws STALE_SESSION if the session is spent (serializeSession: persisting a spent value is the same bug). */
export function assertLive(session: Session): void {
  if (session.spent) throw staleSession();
}

/** The successor of a claimed session: same MAC context, generation + 1. */
export function successor(session: Session, next: RatchetState): Session {
  return makeSuccessor(session, next);
}

/** A session from a state: new (generation 0) or loaded (its stored generation). */
export function newSession(state: RatchetState, generation = 0): Session {
  return makeSession(state, generation);
}
