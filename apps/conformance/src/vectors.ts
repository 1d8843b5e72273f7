/** The formats of the vector files in `vectors/` (made by `scripts/make-vectors.ts`). */
import type { OmemoDeviceKeys } from "./protocol-omemo.js";
import type {
  BundleHex,
  ErrorCode,
  Hex,
  KeyExchangeHex,
  KeyPairHex,
  ProfileName,
  RatchetInspectResult,
} from "./protocol.js";

export interface Provenance {
  /** The script that wrote the file. */
  generator: string;
  /** The implementation and versions that computed the values. */
  implementation: string;
  /** How the fixed keys were drawn. */
  keys: string;
  /** Independent implementations the values were checked against, and how; empty when not yet. */
  crossChecked: string[];
  generatedAt: string;
}

/** Bob's fixed keys: a responder the implementation under test can rebuild with `x3dh.bundle`. */
export interface ResponderKeys {
  identityPrivateKey: Hex;
  identityKey: Hex;
  signedPreKeyId: number;
  signedPreKeyPrivateKey: Hex;
  oneTimePreKeys: { id: number; privateKey: Hex }[];
}

export interface X3dhVector {
  name: string;
  profile: ProfileName;
  alice: { identityPrivateKey: Hex; identityKey: Hex; ephemeralKeyPair: KeyPairHex };
  bob: ResponderKeys;
  /** Bob's bundle as published (its signature is randomized for legacyOmemo and signal: check it verifies, not its bytes). */
  bundle: BundleHex;
  /** The one-time prekey Alice uses, or null for a bundle without one (3-DH). */
  oneTimePreKeyId: number | null;
  keyExchange: KeyExchangeHex;
  sharedSecret: Hex;
  associatedData: Hex;
}

export interface X3dhVectorFile {
  version: 1;
  provenance: Provenance;
  vectors: X3dhVector[];
}

export type Party = "alice" | "bob";

/** A message sent: with fixed keys, an implementation must produce these bytes exactly. */
export interface SendStep {
  op: "send";
  by: Party;
  plaintext: Hex;
  message: Hex;
  isKeyExchange: boolean;
  /** What `ratchet.inspect` must say about the message. */
  inspect: RatchetInspectResult;
}

/** A message received (the first one by Bob is `ratchet.accept`); `send` is the index of its send step among the sends. */
export interface ReceiveStep {
  op: "receive";
  by: Party;
  send: number;
  /** The fixed ratchet key for the DH step this message starts; absent when it starts none. */
  nextRatchetKeyPair?: KeyPairHex;
}

export type Step = SendStep | ReceiveStep;

export interface RatchetVector {
  name: string;
  profile: ProfileName;
  alice: { identityPrivateKey: Hex; identityKey: Hex; ephemeralKeyPair: KeyPairHex; ratchetKeyPair: KeyPairHex };
  bob: ResponderKeys;
  bundle: BundleHex;
  oneTimePreKeyId: number;
  steps: Step[];
}

export interface RatchetVectorFile {
  version: 1;
  provenance: Provenance;
  vectors: RatchetVector[];
}

/** An X25519 private key and its public forms, as `xeddsa.toEdwards` must give them. */
export interface XeddsaKeyVector {
  name: string;
  /** The X25519 private key (clamped). */
  privateKey: Hex;
  /** Montgomery u. */
  publicKey: Hex;
  /** A = k·B with its real sign bit. */
  edwardsPublicKey: Hex;
  /** A's sign bit: 1 when XEdDSA negates the scalar. */
  signBit: 0 | 1;
  /** Where a key that the generator did not draw comes from (a published test). */
  source?: string;
}

/** A signature with a fixed nonce: `xeddsa.sign` must give these bytes, `xeddsa.verify` must accept them. */
export interface XeddsaSignatureVector {
  name: string;
  /** XeddsaVariant of protocol-xeddsa.ts. */
  variant: "xeddsa" | "libsignal";
  /** The name of the key in `keys`. */
  key: string;
  privateKey: Hex;
  publicKey: Hex;
  message: Hex;
  /** Z, 64 bytes. */
  nonce: Hex;
  signature: Hex;
  /** Where a signature that the generator did not make comes from (a published test; Parley reproduces it). */
  source?: string;
  /** Where an independent implementation gives other bytes, and why (checked by the cross-check). */
  knownDifference?: string;
}

/** A verification: what `xeddsa.verify` must answer for this key, message and signature. */
export interface XeddsaVerifyVector {
  name: string;
  /** XeddsaVariant of protocol-xeddsa.ts. */
  variant: "xeddsa" | "libsignal";
  /** How the signature was made or changed (a flipped bit in R, s + L, a low-order key, ...). */
  description: string;
  publicKey: Hex;
  message: Hex;
  signature: Hex;
  /** The specification's answer (s < 2^253; Parley's default and libsignal's). */
  valid: boolean;
  /**
   * L ≤ s < 2^253: valid under the spec's bound, refused by a strict verifier (RFC 8032 §5.1.7, libxeddsa)
   * and always with `strict: true`. The suite accepts either default and records it.
   */
  nonCanonicalS: boolean;
  /** Where a vector that the generator did not make comes from. */
  source?: string;
  /** Where an independent implementation answers otherwise, and why (checked by the cross-check). */
  knownDifference?: string;
}

export interface XeddsaVectorFile {
  version: 1;
  provenance: Provenance;
  keys: XeddsaKeyVector[];
  signatures: XeddsaSignatureVector[];
  verifications: XeddsaVerifyVector[];
}

/** A stanza every OMEMO implementation must refuse as MALFORMED_STANZA before any decryption. */
export interface OmemoMalformedVector {
  name: string;
  profile: ProfileName;
  /** What is wrong with it. */
  description: string;
  /** The `<message>` as XML text (the runner stamps `from` and `to` when it delivers it). */
  stanza: string;
  /**
   * Other refusals the specifications allow, when the malformation removes the key for the receiving
   * device (v0.3.0 §5: a message with no key for us MUST be silently discarded: NO_KEY_FOR_US).
   */
  alsoAccepted?: ErrorCode[];
}

export interface OmemoMalformedFile {
  version: 1;
  provenance: Provenance;
  vectors: OmemoMalformedVector[];
}

/** A DSA key of `vectors/otr-v1.json` and the fingerprint `otr.createAccount` must report for it. */
export interface OtrKeyVector {
  name: string;
  account: string;
  protocol: string;
  /** libotr's private key file (`otr.private_key`) with this one account. */
  privateKey: string;
  /** SHA-1 of the public key as OTR encodes it (without the key type), 40 lowercase hex: libotr's fingerprint. */
  fingerprint: string;
}

/** A Query message, the receiving session's policy, and the version of the D-H Commit it answers with (null: none). */
export interface OtrQueryVector {
  message: string;
  policy: { v2: boolean; v3: boolean };
  answer: 2 | 3 | null;
}

/**
 * Known answers of `otr.sessionKeys`: fixed D-H keys (unsigned big-endian hex, not MPIs) and the data-message
 * keys of that pair, as libotr's `otr_sesskeys` / `otr_mackey` print them.
 */
export interface OtrSessionKeysVector {
  name: string;
  /** Which draw it is and which end (vectors come in pairs: each end of one exchange). */
  description: string;
  /** x, our D-H private key. */
  ourPrivateKey: string;
  /** g^y, their D-H public key. */
  theirPublicKey: string;
  /** g^x, minimal big-endian. */
  ourPublicKey: string;
  /** Whether g^x > g^y (the high end sends with 0x01). */
  high: boolean;
  sendingAesKey: string;
  sendingMacKey: string;
  receivingAesKey: string;
  receivingMacKey: string;
}

/** `vectors/otr-v1.json`, written by `scripts/vectors-otr.ts`. */
export interface OtrVectorFile {
  version: 1;
  provenance: Provenance;
  keys: OtrKeyVector[];
  queries: OtrQueryVector[];
  sessionKeys: OtrSessionKeysVector[];
}

/** Known answers: stanzas a device made of fixed keys must decrypt (`omemo.decryptWithKeys`). */
export interface OmemoDecryptVector {
  name: string;
  profile: ProfileName;
  description: string;
  /** The receiving device's fixed keys. */
  device: OmemoDeviceKeys;
  /** The `<message>` stanzas, `from` and `to` set, in the order to decrypt them. */
  stanzas: string[];
  /** What each must decrypt to. */
  messages: { body: string | null; senderDeviceId: number; keyExchange: boolean }[];
}

export interface OmemoVectorFile {
  version: 1;
  provenance: Provenance;
  vectors: OmemoDecryptVector[];
}
