/**
 * The adapter protocol: the one definition of what an implementation under test speaks. The README's
 * schema table is generated from this file (`pnpm readme`; a test checks it is current).
 *
 * Transport: the adapter is a process; the runner writes one request per line to its stdin and reads one
 * response per line from its stdout (UTF-8 JSON, `\n`-terminated). Requests are sent one at a time: the
 * runner waits for the response to request `n` before it sends `n + 1`. Anything an adapter wants to log
 * goes to stderr. Bytes are lowercase hex strings. Sessions and prekey owners are handles: strings the
 * adapter makes up and keeps; the runner only passes them back.
 * @packageDocumentation
 */

import { OMEMO_ERROR_CODES, OMEMO_OP_NAMES, type OmemoErrorCode, type OmemoOps } from "./protocol-omemo.js";
import { OTR_ERROR_CODES, OTR_OP_NAMES, type OtrErrorCode, type OtrOps } from "./protocol-otr.js";
import { XEDDSA_ERROR_CODES, XEDDSA_OP_NAMES, type XeddsaErrorCode, type XeddsaOps } from "./protocol-xeddsa.js";

/** Version of this protocol; `hello` results may name another, and the runner then refuses to run. */
export const PROTOCOL_VERSION = 1;

/** Bytes as a lowercase hex string ("" for none). */
export type Hex = string;

/** A session or prekey-owner handle, made up by the adapter. */
export type Handle = string;

/**
 * Profiles by name. `legacyOmemo`: libsignal protocol v3 wire format (`eu.siacs.conversations.axolotl`);
 * `omemo2`: XEP-0384 v0.8 (`urn:xmpp:omemo:2`); `signal`: the X3DH and Double Ratchet papers with
 * Parley's wire format; `signalHeaderEncrypted`: the same with header encryption (Double Ratchet §4).
 */
export type ProfileName = "legacyOmemo" | "omemo2" | "signal" | "signalHeaderEncrypted";
export const PROFILES: readonly ProfileName[] = ["legacyOmemo", "omemo2", "signal", "signalHeaderEncrypted"];

/**
 * Error codes an adapter returns in `error.code`. Suites check the code, never the message. An adapter
 * maps its implementation's errors to the nearest code; `INTERNAL` is for anything else (a bug).
 */
export type ErrorCode =
  /** Authentication failed (wrong MAC, tampered ciphertext or header). The session must stay usable. */
  | "BAD_MAC"
  /** This message was decrypted before (or its key was discarded): never decrypted twice. */
  | "DUPLICATE_MESSAGE"
  /** The bytes are not a message of this profile (framing, missing field, bad key encoding, low-order key). */
  | "MALFORMED_MESSAGE"
  /** The message is further ahead of its chain than the implementation's skipped-key limit allows. */
  | "TOO_MANY_SKIPPED"
  /** A key exchange names a one-time prekey the responder does not have (never published, or used once already). */
  | "UNKNOWN_PRE_KEY"
  /** A key exchange names a signed prekey the responder does not have. */
  | "UNKNOWN_SIGNED_PRE_KEY"
  /** The bundle's signed-prekey signature does not verify. */
  | "BAD_SIGNATURE"
  /** The profile requires a one-time prekey (OMEMO 2) and the bundle or key exchange has none. */
  | "MISSING_ONE_TIME_PRE_KEY"
  /** A key in the bundle is malformed or a low-order point. */
  | "INVALID_BUNDLE"
  /** A key exchange was given to `ratchet.decrypt` of a session it does not belong to. */
  | "KEY_EXCHANGE_MISMATCH"
  /** The session cannot do this yet (a responder that has not received anything cannot send, ...). */
  | "INVALID_STATE"
  /** `ratchet.deserialize` was given a state it cannot load. */
  | "INVALID_SESSION"
  /** A handle the adapter does not know. */
  | "UNKNOWN_HANDLE"
  /** An argument is missing or has the wrong type, length or value (a key pair whose halves do not match). */
  | "INVALID_ARGUMENT"
  /** The adapter does not implement this op (it should not list it in `hello`'s `ops` either). */
  | "UNSUPPORTED_OP"
  /** The adapter does not implement this profile. */
  | "UNSUPPORTED_PROFILE"
  /** Anything else: a bug in the adapter or the implementation. */
  | "INTERNAL"
  // An area's own codes (never while it has none, as XEdDSA, whose ops use the codes above).
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents
  | XeddsaErrorCode
  | OmemoErrorCode
  | OtrErrorCode;

export const ERROR_CODES: readonly ErrorCode[] = [
  "BAD_MAC",
  "DUPLICATE_MESSAGE",
  "MALFORMED_MESSAGE",
  "TOO_MANY_SKIPPED",
  "UNKNOWN_PRE_KEY",
  "UNKNOWN_SIGNED_PRE_KEY",
  "BAD_SIGNATURE",
  "MISSING_ONE_TIME_PRE_KEY",
  "INVALID_BUNDLE",
  "KEY_EXCHANGE_MISMATCH",
  "INVALID_STATE",
  "INVALID_SESSION",
  "UNKNOWN_HANDLE",
  "INVALID_ARGUMENT",
  "UNSUPPORTED_OP",
  "UNSUPPORTED_PROFILE",
  "INTERNAL",
  ...XEDDSA_ERROR_CODES,
  ...OMEMO_ERROR_CODES,
  ...OTR_ERROR_CODES,
];

/** An X25519 key pair: the clamped (or unclamped: the adapter clamps) private scalar and the 32-byte public u. */
export interface KeyPairHex {
  privateKey: Hex;
  publicKey: Hex;
}

/**
 * A published bundle, keys encoded for the profile: `0x05 || u` (33 bytes) for legacyOmemo and signal,
 * raw 32 bytes for omemo2 (its identity key in Ed25519 form).
 */
export interface BundleHex {
  identityKey: Hex;
  signedPreKeyId: number;
  signedPreKey: Hex;
  signedPreKeySignature: Hex;
  oneTimePreKeys: { id: number; publicKey: Hex }[];
}

/** The X3DH fields of a key exchange (initial message), keys encoded for the profile. */
export interface KeyExchangeHex {
  identityKey: Hex;
  ephemeralKey: Hex;
  signedPreKeyId: number;
  /** null when the key exchange used no one-time prekey. */
  oneTimePreKeyId: number | null;
}

/** A ratchet header: the sender's ratchet key (raw 32 bytes, no 0x05 type byte), PN and N. */
export interface HeaderHex {
  ratchetKey: Hex;
  previousCounter: number;
  counter: number;
}

export interface HelloArgs {
  /** The protocol version the runner speaks (PROTOCOL_VERSION). */
  protocol: number;
}
export interface HelloResult {
  /** A name for reports, e.g. "python-doubleratchet". */
  implementation: string;
  version: string;
  /** The protocol version the adapter speaks (1). */
  protocol: number;
  /** Profiles it supports; suites for the others are skipped. */
  profiles: ProfileName[];
  /** Ops it supports; cases that need another op are skipped. */
  ops: OpName[];
  /**
   * The OTR protocol versions the adapter speaks (2, 3); cases that need another version are skipped.
   * Default [2, 3] when it lists otr ops.
   */
  otrVersions?: number[];
}

export interface GenerateIdentityArgs {
  profile: ProfileName;
}
export interface GenerateIdentityResult {
  /** X25519 private scalar (legacyOmemo, signal), or the Ed25519 seed (omemo2). */
  privateKey: Hex;
  /** The identity key encoded for the profile (as it appears in bundles and key exchanges). */
  identityKey: Hex;
}

export interface BundleArgs {
  profile: ProfileName;
  /** Our identity private key (as `x3dh.generateIdentity` returns it). */
  identityPrivateKey: Hex;
  signedPreKeyId: number;
  /** Fixed signed-prekey private key; generated when absent. */
  signedPreKeyPrivateKey?: Hex;
  /** One-time prekeys to publish, each with a fixed private key or a generated one. */
  oneTimePreKeys: { id: number; privateKey?: Hex }[];
}
export interface BundleResult {
  /** Owns the identity and prekeys: pass it to `x3dh.respond` and `ratchet.accept`. */
  party: Handle;
  bundle: BundleHex;
}

export interface InitiateArgs {
  profile: ProfileName;
  identityPrivateKey: Hex;
  bundle: BundleHex;
  /** Which one-time prekey of the bundle to use; the implementation picks one when absent. */
  oneTimePreKeyId?: number;
  /** Fixed ephemeral key EK_A (reproducible runs only). */
  ephemeralKeyPair?: KeyPairHex;
}
export interface InitiateResult {
  /** SK, 32 bytes. */
  sharedSecret: Hex;
  /** AD = Encode(IK_A) || Encode(IK_B). */
  associatedData: Hex;
  keyExchange: KeyExchangeHex;
}

export interface RespondArgs {
  party: Handle;
  keyExchange: KeyExchangeHex;
}
export interface RespondResult {
  sharedSecret: Hex;
  associatedData: Hex;
}

export interface RatchetInitiateArgs {
  profile: ProfileName;
  identityPrivateKey: Hex;
  bundle: BundleHex;
  oneTimePreKeyId?: number;
  /** Fixed X3DH ephemeral key (reproducible runs only). */
  ephemeralKeyPair?: KeyPairHex;
  /** Fixed first sending ratchet key (reproducible runs only). */
  ratchetKeyPair?: KeyPairHex;
}
export interface RatchetInitiateResult {
  session: Handle;
}

export interface RatchetAcceptArgs {
  party: Handle;
  /** The key-exchange message (PreKeySignalMessage, OMEMOKeyExchange, ...). */
  message: Hex;
  /** Fixed ratchet key for the DH step this message starts (reproducible runs only). */
  nextRatchetKeyPair?: KeyPairHex;
}
export interface RatchetAcceptResult {
  session: Handle;
  plaintext: Hex;
  /** The initiator's identity key from the key exchange, encoded for the profile. */
  identityKey: Hex;
}

export interface RatchetEncryptArgs {
  session: Handle;
  plaintext: Hex;
}
export interface RatchetEncryptResult {
  /** The wire bytes (the content of an OMEMO `<key>` element). */
  message: Hex;
  /** Whether the message is a key exchange (OMEMO `prekey="true"` / `kex="true"`). */
  isKeyExchange: boolean;
}

export interface RatchetDecryptArgs {
  session: Handle;
  message: Hex;
  /** Whether the message is a key exchange, as the transport says (OMEMO's XML attribute). */
  isKeyExchange: boolean;
  /** Fixed ratchet key for the DH step this message may start (reproducible runs only). */
  nextRatchetKeyPair?: KeyPairHex;
}
export interface RatchetDecryptResult {
  plaintext: Hex;
}

export interface RatchetInspectArgs {
  profile: ProfileName;
  message: Hex;
  isKeyExchange: boolean;
}
export interface RatchetInspectResult {
  isKeyExchange: boolean;
  /** null unless a key exchange. */
  keyExchange: KeyExchangeHex | null;
  /** The authenticated ratchet message (the one a key exchange carries, or the message itself), MAC included. */
  message: Hex;
  /** null with header encryption. */
  header: HeaderHex | null;
}

export interface RatchetSerializeArgs {
  session: Handle;
}
export interface RatchetSerializeResult {
  /** Opaque to the runner: only given back to `ratchet.deserialize` of the same adapter. */
  state: Hex;
}

export interface RatchetDeserializeArgs {
  profile: ProfileName;
  state: Hex;
}
export interface RatchetDeserializeResult {
  /** A new handle; the runner uses it instead of the serialized one from then on. */
  session: Handle;
}

/**
 * Every op: its arguments and its result. An adapter answers the ops it lists in `hello`; a session
 * handle's state changes only when an op succeeds (a failed `ratchet.decrypt` leaves the session as it was).
 */
export interface Ops extends XeddsaOps, OmemoOps, OtrOps {
  /** First request of every run: who the adapter is and what it supports. */
  hello: { args: HelloArgs; result: HelloResult };
  /** A fresh identity key pair of the profile's type. */
  "x3dh.generateIdentity": { args: GenerateIdentityArgs; result: GenerateIdentityResult };
  /** A bundle (signed prekey signed by the identity key) and a party handle that owns its private keys. */
  "x3dh.bundle": { args: BundleArgs; result: BundleResult };
  /** X3DH as initiator (signature always verified: `BAD_SIGNATURE`). */
  "x3dh.initiate": { args: InitiateArgs; result: InitiateResult };
  /** X3DH as responder; consumes the one-time prekey (a second use is `UNKNOWN_PRE_KEY`). */
  "x3dh.respond": { args: RespondArgs; result: RespondResult };
  /** X3DH as initiator and the Double Ratchet's initialization; the first `ratchet.encrypt` gives the key exchange. */
  "ratchet.initiate": { args: RatchetInitiateArgs; result: RatchetInitiateResult };
  /** X3DH as responder from a key-exchange message, ratchet initialization and decryption of its message. */
  "ratchet.accept": { args: RatchetAcceptArgs; result: RatchetAcceptResult };
  /** Encrypts with the session's next sending key; a key exchange until the session decrypted a reply. */
  "ratchet.encrypt": { args: RatchetEncryptArgs; result: RatchetEncryptResult };
  /** Decrypts a message of this session (a key exchange of this session too); errors leave the session unchanged. */
  "ratchet.decrypt": { args: RatchetDecryptArgs; result: RatchetDecryptResult };
  /** Parses a message without decrypting it. */
  "ratchet.inspect": { args: RatchetInspectArgs; result: RatchetInspectResult };
  /** The session's state as bytes (the adapter's own format); the handle stays valid. */
  "ratchet.serialize": { args: RatchetSerializeArgs; result: RatchetSerializeResult };
  /** Loads a state `ratchet.serialize` returned, as a new session handle. */
  "ratchet.deserialize": { args: RatchetDeserializeArgs; result: RatchetDeserializeResult };
}

export type OpName = keyof Ops;
export type OpArgs<O extends OpName> = Ops[O]["args"];
export type OpResult<O extends OpName> = Ops[O]["result"];

export const OP_NAMES: readonly OpName[] = [
  "hello",
  "x3dh.generateIdentity",
  "x3dh.bundle",
  "x3dh.initiate",
  "x3dh.respond",
  "ratchet.initiate",
  "ratchet.accept",
  "ratchet.encrypt",
  "ratchet.decrypt",
  "ratchet.inspect",
  "ratchet.serialize",
  "ratchet.deserialize",
  ...XEDDSA_OP_NAMES,
  ...OMEMO_OP_NAMES,
  ...OTR_OP_NAMES,
];

/** One line on the adapter's stdin. */
export interface Request<O extends OpName = OpName> {
  id: number;
  op: O;
  args: OpArgs<O>;
}

/** One line on the adapter's stdout: the answer to the request with the same id. */
export type Response<O extends OpName = OpName> =
  | { id: number; ok: true; result: OpResult<O> }
  | { id: number; ok: false; error: { code: ErrorCode; message: string } };
