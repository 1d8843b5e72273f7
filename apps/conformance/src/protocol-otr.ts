/**
 * The adapter protocol's OTR ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 *
 * OTR (Off-the-Record Messaging, protocol versions 3 and 2) is played at the level every OTR library
 * offers its client: an account with a DSA key and an instance tag, one session per contact, and text in
 * and out (libotr's `otrl_message_sending` / `otrl_message_receiving`, potr's `sendMessage` /
 * `receiveMessage`, @parley/otr's `OtrSession`). Wire messages are the strings OTR puts in a chat
 * message body (`?OTRv23?`, `?OTR:AAMC…`, fragments `?OTR|…`); the runner is the network and delivers
 * (or loses, repeats, reorders, tampers with) them. Plaintexts and SMP secrets are UTF-8 text.
 * @packageDocumentation
 */

import type { Hex } from "./protocol.js";

/** Error codes only the OTR ops use (they also use the shared ones of protocol.ts). */
export type OtrErrorCode =
  /** `otr.session` was asked for a policy that allows no protocol version the implementation speaks. */
  "UNSUPPORTED_VERSION";
export const OTR_ERROR_CODES: readonly OtrErrorCode[] = ["UNSUPPORTED_VERSION"];

/**
 * Which protocol versions a session may speak (libotr's OTRL_POLICY_ALLOW_V2 / ALLOW_V3; everything else
 * as libotr's OTRL_POLICY_MANUAL: no whitespace tags, the AKE starts only when asked or answered).
 * @shared
 */
export interface OtrPolicyJson {
  /** Allow version 2. */
  v2: boolean;
  /** Allow version 3. */
  v3: boolean;
}

/**
 * Something the library reported while it handled a wire message, in order.
 * @shared
 */
export interface OtrEventJson {
  /**
   * `secure`: the AKE completed (or refreshed) and the session is encrypted; `finished`: the peer ended
   * the private conversation (TLV 1); `smpRequest`: the peer started SMP (answer with `otr.smpRespond`);
   * `smpResult`: SMP ended; `error`: the message was rejected or ignored; `peerError`: the peer sent an
   * `?OTR Error:` message.
   */
  type: "secure" | "finished" | "smpRequest" | "smpResult" | "error" | "peerError";
  /** `secure`: the protocol version of the session. */
  version?: 2 | 3;
  /** `secure`: the peer's DSA key fingerprint (40 lowercase hex). */
  peerFingerprint?: string;
  /** `smpRequest`: the peer's question, or null (SMP without question). */
  question?: string | null;
  /** `smpResult`: `verified` (same secrets), `failed` (different secrets), `aborted` (abort TLV, protocol error, cheating). */
  result?: "verified" | "failed" | "aborted";
  /**
   * `error`: `unreadable` (bad MAC, a counter not larger than the last one of its key pair, unknown keys:
   * libotr's OTRL_MSGEVENT_RCVDMSG_UNREADABLE), `malformed`, `notEncrypted` (a Data Message while not
   * encrypted), `otherInstance` (a v3 message for another instance tag), `other`.
   */
  kind?: "unreadable" | "malformed" | "notEncrypted" | "otherInstance" | "other";
  /** `peerError`: the error text the peer sent. */
  text?: string;
}

/** OTR message state (the spec's MSGSTATE_PLAINTEXT, MSGSTATE_ENCRYPTED, MSGSTATE_FINISHED). */
export type OtrMessageState = "plaintext" | "encrypted" | "finished";

export interface OtrCreateAccountArgs {
  /** The account name (e.g. a bare JID); the adapter may use it in query messages. */
  account: string;
  /** The IM protocol name, libotr's `protocol` (e.g. "xmpp"). */
  protocol: string;
  /**
   * The long-term DSA key as libotr's private key file (`otr.private_key`: `(privkeys (account (name …)
   * (protocol …) (private-key (dsa (p #…#) (q #…#) (g #…#) (y #…#) (x #…#)))))`) with an entry for this
   * account and protocol; the adapter generates a key when absent.
   */
  privateKey?: string;
  /** Our instance tag (at least 0x100); the adapter draws one when absent. */
  instanceTag?: number;
}
export interface OtrCreateAccountResult {
  /** Handle of the account for `otr.session`. */
  account: string;
  /** The fingerprint of our DSA public key: 40 lowercase hex digits, SHA-1 as libotr computes it. */
  fingerprint: string;
  /** Our instance tag. */
  instanceTag: number;
}

export interface OtrSessionArgs {
  /** An account handle from `otr.createAccount`. */
  account: string;
  /** The contact's account name (as the peer's `otr.createAccount` got it). */
  peer: string;
  /** The protocol versions it may speak. */
  policy: OtrPolicyJson;
  /** Fragment every outgoing wire message longer than this many characters (libotr's max_message_size); 0: never. */
  maxFragmentSize: number;
}
export interface OtrSessionResult {
  /** Handle of the session for the other otr ops. */
  session: string;
}

export interface OtrStartAkeArgs {
  /** A session handle from `otr.session`. */
  session: string;
}
export interface OtrStartAkeResult {
  /** The wire messages to send: a Query message for the session's policy (`?OTRv23?`, `?OTRv2?`, `?OTRv3?` …). */
  messages: string[];
}

export interface OtrSendArgs {
  /** A session handle from `otr.session`. */
  session: string;
  /** The text to send (no NUL). */
  plaintext: string;
}
export interface OtrSendResult {
  /**
   * The wire messages to send, in order: a Data Message, or its fragments. In MSGSTATE_PLAINTEXT the text
   * itself (this suite never sends in the clear); in MSGSTATE_FINISHED the op fails with INVALID_STATE.
   */
  messages: string[];
}

export interface OtrReceiveArgs {
  /** A session handle from `otr.session`. */
  session: string;
  /** One wire message as it arrived from the peer. */
  message: string;
}
export interface OtrReceiveResult {
  /** The text for the user, or null (protocol messages, fragments, rejected or ignored messages). */
  plaintext: string | null;
  /** Whether `plaintext` came in an OTR Data Message (false for plaintext or null). */
  encrypted: boolean;
  /** Wire messages the library answers with (AKE messages, SMP messages, `?OTR Error:`), in order. */
  replies: string[];
  /** What the library reported, in order. */
  events: OtrEventJson[];
  /** The session's message state afterwards: "plaintext", "encrypted" or "finished". */
  state: OtrMessageState;
}

export interface OtrSmpStartArgs {
  /** A session handle from `otr.session`. */
  session: string;
  /** The shared secret, as the user typed it. */
  secret: string;
  /** A question for the peer (SMP with TLV 7), or absent (TLV 2). */
  question?: string;
}
export interface OtrSmpRespondArgs {
  /** A session handle from `otr.session`. */
  session: string;
  /** Our answer to the peer's SMP request. */
  secret: string;
}
export interface OtrMessagesResult {
  /** The wire messages to send, in order. */
  messages: string[];
}

export interface OtrEndArgs {
  /** A session handle from `otr.session`. */
  session: string;
}

export interface OtrStatusArgs {
  /** A session handle from `otr.session`. */
  session: string;
}
export interface OtrStatusResult {
  /** The message state: "plaintext", "encrypted" or "finished". */
  state: OtrMessageState;
  /** The protocol version of the encrypted (or finished) session; null in MSGSTATE_PLAINTEXT. */
  version: 2 | 3 | null;
  /** The peer's DSA key fingerprint (40 lowercase hex) once the AKE completed; null before. */
  peerFingerprint: string | null;
  /** Our instance tag. */
  ourInstanceTag: number;
  /** The peer's instance tag learnt from a v3 AKE; 0 before, and for v2. */
  theirInstanceTag: number;
}

export interface OtrSessionKeysArgs {
  /**
   * Our D-H private key x: unsigned big-endian bytes (not an MPI: no length prefix), 1 to 192 bytes, x in
   * 1..p-1 (OTR draws 320 bits). Otherwise INVALID_ARGUMENT.
   */
  ourPrivateKey: Hex;
  /**
   * Their D-H public key g^y: unsigned big-endian bytes (not an MPI: no length prefix), 1 to 192 bytes. A
   * value outside 2..p-2 is INVALID_ARGUMENT (the check every received D-H key gets).
   */
  theirPublicKey: Hex;
}
export interface OtrSessionKeysResult {
  /** Our D-H public key g^x mod p: minimal unsigned big-endian bytes (no leading zero byte). */
  ourPublicKey: Hex;
  /** Whether we are the "high" end: our public key is numerically larger than theirs (we send with 0x01). */
  high: boolean;
  /** The sending AES key: the first 16 bytes of SHA-1(sendbyte ‖ MPI(g^xy)), sendbyte 0x01 for the high end, else 0x02. */
  sendingAesKey: Hex;
  /** The sending MAC key: SHA-1 of the sending AES key (20 bytes). */
  sendingMacKey: Hex;
  /** The receiving AES key: the first 16 bytes of SHA-1(rcvbyte ‖ MPI(g^xy)), rcvbyte 0x02 for the high end, else 0x01. */
  receivingAesKey: Hex;
  /** The receiving MAC key: SHA-1 of the receiving AES key (20 bytes). */
  receivingMacKey: Hex;
}

/** The OTR ops: arguments and results. */
export interface OtrOps {
  /** An account: the long-term DSA key (imported or generated) and an instance tag. */
  "otr.createAccount": { args: OtrCreateAccountArgs; result: OtrCreateAccountResult };
  /** A session of an account with one contact, in MSGSTATE_PLAINTEXT. */
  "otr.session": { args: OtrSessionArgs; result: OtrSessionResult };
  /** Asks the peer for an OTR conversation (Query message); the AKE runs through `otr.receive`. */
  "otr.startAke": { args: OtrStartAkeArgs; result: OtrStartAkeResult };
  /** Turns a text into wire messages (encrypted when the session is). */
  "otr.send": { args: OtrSendArgs; result: OtrSendResult };
  /** Hands the session one wire message from the peer; never fails for what the peer sent (`error` events). */
  "otr.receive": { args: OtrReceiveArgs; result: OtrReceiveResult };
  /** Starts the Socialist Millionaires' Protocol in an encrypted session. */
  "otr.smpStart": { args: OtrSmpStartArgs; result: OtrMessagesResult };
  /** Answers the peer's SMP request with our secret. */
  "otr.smpRespond": { args: OtrSmpRespondArgs; result: OtrMessagesResult };
  /** Ends the private conversation: a Data Message with TLV 1 when encrypted; the session goes to MSGSTATE_PLAINTEXT. */
  "otr.end": { args: OtrEndArgs; result: OtrMessagesResult };
  /** The session's state, version, fingerprints and instance tags. */
  "otr.status": { args: OtrStatusArgs; result: OtrStatusResult };
  /**
   * The data-message keys of one D-H pair (spec "Computing AES keys, MAC keys"), from fixed keys, no
   * session: what libotr's `otr_sesskeys` and `otr_mackey` print.
   */
  "otr.sessionKeys": { args: OtrSessionKeysArgs; result: OtrSessionKeysResult };
}

export const OTR_OP_NAMES: readonly (keyof OtrOps)[] = [
  "otr.createAccount",
  "otr.session",
  "otr.startAke",
  "otr.send",
  "otr.receive",
  "otr.smpStart",
  "otr.smpRespond",
  "otr.end",
  "otr.status",
  "otr.sessionKeys",
];
