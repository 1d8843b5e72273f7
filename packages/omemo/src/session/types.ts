/** The options and results of the session manager's API (manager.ts). */
import type { Crypto } from "@parley/crypto";
import type { Element } from "ltx";
import type { OmemoError } from "../errors.js";
import type { Envelope } from "../sce.js";
import type { AutomaticMessageReason } from "./events.js";
import type { OmemoNamespace, OmemoStore, OmemoTransport, TrustDecider, TrustLevel } from "./io.js";

export interface SessionManagerOptions {
  /** Our bare JID. */
  readonly jid: string;
  readonly store: OmemoStore;
  readonly transport: OmemoTransport;
  readonly trust: TrustDecider;
  /** Namespaces to speak, in order of preference for devices that speak both. Default: OMEMO 2, then legacy. */
  readonly namespaces?: readonly OmemoNamespace[];
  /** The store namespace to use (default "omemo"): one per account when several share a store. */
  readonly storeNamespace?: string;
  readonly crypto?: Crypto;
  /** Milliseconds since the epoch: signed-prekey rotation and the `<time>` of OMEMO 2 envelopes (tests inject a clock). */
  readonly now?: () => number;
  /**
   * Answer a normal message from a device we have no session with by starting one (an empty key
   * exchange, v0.8.3 §6 SHOULD), at most once per device per HEAL_INTERVAL_MS. Default true.
   */
  readonly heal?: boolean;
  /**
   * How many sessions to keep decoded in memory between messages (default SESSION_CACHE_SIZE; 0: none,
   * every message deserializes its session from the store). A cached session is used only while the
   * store holds the exact bytes it came from, so a write by another tab or process is always seen;
   * the cost is that session secrets stay in this process's memory as long as they are cached.
   */
  readonly sessionCacheSize?: number;
  /**
   * A label for this device in our OMEMO 2 device list ("Parley on Alice's laptop"), published with
   * its `labelsig`, the signature of its UTF-8 bytes by our identity key (XEP-0384 v0.9.1 §5.3.1);
   * at most MAX_LABEL_LENGTH code points (the XEP recommends under 53). Off by default: clients that
   * validate device lists against v0.8.3's schema, python-twomemo among them, refuse a whole list that
   * carries a `labelsig` and then cannot encrypt to this account. Legacy lists carry no labels.
   */
  readonly label?: string;
}

/**
 * A device of an account's device list as we have it cached (XEP-0384 v0.8.3 §5.3.1): {@link
 * SessionManager.deviceInfo}.
 */
export interface DeviceInfo {
  readonly id: number;
  /** Named in the latest list seen; inactive devices are remembered but not encrypted to. */
  readonly active: boolean;
  /**
   * The device's label, only when its `labelsig` verifies with the identity key we know for the
   * device (from a session or a bundle): v0.9.1 §5.3.1 says to ignore any other label.
   */
  readonly label?: string;
}

/** What to encrypt. Legacy OMEMO carries only `body` (v0.3.0 §4.5); OMEMO 2 puts everything in the SCE envelope. */
export interface MessageContent {
  readonly body?: string;
  /** More elements for the OMEMO 2 envelope's `<content>`, each in its own namespace (XEP-0420 §10). */
  readonly elements?: readonly Element[];
}

export interface EncryptOptions {
  /** Only these namespaces (default: all the manager speaks). */
  readonly namespaces?: readonly OmemoNamespace[];
  /** The SCE `<to>` of OMEMO 2 messages: the recipient for one, required (the room) for several. */
  readonly envelopeTo?: string;
}

export type DeviceStatus =
  /** The device got a key. */
  | "encrypted"
  /** The trust decider said "untrusted": skipped. */
  | "untrusted"
  /** The trust decider said "undecided": skipped until the user decides (XEP-0384 v0.8.3 §8). */
  | "undecided"
  /** Something failed for this device only (`error` says what): it got no key. */
  | "failed";

export interface DeviceResult {
  readonly jid: string;
  readonly deviceId: number;
  readonly namespace: OmemoNamespace;
  readonly status: DeviceStatus;
  /** For "encrypted": the key carries a key exchange (a new session, or one not yet answered). */
  readonly keyExchange?: boolean;
  readonly error?: OmemoError;
}

export interface EncryptResult {
  /** One `<encrypted>` per namespace that has at least one key; put each in its own `<message>`. */
  readonly messages: ReadonlyArray<{ readonly namespace: OmemoNamespace; readonly encrypted: Element }>;
  readonly devices: readonly DeviceResult[];
  /** Recipients (not counting our own account) none of whose devices got a key. */
  readonly undeliverable: readonly string[];
}

export interface DecryptOptions {
  /**
   * The sender's JID; default: the stanza's `from`. Required in a group chat: the occupant's real JID
   * (the stanza's `from` is room@service/nick, whose bare JID is the room).
   */
  readonly from?: string;
  /**
   * The stanza's recipient for the SCE `<to>` check; default: in a group chat the room (the stanza's
   * bare `from`), else the stanza's `to` for our own messages, else our JID.
   */
  readonly to?: string;
  /**
   * A group chat message: the OMEMO 2 envelope must name the room in `<to>` (v0.8.3 §5.5.1). Also
   * implied by a `<message type='groupchat'>`; needed for a bare `<encrypted>` of a group chat.
   */
  readonly groupchat?: boolean;
}

export interface DecryptResult {
  readonly namespace: OmemoNamespace;
  /** The sender's bare JID. */
  readonly from: string;
  readonly deviceId: number;
  /** "empty": no payload (key exchange completion, heartbeat, key transport); `keyMaterial` has what it carried. */
  readonly kind: "message" | "empty";
  /** Legacy: the decrypted text. OMEMO 2: the text of the envelope's `<body xmlns='jabber:client'>`, if any. */
  readonly body: string | undefined;
  /** OMEMO 2: the checked SCE envelope. */
  readonly envelope: Envelope | undefined;
  /** "empty" only: the bytes the ratchet carried (a transported key; 32 zero bytes for an OMEMO 2 empty message). */
  readonly keyMaterial: Uint8Array | undefined;
  /** The trust decision for the sender's device ("untrusted" never gets here: UNTRUSTED_DEVICE). */
  readonly trust: TrustLevel;
  readonly fingerprint: string;
  /** The key carried a key exchange. */
  readonly keyExchange: boolean;
  /** Decrypting built a new session (replacing any earlier one with this device). */
  readonly newSession: boolean;
  /** Why an empty message went back to the sender, if one did. */
  readonly replied: AutomaticMessageReason | undefined;
}

/** A session's state as tests and UIs want to see it (no keys). */
export interface SessionInfo {
  readonly generation: number;
  readonly revision: number;
  readonly keyExchangePending: boolean;
  readonly sendingCounter: number;
  readonly receivingCounter: number;
  readonly role: "initiator" | "responder";
  readonly fingerprint: string;
  /**
   * Legacy OMEMO: the session was built during a catch-up on a one-time prekey kept for it, so it is
   * never sent in; a new session of ours replaces it at the catch-up's end or with the next message
   * to the device (XEP-0384 v0.3.0 §5, §8).
   */
  readonly rekeyPending: boolean;
}
