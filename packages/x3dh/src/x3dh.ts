import { bytesToHex, concatBytes, defaultCrypto, isCryptoError, type Crypto, type KeyPair } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import { SHARED_SECRET_LENGTH, X3DH_F_LENGTH } from "./consts.js";
import { X3dhError } from "./errors.js";
import {
  assertPreKeyId,
  chosenX25519KeyPair,
  checkIdentityKeyEncoding,
  decodePublicKey,
  encodeIdentityKey,
  encodePublicKey,
  identityKeyToX25519,
  identityPrivateX25519,
  verifySignedPreKey,
  type Bundle,
  type OneTimePreKey,
  type SignedPreKey,
} from "./keys.js";
import type { X3dhProfile } from "./profiles.js";

/** What the initiator (Alice) learns and must send (X3DH §3.3). All keys profile-encoded. */
export interface InitiatorResult {
  /** SK, 32 bytes: the Double Ratchet's initial root key. Secret. */
  readonly sharedSecret: Uint8Array;
  /** AD = Encode(IK_A) || Encode(IK_B) (X3DH §3.3), initiator first. */
  readonly associatedData: Uint8Array;
  /** Our identity key, encoded (goes into the initial message). */
  readonly identityKey: Uint8Array;
  /** Their identity key, encoded, as taken from the bundle. */
  readonly theirIdentityKey: Uint8Array;
  /** EK_A, encoded (the initial message's "base key" / "ek"). */
  readonly ephemeralKey: Uint8Array;
  /** Id of the signed prekey used. */
  readonly signedPreKeyId: number;
  /** Their signed prekey, encoded: Bob's first ratchet public key (Double Ratchet §3.3). */
  readonly signedPreKey: Uint8Array;
  /** Id of the one-time prekey used, or undefined when the bundle had none (legacy, signal only). */
  readonly oneTimePreKeyId: number | undefined;
}

/** The X3DH fields of the initial message the responder receives (X3DH §3.3). */
export interface InitialMessageHeader {
  /** IK_A, profile-encoded. */
  readonly identityKey: Uint8Array;
  /** EK_A, profile-encoded. */
  readonly ephemeralKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId?: number | undefined;
}

/**
 * Where the responder looks up its prekeys. `removeOneTimePreKey` deletes a one-time prekey for good
 * (X3DH §3.4); `respond` calls it once, after the agreement succeeded, unless told not to (the
 * Double Ratchet package removes it only after the initial message authenticated).
 */
export interface PreKeyStore {
  getSignedPreKey(id: number): SignedPreKey | undefined;
  getOneTimePreKey(id: number): OneTimePreKey | undefined;
  removeOneTimePreKey(id: number): void;
}

/** What the responder (Bob) learns (X3DH §3.4). */
export interface ResponderResult {
  readonly sharedSecret: Uint8Array;
  /** AD = Encode(IK_A) || Encode(IK_B): the initiator's key first, on both sides. */
  readonly associatedData: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly theirIdentityKey: Uint8Array;
  /** The signed prekey pair used: Bob's first ratchet key pair (Double Ratchet §3.3). */
  readonly signedPreKey: SignedPreKey;
  readonly ephemeralKey: Uint8Array;
  readonly oneTimePreKeyId: number | undefined;
}

export interface InitiateOptions {
  readonly crypto?: Crypto;
  /** Use this one-time prekey from the bundle instead of a random one. */
  readonly oneTimePreKeyId?: number;
  /**
   * Use this X25519 key pair as EK_A instead of a fresh one: for reproducible runs only (test vectors,
   * conformance suites). A real conversation must never reuse an ephemeral key. The pair is checked
   * (INVALID_ARGUMENT unless its public key is its private key's) and copied; the caller's is not wiped.
   */
  readonly ephemeralKeyPair?: KeyPair;
}

export interface RespondOptions {
  readonly crypto?: Crypto;
  /** Remove the one-time prekey from the store at once (default true). */
  readonly consumeOneTimePreKey?: boolean;
}

/**
 * Adds non-enumerable `toJSON`, `toString` and `inspect` hooks that show "[redacted]" for
 * `sharedSecret`, so logging a result never prints SK. The object stays a plain object.
 */
function redactSharedSecret<T extends { sharedSecret: Uint8Array }>(result: T, label: string): T {
  const shown = () => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result)) {
      out[k] = k === "sharedSecret" ? "[redacted]" : v instanceof Uint8Array ? bytesToHex(v) : v;
    }
    return out;
  };
  Object.defineProperties(result, {
    toJSON: { value: shown, enumerable: false },
    toString: { value: () => `${label}(sharedSecret [redacted])`, enumerable: false },
    [INSPECT_CUSTOM]: { value: () => ({ [label]: shown() }), enumerable: false },
  });
  return result;
}

const F = new Uint8Array(X3DH_F_LENGTH).fill(0xff);
const ZERO_SALT = new Uint8Array(32);
const ZERO_SALT_512 = new Uint8Array(64);

function dh(crypto: Crypto, privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return crypto.x25519(privateKey, publicKey);
  } catch (cause) {
    if (isCryptoError(cause, "LOW_ORDER_POINT")) {
      throw new X3dhError("LOW_ORDER_POINT", "a peer public key is a low-order point; refusing the key agreement", {
        cause,
      });
    }
    if (isCryptoError(cause))
      throw new X3dhError("MALFORMED_KEY", "a peer public key is not a valid X25519 key", { cause });
    throw cause;
  }
}

/** SK = HKDF(F || DH1 || DH2 || DH3 [|| DH4]), salt zero, the profile's info (X3DH §2.2, §3.3). */
function kdf(profile: X3dhProfile, crypto: Crypto, parts: Uint8Array[]): Uint8Array {
  const ikm = concatBytes(F, ...parts);
  // Salt: as many zero bytes as the hash's output (§2.2); HMAC pads either to its block size.
  const sk =
    profile.hash === "sha512"
      ? crypto.hkdfSha512(ikm, ZERO_SALT_512, profile.info, SHARED_SECRET_LENGTH)
      : crypto.hkdfSha256(ikm, ZERO_SALT, profile.info, SHARED_SECRET_LENGTH);
  ikm.fill(0);
  for (const p of parts) p.fill(0);
  return sk;
}

function pickOneTimePreKey(
  profile: X3dhProfile,
  bundle: Bundle,
  wanted: number | undefined,
  crypto: Crypto,
): { id: number; publicKey: Uint8Array } | undefined {
  const list = bundle.oneTimePreKeys;
  if (!(list instanceof Array)) throw new X3dhError("INVALID_ARGUMENT", "bundle.oneTimePreKeys must be an array");
  if (wanted !== undefined) {
    const found = list.find((k) => k.id === wanted);
    if (!found) throw new X3dhError("INVALID_ARGUMENT", `the bundle has no one-time prekey with id ${wanted}`);
    return found;
  }
  if (list.length === 0) {
    if (profile.requireOneTimePreKey) {
      throw new X3dhError(
        "MISSING_ONE_TIME_PRE_KEY",
        `the ${profile.name} profile requires a one-time prekey and the bundle has none`,
      );
    }
    return undefined;
  }
  // Uniform choice (python-x3dh uses secrets.choice); 4 random bytes, bias below 2^-20 for <= 4096 keys.
  const r = crypto.randomBytes(4);
  const index = (((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0) % list.length;
  return list[index];
}

/**
 * The initiator's side (X3DH §3.3): verifies the signed prekey's signature (always), picks a
 * one-time prekey, generates EK_A and derives SK and AD.
 */
export function initiate(
  profile: X3dhProfile,
  ourIdentity: KeyPair,
  bundle: Bundle,
  options: InitiateOptions = {},
): InitiatorResult {
  const crypto = options.crypto ?? defaultCrypto();
  if (
    typeof bundle !== "object" ||
    bundle === null ||
    typeof bundle.signedPreKey !== "object" ||
    bundle.signedPreKey === null
  ) {
    throw new X3dhError(
      "INVALID_ARGUMENT",
      "bundle must be an object with identityKey, signedPreKey, signedPreKeySignature, oneTimePreKeys",
    );
  }
  assertPreKeyId(bundle.signedPreKey.id, "bundle.signedPreKey.id");
  const theirIdentity = checkIdentityKeyEncoding(profile, bundle.identityKey, crypto);
  const spk = decodePublicKey(profile, bundle.signedPreKey.publicKey, "signed prekey");
  verifySignedPreKey(profile, theirIdentity, bundle.signedPreKey.publicKey, bundle.signedPreKeySignature, crypto);
  const opk = pickOneTimePreKey(profile, bundle, options.oneTimePreKeyId, crypto);
  const opkU = opk ? decodePublicKey(profile, opk.publicKey, "one-time prekey") : undefined;

  const ek =
    chosenX25519KeyPair(crypto, options.ephemeralKeyPair, "ephemeralKeyPair") ?? crypto.generateX25519KeyPair();
  const ourIk = encodeIdentityKey(profile, ourIdentity);
  const parts = [
    dh(crypto, identityPrivateX25519(profile, ourIdentity, crypto), spk),
    dh(crypto, ek.privateKey, identityKeyToX25519(profile, theirIdentity, crypto)),
    dh(crypto, ek.privateKey, spk),
  ];
  if (opkU) parts.push(dh(crypto, ek.privateKey, opkU));
  const sharedSecret = kdf(profile, crypto, parts);
  ek.privateKey.fill(0); // X3DH §3.3: Alice deletes her ephemeral private key
  return redactSharedSecret(
    {
      sharedSecret,
      associatedData: concatBytes(ourIk, theirIdentity),
      identityKey: ourIk,
      theirIdentityKey: theirIdentity,
      ephemeralKey: encodePublicKey(profile, ek.publicKey),
      signedPreKeyId: bundle.signedPreKey.id,
      signedPreKey: bundle.signedPreKey.publicKey,
      oneTimePreKeyId: opk?.id,
    },
    "InitiatorResult",
  );
}

/**
 * The responder's side (X3DH §3.4): looks up the signed and one-time prekeys by id, derives SK and
 * AD, and (by default) removes the one-time prekey so it is used exactly once.
 */
export function respond(
  profile: X3dhProfile,
  ourIdentity: KeyPair,
  store: PreKeyStore,
  header: InitialMessageHeader,
  options: RespondOptions = {},
): ResponderResult {
  const crypto = options.crypto ?? defaultCrypto();
  assertPreKeyId(header.signedPreKeyId, "signedPreKeyId");
  if (header.oneTimePreKeyId !== undefined) assertPreKeyId(header.oneTimePreKeyId, "oneTimePreKeyId");
  else if (profile.requireOneTimePreKey) {
    throw new X3dhError(
      "MISSING_ONE_TIME_PRE_KEY",
      `the ${profile.name} profile rejects key exchanges without a one-time prekey`,
    );
  }
  const theirIdentity = checkIdentityKeyEncoding(profile, header.identityKey, crypto);
  const ek = decodePublicKey(profile, header.ephemeralKey, "ephemeral key");
  const spk = store.getSignedPreKey(header.signedPreKeyId);
  if (!spk) throw new X3dhError("UNKNOWN_SIGNED_PRE_KEY", `no signed prekey with id ${header.signedPreKeyId}`);
  const opk = header.oneTimePreKeyId === undefined ? undefined : store.getOneTimePreKey(header.oneTimePreKeyId);
  if (header.oneTimePreKeyId !== undefined && !opk) {
    throw new X3dhError(
      "UNKNOWN_PRE_KEY",
      `no one-time prekey with id ${header.oneTimePreKeyId}: never published or already used`,
    );
  }
  const parts = [
    dh(crypto, spk.keyPair.privateKey, identityKeyToX25519(profile, theirIdentity, crypto)),
    dh(crypto, identityPrivateX25519(profile, ourIdentity, crypto), ek),
    dh(crypto, spk.keyPair.privateKey, ek),
  ];
  if (opk) parts.push(dh(crypto, opk.keyPair.privateKey, ek));
  const sharedSecret = kdf(profile, crypto, parts);
  const ourIk = encodeIdentityKey(profile, ourIdentity);
  if (opk && options.consumeOneTimePreKey !== false) store.removeOneTimePreKey(opk.id);
  return redactSharedSecret(
    {
      sharedSecret,
      associatedData: concatBytes(theirIdentity, ourIk),
      identityKey: ourIk,
      theirIdentityKey: theirIdentity,
      signedPreKey: spk,
      ephemeralKey: header.ephemeralKey,
      oneTimePreKeyId: opk?.id,
    },
    "ResponderResult",
  );
}

/** A simple in-memory {@link PreKeyStore} (tests, examples, single-process apps). */
export class InMemoryPreKeyStore implements PreKeyStore {
  readonly #signed = new Map<number, SignedPreKey>();
  readonly #oneTime = new Map<number, OneTimePreKey>();

  constructor(signedPreKeys: readonly SignedPreKey[] = [], oneTimePreKeys: readonly OneTimePreKey[] = []) {
    for (const k of signedPreKeys) this.#signed.set(k.id, k);
    for (const k of oneTimePreKeys) this.#oneTime.set(k.id, k);
  }
  addSignedPreKey(key: SignedPreKey): void {
    this.#signed.set(key.id, key);
  }
  addOneTimePreKeys(keys: readonly OneTimePreKey[]): void {
    for (const k of keys) this.#oneTime.set(k.id, k);
  }
  getSignedPreKey(id: number): SignedPreKey | undefined {
    return this.#signed.get(id);
  }
  getOneTimePreKey(id: number): OneTimePreKey | undefined {
    return this.#oneTime.get(id);
  }
  removeOneTimePreKey(id: number): void {
    this.#oneTime.delete(id);
  }
  /** How many one-time prekeys are left (refill below MIN_ONE_TIME_PRE_KEY_COUNT). */
  get oneTimePreKeyCount(): number {
    return this.#oneTime.size;
  }
  toString(): string {
    return `InMemoryPreKeyStore(${this.#signed.size} signed, ${this.#oneTime.size} one-time, private keys [redacted])`;
  }
  toJSON(): string {
    return this.toString();
  }
  [INSPECT_CUSTOM](): string {
    return this.toString();
  }
}
