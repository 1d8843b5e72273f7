import { MAX_BATCH_KEYS, MAX_HISTORY, MAX_ID_LENGTH } from "./consts.js";
import { decodeRecord, decodeSettings, encodeRecord, encodeSettings } from "./codec.js";
import { TypedEmitter } from "./emitter.js";
import { TrustError } from "./errors.js";
import { normalizeFingerprint } from "./fingerprint.js";
import type { FingerprintFormat } from "./fingerprint.js";
import { KeyedLock } from "./lock.js";
import { decideAccept, decideEncrypt, tofuPolicy } from "./policy.js";
import type { TrustDecision, TrustPolicy } from "./policy.js";
import { storageKeys } from "./storage.js";
import type { TrustStorage } from "./storage.js";
import type {
  ContactSettings,
  EncryptionMethod,
  TrustCause,
  TrustRecord,
  TrustState,
  VerificationMethod,
} from "./types.js";
import { ENCRYPTION_METHODS, VERIFICATION_METHODS } from "./types.js";
import { parseShareUri } from "./uri.js";
import type { ParseShareUriOptions, XmppUri } from "./uri.js";

export interface TrustStoreOptions {
  readonly storage: TrustStorage;
  /** The policy for new keys and for what counts as trusted; default TOFU. Change it later with setPolicy. */
  readonly policy?: TrustPolicy;
  /** Whether shouldAcceptFrom allows messages from keys that are not trusted (marked untrusted); default true (XEP-0384 §8). */
  readonly acceptUntrusted?: boolean;
  /** The default encryption method of a contact with no settings stored; default `omemo`. */
  readonly defaultEncryption?: EncryptionMethod;
  /** How each protocol's fingerprints are checked and normalised; unknown protocols take any hex. */
  readonly formats?: Readonly<Record<string, FingerprintFormat>>;
  /** Clock, ms since the epoch; default Date.now. */
  readonly now?: () => number;
  /** Where an exception thrown by an event listener goes; default console.error. */
  readonly onListenerError?: (error: unknown) => void;
}

/** A key a protocol reports: its fingerprint (bytes or hex) and, for OMEMO, the device id. */
export interface SeenKey {
  readonly fingerprint: string | Uint8Array;
  readonly deviceId?: number;
}

export interface UserAction {
  /** How the user verified the key (for `verified`). */
  readonly method?: VerificationMethod;
  /** Who acted (a local user or device), if the app wants it recorded. */
  readonly actor?: string;
}

export interface TrustEvents {
  /** A fingerprint was stored for the first time. `firstBatch`: it came in the contact's first batch for that protocol. */
  keyAdded: { readonly record: TrustRecord; readonly firstBatch: boolean };
  /**
   * A new key arrived that the policy does not trust while the contact has trusted keys for that protocol:
   * the contact's key changed or a device was added. Apps should warn before encrypting to it.
   */
  keyChangeWarning: { readonly record: TrustRecord; readonly trustedKeys: readonly TrustRecord[] };
  /** A record's state changed by a user action (`previous` undefined when the user acted on a key never seen). */
  trustChanged: { readonly record: TrustRecord; readonly previous: TrustState | undefined };
  contactSettingsChanged: {
    readonly account: string;
    readonly contact: string;
    readonly settings: ContactSettings;
    readonly previous: ContactSettings;
  };
  policyChanged: { readonly policy: TrustPolicy; readonly previous: TrustPolicy };
}

export interface UriApplyOptions extends UserAction, ParseShareUriOptions {
  /** Record protocol for `omemo-sid-*` fingerprints; default `omemo`. */
  readonly omemoProtocol?: string;
  /** Record protocol for `otr-fingerprint`; default `otr`. */
  readonly otrProtocol?: string;
}

const DEFAULT_FORMATS: Readonly<Record<string, FingerprintFormat>> = {
  omemo: "omemo-legacy",
  omemo2: "omemo2",
  otr: "otr",
};

function checkId(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH)
    throw new TrustError(
      "INVALID_ARGUMENT",
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
    );
  return value;
}

function checkAddress(account: string, contact: string, protocol: string): void {
  checkId(account, "account");
  checkId(contact, "contact");
  checkId(protocol, "protocol");
}

function checkAction(action: UserAction | undefined): void {
  if (action?.method !== undefined && !VERIFICATION_METHODS.includes(action.method))
    throw new TrustError("INVALID_ARGUMENT", `method must be one of ${VERIFICATION_METHODS.join(", ")}`);
  if (action?.actor !== undefined) checkId(action.actor, "actor");
}

function withHistory(record: TrustRecord, state: TrustState, at: number, cause: TrustCause): TrustRecord {
  const history = [...record.history, { state, at, cause }];
  // Keep the first entry (how the key arrived) and the most recent ones.
  const bounded =
    history.length > MAX_HISTORY ? [history[0]!, ...history.slice(history.length - MAX_HISTORY + 1)] : history;
  return { ...record, state, history: bounded };
}

/**
 * The trust store: one record per (account, contact, protocol, fingerprint), a policy that decides new keys,
 * per-contact settings, and events. Writes for one (account, contact) are serialised, so concurrent calls
 * cannot both see "no key yet". Create it with `createTrustStore`.
 */
export class TrustStore {
  readonly #storage: TrustStorage;
  readonly #acceptUntrusted: boolean;
  readonly #defaultSettings: ContactSettings;
  readonly #formats: Readonly<Record<string, FingerprintFormat>>;
  readonly #now: () => number;
  readonly #lock = new KeyedLock();
  readonly #events: TypedEmitter<TrustEvents>;
  #policy: TrustPolicy;

  constructor(options: TrustStoreOptions) {
    if (typeof options !== "object" || options === null || typeof options.storage !== "object")
      throw new TrustError("INVALID_ARGUMENT", "createTrustStore needs { storage } (memoryTrustStorage() for tests)");
    const defaultEncryption = options.defaultEncryption ?? "omemo";
    if (!ENCRYPTION_METHODS.includes(defaultEncryption))
      throw new TrustError("INVALID_ARGUMENT", `defaultEncryption must be one of ${ENCRYPTION_METHODS.join(", ")}`);
    this.#storage = options.storage;
    this.#policy = options.policy ?? tofuPolicy;
    this.#acceptUntrusted = options.acceptUntrusted ?? true;
    this.#defaultSettings = { defaultEncryption, muted: false };
    this.#formats = { ...DEFAULT_FORMATS, ...options.formats };
    this.#now = options.now ?? Date.now;
    this.#events = new TypedEmitter<TrustEvents>(
      options.onListenerError ??
        ((error) => {
          console.error("@parley/trust: an event listener threw", error);
        }),
    );
  }

  get policy(): TrustPolicy {
    return this.#policy;
  }

  /** Change the policy. Stored states are kept; the new policy decides keys seen from now on and what `tofu` means. */
  setPolicy(policy: TrustPolicy): void {
    if (typeof policy?.initialState !== "function" || typeof policy.isTrusted !== "function")
      throw new TrustError("INVALID_ARGUMENT", "a policy needs initialState and isTrusted functions");
    const previous = this.#policy;
    this.#policy = policy;
    if (previous !== policy) this.#events.emit("policyChanged", { policy, previous });
  }

  on<K extends keyof TrustEvents>(name: K, listener: (event: TrustEvents[K]) => void): () => void {
    return this.#events.on(name, listener);
  }

  off<K extends keyof TrustEvents>(name: K, listener: (event: TrustEvents[K]) => void): void {
    this.#events.off(name, listener);
  }

  /** The canonical fingerprint for a protocol (lowercase hex; OMEMO without 0x05). Throws INVALID_FINGERPRINT. */
  normalize(protocol: string, fingerprint: string | Uint8Array): string {
    return normalizeFingerprint(fingerprint, this.#formats[protocol]);
  }

  #contactLock<T>(account: string, contact: string, fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(storageKeys.contactPrefix(account, contact), fn);
  }

  async #load(key: string): Promise<TrustRecord | undefined> {
    const bytes = await this.#storage.get(key);
    return bytes === undefined ? undefined : decodeRecord(bytes);
  }

  async #scan(prefix: string): Promise<TrustRecord[]> {
    const rows = await this.#storage.scan({ prefix });
    return rows.map((row) => decodeRecord(row.value));
  }

  /** A protocol saw one key of a contact. Same as `keysSeen` with one key. */
  async keySeen(
    account: string,
    contact: string,
    protocol: string,
    key: SeenKey | string | Uint8Array,
  ): Promise<TrustRecord> {
    const [record] = await this.keysSeen(account, contact, protocol, [key]);
    return record!;
  }

  /**
   * A protocol saw these keys of a contact together (an OMEMO device list and its bundles, an OTR AKE), as one
   * atomic event: under TOFU every key of the contact's very first batch for this protocol is `tofu`, keys of
   * later batches are `untrusted`. Keys already stored keep their state (a device id is filled in if missing).
   * Returns the records in input order.
   */
  async keysSeen(
    account: string,
    contact: string,
    protocol: string,
    keys: ReadonlyArray<SeenKey | string | Uint8Array>,
  ): Promise<TrustRecord[]> {
    checkAddress(account, contact, protocol);
    const list: unknown = keys;
    if (!Array.isArray(list) || keys.length === 0 || keys.length > MAX_BATCH_KEYS)
      throw new TrustError("INVALID_ARGUMENT", `keys must be an array of 1..${MAX_BATCH_KEYS} keys`);
    const seen = keys.map((key) => {
      const raw: unknown = key;
      if (typeof raw !== "string" && !(raw instanceof Uint8Array) && (typeof raw !== "object" || raw === null))
        throw new TrustError(
          "INVALID_ARGUMENT",
          "each key is a fingerprint (hex or bytes) or { fingerprint, deviceId? }",
        );
      const { fingerprint, deviceId } =
        typeof key === "string" || key instanceof Uint8Array ? { fingerprint: key, deviceId: undefined } : key;
      if (deviceId !== undefined && (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffffffff))
        throw new TrustError("INVALID_ARGUMENT", "deviceId must be an integer in 0..2^32-1");
      return { fingerprint: this.normalize(protocol, fingerprint), deviceId };
    });
    return this.#contactLock(account, contact, async () => {
      const existing = new Map(
        (await this.#scan(storageKeys.protocolPrefix(account, contact, protocol))).map((r) => [r.fingerprint, r]),
      );
      const firstBatch = existing.size === 0;
      const policy = this.#policy;
      const known = [...existing.values()];
      const initial = policy.initialState({ known: known.map((r) => r.state) });
      if (initial !== "tofu" && initial !== "untrusted")
        throw new TrustError(
          "INVALID_ARGUMENT",
          `policy ${policy.name} gave a new key the state ${String(initial)}; use tofu or untrusted`,
        );
      const at = this.#now();
      const added: TrustRecord[] = [];
      const result = new Map<string, TrustRecord>(existing);
      for (const { fingerprint, deviceId } of seen) {
        const current = result.get(fingerprint);
        if (current === undefined) {
          const record: TrustRecord = {
            account,
            contact,
            protocol,
            fingerprint,
            state: initial,
            ...(deviceId === undefined ? {} : { deviceId }),
            firstSeenAt: at,
            history: [{ state: initial, at, cause: { kind: "first-seen", policy: policy.name, firstBatch } }],
          };
          await this.#storage.put(storageKeys.record(account, contact, protocol, fingerprint), encodeRecord(record));
          result.set(fingerprint, record);
          added.push(record);
        } else if (deviceId !== undefined && current.deviceId === undefined) {
          const record = { ...current, deviceId };
          await this.#storage.put(storageKeys.record(account, contact, protocol, fingerprint), encodeRecord(record));
          result.set(fingerprint, record);
        }
      }
      const trustedKeys = known.filter((r) => r.state !== "compromised" && policy.isTrusted(r.state));
      for (const record of added) {
        this.#events.emit("keyAdded", { record, firstBatch });
        if (!policy.isTrusted(record.state) && trustedKeys.length > 0)
          this.#events.emit("keyChangeWarning", { record, trustedKeys });
      }
      return seen.map(({ fingerprint }) => result.get(fingerprint)!);
    });
  }

  /**
   * Set a key's state by a user action. Works on keys never seen too (a fingerprint verified out of band before
   * the device shows up). `tofu` can only be given by a policy. Returns the record; no-op if already in that state.
   */
  async setTrust(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
    state: Exclude<TrustState, "tofu">,
    action?: UserAction,
  ): Promise<TrustRecord> {
    checkAddress(account, contact, protocol);
    if (state !== "verified" && state !== "untrusted" && state !== "compromised")
      throw new TrustError(
        "INVALID_ARGUMENT",
        "a user can set verified, untrusted or compromised; tofu is given by a policy only",
      );
    checkAction(action);
    const fp = this.normalize(protocol, fingerprint);
    const cause: TrustCause = {
      kind: "user",
      ...(action?.method === undefined ? {} : { method: action.method }),
      ...(action?.actor === undefined ? {} : { actor: action.actor }),
    };
    return this.#contactLock(account, contact, async () => {
      const key = storageKeys.record(account, contact, protocol, fp);
      const current = await this.#load(key);
      if (current?.state === state) return current;
      const at = this.#now();
      const record =
        current === undefined
          ? { account, contact, protocol, fingerprint: fp, state, firstSeenAt: at, history: [{ state, at, cause }] }
          : withHistory(current, state, at, cause);
      await this.#storage.put(key, encodeRecord(record));
      this.#events.emit("trustChanged", { record, previous: current?.state });
      return record;
    });
  }

  /** The user verified the key (`method` says how: fingerprint-compared, qr, smp, xmpp-uri, manual). */
  verify(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
    action: UserAction,
  ): Promise<TrustRecord> {
    return this.setTrust(account, contact, protocol, fingerprint, "verified", action);
  }

  /** The user no longer trusts the key. */
  distrust(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
    action?: UserAction,
  ): Promise<TrustRecord> {
    return this.setTrust(account, contact, protocol, fingerprint, "untrusted", action);
  }

  /** The user says the key is in someone else's hands: never encrypt to it or accept from it. */
  markCompromised(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
    action?: UserAction,
  ): Promise<TrustRecord> {
    return this.setTrust(account, contact, protocol, fingerprint, "compromised", action);
  }

  async getRecord(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
  ): Promise<TrustRecord | undefined> {
    checkAddress(account, contact, protocol);
    return this.#load(storageKeys.record(account, contact, protocol, this.normalize(protocol, fingerprint)));
  }

  /** Every record of an account, of one contact, or of one contact and protocol. */
  async listRecords(account: string, contact?: string, protocol?: string): Promise<TrustRecord[]> {
    checkId(account, "account");
    if (contact === undefined) {
      if (protocol !== undefined)
        throw new TrustError("INVALID_ARGUMENT", "listRecords: give a contact with a protocol");
      return this.#scan(storageKeys.accountPrefix(account));
    }
    checkId(contact, "contact");
    if (protocol === undefined) return this.#scan(storageKeys.contactPrefix(account, contact));
    checkId(protocol, "protocol");
    return this.#scan(storageKeys.protocolPrefix(account, contact, protocol));
  }

  /** The contact's keys for a protocol that may be encrypted to under the current policy. */
  async trustedRecords(account: string, contact: string, protocol: string): Promise<TrustRecord[]> {
    const records = await this.listRecords(account, contact, protocol);
    return records.filter((r) => decideEncrypt(this.#policy, r.state).allowed);
  }

  /** May the protocol encrypt to this key? Only if it is trusted under the current policy; the reason says why not. */
  async shouldEncryptTo(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
  ): Promise<TrustDecision> {
    const record = await this.getRecord(account, contact, protocol, fingerprint);
    return decideEncrypt(this.#policy, record?.state);
  }

  /** May the protocol accept a message from this key? Never from a compromised key; untrusted ones per `acceptUntrusted`. */
  async shouldAcceptFrom(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
  ): Promise<TrustDecision> {
    const record = await this.getRecord(account, contact, protocol, fingerprint);
    return decideAccept(this.#policy, record?.state, this.#acceptUntrusted);
  }

  async getContactSettings(account: string, contact: string): Promise<ContactSettings> {
    checkId(account, "account");
    checkId(contact, "contact");
    const bytes = await this.#storage.get(storageKeys.settings(account, contact));
    return bytes === undefined ? this.#defaultSettings : decodeSettings(bytes).settings;
  }

  /** Change a contact's default encryption method and/or muted flag; returns the settings now stored. */
  async setContactSettings(
    account: string,
    contact: string,
    change: Partial<ContactSettings>,
  ): Promise<ContactSettings> {
    checkId(account, "account");
    checkId(contact, "contact");
    if (change.defaultEncryption !== undefined && !ENCRYPTION_METHODS.includes(change.defaultEncryption))
      throw new TrustError("INVALID_ARGUMENT", `defaultEncryption must be one of ${ENCRYPTION_METHODS.join(", ")}`);
    if (change.muted !== undefined && typeof change.muted !== "boolean")
      throw new TrustError("INVALID_ARGUMENT", "muted must be a boolean");
    return this.#contactLock(account, contact, async () => {
      const previous = await this.getContactSettings(account, contact);
      const settings: ContactSettings = {
        defaultEncryption: change.defaultEncryption ?? previous.defaultEncryption,
        muted: change.muted ?? previous.muted,
      };
      await this.#storage.put(storageKeys.settings(account, contact), encodeSettings(account, contact, settings));
      this.#events.emit("contactSettingsChanged", { account, contact, settings, previous });
      return settings;
    });
  }

  /**
   * Verify every fingerprint in a scanned or clicked `xmpp:` URI (or invite link, see parseShareUri) for its bare JID: known keys become verified,
   * unknown ones are stored verified for when the device shows up (as Conversations does). Returns the records.
   */
  async applyUri(account: string, uri: string | XmppUri, options: UriApplyOptions = {}): Promise<TrustRecord[]> {
    const parsed = typeof uri === "string" ? parseShareUri(uri, options) : uri;
    const action: UserAction = {
      method: options.method ?? "xmpp-uri",
      ...(options.actor === undefined ? {} : { actor: options.actor }),
    };
    const records: TrustRecord[] = [];
    for (const shared of parsed.fingerprints) {
      const protocol =
        shared.protocol === "omemo" ? (options.omemoProtocol ?? "omemo") : (options.otrProtocol ?? "otr");
      records.push(await this.verify(account, parsed.bareJid, protocol, shared.fingerprint, action));
    }
    return records;
  }

  /** Delete everything stored about a contact (records and settings). A later key is a first key again. */
  async forgetContact(account: string, contact: string): Promise<void> {
    checkId(account, "account");
    checkId(contact, "contact");
    await this.#contactLock(account, contact, async () => {
      for (const row of await this.#storage.scan({ prefix: storageKeys.contactPrefix(account, contact) }))
        await this.#storage.delete(row.key);
      await this.#storage.delete(storageKeys.settings(account, contact));
    });
  }
}

export function createTrustStore(options: TrustStoreOptions): TrustStore {
  return new TrustStore(options);
}
