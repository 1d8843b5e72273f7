/**
 * The OMEMO session manager: one account, one device, both namespaces (legacy
 * `eu.siacs.conversations.axolotl` and OMEMO 2) with one identity. It keeps our keys and the
 * sessions with every device, publishes our device and bundle, encrypts to every trusted device of
 * the recipients and our own other devices, decrypts, and sends the empty messages the protocol
 * asks for. All I/O goes through the app's OmemoTransport, OmemoStore and TrustDecider (io.ts).
 *
 * Concurrency: one lock per peer address (namespace, bare JID, device id) covers load, encrypt or
 * decrypt, and save; one lock per namespace covers our prekeys (not the network: a bundle is loaded
 * under it and published outside it). Saving is a compare-and-swap on the session record's revision
 * inside a store transaction, so two managers sharing a store (two tabs) never both persist a
 * successor of one session: the loser gets CONCURRENT_UPDATE and sends nothing.
 */
import { constantTimeEqual, defaultCrypto, type Crypto } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import {
  acceptSession,
  createInitiatorSession,
  decrypt as ratchetDecrypt,
  deserializeSession,
  encrypt as ratchetEncrypt,
  inspectMessage,
  serializeSession,
  type Session,
} from "@parley/double-ratchet";
import type { Bundle as X3dhBundle } from "@parley/x3dh";
import { CURRENT_ITEM_ID, NS_CLIENT, NS_LEGACY, NS_V2 } from "../consts.js";
import { isOmemoError, OmemoError } from "../errors.js";
import { bareJid, bareJidKey, isPlausibleJid, sameBareJid } from "../jid.js";
import { createEnvelope, decodeEnvelope, envelopeToString, type Envelope } from "../sce.js";
import type { Bundle } from "../types.js";
import { assertLabel } from "../v2/device-list.js";
import { childElements, cloneElement, el, Element, isElement, localName, namespaceOf } from "../xml.js";
import {
  DEFAULT_STORE_NAMESPACE,
  DEVICE_ID_ATTEMPTS,
  HEAL_INTERVAL_MS,
  MAX_HEALED_DEVICES,
  HEARTBEAT_CHAIN_LENGTH,
  LEGACY_IV_BYTES,
  LEGACY_PAYLOAD_KEY_BYTES,
  MAX_LEGACY_KEY_ATTEMPTS,
  MAX_RECIPIENT_DEVICES,
  MAX_DEVICES_PER_ACCOUNT,
  BUNDLE_RETRY_AFTER_MS,
  FAILED_BUNDLES_KEPT,
  PREVIOUS_SESSIONS_KEPT,
  RECORD_CACHE_SIZE,
  RETIRED_BASE_KEYS_KEPT,
  SESSION_CACHE_SIZE,
  V2_EMPTY_KEY_MATERIAL_BYTES,
} from "./consts.js";
import { DecodedCache } from "./cache.js";
import { activeIds, mergeDeviceList, withOwnDevice } from "./devices.js";
import { Emitter, type AutomaticMessageReason, type SessionManagerEvents } from "./events.js";
import { fingerprintOf, identityFromSeed, type OwnIdentity } from "./identity.js";
import type {
  DeviceIdentity,
  OmemoKeyValue,
  OmemoNamespace,
  OmemoStore,
  OmemoStoreTransaction,
  OmemoTransport,
  TrustDecider,
  TrustLevel,
} from "./io.js";
import { KeyedLock } from "./lock.js";
import {
  ALL_NAMESPACES,
  adapterFor,
  namespaceOfDeviceListNode,
  type ListedDevice,
  type NamespaceAdapter,
  type WireKey,
  type WireMessage,
} from "./namespaces.js";
import { openLegacy, openV2, sealLegacy, sealV2 } from "./payload.js";
import { fetchPayload, nodeItems, pickItem } from "./pep-items.js";
import {
  bundleOf,
  createPreKeys,
  markOneTimePreKeyUsed,
  RecordPreKeyStore,
  replaceOneTimePreKey,
  rotateSignedPreKey,
  settleUsedPreKeys,
} from "./prekeys.js";
import {
  decodeAccount,
  decodeDeviceList,
  decodeIdentity,
  decodePreKeys,
  decodeSession,
  encodeAccount,
  encodeDeviceList,
  encodeIdentity,
  encodePreKeys,
  encodeSession,
  sessionRevision,
  keys,
  type AccountRecord,
  type DeviceListRecord,
  type IdentityRecord,
  type PreKeysRecord,
  type SessionRecord,
} from "./records.js";
import { asOmemoError, io } from "./failures.js";
import { attrOf, checkContent, envelopeBody, redactedResult, utf8, wrapMessage } from "./stanza.js";
import type {
  DecryptOptions,
  DecryptResult,
  DeviceResult,
  EncryptOptions,
  DeviceInfo,
  EncryptResult,
  MessageContent,
  SessionInfo,
  SessionManagerOptions,
} from "./types.js";

const te = new TextEncoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return constantTimeEqual(a, b);
}

/** Work to do after the locks are released: messages to send, bundles to republish. */
interface FollowUp {
  readonly send: Array<{ to: string; message: Element; event: SessionManagerEvents["sent"] }>;
  readonly republish: Set<OmemoNamespace>;
}

export class SessionManager {
  /** Our bare JID as given. */
  readonly jid: string;
  readonly deviceId: number;
  readonly namespaces: readonly OmemoNamespace[];
  readonly #identity: OwnIdentity;
  readonly #store: OmemoStore;
  readonly #storeName: string;
  readonly #kv: OmemoKeyValue;
  readonly #transport: OmemoTransport;
  readonly #trust: TrustDecider;
  readonly #crypto: Crypto;
  readonly #now: () => number;
  readonly #locks = new KeyedLock();
  readonly #events: Emitter;
  readonly #heal: boolean;
  /** When we last healed each address (in memory: a restart may heal once more, no more). */
  readonly #healedAt = new Map<string, number>();
  /** Per namespace: bundle publications started (numbered under the prekeys lock) and the newest that landed. */
  readonly #bundleStarted = new Map<OmemoNamespace, number>();
  readonly #bundleLanded = new Map<OmemoNamespace, number>();
  /** Catch-ups running ({@link catchUp}): while above 0, consumed one-time prekeys are kept. */
  #catchUps = 0;
  /** Bundles that could not be fetched or used, by lock address: when, and why (BUNDLE_RETRY_AFTER_MS). */
  readonly #failedBundles = new Map<string, { readonly at: number; readonly error: OmemoError }>();
  /**
   * Legacy devices whose session a catch-up built on a kept one-time prekey (by lock address): a new
   * session of ours replaces each when the catch-up ends (v0.3.0 §5). The record's `rekey` flag is
   * the durable truth: a device missed here (a restart) is rekeyed by the next encrypt to it.
   */
  readonly #rekeyAfterCatchUp = new Map<string, { adapter: NamespaceAdapter; jid: string; deviceId: number }>();
  /** Sessions decoded from the store, used while the store holds the same bytes (taken, then put back once their successor is stored). */
  readonly #sessions: DecodedCache<LoadedSession>;
  /** Device lists and identity records decoded from the store, under the same rule. */
  readonly #records = new DecodedCache<DeviceListRecord | IdentityRecord>(RECORD_CACHE_SIZE);
  /**
   * Per namespace, whether our stored prekeys are newer than the bundle the server has (the store's
   * `unpublished` flag, mirrored: read once, then kept by this manager's own writes and publications).
   */
  readonly #unpublished = new Map<OmemoNamespace, boolean>();
  /** Our OMEMO 2 device-list label and its signature (options.label), if we publish one. */
  readonly #label: { readonly label: string; readonly labelsig: Uint8Array } | undefined;

  private constructor(
    options: SessionManagerOptions,
    account: AccountRecord,
    identity: OwnIdentity,
    namespaces: readonly OmemoNamespace[],
    crypto: Crypto,
  ) {
    this.jid = options.jid;
    this.deviceId = account.deviceId;
    this.namespaces = namespaces;
    this.#identity = identity;
    this.#store = options.store;
    this.#storeName = options.storeNamespace ?? DEFAULT_STORE_NAMESPACE;
    this.#kv = options.store.namespace(this.#storeName);
    this.#transport = options.transport;
    this.#trust = options.trust;
    this.#crypto = crypto;
    this.#now = options.now ?? Date.now;
    this.#heal = options.heal !== false;
    this.#sessions = new DecodedCache(options.sessionCacheSize ?? SESSION_CACHE_SIZE);
    this.#label =
      options.label === undefined
        ? undefined
        : { label: options.label, labelsig: crypto.ed25519Sign(identity.ed25519.privateKey, te.encode(options.label)) };
    this.#events = new Emitter((error) => {
      this.#events.emit("error", asOmemoError(error, "INVALID_ARGUMENT", "an event listener threw"));
    });
  }

  /**
   * Loads the account from the store, or on the first run creates it: a device id (random,
   * 1 … 2^31 − 1, not in our device lists), an Ed25519 identity, a signed prekey and 100 one-time
   * prekeys per namespace, all persisted before anything is published. Then, for every namespace
   * new to this device, publishes the bundle and adds the device to the device list (python-omemo's
   * order: bundles first). A restart publishes nothing; call {@link publishOwnDevice} after login to
   * make sure the server still lists us.
   */
  static async create(options: SessionManagerOptions): Promise<SessionManager> {
    if (typeof options !== "object" || options === null)
      throw new OmemoError("INVALID_ARGUMENT", "options are required");
    if (typeof options.jid !== "string" || !isPlausibleJid(options.jid) || options.jid.includes("/")) {
      throw new OmemoError("INVALID_ARGUMENT", "options.jid must be a bare JID");
    }
    for (const name of ["store", "transport", "trust"] as const) {
      if (typeof options[name] !== "object" || options[name] === null) {
        throw new OmemoError("INVALID_ARGUMENT", `options.${name} is required`);
      }
    }
    const namespaces = [...new Set(options.namespaces ?? ALL_NAMESPACES)];
    if (namespaces.length === 0 || namespaces.some((ns) => ns !== NS_LEGACY && ns !== NS_V2)) {
      throw new OmemoError("INVALID_ARGUMENT", "options.namespaces must list OMEMO namespaces");
    }
    if (options.label !== undefined) assertLabel(options.label, "options.label");
    const cacheSize = options.sessionCacheSize;
    if (cacheSize !== undefined && (!Number.isSafeInteger(cacheSize) || cacheSize < 0)) {
      throw new OmemoError("INVALID_ARGUMENT", "options.sessionCacheSize must be a whole number, 0 or more");
    }
    const crypto = options.crypto ?? defaultCrypto();
    const now = options.now ?? Date.now;
    const storeName = options.storeNamespace ?? DEFAULT_STORE_NAMESPACE;
    const kv = options.store.namespace(storeName);
    const stored = await io("loading the account", () => kv.get(keys.account));
    let account: AccountRecord;
    if (stored !== undefined) {
      account = decodeAccount(stored);
      if (!sameBareJid(account.jid, options.jid)) {
        throw new OmemoError("INVALID_ARGUMENT", "the store holds another account: use another storeNamespace");
      }
    } else {
      account = {
        jid: options.jid,
        deviceId: await pickDeviceId(crypto, options.transport, options.jid, namespaces),
        seed: crypto.randomBytes(32),
        createdAt: now(),
      };
    }
    const identity = identityFromSeed(crypto, account.seed);
    const fresh: OmemoNamespace[] = [];
    account = await io("creating the account", () =>
      options.store.transaction(async (tx) => {
        const t = tx.namespace(storeName);
        const again = await t.get(keys.account);
        // Another tab created the account meanwhile: use that one.
        const current = again === undefined ? account : decodeAccount(again);
        const currentIdentity = again === undefined ? identity : identityFromSeed(crypto, current.seed);
        if (again === undefined) await t.put(keys.account, encodeAccount(current));
        fresh.length = 0;
        for (const ns of namespaces) {
          const adapter = adapterFor(ns);
          if ((await t.get(keys.preKeys(adapter.tag))) !== undefined) continue;
          await t.put(keys.preKeys(adapter.tag), encodePreKeys(createPreKeys(crypto, adapter, currentIdentity, now())));
          fresh.push(ns);
        }
        return current;
      }),
    );
    const manager = new SessionManager(options, account, identityFromSeed(crypto, account.seed), namespaces, crypto);
    // New prekeys, or a first run whose publication failed (the prekeys were stored, then the
    // transport threw): publish until the namespace is marked announced, so a retried create()
    // never leaves the device invisible.
    const pending: OmemoNamespace[] = [];
    for (const ns of namespaces) {
      if (
        fresh.includes(ns) ||
        (await io("loading the account", () => kv.get(keys.announced(adapterFor(ns).tag)))) === undefined
      )
        pending.push(ns);
    }
    for (const ns of pending) await manager.#publishBundle(ns);
    for (const ns of pending) {
      await manager.#announce(ns);
      await io("saving the account", () => kv.put(keys.announced(adapterFor(ns).tag), Uint8Array.of(1)));
    }
    return manager;
  }

  /** The Ed25519 public identity key (what OMEMO 2 publishes). */
  get identityKey(): Uint8Array {
    return this.#identity.ed25519.publicKey.slice();
  }

  /** Our fingerprint in both namespaces: the Curve25519 form, 64 lowercase hex digits. */
  get fingerprint(): string {
    return this.#identity.fingerprint;
  }

  on<K extends keyof SessionManagerEvents>(event: K, listener: (event: SessionManagerEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  toString(): string {
    return `SessionManager(${this.jid}, device ${this.deviceId}, fingerprint ${this.#identity.fingerprint}, keys [redacted])`;
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT_CUSTOM](): string {
    return this.toString();
  }

  // ================================================================ publishing

  /**
   * Republishes our bundles and makes sure every device list of our account names us (merging with
   * what the server has: other devices are never dropped). Call it after each login. While the device
   * is turned off ({@link unpublishOwnDevice}) it publishes nothing (it still deletes prekeys a
   * crashed catch-up left used), unless `reactivate`: the user turns OMEMO back on.
   */
  async publishOwnDevice(options: { reactivate?: boolean } = {}): Promise<void> {
    // The mark goes first, or nothing below would publish.
    if (options.reactivate === true) await this.#setDeactivated(false);
    // Prekeys a catch-up cut short (a crash) left marked used are deleted now.
    if (this.#catchUps === 0) for (const ns of this.namespaces) await this.#settleUsedPreKeys(ns);
    if (await this.isDeactivated()) return;
    for (const ns of this.namespaces) await this.#publishBundle(ns);
    for (const ns of this.namespaces) await this.#announce(ns);
  }

  /** Whether the app turned OMEMO off for this device ({@link unpublishOwnDevice}); read from the store (another tab may have). */
  async isDeactivated(): Promise<boolean> {
    return (await io("loading the account", () => this.#kv.get(keys.deactivated))) !== undefined;
  }

  /**
   * Turns OMEMO off for this device (XEP-0384 v0.8.3 §6 SHOULD, when the user deactivates OMEMO): in
   * every namespace our device id leaves our account's device list (the others stay; a list that
   * would be empty is retracted, since OMEMO 2's schema has no empty list) and our bundle is retracted,
   * so contacts stop encrypting to this device. From then on the manager does not announce the device
   * again (not even when it sees our list without it, which otherwise v0.8.3 §5.3.1 requires) and
   * publishes no bundle, in any namespace (one enabled later included), also after a restart, until
   * `publishOwnDevice({ reactivate: true })` turns it back on. Keys and
   * sessions are kept: archived messages still decrypt. Needs `transport.retract`. A failure throws
   * `IO_FAILED` with the device already marked off: call it again to finish.
   */
  async unpublishOwnDevice(): Promise<void> {
    const transport = this.#transport;
    if (typeof transport.retract !== "function") {
      throw new OmemoError("INVALID_ARGUMENT", "unpublishOwnDevice needs a transport with retract()");
    }
    const retract = (node: string, itemId: string) =>
      io("retracting from our PEP service", () => transport.retract!(node, itemId));
    await this.#setDeactivated(true);
    for (const ns of this.namespaces) {
      const adapter = adapterFor(ns);
      const listed = await this.#fetchDeviceList(this.jid, ns);
      const others = (listed ?? []).filter((d) => d.id !== this.deviceId);
      if (others.length > 0) {
        if (others.length < (listed ?? []).length) await this.#publishDeviceList(adapter, others);
      } else if (listed !== null) {
        // The items of the node (legacy lists may sit under another id than `current`).
        const items =
          nodeItems(await io("fetching a device list", () => transport.fetch(this.jid, adapter.deviceListNode))) ?? [];
        const ids = new Set(items.flatMap((i) => (i.id === undefined ? [] : [i.id])));
        if (ids.size === 0) ids.add(CURRENT_ITEM_ID);
        for (const id of ids) await retract(adapter.deviceListNode, id);
      }
      await this.#applyDeviceList(this.jid, ns, others);
      const { node, itemId } = adapter.bundleAddress(this.deviceId);
      await retract(node, itemId);
    }
  }

  /** Stores (or clears) the account-wide mark of {@link unpublishOwnDevice}. */
  async #setDeactivated(on: boolean): Promise<void> {
    await io("saving the account", () =>
      on ? this.#kv.put(keys.deactivated, Uint8Array.of(1)) : this.#kv.delete(keys.deactivated),
    );
  }

  /**
   * A PEP retraction notification (XEP-0060 §7.2.2.1) from `jid`'s `node`: for a device list node,
   * the list is fetched again (an account that retracted its list has no devices any more). Returns
   * whether it was a device list of a namespace we use. Item ids are not needed.
   */
  async handlePubsubRetraction(jid: string, node: string): Promise<boolean> {
    const ns = namespaceOfDeviceListNode(node);
    if (ns === undefined || !this.namespaces.includes(ns)) return false;
    await this.refreshDeviceList(jid, ns);
    return true;
  }

  /** Our current bundle in a namespace, as published. */
  async ownBundle(namespace: OmemoNamespace): Promise<Bundle> {
    const adapter = this.#adapter(namespace);
    return bundleOf(adapter, this.#identity, await this.#loadPreKeys(adapter));
  }

  async #publishBundle(ns: OmemoNamespace): Promise<void> {
    const adapter = adapterFor(ns);
    if (await this.isDeactivated()) {
      // OMEMO is off for this device: the bundle stays retracted; publishOwnDevice publishes it again.
      this.#unpublished.set(ns, false);
      return;
    }
    const { node, itemId } = adapter.bundleAddress(this.deviceId);
    for (;;) {
      // Loaded under the prekeys lock (a key exchange being stored finishes first), published outside
      // it: a slow or hanging server must not hold up every key exchange behind the lock.
      const { record, raw, seq } = await this.#locks.run(`prekeys/${adapter.tag}`, async () => {
        const loaded = await this.#loadPreKeysRaw(adapter);
        const started = (this.#bundleStarted.get(ns) ?? 0) + 1;
        this.#bundleStarted.set(ns, started);
        return { ...loaded, seq: started };
      });
      await io("publishing the bundle", () =>
        this.#transport.publish(
          node,
          itemId,
          adapter.encodeBundle(bundleOf(adapter, this.#identity, record)),
          adapter.bundleOptions,
        ),
      );
      // Turned off meanwhile (another tab's unpublishOwnDevice retracted the bundle while ours was on its
      // way): retracted again.
      if (await this.isDeactivated()) {
        const transport = this.#transport;
        if (typeof transport.retract === "function") {
          await io("retracting from our PEP service", () => transport.retract!(node, itemId));
        }
        return;
      }
      // Last publication wins on the server: if one loaded after ours landed before it, ours just
      // overwrote newer prekeys with older ones. Publish the newest again.
      if ((this.#bundleLanded.get(ns) ?? 0) > seq) continue;
      this.#bundleLanded.set(ns, seq);
      // The server has these prekeys now: clear the "unpublished" mark, unless they changed meanwhile
      // (a key exchange, a rotation, another tab), whose own publication is then still owed.
      const cleared = await io("saving prekeys", () =>
        this.#store.transaction(async (tx) => {
          const t = tx.namespace(this.#storeName);
          const current = await t.get(keys.preKeys(adapter.tag));
          if (current === undefined || !sameBytes(current, raw)) return false;
          await t.delete(keys.unpublished(adapter.tag));
          return true;
        }),
      );
      if (cleared) this.#unpublished.set(ns, false);
      this.#events.emit("published", { node, itemId });
      return;
    }
  }

  /** False when no namespace can need a republication (its `unpublished` flag is known to be clear). */
  #mayRepublish(): boolean {
    if (this.#catchUps > 0) return false;
    for (const ns of this.namespaces) if (this.#unpublished.get(ns) !== false) return true;
    return false;
  }

  /**
   * Retries the publication of every bundle whose prekeys changed since the server last got them
   * (XEP-0384 v0.8.3 §5.6: a consumed prekey MUST be removed from the bundle; peers that still see it
   * build sessions we cannot accept). The mark is stored with the prekeys, so a restart retries too.
   * Failures become `error` events: the operation that triggered the retry goes on.
   */
  async #republishPending(skip: ReadonlySet<OmemoNamespace> = new Set()): Promise<void> {
    // During a catch-up the bundle is republished once, at its end.
    if (this.#catchUps > 0) return;
    for (const ns of this.namespaces) {
      if (skip.has(ns)) continue;
      try {
        let pending = this.#unpublished.get(ns);
        if (pending === undefined) {
          const flag = await io("loading prekeys", () => this.#kv.get(keys.unpublished(adapterFor(ns).tag)));
          pending = flag !== undefined;
          this.#unpublished.set(ns, pending);
        }
        if (pending) await this.#publishBundle(ns);
      } catch (error) {
        this.#events.emit("error", asOmemoError(error, "IO_FAILED", "republishing the bundle"));
      }
    }
  }

  /**
   * Runs `body` (the app's MAM catch-up: decrypt every archived message in it) with deletion of used
   * one-time prekeys postponed (XEP-0384 v0.8.3 §6 and v0.3.0 §5 SHOULD, §8 RECOMMENDED): a prekey
   * consumed meanwhile is marked used and kept, so a later key exchange of the catch-up built on it
   * still decrypts, and is offered to nobody else. When the last catch-up ends, the used prekeys are
   * deleted and the bundle republished once. In OMEMO 2 the completion message of every key exchange
   * is still sent at once, in the session it built (v0.8.3 §6 MUST when deletion is postponed). In
   * legacy OMEMO nothing is sent in such a session (the prekey may have been used twice, v0.3.0 §8
   * MUST NOT): when the catch-up ends, a new session of ours from the sender's bundle replaces it, and
   * a key transport message carries its key exchange (§5 MUST; the `sent` event's reason is
   * `catch-up-rekey`); a message the app encrypts to the device before then starts that session
   * itself. Catch-ups may overlap (one per account or room); a failure at the end is an `error`
   * event, the prekeys are settled again by {@link publishOwnDevice}, and a device not rekeyed is
   * rekeyed by the next message to it.
   */
  async catchUp<T>(body: () => Promise<T>): Promise<T> {
    if (typeof body !== "function") throw new OmemoError("INVALID_ARGUMENT", "catchUp needs a function");
    this.#catchUps++;
    try {
      return await body();
    } finally {
      if (--this.#catchUps === 0) {
        for (const ns of this.namespaces) {
          await this.#settleUsedPreKeys(ns).catch((error: unknown) => {
            this.#events.emit("error", asOmemoError(error, "IO_FAILED", "deleting prekeys used in a catch-up"));
          });
        }
        await this.#republishPending();
        await this.#rekeyCaughtUp();
      }
    }
  }

  /** The legacy sessions a catch-up built on kept prekeys, replaced by sessions of ours (v0.3.0 §5). */
  async #rekeyCaughtUp(): Promise<void> {
    if (this.#rekeyAfterCatchUp.size === 0) return;
    const pending = [...this.#rekeyAfterCatchUp.values()];
    this.#rekeyAfterCatchUp.clear();
    const follow: FollowUp = { send: [], republish: new Set() };
    for (const p of pending) {
      try {
        await this.#startSession(p.adapter, p.jid, p.deviceId, "catch-up-rekey", follow);
      } catch (error) {
        this.#events.emit("error", asOmemoError(error, "IO_FAILED", "replacing a session built during a catch-up"));
      }
    }
    await this.#followUp(follow);
  }

  /** Deletes the one-time prekeys a catch-up marked used and refills the bundle (marked unpublished). */
  async #settleUsedPreKeys(ns: OmemoNamespace): Promise<void> {
    const adapter = adapterFor(ns);
    await this.#locks.run(`prekeys/${adapter.tag}`, async () => {
      const { record, raw } = await this.#loadPreKeysRaw(adapter);
      const next = settleUsedPreKeys(this.#crypto, record);
      if (next === record) return;
      await io("saving prekeys", () => this.#store.transaction((tx) => this.#savePreKeys(tx, adapter, raw, next)));
      this.#unpublished.set(ns, true);
    });
  }

  /** Fetches our account's device list and publishes it with our device added, if it lacks it. */
  async #announce(ns: OmemoNamespace): Promise<void> {
    const listed = await this.#fetchDeviceList(this.jid, ns);
    await this.#applyDeviceList(this.jid, ns, listed ?? []);
  }

  async #publishDeviceList(adapter: NamespaceAdapter, devices: readonly ListedDevice[]): Promise<void> {
    await io("publishing the device list", () =>
      this.#transport.publish(
        adapter.deviceListNode,
        CURRENT_ITEM_ID,
        adapter.encodeDeviceList(devices),
        adapter.deviceListOptions,
      ),
    );
    this.#events.emit("published", { node: adapter.deviceListNode, itemId: CURRENT_ITEM_ID });
  }

  /**
   * Signed-prekey rotation (XEP-0384 v0.8.3 §4.2): in every namespace whose signed prekey is older
   * than the period (or always, with `force`), a new one becomes current, the previous one stays for
   * the grace period, and the bundle is republished. Call it from a daily timer or at login.
   */
  async rotateSignedPreKeys(options: { force?: boolean } = {}): Promise<OmemoNamespace[]> {
    const rotated: OmemoNamespace[] = [];
    for (const ns of this.namespaces) {
      const adapter = adapterFor(ns);
      const changed = await this.#locks.run(`prekeys/${adapter.tag}`, async () => {
        const { record, raw } = await this.#loadPreKeysRaw(adapter);
        const next = rotateSignedPreKey(
          this.#crypto,
          adapter,
          this.#identity,
          record,
          this.#now(),
          options.force === true,
        );
        if (next === record) return false;
        await io("saving prekeys", () => this.#store.transaction((tx) => this.#savePreKeys(tx, adapter, raw, next)));
        this.#unpublished.set(ns, true);
        return next.signed[0]!.id !== record.signed[0]!.id;
      });
      if (changed) {
        rotated.push(ns);
        await this.#publishBundle(ns);
      }
    }
    return rotated;
  }

  // ================================================================ device lists

  /**
   * A PEP notification or fetch result (XEP-0060 §7.1.2.1, XEP-0163): `jid`'s items of `node`. Device
   * lists of either namespace are applied (others are ignored: returns false). A list of our own
   * account that lacks this device is republished with it added.
   */
  async handlePubsubEvent(
    jid: string,
    node: string,
    items: ReadonlyArray<{ readonly id?: string; readonly payload?: Element }>,
  ): Promise<boolean> {
    const ns = namespaceOfDeviceListNode(node);
    if (ns === undefined || !this.namespaces.includes(ns)) return false;
    const item = pickItem(items);
    if (item?.payload === undefined) return false;
    const listed = adapterFor(ns).decodeDeviceList(item.payload);
    await this.#applyDeviceList(bareJid(jid), ns, listed);
    return true;
  }

  /** Fetches `jid`'s device list now and applies it (XEP-0384 v0.8.3 §6: a sender not on the list). */
  async refreshDeviceList(jid: string, namespace: OmemoNamespace): Promise<readonly number[]> {
    this.#adapter(namespace);
    const listed = await this.#fetchDeviceList(bareJid(jid), namespace);
    return this.#applyDeviceList(bareJid(jid), namespace, listed ?? []);
  }

  /** The active device ids of `jid` in a namespace, from the cache (fetched once if never seen). */
  async devices(jid: string, namespace: OmemoNamespace): Promise<readonly number[]> {
    this.#adapter(namespace);
    return activeIds(await this.#deviceList(bareJid(jid), namespace));
  }

  /**
   * `jid`'s devices in a namespace as cached (fetched once if never seen), inactive ones included,
   * each with its label when the label's signature verifies (OMEMO 2, XEP-0384 v0.9.1 §5.3.1) with
   * the identity key we know for the device. A label is never shown unverified: before we have the
   * device's identity key (no session, no bundle fetched yet) it is left out.
   */
  async deviceInfo(jid: string, namespace: OmemoNamespace): Promise<readonly DeviceInfo[]> {
    const adapter = this.#adapter(namespace);
    const bare = bareJid(jid);
    const record = await this.#deviceList(bare, namespace);
    const out: DeviceInfo[] = [];
    for (const d of record.devices) {
      let label: string | undefined;
      if (namespace === NS_V2 && d.label !== undefined && d.labelsig !== undefined) {
        const identityKey =
          sameBareJid(bare, this.jid) && d.id === this.deviceId
            ? this.#identity.ed25519.publicKey
            : await this.#knownIdentityKey(adapter, bare, d.id);
        if (identityKey !== undefined && this.#verifies(d.labelsig, te.encode(d.label), identityKey)) label = d.label;
      }
      out.push(label === undefined ? { id: d.id, active: d.active } : { id: d.id, active: d.active, label });
    }
    return out;
  }

  #verifies(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
    try {
      return this.#crypto.ed25519Verify(signature, message, publicKey);
    } catch {
      return false;
    }
  }

  /** The identity key stored for a device (noted with its session or a fetched bundle), if any. */
  #knownIdentityKey(adapter: NamespaceAdapter, jid: string, deviceId: number): Promise<Uint8Array | undefined> {
    return this.#storedIdentityKey(this.#kv, keys.identity(adapter.tag, bareJidKey(jid), deviceId));
  }

  async #storedIdentityKey(kv: OmemoKeyValue, key: string): Promise<Uint8Array | undefined> {
    const raw = await io("loading an identity", () => kv.get(key));
    if (raw === undefined) return undefined;
    const cached = this.#records.get(key, raw);
    const record = cached !== undefined && "identityKey" in cached ? cached : decodeIdentity(raw);
    if (cached === undefined) this.#records.set(key, raw, record);
    return record.identityKey;
  }

  /** Our entry in our own device list of a namespace: with our label in OMEMO 2, when we publish one. */
  #ownListing(ns: OmemoNamespace): ListedDevice {
    return ns === NS_V2 && this.#label !== undefined
      ? { id: this.deviceId, label: this.#label.label, labelsig: this.#label.labelsig }
      : { id: this.deviceId };
  }

  /**
   * `jid`'s device list as published, or null when the account publishes none (the node does not
   * exist or has no item). A failed fetch, an answer we cannot read or a list that does not decode
   * throws: the list is unknown then, and must not be taken for an empty one (our own would be
   * republished with only us in it, dropping our other devices).
   */
  async #fetchDeviceList(jid: string, ns: OmemoNamespace): Promise<ListedDevice[] | null> {
    const adapter = adapterFor(ns);
    const payload = await fetchPayload(
      this.#transport,
      jid,
      adapter.deviceListNode,
      adapter.fetchItemId(CURRENT_ITEM_ID),
      "fetching a device list",
    );
    if (payload === null) return null;
    return adapter.decodeDeviceList(payload);
  }

  async #applyDeviceList(jid: string, ns: OmemoNamespace, listed: readonly ListedDevice[]): Promise<number[]> {
    const adapter = adapterFor(ns);
    // A new list may come with new bundles (a device announced before its bundle landed): its
    // devices' bundles are worth fetching again at once.
    if (this.#failedBundles.size > 0) {
      const prefix = keys.sessionPrefix(adapter.tag, bareJidKey(jid));
      for (const address of [...this.#failedBundles.keys()]) {
        if (address.startsWith(prefix)) this.#failedBundles.delete(address);
      }
    }
    const own = sameBareJid(jid, this.jid) && !(await this.isDeactivated());
    const republish = own ? withOwnDevice(listed, this.#ownListing(ns)) : null;
    const effective = republish ?? listed;
    const key = keys.devices(adapter.tag, bareJidKey(jid));
    const merged = await this.#locks.run(key, async () => {
      const raw = await io("loading a device list", () => this.#kv.get(key));
      const result = mergeDeviceList(raw === undefined ? undefined : this.#deviceListOf(key, raw), effective);
      await io("saving a device list", () => this.#kv.put(key, encodeDeviceList(result.record)));
      return result;
    });
    const active = activeIds(merged.record);
    this.#events.emit("deviceList", { jid, namespace: ns, active, added: merged.added, removed: merged.removed });
    if (republish !== null) await this.#publishDeviceList(adapter, republish);
    return active;
  }

  async #deviceList(jid: string, ns: OmemoNamespace): Promise<DeviceListRecord> {
    const key = keys.devices(adapterFor(ns).tag, bareJidKey(jid));
    const raw = await io("loading a device list", () => this.#kv.get(key));
    if (raw !== undefined) return this.#deviceListOf(key, raw);
    // Never seen: fetch once (PEP notifications keep it current from then on, v0.8.3 §5.2).
    const listed = await this.#fetchDeviceList(jid, ns);
    await this.#applyDeviceList(jid, ns, listed ?? []);
    const again = await io("loading a device list", () => this.#kv.get(key));
    return again === undefined ? { devices: [] } : this.#deviceListOf(key, again);
  }

  /** A stored device list, decoded (or as decoded before from the same bytes). */
  #deviceListOf(key: string, raw: Uint8Array): DeviceListRecord {
    const cached = this.#records.get(key, raw);
    if (cached !== undefined && "devices" in cached) return cached;
    const record = decodeDeviceList(raw);
    this.#records.set(key, raw, record);
    return record;
  }

  // ================================================================ encrypt

  /**
   * Encrypts `content` to every trusted device of every recipient and to our own other devices,
   * building sessions from fetched bundles where there are none (v0.8.3 §6: just before sending).
   * Each device gets the first namespace of our preference list it is active in. Sessions are
   * persisted before this returns; send the `<encrypted>` elements (see {@link send}).
   */
  async encrypt(
    to: string | readonly string[],
    content: MessageContent,
    options: EncryptOptions = {},
  ): Promise<EncryptResult> {
    const recipients = this.#recipients(to);
    checkContent(content);
    const namespaces = this.#namespacesFor(options.namespaces);
    if (this.#mayRepublish()) await this.#republishPending();
    const targets = await this.#targets(recipients, namespaces);
    const sealed = new Map<OmemoNamespace, Sealed>();
    for (const ns of new Set(targets.map((t) => t.namespace))) {
      sealed.set(ns, this.#seal(ns, recipients, content, options));
    }
    return this.#encryptTo(recipients, targets, (ns) => sealed.get(ns)!);
  }

  /**
   * Key transport (XEP-0384 v0.3.0 §4.6) or an empty OMEMO message (v0.8.3 §5.5.3): no payload, the
   * ratchet carries `keyMaterial` (default: 16 random bytes in legacy, as python-oldmemo sends; 32
   * zero bytes in OMEMO 2). Used to complete or advance sessions, or to hand a key to another device.
   */
  async encryptKeyTransport(
    to: string | readonly string[],
    options: EncryptOptions & { keyMaterial?: Uint8Array } = {},
  ): Promise<EncryptResult> {
    const recipients = this.#recipients(to);
    const km = options.keyMaterial;
    if (km !== undefined && (!(km instanceof Uint8Array) || km.length === 0 || km.length > 64)) {
      throw new OmemoError("INVALID_ARGUMENT", "keyMaterial must be 1 to 64 bytes");
    }
    const namespaces = this.#namespacesFor(options.namespaces);
    if (this.#mayRepublish()) await this.#republishPending();
    const targets = await this.#targets(recipients, namespaces);
    // One key (and, in legacy, one IV) per namespace, shared by every device: the KeyTransportElement
    // (v0.3.0 §4.6) hands the same key/IV pair to all of them. Pass `keyMaterial` to know the key.
    const sealed = new Map<OmemoNamespace, Sealed>();
    return this.#encryptTo(recipients, targets, (ns) => {
      let s = sealed.get(ns);
      if (s === undefined) sealed.set(ns, (s = this.#emptySealed(ns, km)));
      return s;
    });
  }

  /**
   * Encrypts and sends: one `<message type='chat'>` per namespace to `to` (its `<encrypted>`, a
   * `<store/>` hint, XEP-0334, as v0.3.0 §5 and XEP-0420 §10 ask, and XEP-0380's `<encryption/>`).
   * Throws NO_ELIGIBLE_DEVICES, sending nothing, when a recipient has no device that got a key.
   */
  async send(to: string, content: MessageContent, options: EncryptOptions = {}): Promise<EncryptResult> {
    const result = await this.encrypt(to, content, options);
    if (result.undeliverable.length > 0) {
      throw new OmemoError(
        "NO_ELIGIBLE_DEVICES",
        `${result.undeliverable.length} recipient(s) have no device this message could be encrypted for`,
      );
    }
    for (const m of result.messages) {
      await io("sending a message", () =>
        this.#transport.send(bareJid(to), wrapMessage(bareJid(to), m.namespace, m.encrypted)),
      );
    }
    return result;
  }

  #recipients(to: string | readonly string[]): string[] {
    const list = typeof to === "string" ? [to] : [...to];
    if (list.length === 0) throw new OmemoError("INVALID_ARGUMENT", "at least one recipient is required");
    const out: string[] = [];
    for (const jid of list) {
      if (typeof jid !== "string" || !isPlausibleJid(jid))
        throw new OmemoError("INVALID_ARGUMENT", "recipients must be JIDs");
      const bare = bareJid(jid);
      if (sameBareJid(bare, this.jid) || out.some((j) => sameBareJid(j, bare))) continue;
      out.push(bare);
    }
    return out;
  }

  #namespacesFor(only: readonly OmemoNamespace[] | undefined): OmemoNamespace[] {
    if (only === undefined) return [...this.namespaces];
    const out = this.namespaces.filter((ns) => only.includes(ns));
    if (out.length === 0) throw new OmemoError("UNSUPPORTED_NAMESPACE", "none of the requested namespaces is enabled");
    return out;
  }

  #adapter(namespace: OmemoNamespace): NamespaceAdapter {
    if (!this.namespaces.includes(namespace)) {
      throw new OmemoError("UNSUPPORTED_NAMESPACE", "this manager does not speak that namespace");
    }
    return adapterFor(namespace);
  }

  /** Every (account, device) to encrypt to, each in its preferred namespace; our own device excluded. */
  /**
   * Every device to encrypt to. With several recipients (a group chat), one whose device list cannot be
   * fetched or read (its server times out, refuses, or publishes a list we refuse) is left out of that
   * namespace and ends in `undeliverable` if it gets no key at all: one occupant does not silence the
   * room. A single recipient's failure, and our own account's, is thrown as before.
   */
  async #targets(recipients: readonly string[], namespaces: readonly OmemoNamespace[]): Promise<Target[]> {
    const targets: Target[] = [];
    for (const jid of [...recipients, this.jid]) {
      const own = sameBareJid(jid, this.jid);
      const taken = new Set<number>();
      const account: Target[] = [];
      for (const ns of namespaces) {
        let listed: DeviceListRecord;
        try {
          listed = await this.#deviceList(jid, ns);
        } catch (error) {
          if (own || recipients.length < 2 || !isOmemoError(error)) throw error;
          continue;
        }
        for (const id of activeIds(listed)) {
          if ((own && id === this.deviceId) || taken.has(id)) continue;
          taken.add(id);
          account.push({ jid, deviceId: id, namespace: ns });
        }
      }
      targets.push(...(account.length > MAX_DEVICES_PER_ACCOUNT ? await this.#boundAccount(account) : account));
    }
    if (targets.filter((t) => t.skipped === undefined).length > MAX_RECIPIENT_DEVICES) {
      throw new OmemoError("INVALID_ARGUMENT", `more than ${MAX_RECIPIENT_DEVICES} recipient devices`);
    }
    return targets;
  }

  /**
   * One account's devices beyond MAX_DEVICES_PER_ACCOUNT: those we have sessions with first (they once
   * proved to hold their keys), then the list's order; the rest are marked skipped (TOO_MANY_DEVICES).
   */
  async #boundAccount(devices: readonly Target[]): Promise<Target[]> {
    const withSession: Target[] = [];
    const without: Target[] = [];
    for (const t of devices) {
      const key = keys.session(adapterFor(t.namespace).tag, bareJidKey(t.jid), t.deviceId);
      ((await io("loading a session", () => this.#kv.get(key))) === undefined ? without : withSession).push(t);
    }
    const ordered = [...withSession, ...without];
    const error = new OmemoError(
      "TOO_MANY_DEVICES",
      `the account lists more than ${MAX_DEVICES_PER_ACCOUNT} devices: this one was left out`,
    );
    return ordered.map((t, i) => (i < MAX_DEVICES_PER_ACCOUNT ? t : { ...t, skipped: error }));
  }

  #seal(ns: OmemoNamespace, recipients: readonly string[], content: MessageContent, options: EncryptOptions): Sealed {
    if (ns === NS_LEGACY) {
      if (content.body === undefined) {
        throw new OmemoError(
          "INVALID_ARGUMENT",
          "legacy OMEMO encrypts only a body (v0.3.0 §4.5): content.body is required",
        );
      }
      const s = sealLegacy(this.#crypto, te.encode(content.body));
      return { keyMaterial: s.keyMaterial, iv: s.iv, payload: s.payload };
    }
    // No other recipient: a note to our own other devices, addressed to our own account.
    const envelopeTo =
      options.envelopeTo ?? (recipients.length === 1 ? recipients[0] : recipients.length === 0 ? this.jid : undefined);
    if (envelopeTo === undefined) {
      throw new OmemoError(
        "INVALID_ARGUMENT",
        "options.envelopeTo (the room's JID) is required for several recipients",
      );
    }
    const elements = [...(content.elements ?? [])];
    if (content.body !== undefined) elements.unshift(el("body", { xmlns: NS_CLIENT }, content.body));
    const envelope = createEnvelope({
      content: elements,
      from: this.jid,
      to: envelopeTo,
      time: new Date(this.#now()),
      randomBytes: (n) => this.#crypto.randomBytes(n),
    });
    const s = sealV2(this.#crypto, te.encode(envelopeToString(envelope)));
    return { keyMaterial: s.keyMaterial, payload: s.payload };
  }

  #emptySealed(ns: OmemoNamespace, keyMaterial: Uint8Array | undefined): Sealed {
    if (ns === NS_LEGACY) {
      return {
        keyMaterial: keyMaterial ?? this.#crypto.randomBytes(LEGACY_PAYLOAD_KEY_BYTES),
        iv: this.#crypto.randomBytes(LEGACY_IV_BYTES),
      };
    }
    return { keyMaterial: keyMaterial ?? new Uint8Array(V2_EMPTY_KEY_MATERIAL_BYTES) };
  }

  async #encryptTo(
    recipients: readonly string[],
    targets: readonly Target[],
    sealedFor: (ns: OmemoNamespace) => Sealed,
  ): Promise<EncryptResult> {
    const keyMaterialFor = (ns: OmemoNamespace) => sealedFor(ns).keyMaterial;
    const live = targets.filter((t) => t.skipped === undefined);
    const { done: batched, missing, known } = await this.#encryptEstablished(live, keyMaterialFor);
    const prepared =
      missing.size === 0
        ? undefined
        : await this.#prepareSessions(
            live.filter((_, i) => missing.has(i)),
            [...known.values()],
          );
    const encrypted = await Promise.all(
      live.map((t, i) => {
        const done = batched.get(i);
        return done === undefined
          ? this.#encryptForDevice(t, keyMaterialFor(t.namespace), prepared?.get(t))
          : Promise.resolve(done);
      }),
    );
    const byTarget = new Map(live.map((t, i) => [t, encrypted[i]!]));
    const results = targets.map(
      (t): { result: DeviceResult; key?: WireKey } =>
        byTarget.get(t) ?? {
          result: { jid: t.jid, deviceId: t.deviceId, namespace: t.namespace, status: "failed", error: t.skipped! },
        },
    );
    const messages: Array<{ namespace: OmemoNamespace; encrypted: Element }> = [];
    for (const ns of this.namespaces) {
      const keysOfNs = results.filter((r) => r.result.namespace === ns && r.key !== undefined).map((r) => r.key!);
      if (keysOfNs.length === 0) continue;
      const s = sealedFor(ns);
      const wire: WireMessage = {
        sid: this.deviceId,
        keys: keysOfNs,
        ...(s.iv === undefined ? {} : { iv: s.iv }),
        ...(s.payload === undefined ? {} : { payload: s.payload }),
      };
      messages.push({ namespace: ns, encrypted: adapterFor(ns).encodeMessage(wire) });
    }
    const devices = results.map((r) => r.result);
    const undeliverable = recipients.filter(
      (jid) => !devices.some((d) => d.status === "encrypted" && sameBareJid(d.jid, jid)),
    );
    return { messages, devices, undeliverable };
  }

  /**
   * The devices we already have sessions with, stored in one transaction: one durable commit per
   * message instead of one per device. Their locks are taken together, in sorted order (two such
   * calls cannot deadlock, and every other path holds one device's lock at most), each session is
   * loaded, trust asked and the ratchet advanced, then every successor and identity is stored at
   * once. Returns results by target index. Targets without a session, any whose loading, trust call
   * or ratchet fails, and all of them when the transaction fails (a concurrent write, I/O) are left
   * to {@link encryptForDevice}, which loads them again: nothing was spent, the store still holds
   * the sessions it had. Never throws.
   */
  async #encryptEstablished(
    targets: readonly Target[],
    keyMaterialFor: (ns: OmemoNamespace) => Uint8Array,
  ): Promise<{
    done: Map<number, { result: DeviceResult; key?: WireKey }>;
    missing: Set<number>;
    known: Map<number, DeviceIdentity>;
  }> {
    const done = new Map<number, { result: DeviceResult; key?: WireKey }>();
    const missing = new Set<number>();
    /** Deferred to the per-device path (see below): the devices with sessions, by target index. */
    const known = new Map<number, DeviceIdentity>();
    // One device: the per-device path does the same work.
    if (targets.length < 2) return { done, missing, known };
    const addresses = [
      ...new Set(targets.map((t) => this.#address(adapterFor(t.namespace), t.jid, t.deviceId))),
    ].sort();
    interface Staged {
      readonly index: number;
      readonly t: Target;
      readonly adapter: NamespaceAdapter;
      readonly loaded: LoadedSession;
      readonly device: DeviceIdentity;
      readonly trust: TrustLevel;
      readonly step?: ReturnType<typeof ratchetEncrypt>;
    }
    const body = async (): Promise<void> => {
      const loadedAll: Array<{ index: number; t: Target; adapter: NamespaceAdapter; loaded: LoadedSession }> = [];
      for (const [index, t] of targets.entries()) {
        const adapter = adapterFor(t.namespace);
        try {
          const loaded = await this.#loadSession(adapter, t.jid, t.deviceId);
          // No session, or one never to send in (a catch-up's, to be replaced): built from the bundle.
          if (loaded === undefined || loaded.record.rekey === true) missing.add(index);
          else loadedAll.push({ index, t, adapter, loaded });
        } catch {
          // Reported by the per-device path, which tries again.
        }
      }
      // A device to build a session with, and a decider that wants to hear of new devices (`seen`):
      // it must hear of each account's devices together, those we have sessions with included, before
      // it decides on any of them (a contact who wrote first from one device and whose second device we
      // meet now: both belong to its first batch). Everything goes to the per-device path then: the
      // first message to a new device, not the usual one.
      if (missing.size > 0 && this.#trust.seen !== undefined) {
        for (const l of loadedAll) {
          const { t } = l;
          known.set(l.index, this.#deviceIdentity(t.namespace, t.jid, t.deviceId, l.loaded.session.remoteIdentityKey));
        }
        return;
      }
      const staged: Staged[] = [];
      for (const { index, t, adapter, loaded } of loadedAll) {
        try {
          const device = this.#deviceIdentity(t.namespace, t.jid, t.deviceId, loaded.session.remoteIdentityKey);
          const decided = this.#decide(device, "encrypt");
          const trust = typeof decided === "string" ? decided : await decided;
          const step =
            trust === "trusted"
              ? ratchetEncrypt(loaded.session, keyMaterialFor(t.namespace), { crypto: this.#crypto })
              : undefined;
          staged.push({ index, t, adapter, loaded, device, trust, ...(step === undefined ? {} : { step }) });
        } catch {
          // Reported by the per-device path, which tries again.
        }
      }
      if (staged.length === 0) return;
      let after: Array<() => void>;
      try {
        after = await this.#store.transaction(async (tx) => {
          const then: Array<() => void> = [];
          for (const s of staged) {
            if (s.step !== undefined) {
              then.push(
                await this.#saveSession(tx, s.adapter, s.t.jid, s.t.deviceId, s.loaded, {
                  session: s.step.session,
                  previous: s.loaded.record.previous,
                  retiredBaseKeys: s.loaded.record.retiredBaseKeys,
                  heartbeatAt: s.loaded.record.heartbeatAt,
                }),
              );
            }
            const identityEvent = await this.#noteIdentity(s.adapter, s.device, tx);
            if (identityEvent !== undefined) then.push(identityEvent);
          }
          return then;
        });
      } catch {
        return;
      }
      for (const f of after) f();
      for (const s of staged) {
        const base = { jid: s.t.jid, deviceId: s.t.deviceId, namespace: s.t.namespace };
        if (s.step === undefined) {
          done.set(s.index, { result: { ...base, status: s.trust as Exclude<TrustLevel, "trusted"> } });
        } else {
          done.set(s.index, {
            result: { ...base, status: "encrypted", keyExchange: s.step.isKeyExchange },
            key: { jid: s.t.jid, rid: s.t.deviceId, keyExchange: s.step.isKeyExchange, data: s.step.message },
          });
        }
      }
    };
    const locked = addresses.reduceRight<() => Promise<void>>((inner, key) => () => this.#locks.run(key, inner), body);
    await locked();
    return { done, missing, known };
  }

  /**
   * Sessions for the targets we had none with (as `#encryptEstablished` found), built from their
   * bundles (fetched in parallel; a build spends only randomness, nothing is stored), and the trust
   * decider's `seen` told about each account's new devices together before any of them is decided.
   */
  async #prepareSessions(
    missing: readonly Target[],
    known: readonly DeviceIdentity[] = [],
  ): Promise<Map<Target, Prepared>> {
    const out = new Map<Target, Prepared>();
    await Promise.all(
      missing.map(async (t) => {
        try {
          out.set(t, { session: await this.#sessionFromBundle(adapterFor(t.namespace), t.jid, t.deviceId) });
        } catch (error) {
          out.set(t, { error });
        }
      }),
    );
    if (this.#trust.seen === undefined) return out;
    const byAccount = new Map<string, DeviceIdentity[]>();
    for (const t of missing) {
      const p = out.get(t);
      if (p === undefined || !("session" in p)) continue;
      const account = bareJidKey(t.jid);
      let devices = byAccount.get(account);
      if (devices === undefined) byAccount.set(account, (devices = []));
      devices.push(this.#deviceIdentity(t.namespace, t.jid, t.deviceId, p.session.remoteIdentityKey));
    }
    // The same accounts' devices we have sessions with, in the same report (see #encryptEstablished).
    for (const d of known) byAccount.get(bareJidKey(d.jid))?.push(d);
    for (const devices of byAccount.values()) await this.#seen(devices);
    return out;
  }

  /** Tells the trust decider about devices met together (`TrustDecider.seen`); a throw is an `error` event. */
  async #seen(devices: readonly DeviceIdentity[]): Promise<void> {
    try {
      await this.#trust.seen?.(devices);
    } catch (cause) {
      this.#events.emit("error", new OmemoError("IO_FAILED", "the trust decider's seen() failed", { cause }));
    }
  }

  /**
   * A new initiator session from the device's bundle (its signed prekey's signature verified), or the
   * failure of an attempt less than BUNDLE_RETRY_AFTER_MS ago (unless `retryNow`): a device listed
   * without a usable bundle costs one fetch a minute, not one with every message.
   */
  async #sessionFromBundle(
    adapter: NamespaceAdapter,
    jid: string,
    deviceId: number,
    retryNow = false,
  ): Promise<Session> {
    const address = this.#address(adapter, jid, deviceId);
    const failed = this.#failedBundles.get(address);
    const now = this.#now();
    if (failed !== undefined && !retryNow && now >= failed.at && now - failed.at < BUNDLE_RETRY_AFTER_MS) {
      throw new OmemoError(
        failed.error.code,
        `the device's bundle failed ${Math.round((now - failed.at) / 1000)} s ago; it is fetched again ${BUNDLE_RETRY_AFTER_MS / 1000} s after that`,
        { cause: failed.error },
      );
    }
    try {
      const bundle = await this.#fetchBundle(adapter, jid, deviceId);
      let session: Session;
      try {
        session = createInitiatorSession(adapter.profile, this.#ourKeyPair(adapter), bundle, { crypto: this.#crypto });
      } catch (error) {
        throw asOmemoError(error, "BUNDLE_INVALID", "building a session from the bundle");
      }
      this.#failedBundles.delete(address);
      return session;
    } catch (error) {
      const e = asOmemoError(error, "IO_FAILED", "fetching a bundle");
      // Only what is the device's own doing (no bundle, one that does not decode or verify): a failure
      // of our connection or server (IO_FAILED) is tried again with the next message.
      if (e.code === "BUNDLE_INVALID") {
        this.#failedBundles.delete(address);
        this.#failedBundles.set(address, { at: now, error: e });
        if (this.#failedBundles.size > FAILED_BUNDLES_KEPT) {
          this.#failedBundles.delete(this.#failedBundles.keys().next().value!);
        }
      }
      throw e;
    }
  }

  /**
   * One device: load or build the session (or take the one `prepared` built, when the store still
   * has none), ask for trust, encrypt, persist. Never throws.
   */
  async #encryptForDevice(
    t: Target,
    keyMaterial: Uint8Array,
    prepared?: Prepared,
  ): Promise<{ result: DeviceResult; key?: WireKey }> {
    const adapter = adapterFor(t.namespace);
    const base = { jid: t.jid, deviceId: t.deviceId, namespace: t.namespace };
    try {
      return await this.#locks.run(this.#address(adapter, t.jid, t.deviceId), async () => {
        const loaded = await this.#loadSession(adapter, t.jid, t.deviceId);
        // A session a catch-up built on a kept one-time prekey is never sent in (v0.3.0 §8): a new one
        // from the bundle replaces it, and this message carries its key exchange (§5).
        const replacing = loaded?.record.rekey === true ? loaded.session : undefined;
        let session = replacing === undefined ? loaded?.session : undefined;
        if (session === undefined) {
          // Built (the signed prekey's signature verified) before the identity is noted or trust is
          // asked: a bogus bundle served by the server must not store an identity or fire `device` /
          // `identityChanged` events, nor reach the trust decider. Building spends only randomness.
          if (prepared !== undefined && "error" in prepared) throw prepared.error;
          if (prepared !== undefined) session = prepared.session;
          else {
            session = await this.#sessionFromBundle(adapter, t.jid, t.deviceId);
            await this.#seen([this.#deviceIdentity(t.namespace, t.jid, t.deviceId, session.remoteIdentityKey)]);
          }
        }
        const device = this.#deviceIdentity(t.namespace, t.jid, t.deviceId, session.remoteIdentityKey);
        const trust = await this.#decide(device, "encrypt");
        if (trust !== "trusted") {
          // A verified identity, noted although nothing is sent: the app learns of the device (or of
          // its new key) and can ask the user to decide.
          const identityEvent = await this.#store
            .transaction((tx) => this.#noteIdentity(adapter, device, tx))
            .catch((error: unknown) => {
              throw asOmemoError(error, "IO_FAILED", "saving an identity");
            });
          identityEvent?.();
          return { result: { ...base, status: trust } };
        }
        let step;
        try {
          step = ratchetEncrypt(session, keyMaterial, { crypto: this.#crypto });
        } catch (error) {
          throw asOmemoError(error, "STORE_CORRUPT", "encrypting for a device");
        }
        // The identity with the session it came with, in one transaction; its event once committed.
        const committed = await this.#store
          .transaction(async (tx) => {
            const cache = await this.#saveSession(
              tx,
              adapter,
              t.jid,
              t.deviceId,
              loaded,
              replacing === undefined
                ? {
                    session: step.session,
                    previous: loaded?.record.previous ?? [],
                    retiredBaseKeys: loaded?.record.retiredBaseKeys ?? [],
                    heartbeatAt: loaded?.record.heartbeatAt ?? null,
                  }
                : { session: step.session, ...replaced(replacing, loaded!.record) },
            );
            return { cache, identityEvent: await this.#noteIdentity(adapter, device, tx) };
          })
          .catch((error: unknown) => {
            throw asOmemoError(error, "IO_FAILED", "saving a session");
          });
        committed.cache();
        committed.identityEvent?.();
        return {
          result: { ...base, status: "encrypted" as const, keyExchange: step.isKeyExchange },
          key: { jid: t.jid, rid: t.deviceId, keyExchange: step.isKeyExchange, data: step.message },
        };
      });
    } catch (error) {
      return {
        result: { ...base, status: "failed", error: asOmemoError(error, "IO_FAILED", "encrypting for a device") },
      };
    }
  }

  async #fetchBundle(adapter: NamespaceAdapter, jid: string, deviceId: number): Promise<X3dhBundle> {
    const { node, itemId } = adapter.bundleAddress(deviceId);
    const payload = await fetchPayload(this.#transport, jid, node, adapter.fetchItemId(itemId), "fetching a bundle");
    if (payload === null) throw new OmemoError("BUNDLE_INVALID", "the device has no bundle published");
    let b: Bundle;
    try {
      b = adapter.decodeBundle(payload);
    } catch (cause) {
      throw new OmemoError("BUNDLE_INVALID", "the device's bundle does not decode", { cause });
    }
    return {
      identityKey: b.identityKey,
      signedPreKey: { id: b.signedPreKeyId, publicKey: b.signedPreKey },
      signedPreKeySignature: b.signedPreKeySignature,
      oneTimePreKeys: b.preKeys,
    };
  }

  // ================================================================ decrypt

  /**
   * Decrypts an incoming `<message>` (or its `<encrypted>`, with `options.from`). Finds our `<key>`
   * (rid = our device; in OMEMO 2 inside `<keys jid>` of our bare JID), builds a new session from a
   * key exchange (consuming its one-time prekey exactly once, replaced and republished at once), or
   * decrypts in the existing session; then the payload, and for OMEMO 2 the SCE envelope with its
   * affix checks. Replies with an empty message after a key exchange and as a heartbeat. Any error
   * leaves every stored state as it was: a duplicate (MAM, carbons) is DUPLICATE_MESSAGE.
   */
  async decrypt(input: Element, options: DecryptOptions = {}): Promise<DecryptResult> {
    if (!isElement(input)) throw new OmemoError("INVALID_ARGUMENT", "stanza must be an ltx Element");
    // An element of another copy or subclass of ltx (xmpp.js's @xmpp/xml hands those out) is copied
    // into ours, so that everything below works on one known class.
    const stanza = input instanceof Element ? input : cloneElement(input);
    // A group chat stanza comes from room@service/nick (XEP-0045 §7.4): its bare JID is the room, not
    // the sender, so the session lookup, the `<from>` affix check and healing would all go to the room.
    const groupchat = options.groupchat === true || attrOf(stanza, "type") === "groupchat";
    if (groupchat && options.from === undefined) {
      throw new OmemoError(
        "INVALID_ARGUMENT",
        "a group chat message needs options.from: the sending occupant's real JID (non-anonymous room, XEP-0384 v0.8.3 §5.8), not the room's",
      );
    }
    const fromAttr = options.from ?? attrOf(stanza, "from");
    if (fromAttr === undefined || !isPlausibleJid(fromAttr)) {
      throw new OmemoError("INVALID_ARGUMENT", "the sender's JID is needed: the stanza's from, or options.from");
    }
    const sender = bareJid(fromAttr);
    const { adapter, wire, ours } = this.#keysForUs(stanza, sender);
    const roomAttr = groupchat ? attrOf(stanza, "from") : undefined;
    // In a group chat the envelope's `<to>` is the room (v0.8.3 §5.5.1): the stanza's from, bare.
    const expectedTo =
      options.to ??
      (roomAttr !== undefined && isPlausibleJid(roomAttr)
        ? bareJid(roomAttr)
        : sameBareJid(sender, this.jid)
          ? (attrOf(stanza, "to") ?? this.jid)
          : this.jid);
    const follow: FollowUp = { send: [], republish: new Set() };
    let result: DecryptResult | undefined;
    let firstError: unknown;
    // Legacy keys carry no JID: ids of two accounts may collide, so a few keys for our id are tried
    // (keysToTry: one in OMEMO 2).
    for (const key of ours) {
      try {
        result = await this.#locks.run(this.#address(adapter, sender, wire.sid), () =>
          this.#decryptLocked(adapter, sender, wire, key, { to: expectedTo, groupchat }, follow),
        );
        break;
      } catch (error) {
        firstError ??= error;
      }
    }
    if (
      result === undefined &&
      this.#heal &&
      isOmemoError(firstError, "NO_SESSION") &&
      (await this.#isListed(adapter.namespace, sender, wire.sid).catch(() => false))
    ) {
      // Only devices on the sender's cached list are healed (v0.8.3 §6 speaks of known devices): an
      // invented sid costs no bundle fetch. The map is bounded, oldest entry first out.
      const address = this.#address(adapter, sender, wire.sid);
      const last = this.#healedAt.get(address);
      if (last === undefined || this.#now() - last >= HEAL_INTERVAL_MS) {
        this.#healedAt.delete(address);
        this.#healedAt.set(address, this.#now());
        if (this.#healedAt.size > MAX_HEALED_DEVICES) {
          const oldest = this.#healedAt.keys().next();
          if (oldest.done !== true) this.#healedAt.delete(oldest.value);
        }
        await this.#startSession(adapter, sender, wire.sid, "session-healing", follow).catch((error: unknown) => {
          this.#events.emit("error", asOmemoError(error, "IO_FAILED", "healing a session"));
        });
      }
    }
    await this.#followUp(follow);
    if (result === undefined) throw asOmemoError(firstError, "DECRYPTION_FAILED", "decrypting");
    await this.#checkListed(adapter.namespace, sender, wire.sid);
    return result;
  }

  /** v0.8.3 §6: a sender device that is not on our copy of its account's list: fetch the list again. */
  /** Whether `deviceId` is active on our cached copy of `jid`'s device list. */
  async #isListed(ns: OmemoNamespace, jid: string, deviceId: number): Promise<boolean> {
    const key = keys.devices(adapterFor(ns).tag, bareJidKey(jid));
    const raw = await this.#kv.get(key);
    return raw !== undefined && this.#deviceListOf(key, raw).devices.some((d) => d.active && d.id === deviceId);
  }

  async #checkListed(ns: OmemoNamespace, jid: string, deviceId: number): Promise<void> {
    try {
      if (await this.#isListed(ns, jid, deviceId)) return;
      await this.refreshDeviceList(jid, ns);
    } catch (error) {
      this.#events.emit("error", asOmemoError(error, "IO_FAILED", "refreshing a device list"));
    }
  }

  /**
   * Replaces our session with a device by a new one from its bundle, announced in an empty key
   * exchange message that the manager sends (XEP-0384 v0.8.3 §6: clients MUST offer a way to replace
   * broken sessions; python-omemo's replace_sessions). The old session stays a candidate for
   * messages already on their way.
   */
  async replaceSession(jid: string, deviceId: number, namespace: OmemoNamespace): Promise<void> {
    const adapter = this.#adapter(namespace);
    const follow: FollowUp = { send: [], republish: new Set() };
    await this.#startSession(adapter, bareJid(jid), deviceId, "session-replacement", follow);
    await this.#followUp(follow);
  }

  /** A new initiator session from the device's bundle and an empty message carrying its key exchange. */
  async #startSession(
    adapter: NamespaceAdapter,
    jid: string,
    deviceId: number,
    reason: AutomaticMessageReason,
    follow: FollowUp,
  ): Promise<void> {
    await this.#locks.run(this.#address(adapter, jid, deviceId), async () => {
      const loaded = await this.#loadSession(adapter, jid, deviceId);
      // Healing answers a missing session only: one that appeared meanwhile is kept.
      if (reason === "session-healing" && loaded !== undefined) return;
      // A catch-up's session already replaced (a message sent meanwhile did it) needs nothing more.
      if (reason === "catch-up-rekey" && loaded?.record.rekey !== true) return;
      // Built first (the signed prekey's signature verified), as for encrypt: a bogus bundle reaches
      // neither the trust decider nor the store.
      // The app asked for it: fetched even if it failed a moment ago.
      const session = await this.#sessionFromBundle(adapter, jid, deviceId, reason === "session-replacement");
      const device = this.#deviceIdentity(adapter.namespace, jid, deviceId, session.remoteIdentityKey);
      // An empty message carries no content, so trust is not needed (v0.8.3 §8), but never to a distrusted device.
      if ((await this.#decide(device, "decrypt")) === "untrusted") {
        throw new OmemoError("UNTRUSTED_DEVICE", "the device is not trusted");
      }
      const empty = this.#emptySealed(adapter.namespace, undefined);
      const step = this.#ratchet(() => ratchetEncrypt(session, empty.keyMaterial, { crypto: this.#crypto }));
      const current = loaded?.session;
      const committed = await this.#store
        .transaction(async (tx) => {
          const cache = await this.#saveSession(tx, adapter, jid, deviceId, loaded, {
            session: step.session,
            ...(current === undefined
              ? {
                  previous: loaded?.record.previous ?? [],
                  retiredBaseKeys: loaded?.record.retiredBaseKeys ?? [],
                  heartbeatAt: null,
                }
              : replaced(current, loaded!.record)),
          });
          return { cache, identityEvent: await this.#noteIdentity(adapter, device, tx) };
        })
        .catch((error: unknown) => {
          throw asOmemoError(error, "IO_FAILED", "saving the session");
        });
      committed.cache();
      committed.identityEvent?.();
      const encrypted = adapter.encodeMessage({
        sid: this.deviceId,
        keys: [{ jid, rid: deviceId, keyExchange: step.isKeyExchange, data: step.message }],
        ...(empty.iv === undefined ? {} : { iv: empty.iv }),
      });
      follow.send.push({
        to: jid,
        message: wrapMessage(jid, adapter.namespace, encrypted),
        event: { to: jid, deviceId, namespace: adapter.namespace, reason },
      });
    });
  }

  /**
   * The `<encrypted>` to read and the keys in it to try. A stanza may carry one per namespace (a
   * sender that speaks both to a contact with devices in each): they are read in our order of
   * preference, and the first with a key for this device is taken, so a message whose preferred
   * `<encrypted>` is for other devices only is still read in the other namespace. When none has
   * one, the preferred one's error is thrown (NO_KEY_FOR_US, or why it does not decode).
   */
  #keysForUs(
    stanza: Element,
    sender: string,
  ): { adapter: NamespaceAdapter; wire: WireMessage; ours: readonly WireKey[] } {
    // Only the keys for this device are decoded: the others are for other devices to judge.
    const forUs = (jid: string | undefined, rid: number) =>
      rid === this.deviceId && (jid === undefined || sameBareJid(jid, this.jid));
    let firstError: unknown;
    for (const { adapter, encrypted } of this.#encryptedElements(stanza)) {
      try {
        const wire = adapter.decodeMessage(encrypted, forUs);
        const ours = keysToTry(
          adapter.namespace,
          wire.keys.filter((k) => forUs(k.jid, k.rid)),
        );
        if (ours.length === 0 || (wire.sid === this.deviceId && sameBareJid(sender, this.jid))) {
          throw new OmemoError(
            "NO_KEY_FOR_US",
            wire.payload === undefined
              ? "an empty OMEMO message (key exchange completion, heartbeat) for another device: nothing to show"
              : "the message has no key for this device",
          );
        }
        return { adapter, wire, ours };
      } catch (error) {
        firstError ??= error;
      }
    }
    throw firstError;
  }

  /** The stanza's `<encrypted>` elements in namespaces we speak, in our order of preference (at least one). */
  #encryptedElements(stanza: Element): Array<{ adapter: NamespaceAdapter; encrypted: Element }> {
    if (localName(stanza) === "encrypted") {
      const ns = namespaceOf(stanza);
      if (ns !== NS_LEGACY && ns !== NS_V2) throw new OmemoError("UNSUPPORTED_NAMESPACE", "not an OMEMO <encrypted>");
      return [{ adapter: this.#adapter(ns), encrypted: stanza }];
    }
    const candidates = childElements(stanza).filter((c) => localName(c) === "encrypted");
    const out: Array<{ adapter: NamespaceAdapter; encrypted: Element }> = [];
    for (const ns of this.namespaces) {
      // One per namespace: a second <encrypted> of the same namespace is not read (nor was it before).
      const found = candidates.find((c) => namespaceOf(c) === ns);
      if (found !== undefined) out.push({ adapter: adapterFor(ns), encrypted: found });
    }
    if (out.length > 0) return out;
    throw new OmemoError(
      candidates.length === 0 ? "MALFORMED_STANZA" : "UNSUPPORTED_NAMESPACE",
      "the stanza has no <encrypted> element in a namespace this manager speaks",
    );
  }

  async #decryptLocked(
    adapter: NamespaceAdapter,
    sender: string,
    wire: WireMessage,
    key: WireKey,
    affix: { to: string; groupchat: boolean },
    follow: FollowUp,
  ): Promise<DecryptResult> {
    const loaded = await this.#loadSession(adapter, sender, wire.sid);
    const current = loaded?.session;
    const previous = loaded?.record.previous ?? [];
    const retired = loaded?.record.retiredBaseKeys ?? [];
    // The sessions to try, current first, then the ones a key exchange replaced (messages already on
    // their way in them, and two devices that started sessions with each other at the same moment).
    // A previous session that decrypts is advanced in place and never becomes current again: one
    // message in an old session (a stolen copy, a late delivery) must not undo replaceSession or
    // healing. Lazily: previous sessions are deserialized only when the ones before them did not do.
    function* candidates(): Generator<{ index: number; session: Session }> {
      if (current !== undefined) yield { index: -1, session: current };
      for (let index = 0; index < previous.length; index++) {
        let session: Session;
        try {
          session = deserializeSession(previous[index]!, { profile: adapter.profile });
        } catch {
          // An unreadable old session is no candidate; the current one is what matters.
          continue;
        }
        yield { index, session };
      }
    }
    // Authenticate first, then ask for trust: the decider never reacts to a forged message, and a
    // failed or refused decryption stores nothing (the successor is dropped).
    const inSession = async (index: number, session: Session, kind: "message" | "keyExchange") => {
      const step = this.#ratchet(() => ratchetDecrypt(session, key.data, { kind, crypto: this.#crypto }));
      const device = this.#deviceIdentity(adapter.namespace, sender, wire.sid, session.remoteIdentityKey);
      const decided = this.#decideToAccept(device);
      const trust = typeof decided === "string" ? decided : await decided;
      return { index, device, trust, step };
    };
    const finishIn = (r: Awaited<ReturnType<typeof inSession>>) =>
      this.#finish(adapter, sender, wire, key, affix, follow, {
        loaded,
        session: r.step.session,
        plaintext: r.step.plaintext,
        device: r.device,
        trust: r.trust,
        newSession: false,
        rekey: r.index < 0 && loaded?.record.rekey === true,
        previousIndex: r.index,
        previous,
        retiredBaseKeys: retired,
      });

    if (!key.keyExchange) {
      if (current === undefined) throw new OmemoError("NO_SESSION", "no session with the sending device");
      let firstError: OmemoError | undefined;
      for (const c of candidates()) {
        let r;
        try {
          r = await inSession(c.index, c.session, "message");
        } catch (error) {
          const e = asOmemoError(error, "DECRYPTION_FAILED", "decrypting");
          // Untrusted, or read before in the session it belongs to: no other session can change that.
          if (e.code === "UNTRUSTED_DEVICE" || e.code === "DUPLICATE_MESSAGE") throw e;
          firstError ??= e;
          continue;
        }
        return finishIn(r);
      }
      throw firstError!;
    }
    let info;
    try {
      info = inspectMessage(adapter.profile, key.data, "keyExchange");
    } catch (error) {
      throw asOmemoError(error, "DECRYPTION_FAILED", "reading a key exchange");
    }
    const kx = info.keyExchange!;
    // The key exchange of a session we have, repeated until answered (v0.8.3 §4.3).
    let own: { index: number; session: Session } | undefined;
    for (const c of candidates()) {
      if (sameBytes(kx.ephemeralKey, c.session.baseKey)) {
        own = c;
        break;
      }
    }
    if (own !== undefined) return finishIn(await inSession(own.index, own.session, "keyExchange"));
    if (retired.some((b) => sameBytes(b, kx.ephemeralKey))) {
      throw new OmemoError("DUPLICATE_MESSAGE", "the key exchange belongs to a session replaced since (a replay)");
    }
    // Our prekeys are shared by every sender: their lock is held until the new session and the
    // prekey's removal are stored together.
    return this.#locks.run(`prekeys/${adapter.tag}`, async () => {
      const { record: preKeys, raw: preKeysRaw } = await this.#loadPreKeysRaw(adapter);
      // In a catch-up the prekey is kept, marked used, until it ends (catchUp).
      const catchingUp = this.#catchUps > 0;
      const store = new RecordPreKeyStore(preKeys, catchingUp);
      const accepted = this.#ratchet(() =>
        acceptSession(adapter.profile, this.#ourKeyPair(adapter), store, key.data, { crypto: this.#crypto }),
      );
      // Trust is asked only once the first message authenticated under the new session; a refusal
      // stores nothing, so the one-time prekey is not consumed.
      const device = this.#deviceIdentity(adapter.namespace, sender, wire.sid, accepted.session.remoteIdentityKey);
      const trust = await this.#decideToAccept(device);
      const nextPreKeys =
        store.removed === undefined
          ? undefined
          : catchingUp
            ? markOneTimePreKeyUsed(preKeys, store.removed)
            : replaceOneTimePreKey(this.#crypto, preKeys, store.removed);
      // Legacy: a session on a one-time prekey kept for the catch-up may share it with another (v0.3.0 §5, §8).
      const rekey = catchingUp && store.removed !== undefined && adapter.namespace === NS_LEGACY;
      const result = await this.#finish(adapter, sender, wire, key, affix, follow, {
        loaded,
        session: accepted.session,
        plaintext: accepted.plaintext,
        device,
        trust,
        newSession: true,
        rekey,
        previousIndex: -1,
        // The replaced session stays a candidate for messages already on their way in it.
        ...(current === undefined
          ? { previous, retiredBaseKeys: retired, noSend: [] }
          : replaced(current, loaded!.record)),
        ...(nextPreKeys === undefined ? {} : { preKeys: { loaded: preKeysRaw, next: nextPreKeys } }),
      });
      if (nextPreKeys !== undefined && !catchingUp) follow.republish.add(adapter.namespace);
      return result;
    });
  }

  /** Payload, envelope, automatic reply, and one transaction that stores it all. */
  async #finish(
    adapter: NamespaceAdapter,
    sender: string,
    wire: WireMessage,
    key: WireKey,
    affix: { to: string; groupchat: boolean },
    follow: FollowUp,
    s: {
      loaded: LoadedSession | undefined;
      session: Session;
      plaintext: Uint8Array;
      device: DeviceIdentity;
      trust: TrustLevel;
      newSession: boolean;
      /** The session decrypted in is (or becomes) current and must never be sent in: SessionRecord.rekey. */
      rekey: boolean;
      /**
       * Which previous session decrypted it (its successor replaces it in `previous`, and the current
       * session stays current), or −1 for the current or a new session.
       */
      previousIndex: number;
      previous: readonly Uint8Array[];
      retiredBaseKeys: readonly Uint8Array[];
      /** For a new session: the record's `noSend` with the replaced one (else the loaded record's is kept). */
      noSend?: readonly Uint8Array[];
      preKeys?: { loaded: Uint8Array; next: PreKeysRecord };
    },
  ): Promise<DecryptResult> {
    let body: string | undefined;
    let envelope: Envelope | undefined;
    if (wire.payload !== undefined) {
      if (adapter.namespace === NS_LEGACY) {
        body = utf8(openLegacy(this.#crypto, s.plaintext, wire.iv!, wire.payload));
      } else {
        const text = utf8(openV2(this.#crypto, s.plaintext, wire.payload));
        envelope = decodeEnvelope(text, { to: affix.to, from: sender, groupchat: affix.groupchat });
        body = envelopeBody(envelope);
      }
    }
    // Heartbeat (v0.8.3 §6): once per receiving chain, when it grows past 53 messages; a reply of any
    // kind restarts the peer's chain. A chain counter below the mark means a new chain began.
    // The record tracks the heartbeat of its current session; a previous session answers every message
    // past the mark, as python-omemo does for every session, so its peer's chain still advances.
    const inPrevious = s.previousIndex >= 0;
    let session = s.session;
    // Never answered in: the current session while it awaits its replacement, and a previous one that
    // was such a session when it was replaced (v0.3.0 §8: no sending in a duplicate-prekey session).
    const silent =
      s.rekey || (inPrevious && (s.loaded?.record.noSend ?? []).some((k) => sameBytes(k, session.baseKey)));
    const counter = session.receivingCounter;
    const recordHeartbeatAt = s.loaded?.record.heartbeatAt ?? null;
    let heartbeatAt = s.newSession || inPrevious ? null : recordHeartbeatAt;
    if (heartbeatAt !== null && counter < heartbeatAt) heartbeatAt = null;
    // One completion per session (v0.8.3 §6 asks for "an empty message" after a key exchange): the
    // peer repeats the key exchange on every message until it reads one from us (§4.3), so a MAM
    // catch-up of N such messages would otherwise send N empty messages. python-omemo stops
    // repeating as soon as it decrypts our one reply.
    const answeredKey = key.keyExchange ? keys.answered(adapter.tag, bareJidKey(sender), wire.sid) : "";
    let answerKeyExchange = false;
    // Nothing is sent in a session to be replaced: not even an empty message (v0.3.0 §8).
    if (key.keyExchange && !silent) {
      const answered = await io("loading a session", () => this.#kv.get(answeredKey));
      answerKeyExchange = answered === undefined || !sameBytes(answered, session.baseKey);
    }
    let replied: AutomaticMessageReason | undefined;
    if (answerKeyExchange) replied = "key-exchange-completion";
    else if (counter > HEARTBEAT_CHAIN_LENGTH && heartbeatAt === null && !silent) replied = "heartbeat";
    let reply: Element | undefined;
    if (replied !== undefined) {
      if (counter > HEARTBEAT_CHAIN_LENGTH) heartbeatAt = counter;
      const empty = this.#emptySealed(adapter.namespace, undefined);
      const step = this.#ratchet(() => ratchetEncrypt(session, empty.keyMaterial, { crypto: this.#crypto }));
      session = step.session;
      reply = adapter.encodeMessage({
        sid: this.deviceId,
        keys: [{ jid: sender, rid: wire.sid, keyExchange: step.isKeyExchange, data: step.message }],
        ...(empty.iv === undefined ? {} : { iv: empty.iv }),
      });
    }
    const committed = await this.#store
      .transaction(async (tx) => {
        const cache = await this.#saveSession(
          tx,
          adapter,
          sender,
          wire.sid,
          s.loaded,
          inPrevious
            ? {
                // The current session was only tried (a failed decrypt spends nothing): it stays current.
                session: s.loaded!.session,
                previous: s.previous.map((b, i) => (i === s.previousIndex ? serializeSession(session) : b)),
                retiredBaseKeys: s.retiredBaseKeys,
                heartbeatAt: recordHeartbeatAt,
                rekey: s.loaded!.record.rekey === true,
              }
            : {
                session,
                previous: s.previous,
                retiredBaseKeys: s.retiredBaseKeys,
                heartbeatAt,
                rekey: s.rekey,
                ...(s.noSend === undefined ? {} : { noSend: s.noSend }),
              },
        );
        if (s.preKeys !== undefined) {
          await this.#savePreKeys(tx, adapter, s.preKeys.loaded, s.preKeys.next);
        }
        if (replied === "key-exchange-completion") {
          await tx.namespace(this.#storeName).put(answeredKey, session.baseKey);
        }
        return { cache, identityEvent: await this.#noteIdentity(adapter, s.device, tx) };
      })
      .catch((error: unknown) => {
        throw asOmemoError(error, "IO_FAILED", "saving the session");
      });
    committed.cache();
    if (s.rekey && s.newSession) {
      this.#rekeyAfterCatchUp.set(this.#address(adapter, sender, wire.sid), {
        adapter,
        jid: bareJid(sender),
        deviceId: wire.sid,
      });
    }
    if (s.preKeys !== undefined) this.#unpublished.set(adapter.namespace, true);
    committed.identityEvent?.();
    if (reply !== undefined && replied !== undefined) {
      follow.send.push({
        to: sender,
        message: wrapMessage(sender, adapter.namespace, reply),
        event: { to: sender, deviceId: wire.sid, namespace: adapter.namespace, reason: replied },
      });
    }
    return redactedResult({
      namespace: adapter.namespace,
      from: sender,
      deviceId: wire.sid,
      kind: wire.payload === undefined ? "empty" : "message",
      body,
      envelope,
      keyMaterial: wire.payload === undefined ? s.plaintext : undefined,
      trust: s.trust,
      fingerprint: s.device.fingerprint,
      keyExchange: key.keyExchange,
      newSession: s.newSession,
      replied,
    });
  }

  /** Sends the automatic messages and republishes bundles; failures are reported as `error` events. */
  async #followUp(follow: FollowUp): Promise<void> {
    // The usual case, nothing to send and every bundle published: no further awaits.
    if (follow.send.length === 0 && follow.republish.size === 0 && !this.#mayRepublish()) return;
    for (const ns of follow.republish) {
      await this.#publishBundle(ns).catch((error: unknown) => {
        this.#events.emit("error", asOmemoError(error, "IO_FAILED", "republishing the bundle"));
      });
    }
    // A publication that failed before (even before a restart) is retried with every operation.
    await this.#republishPending(follow.republish);
    for (const s of follow.send) {
      try {
        await io("sending an empty message", () => this.#transport.send(s.to, s.message));
        this.#events.emit("sent", s.event);
      } catch (error) {
        this.#events.emit("error", asOmemoError(error, "IO_FAILED", "sending an empty message"));
      }
    }
  }

  // ================================================================ sessions, identities, trust

  /** The state of our session with a device (no keys), or undefined. */
  async sessionInfo(jid: string, deviceId: number, namespace: OmemoNamespace): Promise<SessionInfo | undefined> {
    const adapter = this.#adapter(namespace);
    const loaded = await this.#loadSession(adapter, bareJid(jid), deviceId, true);
    if (loaded === undefined) return undefined;
    const s = loaded.session;
    return {
      generation: s.generation,
      revision: loaded.record.revision,
      keyExchangePending: s.keyExchangePending,
      sendingCounter: s.sendingCounter,
      receivingCounter: s.receivingCounter,
      role: s.role,
      fingerprint: fingerprintOf(this.#crypto, namespace, s.remoteIdentityKey),
      rekeyPending: loaded.record.rekey === true,
    };
  }

  /**
   * Forgets our session with a device (XEP-0384 v0.8.3 §6: clients MUST offer a way to replace
   * broken sessions). The next message to it starts a new key exchange.
   */
  async deleteSession(jid: string, deviceId: number, namespace: OmemoNamespace): Promise<void> {
    const adapter = this.#adapter(namespace);
    const key = keys.session(adapter.tag, bareJidKey(jid), deviceId);
    await this.#locks.run(this.#address(adapter, bareJid(jid), deviceId), async () => {
      this.#sessions.delete(key);
      await io("deleting a session", () => this.#kv.delete(key));
    });
  }

  #address(adapter: NamespaceAdapter, jid: string, deviceId: number): string {
    return keys.session(adapter.tag, bareJidKey(jid), deviceId);
  }

  #ourKeyPair(adapter: NamespaceAdapter) {
    return adapter.profile.x3dh.identityKeyType === "ed25519" ? this.#identity.ed25519 : this.#identity.x25519;
  }

  #deviceIdentity(namespace: OmemoNamespace, jid: string, deviceId: number, identityKey: Uint8Array): DeviceIdentity {
    return { jid, deviceId, namespace, identityKey, fingerprint: fingerprintOf(this.#crypto, namespace, identityKey) };
  }

  /**
   * The trust decider's answer, checked. A decider that answers synchronously (one that reads a
   * trust store kept in memory) gets a synchronous answer: no promise, no hop per device.
   */
  #decide(device: DeviceIdentity, purpose: "encrypt" | "decrypt"): TrustLevel | Promise<TrustLevel> {
    let level: unknown;
    try {
      level = this.#trust.decide(device, purpose);
    } catch (cause) {
      throw new OmemoError("IO_FAILED", "the trust decider failed", { cause });
    }
    if (typeof (level as PromiseLike<unknown> | undefined)?.then === "function") {
      return Promise.resolve(level as PromiseLike<unknown>).then(checkedTrustLevel, (cause: unknown) => {
        throw new OmemoError("IO_FAILED", "the trust decider failed", { cause });
      });
    }
    return checkedTrustLevel(level);
  }

  #decideToAccept(device: DeviceIdentity): TrustLevel | Promise<TrustLevel> {
    const level = this.#decide(device, "decrypt");
    return typeof level === "string" ? acceptable(level) : level.then(acceptable);
  }

  /**
   * Stores the identity key seen for a device (inside `tx` when given) and returns the event to emit
   * once that is committed: `device` for a new one, `identityChanged` for another key than before.
   */
  async #noteIdentity(
    adapter: NamespaceAdapter,
    device: DeviceIdentity,
    tx: OmemoStoreTransaction | undefined,
  ): Promise<(() => void) | undefined> {
    const kv = tx === undefined ? this.#kv : tx.namespace(this.#storeName);
    const key = keys.identity(adapter.tag, bareJidKey(device.jid), device.deviceId);
    const previous = await this.#storedIdentityKey(kv, key);
    if (previous !== undefined && sameBytes(previous, device.identityKey)) return undefined;
    await io("saving an identity", () => kv.put(key, encodeIdentity({ identityKey: device.identityKey })));
    const emit = (): void => {
      if (previous === undefined) this.#events.emit("device", device);
      else {
        const previousFingerprint = fingerprintOf(this.#crypto, adapter.namespace, previous);
        this.#events.emit("identityChanged", { ...device, previousFingerprint });
      }
    };
    if (tx === undefined) {
      emit();
      return undefined;
    }
    return emit;
  }

  async #loadPreKeys(adapter: NamespaceAdapter): Promise<PreKeysRecord> {
    return (await this.#loadPreKeysRaw(adapter)).record;
  }

  /** The record and its stored bytes, for a compare-and-swap when it is written back. */
  async #loadPreKeysRaw(adapter: NamespaceAdapter): Promise<{ record: PreKeysRecord; raw: Uint8Array }> {
    const raw = await io("loading prekeys", () => this.#kv.get(keys.preKeys(adapter.tag)));
    if (raw === undefined) throw new OmemoError("STORE_CORRUPT", "our prekeys are missing from the store");
    return { record: decodePreKeys(raw), raw };
  }

  /**
   * Writes our prekeys inside `tx` if the stored record is still the one loaded (the caller marks the
   * namespace unpublished in memory once the transaction committed): another manager on
   * the same store (a second tab) that consumed or rotated meanwhile wins, and this write fails with
   * CONCURRENT_UPDATE instead of bringing a consumed prekey back.
   */
  async #savePreKeys(
    tx: OmemoStoreTransaction,
    adapter: NamespaceAdapter,
    loaded: Uint8Array,
    next: PreKeysRecord,
  ): Promise<void> {
    const t = tx.namespace(this.#storeName);
    const current = await t.get(keys.preKeys(adapter.tag));
    if (current === undefined || !sameBytes(current, loaded)) {
      throw new OmemoError("CONCURRENT_UPDATE", "our prekeys changed since they were loaded (another tab or process)");
    }
    await t.put(keys.preKeys(adapter.tag), encodePreKeys(next));
    // With the prekeys, in one transaction: cleared only once a publication of them succeeded.
    await t.put(keys.unpublished(adapter.tag), Uint8Array.of(1));
  }

  /**
   * Our session with a device, from the store (or from the cache when the store still holds the bytes
   * it was decoded from). The session is the caller's to spend: a cached one is taken out, and only
   * {@link saveSession}'s commit callback puts a successor back. `peek` leaves it cached (read only).
   */
  async #loadSession(
    adapter: NamespaceAdapter,
    jid: string,
    deviceId: number,
    peek = false,
  ): Promise<LoadedSession | undefined> {
    const key = keys.session(adapter.tag, bareJidKey(jid), deviceId);
    const raw = await io("loading a session", () => this.#kv.get(key));
    if (raw === undefined) return undefined;
    const cached = peek ? this.#sessions.get(key, raw) : this.#sessions.take(key, raw);
    if (cached !== undefined) return cached;
    const record = decodeSession(raw);
    try {
      return { record, session: deserializeSession(record.session, { profile: adapter.profile }) };
    } catch (cause) {
      throw new OmemoError("STORE_CORRUPT", "a stored session does not load", { cause });
    }
  }

  /**
   * Compare-and-swap: writes only if the stored revision is still the one loaded. Returns what to do
   * once the transaction committed: cache the stored session (never before: a transaction that fails
   * must not leave a spent or unstored session in the cache).
   */
  async #saveSession(
    tx: OmemoStoreTransaction,
    adapter: NamespaceAdapter,
    jid: string,
    deviceId: number,
    loaded: LoadedSession | undefined,
    next: {
      session: Session;
      previous: readonly Uint8Array[];
      retiredBaseKeys: readonly Uint8Array[];
      heartbeatAt: number | null;
      /** See SessionRecord.rekey; false when absent. */
      rekey?: boolean;
      /** See SessionRecord.noSend; when absent, the loaded record's is kept. */
      noSend?: readonly Uint8Array[];
    },
  ): Promise<() => void> {
    const t = tx.namespace(this.#storeName);
    const key = keys.session(adapter.tag, bareJidKey(jid), deviceId);
    const raw = await t.get(key);
    const current = raw === undefined ? 0 : sessionRevision(raw);
    const expected = loaded?.record.revision ?? 0;
    if (current !== expected) {
      throw new OmemoError(
        "CONCURRENT_UPDATE",
        "the session changed since it was loaded (another tab or process): nothing was sent",
      );
    }
    const record: SessionRecord = {
      // A new record starts at a random revision: one deleted and created again (deleteSession, then
      // a new session) never repeats a revision that another tab loaded before the delete, so that
      // tab's stale successor cannot pass the compare-and-swap (ABA).
      revision: loaded === undefined ? this.#firstRevision() : expected + 1,
      session: serializeSession(next.session),
      previous: next.previous,
      retiredBaseKeys: next.retiredBaseKeys,
      heartbeatAt: next.heartbeatAt,
      ...(next.rekey === true ? { rekey: true } : {}),
    };
    const noSend = next.noSend ?? loaded?.record.noSend ?? [];
    if (noSend.length > 0) (record as { noSend?: readonly Uint8Array[] }).noSend = noSend;
    const stored = encodeSession(record);
    await t.put(key, stored);
    return () => {
      this.#sessions.set(key, stored, { record, session: next.session });
    };
  }

  /** A random revision in [1, 2^48]: leaves 2^53 − 2^48 writes before a record's revision stops being exact. */
  #firstRevision(): number {
    let v = 0;
    for (const b of this.#crypto.randomBytes(6)) v = v * 256 + b;
    return v + 1;
  }

  #ratchet<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw asOmemoError(error, "DECRYPTION_FAILED", "the Double Ratchet refused the message");
    }
  }
}

/** The lists of a record whose current session `current` a new one replaces (kept for decryption). */
function replaced(
  current: Session,
  record: SessionRecord,
): {
  previous: readonly Uint8Array[];
  retiredBaseKeys: readonly Uint8Array[];
  heartbeatAt: null;
  noSend: readonly Uint8Array[];
} {
  return {
    previous: [serializeSession(current), ...record.previous].slice(0, PREVIOUS_SESSIONS_KEPT),
    retiredBaseKeys: [current.baseKey, ...record.retiredBaseKeys].slice(0, RETIRED_BASE_KEYS_KEPT),
    heartbeatAt: null,
    noSend: noSendAfterReplacing(current, record),
  };
}

/** A record's `noSend` once its current session is replaced: that session added if it was never to be sent in. */
function noSendAfterReplacing(current: Session, record: SessionRecord): readonly Uint8Array[] {
  const kept = record.noSend ?? [];
  return record.rekey === true ? [current.baseKey, ...kept].slice(0, PREVIOUS_SESSIONS_KEPT) : kept;
}

function checkedTrustLevel(level: unknown): TrustLevel {
  if (level !== "trusted" && level !== "untrusted" && level !== "undecided") {
    throw new OmemoError("INVALID_ARGUMENT", "the trust decider must answer trusted, untrusted or undecided");
  }
  return level;
}

function acceptable(level: TrustLevel): TrustLevel {
  if (level === "untrusted") throw new OmemoError("UNTRUSTED_DEVICE", "the sending device is not trusted");
  return level;
}

interface Target {
  readonly jid: string;
  readonly deviceId: number;
  readonly namespace: OmemoNamespace;
  /** Not encrypted to: why (TOO_MANY_DEVICES), reported as the device's failure. */
  readonly skipped?: OmemoError;
}

/** A session built ahead of its lock by `#prepareSessions`, or why it could not be. */
type Prepared = { readonly session: Session } | { readonly error: unknown };

interface Sealed {
  readonly keyMaterial: Uint8Array;
  readonly iv?: Uint8Array;
  readonly payload?: Uint8Array;
}

interface LoadedSession {
  readonly record: SessionRecord;
  readonly session: Session;
}

/**
 * The keys for our device worth a decryption attempt, each of which may cost a key agreement and up
 * to MAX_FORWARD_JUMP chain steps under the prekeys lock: a stanza may carry any number of them, so
 * what it can make us spend is bounded here. OMEMO 2 keys name our JID and device, so only one is
 * meaningful: the first. Legacy keys carry no JID (two accounts' device ids may collide, so the key
 * for ours may not be the first one with our id): identical copies once, the first
 * MAX_LEGACY_KEY_ATTEMPTS of them.
 */
function keysToTry(namespace: OmemoNamespace, ours: readonly WireKey[]): WireKey[] {
  if (namespace === NS_V2) return ours.slice(0, 1);
  const out: WireKey[] = [];
  for (const key of ours) {
    if (out.some((k) => k.keyExchange === key.keyExchange && sameBytes(k.data, key.data))) continue;
    out.push(key);
    if (out.length === MAX_LEGACY_KEY_ATTEMPTS) break;
  }
  return out;
}

async function pickDeviceId(
  crypto: Crypto,
  transport: OmemoTransport,
  jid: string,
  namespaces: readonly OmemoNamespace[],
): Promise<number> {
  // v0.8.3 §6: before publishing a fresh id, check that the account does not list it already.
  const taken = new Set<number>();
  for (const ns of namespaces) {
    const adapter = adapterFor(ns);
    const payload = await fetchPayload(
      transport,
      jid,
      adapter.deviceListNode,
      adapter.fetchItemId(CURRENT_ITEM_ID),
      "fetching our device list",
    );
    if (payload === null) continue;
    try {
      for (const d of adapter.decodeDeviceList(payload)) taken.add(d.id);
    } catch (error) {
      if (!isOmemoError(error)) throw error;
      // An unreadable list names no id we could collide with.
    }
  }
  for (let i = 0; i < DEVICE_ID_ATTEMPTS; i++) {
    const b = crypto.randomBytes(4);
    const id = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) & 0x7fffffff;
    if (id !== 0 && !taken.has(id)) return id;
  }
  throw new OmemoError("IO_FAILED", "no free device id found: the random source looks broken");
}
