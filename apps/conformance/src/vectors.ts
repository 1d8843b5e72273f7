/** The formats of the vector files in `vectors/` (made by `scripts/make-vectors.ts`). */
import type { BundleHex, Hex, KeyExchangeHex, KeyPairHex, ProfileName, RatchetInspectResult } from "./protocol.js";

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
