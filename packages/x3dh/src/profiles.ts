/**
 * Profiles: one X3DH engine, parameterised (python-x3dh's and python-omemo's approach). A profile
 * fixes the HKDF info, the identity key type, the signature scheme for the signed prekey, the
 * public key encoding and whether a one-time prekey is mandatory.
 *
 * The profile objects are named `legacyOmemoX3dh`, `omemo2X3dh`, `signalX3dh`: the plain names
 * `legacyOmemo`, `omemo2`, `signal` belong to @parley/double-ratchet's complete profiles (one name, one
 * meaning across Parley), each of which carries the matching object here as `profile.x3dh`.
 */

import { X3dhError } from "./errors.js";

export type ProfileName = "legacyOmemo" | "omemo2" | "signal";

export interface X3dhProfile {
  /** A built-in profile's name, or "custom" for one made by {@link createX3dhProfile}. */
  readonly name: ProfileName | "custom";
  /** HKDF info of the key agreement (X3DH §2.1 "info"). */
  readonly info: Uint8Array;
  /**
   * "x25519": the identity key is a Curve25519 key pair, signatures by XEdDSA or libsignal's variant.
   * "ed25519": the identity key is an Ed25519 key pair (seed); converted for X25519 (XEP-0384 v0.8 §4.2).
   */
  readonly identityKeyType: "x25519" | "ed25519";
  /** How the signed prekey is signed: libsignal's variant (sign bit in byte 63), XEdDSA, or Ed25519. */
  readonly signatureScheme: "libsignal" | "xeddsa" | "ed25519";
  /** "djb": 33 bytes, 0x05 || u (libsignal, X3DH §2.5 recommendation). "raw": 32 bytes (OMEMO 2). */
  readonly keyEncoding: "djb" | "raw";
  /** Reject bundles and initial messages without a one-time prekey (OMEMO 2 §4.2: MUST). */
  readonly requireOneTimePreKey: boolean;
  /** HKDF's hash (X3DH §2.1 "hash": SHA-256 or SHA-512); SHA-256 when absent, as every built-in profile. */
  readonly hash?: "sha256" | "sha512";
}

/** {@link createX3dhProfile}'s parameters: X3DH §2.1's, as python-x3dh takes them. */
export interface X3dhProfileOptions {
  /** HKDF info: the application's name (ASCII or bytes, 1 to 255 bytes). */
  readonly info: string | Uint8Array;
  readonly identityKeyType: X3dhProfile["identityKeyType"];
  readonly signatureScheme: X3dhProfile["signatureScheme"];
  readonly keyEncoding: X3dhProfile["keyEncoding"];
  /** Default false. */
  readonly requireOneTimePreKey?: boolean;
  /** Default "sha256". */
  readonly hash?: "sha256" | "sha512";
}

/**
 * An X3DH profile from X3DH §2.1's parameters (curve X25519; hash, info, the identity key's form and
 * signature scheme, Encode), to reproduce a peer's custom configuration (python-x3dh lets its users
 * choose each). An Ed25519 identity signs with Ed25519; an X25519 identity with XEdDSA or libsignal's
 * variant. Throws X3dhError INVALID_ARGUMENT for any other combination. Its name is "custom": use it
 * with this package's functions (a @parley/double-ratchet profile needs its own wire format).
 */
export function createX3dhProfile(options: X3dhProfileOptions): X3dhProfile {
  const o: unknown = options;
  if (typeof o !== "object" || o === null) throw new X3dhError("INVALID_ARGUMENT", "options must be an object");
  const { identityKeyType, signatureScheme, keyEncoding, requireOneTimePreKey = false, hash = "sha256" } = options;
  const info = typeof options.info === "string" ? ascii(options.info) : options.info;
  if (!(info instanceof Uint8Array) || info.length === 0 || info.length > 255)
    throw new X3dhError("INVALID_ARGUMENT", "info must be 1 to 255 bytes");
  const schemes: Record<string, readonly string[]> = { x25519: ["libsignal", "xeddsa"], ed25519: ["ed25519"] };
  if (!Object.hasOwn(schemes, identityKeyType) || !schemes[identityKeyType]!.includes(signatureScheme))
    throw new X3dhError(
      "INVALID_ARGUMENT",
      "identityKeyType x25519 signs with libsignal or xeddsa, ed25519 with ed25519",
    );
  if (keyEncoding !== "djb" && keyEncoding !== "raw")
    throw new X3dhError("INVALID_ARGUMENT", 'keyEncoding must be "djb" or "raw"');
  if (typeof requireOneTimePreKey !== "boolean")
    throw new X3dhError("INVALID_ARGUMENT", "requireOneTimePreKey must be a boolean");
  if (hash !== "sha256" && hash !== "sha512")
    throw new X3dhError("INVALID_ARGUMENT", 'hash must be "sha256" or "sha512"');
  return Object.freeze({
    name: "custom",
    info: info.slice(),
    identityKeyType,
    signatureScheme,
    keyEncoding,
    requireOneTimePreKey,
    hash,
  });
}

const ascii = (s: string) => new TextEncoder().encode(s);

// The __PURE__ annotations let bundlers drop a profile nobody imports (Object.freeze and
// these calls are side-effect free, which a bundler cannot prove on its own).

/**
 * Legacy OMEMO (eu.siacs.conversations.axolotl): libsignal protocol v3, docs/libsignal-wire-format.md
 * §1 and §3. `@parley/double-ratchet`'s `legacyOmemo.x3dh` is this object.
 */
export const legacyOmemoX3dh: X3dhProfile = /* @__PURE__ */ Object.freeze({
  name: "legacyOmemo",
  info: /* @__PURE__ */ ascii("WhisperText"),
  identityKeyType: "x25519",
  signatureScheme: "libsignal",
  keyEncoding: "djb",
  requireOneTimePreKey: false,
});

/** OMEMO 2 (urn:xmpp:omemo:2), XEP-0384 v0.8.3 §4.2. `@parley/double-ratchet`'s `omemo2.x3dh` is this object. */
export const omemo2X3dh: X3dhProfile = /* @__PURE__ */ Object.freeze({
  name: "omemo2",
  info: /* @__PURE__ */ ascii("OMEMO X3DH"),
  identityKeyType: "ed25519",
  signatureScheme: "ed25519",
  keyEncoding: "raw",
  requireOneTimePreKey: true,
});

/**
 * The X3DH paper as written (Curve25519, SHA-256, XEdDSA, Encode = 0x05 || u), for messengers
 * outside XMPP. `info` names the application; pass your own with {@link createSignalX3dhProfile}.
 * `@parley/double-ratchet`'s `signal.x3dh` is this object.
 */
export const signalX3dh: X3dhProfile = /* @__PURE__ */ createSignalX3dhProfile("Parley X3DH");

/**
 * The paper's profile with an application-specific HKDF info (X3DH §2.1). `@parley/double-ratchet`'s
 * `createSignalProfile({ application })` calls this with `${application} X3DH`.
 */
export function createSignalX3dhProfile(info: string): X3dhProfile {
  return Object.freeze({
    name: "signal",
    info: ascii(info),
    identityKeyType: "x25519",
    signatureScheme: "xeddsa",
    keyEncoding: "djb",
    requireOneTimePreKey: false,
  });
}
