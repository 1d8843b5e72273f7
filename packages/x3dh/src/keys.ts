import { defaultCrypto, isCryptoError, type Crypto, type KeyPair } from "@parley/crypto";
import { copyX25519KeyPair } from "@parley/crypto/internal";
import { MAX_ONE_TIME_PRE_KEYS_PER_CALL, MAX_PRE_KEY_ID } from "./consts.js";
import { X3dhError } from "./errors.js";
import type { X3dhProfile } from "./profiles.js";

/** libsignal's "DJB type" byte in front of every serialized Curve25519 public key (docs/libsignal-wire-format.md §1). */
export const DJB_TYPE = 0x05;

/** A signed prekey: its key pair, its id, the identity key's signature over its encoded public key. */
export interface SignedPreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
  readonly signature: Uint8Array;
  /** Milliseconds since the epoch, for rotation (consts SIGNED_PRE_KEY_ROTATION_MS). */
  readonly createdAt: number;
}

/** A one-time prekey with its stable id. */
export interface OneTimePreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
}

/**
 * What a device publishes (XEP-0384 `<bundle>`), with public keys already encoded for the profile:
 * 33-byte `0x05 || u` (legacy, signal) or 32 bytes (OMEMO 2; its identity key in Ed25519 form).
 */
export interface Bundle {
  readonly identityKey: Uint8Array;
  readonly signedPreKey: { readonly id: number; readonly publicKey: Uint8Array };
  readonly signedPreKeySignature: Uint8Array;
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
}

export function assertPreKeyId(id: unknown, name: string): asserts id is number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0 || id > MAX_PRE_KEY_ID) {
    throw new X3dhError("INVALID_ARGUMENT", `${name} must be an integer from 0 to ${MAX_PRE_KEY_ID}`);
  }
}

export function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new X3dhError("INVALID_ARGUMENT", `${name} must be a Uint8Array`);
}

/** Encodes a 32-byte X25519 public key (u) the way the profile puts it on the wire. */
export function encodePublicKey(profile: X3dhProfile, u: Uint8Array): Uint8Array {
  if (profile.keyEncoding === "raw") return u;
  const out = new Uint8Array(33);
  out[0] = DJB_TYPE;
  out.set(u, 1);
  return out;
}

/** Decodes a profile-encoded X25519 public key to its 32-byte u; throws MALFORMED_KEY. */
export function decodePublicKey(profile: X3dhProfile, encoded: Uint8Array, name = "public key"): Uint8Array {
  assertBytes(encoded, name);
  if (profile.keyEncoding === "raw") {
    if (encoded.length !== 32) throw new X3dhError("MALFORMED_KEY", `${name} must be 32 bytes, got ${encoded.length}`);
    return encoded;
  }
  if (encoded.length !== 33 || encoded[0] !== DJB_TYPE) {
    throw new X3dhError(
      "MALFORMED_KEY",
      `${name} must be 33 bytes starting with the type byte 0x05 (libsignal "Bad key type")`,
    );
  }
  return encoded.subarray(1);
}

/** The identity public key as the profile puts it in bundles, messages and the associated data. */
export function encodeIdentityKey(profile: X3dhProfile, identity: KeyPair): Uint8Array {
  checkIdentity(profile, identity);
  return profile.identityKeyType === "ed25519" ? identity.publicKey : encodePublicKey(profile, identity.publicKey);
}

/** Validates a profile-encoded identity public key; returns it unchanged. */
export function checkIdentityKeyEncoding(profile: X3dhProfile, encoded: Uint8Array, crypto: Crypto): Uint8Array {
  identityKeyToX25519(profile, encoded, crypto);
  return encoded;
}

/** The X25519 u of a profile-encoded identity key (OMEMO 2: Ed25519 → Montgomery, RFC 7748 §4.1). */
export function identityKeyToX25519(profile: X3dhProfile, encoded: Uint8Array, crypto: Crypto): Uint8Array {
  if (profile.identityKeyType === "x25519") return decodePublicKey(profile, encoded, "identity key");
  assertBytes(encoded, "identity key");
  if (encoded.length !== 32)
    throw new X3dhError("MALFORMED_KEY", `identity key must be 32 bytes (Ed25519), got ${encoded.length}`);
  try {
    return crypto.edwardsToMontgomery(encoded);
  } catch (cause) {
    throw new X3dhError("MALFORMED_KEY", "identity key is not a valid Ed25519 point", { cause });
  }
}

/** The X25519 private scalar of our identity key (OMEMO 2: from the Ed25519 seed, RFC 8032 §5.1.5). */
export function identityPrivateX25519(profile: X3dhProfile, identity: KeyPair, crypto: Crypto): Uint8Array {
  return profile.identityKeyType === "ed25519" ? crypto.ed25519SeedToX25519(identity.privateKey) : identity.privateKey;
}

function checkIdentity(profile: X3dhProfile, identity: KeyPair): void {
  if (identity?.kind !== profile.identityKeyType) {
    throw new X3dhError(
      "INVALID_ARGUMENT",
      `the ${profile.name} profile needs an ${profile.identityKeyType} identity key pair (generateIdentityKeyPair)`,
    );
  }
}

/** A fresh identity key pair of the profile's type: X25519 (legacy, signal) or Ed25519 (OMEMO 2). */
export function generateIdentityKeyPair(profile: X3dhProfile, crypto: Crypto = defaultCrypto()): KeyPair {
  return profile.identityKeyType === "ed25519" ? crypto.generateEd25519KeyPair() : crypto.generateX25519KeyPair();
}

/** Sig(IK, Encode(SPK)) with the profile's scheme (docs/libsignal-wire-format.md §1.1; XEP-0384 v0.8.3 §4.2). */
export function signPreKey(
  profile: X3dhProfile,
  identity: KeyPair,
  encodedPreKey: Uint8Array,
  crypto: Crypto,
): Uint8Array {
  checkIdentity(profile, identity);
  switch (profile.signatureScheme) {
    case "ed25519":
      return crypto.ed25519Sign(identity.privateKey, encodedPreKey);
    case "xeddsa":
      return crypto.xeddsaSign(identity.privateKey, encodedPreKey);
    case "libsignal":
      return crypto.libsignalSign(identity.privateKey, encodedPreKey);
  }
}

/** Checks Sig(IK, Encode(SPK)); throws BAD_SIGNATURE. Never skipped (X3DH §3.3). */
export function verifySignedPreKey(
  profile: X3dhProfile,
  identityKey: Uint8Array,
  encodedPreKey: Uint8Array,
  signature: Uint8Array,
  crypto: Crypto = defaultCrypto(),
): void {
  assertBytes(identityKey, "identity key");
  assertBytes(encodedPreKey, "signed prekey");
  assertBytes(signature, "signed prekey signature");
  if (signature.length !== 64)
    throw new X3dhError("BAD_SIGNATURE", `the signed prekey signature must be 64 bytes, got ${signature.length}`);
  let ok: boolean;
  try {
    if (profile.signatureScheme === "ed25519") {
      if (identityKey.length !== 32) throw new X3dhError("MALFORMED_KEY", "identity key must be 32 bytes (Ed25519)");
      ok = crypto.ed25519Verify(signature, encodedPreKey, identityKey);
    } else {
      // XEdDSA / libsignal variant: @parley/crypto converts u to Edwards and lets the provider's
      // Ed25519 verify decide (rejecting u >= p and s >= 2^253 as XEdDSA §3 does).
      const u = decodePublicKey(profile, identityKey, "identity key");
      ok =
        profile.signatureScheme === "libsignal"
          ? crypto.libsignalVerify(u, encodedPreKey, signature)
          : crypto.xeddsaVerify(u, encodedPreKey, signature);
    }
  } catch (cause) {
    if (cause instanceof X3dhError) throw cause;
    if (isCryptoError(cause)) ok = false;
    else throw cause;
  }
  if (!ok) {
    throw new X3dhError("BAD_SIGNATURE", "the signed prekey signature does not verify under the bundle's identity key");
  }
}

/**
 * A fresh signed prekey with the given id, signed by `identity` with the profile's scheme. With
 * `options.keyPair` the prekey is that X25519 key pair instead of a fresh one (reproducing another
 * implementation's keys, test vectors); it is checked (INVALID_ARGUMENT unless its public key is its
 * private key's) and copied.
 */
export function generateSignedPreKey(
  profile: X3dhProfile,
  identity: KeyPair,
  id: number,
  options: { crypto?: Crypto; now?: number; keyPair?: KeyPair } = {},
): SignedPreKey {
  assertPreKeyId(id, "signed prekey id");
  const crypto = options.crypto ?? defaultCrypto();
  const keyPair = chosenX25519KeyPair(crypto, options.keyPair, "keyPair") ?? crypto.generateX25519KeyPair();
  const signature = signPreKey(profile, identity, encodePublicKey(profile, keyPair.publicKey), crypto);
  return { id, keyPair, signature, createdAt: options.now ?? Date.now() };
}

/**
 * A caller's fixed X25519 key pair (`options.<name>`, for reproducible runs), checked and copied, or
 * undefined when none was given. INVALID_ARGUMENT unless its public key is its private key's.
 */
export function chosenX25519KeyPair(crypto: Crypto, keyPair: KeyPair | undefined, name: string): KeyPair | undefined {
  if (keyPair === undefined) return undefined;
  const copy = copyX25519KeyPair((k) => crypto.x25519PublicKey(k), keyPair);
  if (copy === undefined) {
    throw new X3dhError("INVALID_ARGUMENT", `options.${name} must be an X25519 KeyPair whose public key matches`);
  }
  return copy;
}

/** `count` fresh one-time prekeys with ids startId, startId + 1, … (ids stay stable: store them). */
export function generateOneTimePreKeys(
  startId: number,
  count: number,
  crypto: Crypto = defaultCrypto(),
): OneTimePreKey[] {
  assertPreKeyId(startId, "first one-time prekey id");
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_ONE_TIME_PRE_KEYS_PER_CALL) {
    throw new X3dhError("INVALID_ARGUMENT", `count must be an integer from 0 to ${MAX_ONE_TIME_PRE_KEYS_PER_CALL}`);
  }
  assertPreKeyId(startId + count - (count > 0 ? 1 : 0), "last one-time prekey id");
  const out: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) out.push({ id: startId + i, keyPair: crypto.generateX25519KeyPair() });
  return out;
}

/** The public bundle for our identity, signed prekey and one-time prekeys, encoded for the profile. */
export function createBundle(
  profile: X3dhProfile,
  identity: KeyPair,
  signedPreKey: SignedPreKey,
  oneTimePreKeys: readonly OneTimePreKey[],
): Bundle {
  return {
    identityKey: encodeIdentityKey(profile, identity),
    signedPreKey: { id: signedPreKey.id, publicKey: encodePublicKey(profile, signedPreKey.keyPair.publicKey) },
    signedPreKeySignature: signedPreKey.signature,
    oneTimePreKeys: oneTimePreKeys.map((k) => ({ id: k.id, publicKey: encodePublicKey(profile, k.keyPair.publicKey) })),
  };
}
