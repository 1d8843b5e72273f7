import { createSignalX3dhProfile, legacyOmemoX3dh, omemo2X3dh, type X3dhProfile } from "@parley/x3dh";
import {
  LIMIT_CEILINGS,
  LIMIT_FLOORS,
  MAX_FORWARD_JUMP,
  MAX_SKIPPED_CHAINS,
  MAX_SKIPPED_MESSAGE_KEYS,
  OMEMO2_MAX_SKIPPED_MESSAGE_KEYS,
} from "./consts.js";
import { DoubleRatchetError } from "./errors.js";

/** Per-session limits (defaults and ceilings in consts.ts). */
export interface Limits {
  /** Skipped message keys kept per session, FIFO. */
  readonly maxSkippedKeys: number;
  /** Largest counter jump one message may ask for. */
  readonly maxForwardJump: number;
  /** Old receiving chains whose keys are kept. */
  readonly maxSkippedChains: number;
}

/**
 * A Double Ratchet profile: one engine, parameterised (python-doubleratchet / python-omemo's approach).
 * It names the X3DH profile it starts from, the KDF infos, the MAC length, the wire format and the
 * quirks of the deployed peers.
 */
export interface RatchetProfile {
  readonly name: "legacyOmemo" | "omemo2" | "signal";
  readonly x3dh: X3dhProfile;
  /** KDF_RK's HKDF info (Double Ratchet §5.2). */
  readonly rootInfo: Uint8Array;
  /** ENCRYPT's HKDF info for the 80 bytes of message key material (§5.2). */
  readonly messageKeyInfo: Uint8Array;
  /** HMAC-SHA-256 truncated to this many bytes: 8 (libsignal), 16 (OMEMO 2), 32 (the paper). */
  readonly macLength: 8 | 16 | 32;
  /** "libsignal": 0x33 || SignalMessage || mac8; "omemo2": OMEMOAuthenticatedMessage; "signal": Parley's binary layout. */
  readonly wire: "libsignal" | "omemo2" | "signal";
  /**
   * How a received PN is read (we always send the paper's count).
   * "count": PN is the number of messages in the previous sending chain (the paper, python).
   * "lastIndex": libsignal writes max(count − 1, 0), so we derive keys up to and including PN
   * (docs/libsignal-wire-format.md §4.4).
   */
  readonly previousCounter: "count" | "lastIndex";
  /** MAC input: "senderReceiver" = IK_sender || IK_receiver (libsignal); "initiatorResponder" = the X3DH AD. */
  readonly macIdentityOrder: "senderReceiver" | "initiatorResponder";
  /** Double Ratchet §4 header encryption (signal profile only). */
  readonly headerEncryption: boolean;
  readonly limits: Limits;
}

const ascii = (s: string) => new TextEncoder().encode(s);

/** `base` with the limits `limits` sets, checked: integers from LIMIT_FLOORS to LIMIT_CEILINGS. */
function checkedLimits(base: Limits, limits: Partial<Limits>): Limits {
  const out: Limits = {
    maxSkippedKeys: limits.maxSkippedKeys ?? base.maxSkippedKeys,
    maxForwardJump: limits.maxForwardJump ?? base.maxForwardJump,
    maxSkippedChains: limits.maxSkippedChains ?? base.maxSkippedChains,
  };
  for (const name of ["maxSkippedKeys", "maxForwardJump", "maxSkippedChains"] as const) {
    const v = out[name];
    const min = LIMIT_FLOORS[name];
    if (!Number.isSafeInteger(v) || v < min || v > LIMIT_CEILINGS[name]) {
      throw new DoubleRatchetError(
        "INVALID_ARGUMENT",
        `limits.${name} must be an integer from ${min} to ${LIMIT_CEILINGS[name]} (LIMIT_CEILINGS)`,
      );
    }
  }
  return Object.freeze(out);
}

const DEFAULT_LIMITS: Limits = Object.freeze({
  maxSkippedKeys: MAX_SKIPPED_MESSAGE_KEYS,
  maxForwardJump: MAX_FORWARD_JUMP,
  maxSkippedChains: MAX_SKIPPED_CHAINS,
});

/** Legacy OMEMO (eu.siacs.conversations.axolotl): libsignal protocol v3 (docs/libsignal-wire-format.md §2-§4). */
export const legacyOmemo: RatchetProfile = Object.freeze({
  name: "legacyOmemo",
  x3dh: legacyOmemoX3dh,
  rootInfo: ascii("WhisperRatchet"),
  messageKeyInfo: ascii("WhisperMessageKeys"),
  macLength: 8,
  wire: "libsignal",
  // python-oldmemo sends the paper's count; libsignal sends count − 1 and never reads PN. We send
  // the count (python reads it) and read PN inclusively (libsignal writes count − 1).
  previousCounter: "lastIndex",
  macIdentityOrder: "senderReceiver",
  headerEncryption: false,
  limits: DEFAULT_LIMITS,
});

/** OMEMO 2 (urn:xmpp:omemo:2), XEP-0384 v0.8.3 §4.3. */
export const omemo2: RatchetProfile = Object.freeze({
  name: "omemo2",
  x3dh: omemo2X3dh,
  rootInfo: ascii("OMEMO Root Chain"),
  messageKeyInfo: ascii("OMEMO Message Key Material"),
  macLength: 16,
  wire: "omemo2",
  previousCounter: "count",
  macIdentityOrder: "initiatorResponder",
  headerEncryption: false,
  limits: Object.freeze({ ...DEFAULT_LIMITS, maxSkippedKeys: OMEMO2_MAX_SKIPPED_MESSAGE_KEYS }),
});

export interface SignalProfileOptions {
  /** Application name; the HKDF infos are derived from it (Double Ratchet §5.2 "application-specific"). */
  readonly application?: string;
  /** Double Ratchet §4 header encryption. */
  readonly headerEncryption?: boolean;
  readonly limits?: Partial<Limits>;
}

/** The papers as written (X3DH + Double Ratchet §5.2 recommended algorithms), optionally with header encryption. */
export function createSignalProfile(options: SignalProfileOptions = {}): RatchetProfile {
  const app = options.application ?? "Parley";
  return Object.freeze({
    name: "signal",
    x3dh: createSignalX3dhProfile(`${app} X3DH`),
    rootInfo: ascii(`${app} Root Chain`),
    messageKeyInfo: ascii(`${app} Message Keys`),
    macLength: 32,
    wire: "signal",
    previousCounter: "count",
    macIdentityOrder: "initiatorResponder",
    headerEncryption: options.headerEncryption ?? false,
    limits: checkedLimits(DEFAULT_LIMITS, options.limits ?? {}),
  });
}

/** The papers as written, without header encryption. */
export const signal: RatchetProfile = createSignalProfile();

/** The papers as written, with header encryption (Double Ratchet §4). */
export const signalHeaderEncrypted: RatchetProfile = createSignalProfile({ headerEncryption: true });

/**
 * A profile with other limits (e.g. smaller for tests, or python-doubleratchet's 1000), each at most
 * LIMIT_CEILINGS. A session keeps its limits when serialized; one whose limits are above its
 * built-in profile's loads only with this profile passed to `deserializeSession`.
 */
export function withLimits(profile: RatchetProfile, limits: Partial<Limits>): RatchetProfile {
  return Object.freeze({ ...profile, limits: checkedLimits(profile.limits, limits) });
}
