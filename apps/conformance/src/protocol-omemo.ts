/**
 * The adapter protocol's OMEMO ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 *
 * OMEMO is played at the level an XMPP client sees it: devices that publish to PEP, and `<message>`
 * stanzas as XML text. The runner is the XMPP server: it keeps every account's PEP nodes, hands each
 * device the items others publish (`omemo.pepPut`, as a PEP notification or fetch result would), and
 * delivers (or loses, repeats, reorders, tampers with) the stanzas devices send. Profiles `legacyOmemo`
 * (`eu.siacs.conversations.axolotl`, XEP-0384 v0.3.0) and `omemo2` (`urn:xmpp:omemo:2`, XEP-0384 v0.8.3,
 * payload in an XEP-0420 envelope). Every device trusts every other device (blind trust): trust
 * decisions are not what this suite checks.
 * @packageDocumentation
 */
import type { Hex, ProfileName } from "./protocol.js";

/** Error codes only the OMEMO ops use (they also use the shared ones of protocol.ts). */
export type OmemoErrorCode =
  /** The stanza is not a well-formed OMEMO message of the profile (element, attribute, base64, size). */
  | "MALFORMED_STANZA"
  /** The message has no `<key>` for this device. */
  | "NO_KEY_FOR_US"
  /** A normal message (no key exchange) from a device this one has no session with. */
  | "NO_SESSION"
  /** OMEMO 2: the XEP-0420 envelope's `<to>` or `<from>` affix does not match the stanza. */
  | "ENVELOPE_MISMATCH";
export const OMEMO_ERROR_CODES: readonly OmemoErrorCode[] = [
  "MALFORMED_STANZA",
  "NO_KEY_FOR_US",
  "NO_SESSION",
  "ENVELOPE_MISMATCH",
];

/**
 * One PEP item: `jid`'s item `itemId` of `node`, as XML text of the item's payload (`<list>`, `<devices>`,
 * `<bundle>`), or null for a retraction.
 * @shared
 */
export interface PepItem {
  /** The bare JID that owns the node. */
  jid: string;
  /** The node, e.g. `eu.siacs.conversations.axolotl.devicelist` or `urn:xmpp:omemo:2:bundles`. */
  node: string;
  itemId: string;
  xml: string | null;
}

/**
 * A `<message>` a device sent by itself or was asked to send.
 * @shared
 */
export interface SentStanza {
  /** The bare JID it is addressed to. */
  to: string;
  /** The whole `<message>` element as XML text (its `from` may be absent: the server stamps it). */
  xml: string;
}

/**
 * What a device did while it answered: PEP publications and stanzas it sent by itself. Part of every
 * omemo op's result.
 * @shared
 */
export interface OmemoEffects {
  /** Items it published (device lists, bundles; republished bundles after a one-time prekey was used). */
  published: PepItem[];
  /** Stanzas it sent by itself (empty messages completing a key exchange, heartbeats, healing). */
  sent: SentStanza[];
}

export interface OmemoCreateDeviceArgs {
  /** The account's bare JID; a second device of the same account is a second `omemo.createDevice`. */
  jid: string;
  /** The profiles it speaks (`legacyOmemo`, `omemo2`), one identity for all. */
  profiles: ProfileName[];
  /**
   * What the server holds when the device logs in: its account's device lists (which it must extend,
   * never shorten) and other accounts' lists and bundles (as notifications and fetches would give them).
   */
  pep?: PepItem[];
}
export interface OmemoCreateDeviceResult extends OmemoEffects {
  /** Handle of the device for the other omemo ops. */
  device: string;
  deviceId: number;
}

export interface OmemoPepPutArgs {
  device: string;
  /** An item someone published (or its retraction), as a PEP notification or a fetch would deliver it. */
  item: PepItem;
}
/** Only the effects (a device list of our own account that lacks this device makes it republish). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the effects are the whole result
export interface OmemoPepPutResult extends OmemoEffects {}

export interface OmemoEncryptArgs {
  device: string;
  profile: ProfileName;
  /** The recipient's bare JID: all its devices, and our own other devices, get a key. */
  to: string;
  /**
   * The message text (legacy: the payload; OMEMO 2: the `<body>` in the envelope's `<content>`), or null
   * for a message without payload (a key transport message, XEP-0384 v0.3.0 §4.6; an empty OMEMO 2 message).
   */
  body: string | null;
  /**
   * OMEMO 2, tests only: the `<to>` affix to put in the envelope instead of `to` (the reference uses it
   * to check that receivers refuse a wrong one; an adapter may answer UNSUPPORTED_OP).
   */
  envelopeTo?: string;
}
export interface OmemoEncryptResult extends OmemoEffects {
  /** The `<message>` to send, as XML text (with `to`, without `from`). */
  stanza: string;
  /** The devices that got a key, and whether their key carries a key exchange. */
  keys: { jid: string; deviceId: number; keyExchange: boolean }[];
}

export interface OmemoDecryptArgs {
  device: string;
  /** A `<message>` as delivered: `from` is the sender's full JID, `to` this device's account. */
  stanza: string;
}
export interface OmemoDecryptResult extends OmemoEffects {
  /** The text, or null for a message without payload (empty message, key transport). */
  body: string | null;
  /** The sender's bare JID. */
  from: string;
  senderDeviceId: number;
  /** The key for this device carried a key exchange. */
  keyExchange: boolean;
}

/**
 * A device's fixed keys (reproducible runs only): one Ed25519 identity for both namespaces, as
 * python-omemo and Parley keep it (legacy OMEMO uses its X25519 form: the clamped scalar of RFC 8032's
 * SHA-512 expansion of the seed), a signed prekey and one-time prekeys.
 * @shared
 */
export interface OmemoDeviceKeys {
  /** The account's bare JID. */
  jid: string;
  deviceId: number;
  /** The Ed25519 seed, 32 bytes. */
  identitySeed: Hex;
  signedPreKeyId: number;
  /** The signed prekey's X25519 private key (the adapter signs its public key as the profile does). */
  signedPreKeyPrivateKey: Hex;
  oneTimePreKeys: { id: number; privateKey: Hex }[];
}

export interface OmemoDecryptWithKeysArgs {
  profile: ProfileName;
  /** The receiving device, from its fixed keys, with no session yet. */
  device: OmemoDeviceKeys;
  /**
   * `<message>` stanzas from one sender to this device, in delivery order: the first carries the key
   * exchange, the others are read in the session it starts (as `omemo.decrypt` would).
   */
  stanzas: string[];
}
export interface OmemoDecryptWithKeysResult {
  /** One per stanza, in order. */
  messages: { body: string | null; senderDeviceId: number; keyExchange: boolean }[];
}

/** The OMEMO ops: arguments and results. */
export interface OmemoOps {
  /** A new device of an account: it generates its keys and answers what it publishes (its bundles and device lists). */
  "omemo.createDevice": { args: OmemoCreateDeviceArgs; result: OmemoCreateDeviceResult };
  /** Hands the device an item someone published (device lists are applied at once, bundles kept for when they are needed). */
  "omemo.pepPut": { args: OmemoPepPutArgs; result: OmemoPepPutResult };
  /** Encrypts a message to an account (and our own other devices), building sessions from bundles where needed. */
  "omemo.encrypt": { args: OmemoEncryptArgs; result: OmemoEncryptResult };
  /** Decrypts a delivered `<message>`; an error leaves every session and prekey as it was. */
  "omemo.decrypt": { args: OmemoDecryptArgs; result: OmemoDecryptResult };
  /** Builds a device from fixed keys and decrypts stanzas sent to it (the known answers of `vectors/omemo-v1.json`). */
  "omemo.decryptWithKeys": { args: OmemoDecryptWithKeysArgs; result: OmemoDecryptWithKeysResult };
}

export const OMEMO_OP_NAMES: readonly (keyof OmemoOps)[] = [
  "omemo.createDevice",
  "omemo.pepPut",
  "omemo.encrypt",
  "omemo.decrypt",
  "omemo.decryptWithKeys",
];
