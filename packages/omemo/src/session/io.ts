/**
 * What the session manager needs from the app, as small interfaces declared here (the app wires its
 * XMPP library, its store and its trust store into them; docs/ARCHITECTURE.md "Which way
 * dependencies point"). The library never opens a socket.
 */
import type { Element } from "ltx";
import type { NS_LEGACY, NS_V2 } from "../consts.js";
import type { PublishOptions } from "../pubsub.js";

/** The two OMEMO namespaces the manager speaks. */
export type OmemoNamespace = typeof NS_LEGACY | typeof NS_V2;

/**
 * XMPP I/O. Publishing goes to our own account's PEP service; `fetch` reads anyone's. Errors thrown
 * here reach the caller as OmemoError `IO_FAILED` with the original as `cause`.
 */
export interface OmemoTransport {
  /**
   * Publishes one item to our PEP node with publish-options (XEP-0060 §7.1.5): the `options` are
   * what the node needs (`pubsub#access_model=open`, and `pubsub#max_items=max` on the OMEMO 2
   * bundles node). Resolve when the server accepted it.
   */
  publish(node: string, itemId: string, payload: Element, options: PublishOptions): Promise<void>;
  /**
   * The payload elements of `jid`'s node (its item `itemId` only, if given), or null when the node
   * or item does not exist (item-not-found). `jid` is a bare JID. Without `itemId` (legacy device
   * lists and bundles: deployed clients publish them under other ids than `current`) fetch the whole
   * node (XEP-0060 §6.5.2); the manager takes item `current` if present, else the last one. To let it
   * see item ids, answer with the pubsub `<item id>` elements themselves instead of their payloads.
   * Throw for any other failure: null is read as "publishes nothing" (an empty device list), and
   * our own device list is then republished with only this device in it.
   */
  fetch(jid: string, node: string, itemId?: string): Promise<readonly Element[] | null>;
  /** Sends a `<message>` the manager built by itself (empty messages: key exchange completion, heartbeats). */
  send(to: string, message: Element): Promise<void>;
  /**
   * Retracts one item from our PEP node, notifying subscribers (XEP-0060 §7.2, `notify='true'`).
   * Resolve also when the node or item does not exist (item-not-found): it is gone either way.
   * Needed only by `SessionManager.unpublishOwnDevice`.
   */
  retract?(node: string, itemId: string): Promise<void>;
}

/** An async key-value namespace: `@parley/storage`'s `db.namespace(name)` is one. */
export interface OmemoKeyValue {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Entries whose key starts with `prefix`, sorted by key. */
  scan(options?: { prefix?: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** The view of a store inside a transaction: reads see the transaction's own writes. */
export interface OmemoStoreTransaction {
  namespace(name: string): OmemoKeyValue;
}

/**
 * Where the manager keeps its state. `@parley/storage`'s opened store satisfies it as it is
 * (`namespace(name)` and `transaction(body)`, which commits all writes of `body` atomically or none
 * when it throws, one transaction at a time). `memoryOmemoStore()` is one for tests. The values
 * hold private keys: keep them encrypted at rest, as @parley/storage does.
 */
export interface OmemoStore {
  namespace(name: string): OmemoKeyValue;
  transaction<T>(body: (tx: OmemoStoreTransaction) => Promise<T>): Promise<T>;
}

/** "trusted": encrypt to it; "untrusted": neither encrypt to it nor accept from it; "undecided": accept, do not encrypt. */
export type TrustLevel = "trusted" | "untrusted" | "undecided";

/** What the trust decider is asked about: one device's identity. */
export interface DeviceIdentity {
  /** Bare JID of the account. */
  readonly jid: string;
  readonly deviceId: number;
  readonly namespace: OmemoNamespace;
  /** The identity key as on the wire: 33 bytes `0x05 || u` (legacy), 32 bytes Ed25519 (OMEMO 2). */
  readonly identityKey: Uint8Array;
  /**
   * The fingerprint clients show, the same in both namespaces: 64 lowercase hex digits of the
   * Curve25519 form (XEP-0384 v0.8.3 §8 SHOULD; Conversations and python-omemo show the same).
   */
  readonly fingerprint: string;
}

/**
 * Trust is not decided here: the manager asks before encrypting to a device and before accepting
 * from one. `@parley/trust`'s store answers it in a few lines (`shouldEncryptTo`, `shouldAcceptFrom`).
 */
export interface TrustDecider {
  decide(device: DeviceIdentity, purpose: "encrypt" | "decrypt"): Promise<TrustLevel> | TrustLevel;
  /**
   * Optional: the devices of one account that an encrypt is about to build sessions with, from
   * bundles just fetched (their signed prekeys verified), given together before `decide` is asked
   * about any of them: a contact's devices learned at once, which a TOFU store records as one batch
   * (`@parley/trust`'s `keysSeen`), so a contact's second device at first contact is not taken for a
   * later, unverified one. Called once per account per encrypt; never for devices we have sessions
   * with. A throw is reported as an `error` event, and `decide` is still asked.
   */
  seen?(devices: readonly DeviceIdentity[]): Promise<void> | void;
}
