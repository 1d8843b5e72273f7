import { bytesToHex, concatBytes, INSPECT_CUSTOM } from "@parley/crypto";
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

/** The X3DH fields repeated in front of every message until the peer answers (FACTS §2.2, XEP-0384 §4.3). */
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

/** MAC prefixes derived from the identity keys, computed once per Session object. */
export interface MacContext {
  readonly send: Uint8Array;
  readonly receive: Uint8Array;
}

function macContext(state: RatchetState): MacContext {
  if (state.profile.macIdentityOrder === "initiatorResponder") {
    return { send: state.associatedData, receive: state.associatedData };
  }
  // libsignal: sender's identity key || receiver's identity key, whoever started (FACTS §2.1).
  return {
    send: concatBytes(state.localIdentityKey, state.remoteIdentityKey),
    receive: concatBytes(state.remoteIdentityKey, state.localIdentityKey),
  };
}

const stateKey: unique symbol = Symbol("RatchetState");

/**
 * A Double Ratchet session: an immutable value. `encrypt` and `decrypt` return a new Session and
 * leave the one passed in unchanged, so a failed operation never changes anything. It never prints
 * key material (`inspect`, `toString`, `JSON.stringify` show public facts only).
 * Persist it with `serializeSession`.
 */
export class Session {
  /** @internal */
  readonly [stateKey]: RatchetState;
  /** @internal */
  readonly mac: MacContext;

  /** @internal Use createInitiatorSession / acceptSession / deserializeSession. */
  constructor(state: RatchetState, mac?: MacContext) {
    this[stateKey] = state;
    this.mac = mac ?? macContext(state);
  }

  /** The profile name ("legacyOmemo", "omemo2", "signal"). */
  get profileName(): RatchetProfile["name"] {
    return this[stateKey].profile.name;
  }
  /** Whether we started this session (X3DH initiator, "Alice"). */
  get role(): "initiator" | "responder" {
    return this[stateKey].role;
  }
  /** The peer's identity key, profile-encoded (for trust decisions and fingerprints). */
  get remoteIdentityKey(): Uint8Array {
    return this[stateKey].remoteIdentityKey.slice();
  }
  /** Our identity key, profile-encoded. */
  get localIdentityKey(): Uint8Array {
    return this[stateKey].localIdentityKey.slice();
  }
  /** X3DH AD = Encode(IK_initiator) || Encode(IK_responder). */
  get associatedData(): Uint8Array {
    return this[stateKey].associatedData.slice();
  }
  /** EK_A of the key exchange that built this session, profile-encoded. */
  get baseKey(): Uint8Array {
    return this[stateKey].baseKey.slice();
  }
  /** True while every outgoing message still carries the key exchange (no reply decrypted yet). */
  get keyExchangePending(): boolean {
    return this[stateKey].pending !== null;
  }
  /** Ns: messages sent in the current sending chain. */
  get sendingCounter(): number {
    return this[stateKey].ns;
  }
  /** Nr: messages received in the current receiving chain. */
  get receivingCounter(): number {
    return this[stateKey].nr;
  }
  /** Skipped message keys currently stored. */
  get skippedKeyCount(): number {
    let n = 0;
    for (const c of this[stateKey].skipped) n += c.keys.length;
    return n;
  }

  toString(): string {
    const s = this[stateKey];
    return `Session(${s.profile.name}, ${s.role}, remote identity ${bytesToHex(s.remoteIdentityKey)}, sent ${s.ns}, received ${s.nr}, skipped keys ${this.skippedKeyCount}, keys [redacted])`;
  }
  toJSON(): Record<string, unknown> {
    const s = this[stateKey];
    return {
      profile: s.profile.name,
      role: s.role,
      remoteIdentityKey: bytesToHex(s.remoteIdentityKey),
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

/** @internal */
export function stateOf(session: Session): RatchetState {
  return session[stateKey];
}
