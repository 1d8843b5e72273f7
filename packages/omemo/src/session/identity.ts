/**
 * One identity for both namespaces, as python-omemo keeps it: an Ed25519 seed. OMEMO 2 publishes the
 * Ed25519 public key and signs with Ed25519 (XEP-0384 v0.8.3 §4.2, second option). Legacy OMEMO
 * publishes `0x05 || u`, the Montgomery form of the same point, and signs with libsignal's variant
 * using the same scalar (SHA-512(seed)[0..32], clamped), so the sign bit stored in signature byte 63
 * is the real Ed25519 key's: python-oldmemo rebuilds our Ed25519 key from it. Both namespaces then
 * show one fingerprint, the Curve25519 key (v0.8.3 §8 SHOULD).
 */
import { bytesToHex, KeyPair, type Crypto } from "@parley/crypto";
import { NS_LEGACY } from "../consts.js";
import { OmemoError } from "../errors.js";
import { FINGERPRINT_CACHE_SIZE } from "./consts.js";
import type { OmemoNamespace } from "./io.js";

export interface OwnIdentity {
  /** For OMEMO 2 (`omemo2.x3dh`): private key = the seed, public key = Ed25519 A. */
  readonly ed25519: KeyPair;
  /** For legacy OMEMO (`legacyOmemo.x3dh`): private key = the clamped scalar, public key = u of A. */
  readonly x25519: KeyPair;
  /** 64 hex digits of u, the fingerprint of both namespaces. */
  readonly fingerprint: string;
}

/** Derives both key pairs from the Ed25519 seed. */
export function identityFromSeed(crypto: Crypto, seed: Uint8Array): OwnIdentity {
  const ed25519 = crypto.ed25519KeyPair(seed);
  const scalar = crypto.ed25519SeedToX25519(seed);
  const u = crypto.edwardsToMontgomery(ed25519.publicKey);
  // The same point two ways: RFC 7748's map of A, and X25519's base-point multiple of the scalar.
  if (!crypto.constantTimeEqual(u, crypto.x25519PublicKey(scalar))) {
    throw new OmemoError("STORE_CORRUPT", "the stored identity seed does not give one Curve25519 key");
  }
  return { ed25519, x25519: new KeyPair("x25519", scalar, u), fingerprint: bytesToHex(u) };
}

/** The identity key as a namespace puts it on the wire. */
export function wireIdentityKey(identity: OwnIdentity, namespace: OmemoNamespace): Uint8Array {
  if (namespace !== NS_LEGACY) return identity.ed25519.publicKey;
  const out = new Uint8Array(33);
  out[0] = 0x05;
  out.set(identity.x25519.publicKey, 1);
  return out;
}

/**
 * The fingerprint of a wire identity key: the Curve25519 u in hex (legacy: the key without its 0x05
 * type byte; OMEMO 2: the Ed25519 key mapped with RFC 7748 §4.1). Throws BUNDLE_INVALID for a key
 * that is not a point.
 */
export function fingerprintOf(crypto: Crypto, namespace: OmemoNamespace, identityKey: Uint8Array): string {
  // The Edwards-to-Montgomery map costs a field inversion and a point decode (bigint arithmetic,
  // about a fifth of a decrypt): the keys are public and few, so remember them. Looked up without
  // building a string: by a number made of the key's last bytes, then compared in full.
  const legacy = namespace === NS_LEGACY;
  const n = identityKey.length;
  const hash =
    n < 6
      ? n
      : ((identityKey[n - 1]! * 256 + identityKey[n - 2]!) * 256 + identityKey[n - 3]!) * 65536 +
        (identityKey[n - 4]! * 256 + identityKey[n - 5]!) +
        (legacy ? 2 ** 48 : 0);
  const bucket = FINGERPRINTS.get(hash);
  if (bucket !== undefined) {
    for (const e of bucket) if (e.legacy === legacy && equalKeys(e.key, identityKey)) return e.fingerprint;
  }
  const fingerprint = computeFingerprint(crypto, namespace, identityKey);
  if (cachedFingerprints >= FINGERPRINT_CACHE_SIZE) {
    FINGERPRINTS.clear();
    cachedFingerprints = 0;
  }
  const entry = { legacy, key: identityKey.slice(), fingerprint };
  const again = FINGERPRINTS.get(hash);
  if (again === undefined) FINGERPRINTS.set(hash, [entry]);
  else again.push(entry);
  cachedFingerprints++;
  return fingerprint;
}

/** Public keys: no constant-time comparison needed. */
function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const FINGERPRINTS = new Map<number, Array<{ legacy: boolean; key: Uint8Array; fingerprint: string }>>();
let cachedFingerprints = 0;

function computeFingerprint(crypto: Crypto, namespace: OmemoNamespace, identityKey: Uint8Array): string {
  if (namespace === NS_LEGACY) {
    if (identityKey.length !== 33 || identityKey[0] !== 0x05) {
      throw new OmemoError("BUNDLE_INVALID", "a legacy identity key must be 33 bytes starting with 0x05");
    }
    return bytesToHex(identityKey.subarray(1));
  }
  try {
    return bytesToHex(crypto.edwardsToMontgomery(identityKey));
  } catch (cause) {
    throw new OmemoError("BUNDLE_INVALID", "an OMEMO 2 identity key is not a valid Ed25519 point", { cause });
  }
}

/** 8 groups of 8 hex digits, as Conversations, Dino and python-omemo show a fingerprint. */
export function formatFingerprint(fingerprint: string): string {
  return (fingerprint.match(/.{1,8}/g) ?? []).join(" ");
}
