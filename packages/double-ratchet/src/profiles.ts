/**
 * What every profile shares: the types, the limit checks, `withLimits` and the registry of built-in
 * profiles that `deserializeSession` finds by name. The profiles themselves live one per module
 * (profile-legacy.ts, profile-omemo2.ts, profile-signal.ts) and register there, so a bundle that
 * imports only `legacyOmemo` carries neither OMEMO 2's constants nor its codec (issue 17).
 */
import type { X3dhProfile } from "@parley/x3dh";
import type { WireCodec } from "./codecs.js";
import {
  LIMIT_CEILINGS,
  LIMIT_FLOORS,
  MAX_FORWARD_JUMP,
  MAX_SKIPPED_CHAINS,
  MAX_SKIPPED_MESSAGE_KEYS,
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
   * The codec of that wire format; the engine writes and reads messages only through it. Its members
   * are internal: take it from a built-in profile (`withLimits` and `createSignalProfile` do).
   */
  readonly codec: WireCodec;
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

/** @internal ASCII bytes of a KDF info. */
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** @internal `base` with the limits `limits` sets, checked: integers from LIMIT_FLOORS to LIMIT_CEILINGS. */
export function checkedLimits(base: Limits, limits: Partial<Limits>): Limits {
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

/** @internal The default limits (consts.ts). */
export const DEFAULT_LIMITS: Limits = /* @__PURE__ */ Object.freeze({
  maxSkippedKeys: MAX_SKIPPED_MESSAGE_KEYS,
  maxForwardJump: MAX_FORWARD_JUMP,
  maxSkippedChains: MAX_SKIPPED_CHAINS,
});

export interface SignalProfileOptions {
  /** Application name; the HKDF infos are derived from it (Double Ratchet §5.2 "application-specific"). */
  readonly application?: string;
  /** Double Ratchet §4 header encryption. */
  readonly headerEncryption?: boolean;
  readonly limits?: Partial<Limits>;
}

/**
 * A profile with other limits (e.g. smaller for tests, or python-doubleratchet's 1000), each at most
 * LIMIT_CEILINGS. A session keeps its limits when serialized; one whose limits are above its
 * built-in profile's loads only with this profile passed to `deserializeSession`.
 */
export function withLimits(profile: RatchetProfile, limits: Partial<Limits>): RatchetProfile {
  return Object.freeze({ ...profile, limits: checkedLimits(profile.limits, limits) });
}

const builtins = new Map<string, RatchetProfile>();

/**
 * @internal Makes a built-in profile findable by `deserializeSession` without `options.profile`.
 * Each built-in profile's module calls this when it is loaded; a bundler drops a profile module
 * (and so its registration) that nothing imports.
 */
export function registerBuiltinProfile(profile: RatchetProfile): void {
  builtins.set(`${profile.name}/${profile.headerEncryption}`, profile);
}

/** @internal The built-in profile with this name and header encryption, if its module is loaded. */
export function builtinProfile(name: string, headerEncryption: boolean): RatchetProfile | undefined {
  return builtins.get(`${name}/${headerEncryption}`);
}
