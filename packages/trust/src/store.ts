import { MAX_BATCH_KEYS, MAX_HISTORY, MAX_ID_LENGTH } from "./consts.js";
import { decodeRecord, decodeSettings, encodeRecord, encodeSettings } from "./codec.js";
import { TypedEmitter } from "./emitter.js";
import { TrustError } from "./errors.js";
import { FINGERPRINT_FORMATS, normalizeFingerprint } from "./fingerprint.js";
import type { FingerprintFormat } from "./fingerprint.js";
import { bareJidOf, normalizeJid } from "./jid.js";
import { KeyedLock } from "./lock.js";
import { decideAccept, decideEncrypt, tofuPolicy } from "./policy.js";
import type { TrustDecision, TrustPolicy } from "./policy.js";
import { storageKeys } from "./storage.js";
import type { TrustStorage, TrustStorageTransaction } from "./storage.js";
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
  /**
   * The contact whose chat the user scanned the code in (Conversations' "scan in this chat"). A URI for any other
   * bare JID (compared case-insensitively in localpart and domain) is refused with CONTACT_MISMATCH and nothing
   * is verified. Leave it out only when the user scanned from a place that belongs to no contact.
   */
  readonly expectedContact?: string;
  /** Record protocol for `omemo-sid-*` fingerprints; default `omemo`. */
  readonly omemoProtocol?: string;
  /** Record protocol for `omemo2-sid-*` fingerprints (Moxxy's OMEMO 2 form); default `omemo2`. */
  readonly omemo2Protocol?: string;
  /** Record protocol for `otr-fingerprint`; default `otr`. */
  readonly otrProtocol?: string;
}

const DEFAULT_FORMATS: ReadonlyArray<[string, FingerprintFormat]> = [
  ["omemo", "omemo-legacy"],
  ["omemo2", "omemo2"],
  ["otr", "otr"],
];

/** The formats by protocol, in a Map: a protocol is data, so "constructor" or "__proto__" must not reach Object.prototype. */
function formatsOf(formats: unknown): Map<string, FingerprintFormat> {
  const map = new Map(DEFAULT_FORMATS);
  if (formats === undefined) return map;
  if (typeof formats !== "object" || formats === null)
    throw new TrustError("INVALID_ARGUMENT", "formats must map protocol names to fingerprint formats");
  for (const [protocol, format] of Object.entries(formats)) {
    if (!FINGERPRINT_FORMATS.includes(format as FingerprintFormat))
      throw new TrustError(
        "INVALID_ARGUMENT",
        `formats[${JSON.stringify(protocol)}] must be one of ${FINGERPRINT_FORMATS.join(", ")}`,
      );
    map.set(protocol, format as FingerprintFormat);
  }
  return map;
}

/** One row change of a multi-row write: `value` undefined deletes; `previous` is what the row held before. */
interface RowWrite {
  readonly key: string;
  readonly value: Uint8Array | undefined;
  readonly previous: Uint8Array | undefined;
}

function applyRow(target: TrustStorageTransaction, key: string, value: Uint8Array | undefined): Promise<void> {
  return value === undefined ? target.delete(key) : target.put(key, value);
}

const IDENTIFIERS_MARKER = new TextEncoder().encode(JSON.stringify({ v: 1, t: "meta", identifiers: "jid-lowercase" }));

function checkId(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH)
    throw new TrustError(
      "INVALID_ARGUMENT",
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
    );
  return value;
}

/** An account or contact: checked, then normalised as a JID (see normalizeJid), the one form the store keys by. */
function checkJid(value: unknown, name: string): string {
  return normalizeJid(checkId(value, name));
}

function checkAddress(account: string, contact: string, protocol: string): { account: string; contact: string } {
  const address = { account: checkJid(account, "account"), contact: checkJid(contact, "contact") };
  checkId(protocol, "protocol");
  return address;
}

/** The time of a record's latest user decision, or -Infinity for a record only a policy ever set. */
function lastUserDecision(record: TrustRecord): number {
  for (let i = record.history.length - 1; i >= 0; i--)
    if (record.history[i]!.cause.kind === "user") return record.history[i]!.at;
  return Number.NEGATIVE_INFINITY;
}

/**
 * One record from the rows v1 stored for one key under spellings of a JID that differ in case: the record with
 * the most recent user decision wins (else the earliest seen, which is the one the store would have kept), with
 * its history; it takes the earliest firstSeenAt and a device id any of them knew.
 */
function mergeSpellings(records: readonly TrustRecord[], account: string, contact: string): TrustRecord {
  const [winner] = [...records].sort(
    (a, b) => lastUserDecision(b) - lastUserDecision(a) || a.firstSeenAt - b.firstSeenAt,
  );
  const deviceId = winner!.deviceId ?? records.find((r) => r.deviceId !== undefined)?.deviceId;
  return {
    ...winner!,
    account,
    contact,
    firstSeenAt: Math.min(...records.map((r) => r.firstSeenAt)),
    ...(deviceId === undefined ? {} : { deviceId }),
  };
}

/** The key's account and contact segments, normalised; undefined when they already are (or it is no key of ours). */
function renormalisedIds(key: string): { account: string; contact: string } | undefined {
  const [, accountSegment, contactSegment] = key.split("/");
  if (accountSegment === undefined || contactSegment === undefined) return undefined;
  try {
    const account = decodeURIComponent(accountSegment);
    const contact = decodeURIComponent(contactSegment);
    const normalised = { account: normalizeJid(account), contact: normalizeJid(contact) };
    return normalised.account === account && normalised.contact === contact ? undefined : normalised;
  } catch {
    return undefined;
  }
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
  readonly #formats: ReadonlyMap<string, FingerprintFormat>;
  readonly #now: () => number;
  readonly #lock = new KeyedLock();
  readonly #events: TypedEmitter<TrustEvents>;
  #policy: TrustPolicy;
  #identifiersNormalised: Promise<void> | undefined;

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
    this.#formats = formatsOf(options.formats);
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
    return normalizeFingerprint(fingerprint, this.#formats.get(protocol));
  }

  #contactLock<T>(account: string, contact: string, fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(storageKeys.contactPrefix(account, contact), fn);
  }

  /**
   * Writes rows all-or-nothing: through the storage's transaction when it has one; otherwise row by row, and on
   * a failure every row this call touched (the failing one too: its write may have landed) gets back what it
   * held before, then the error is rethrown unchanged.
   */
  async #commit(writes: readonly RowWrite[]): Promise<void> {
    if (writes.length === 0) return;
    const storage = this.#storage;
    if (storage.transaction !== undefined) {
      await storage.transaction(async (tx) => {
        for (const write of writes) await applyRow(tx, write.key, write.value);
      });
      return;
    }
    const touched: RowWrite[] = [];
    try {
      for (const write of writes) {
        touched.push(write);
        await applyRow(storage, write.key, write.value);
      }
    } catch (error) {
      // Best effort: if the storage refuses the undo too, it is as if the process had died here (README).
      for (const write of touched.reverse()) await applyRow(storage, write.key, write.previous).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Before the first read or write: v1 stored identifiers as given, so rows written under "Alice@Example.com"
   * move to the normalised JID (merging with rows already there, see mergeSpellings). Done once per storage:
   * a marker row records it. A failure leaves the marker unwritten and the next call tries again.
   */
  #ready(): Promise<void> {
    this.#identifiersNormalised ??= this.#normaliseStoredIdentifiers().catch((error: unknown) => {
      this.#identifiersNormalised = undefined;
      throw error;
    });
    return this.#identifiersNormalised;
  }

  async #normaliseStoredIdentifiers(): Promise<void> {
    if ((await this.#storage.get(storageKeys.identifiersMarker)) !== undefined) return;
    const rows = new Map<string, Uint8Array>();
    for (const prefix of ["rec/", "set/"])
      for (const row of await this.#storage.scan({ prefix })) rows.set(row.key, row.value);
    const records = new Map<string, { account: string; contact: string; records: TrustRecord[] }>();
    const settings = new Map<string, { account: string; contact: string; value: Uint8Array }>();
    const writes: RowWrite[] = [];
    for (const [key, value] of rows) {
      const ids = renormalisedIds(key);
      if (ids === undefined) continue;
      writes.push({ key, value: undefined, previous: value });
      if (key.startsWith("rec/")) {
        const record = decodeRecord(value);
        const target = storageKeys.record(ids.account, ids.contact, record.protocol, record.fingerprint);
        const group = records.get(target) ?? { ...ids, records: [] };
        group.records.push(record);
        records.set(target, group);
      } else {
        const target = storageKeys.settings(ids.account, ids.contact);
        // The row already under the normalised JID wins; otherwise the first spelling in key order.
        if (!settings.has(target)) settings.set(target, { ...ids, value });
      }
    }
    for (const [target, group] of records) {
      const previous = rows.get(target);
      const all = previous === undefined ? group.records : [decodeRecord(previous), ...group.records];
      const merged = mergeSpellings(all, group.account, group.contact);
      writes.push({ key: target, value: encodeRecord(merged), previous });
    }
    for (const [target, found] of settings) {
      const previous = rows.get(target);
      const { settings: value } = decodeSettings(previous ?? found.value);
      writes.push({ key: target, value: encodeSettings(found.account, found.contact, value), previous });
    }
    writes.push({ key: storageKeys.identifiersMarker, value: IDENTIFIERS_MARKER, previous: undefined });
    await this.#commit(writes);
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
    ({ account, contact } = checkAddress(account, contact, protocol));
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
    await this.#ready();
    return this.#contactLock(account, contact, async () => {
      const rows = await this.#storage.scan({ prefix: storageKeys.protocolPrefix(account, contact, protocol) });
      const stored = new Map<string, Uint8Array>();
      const existing = new Map<string, TrustRecord>();
      for (const row of rows) {
        const record = decodeRecord(row.value);
        stored.set(record.fingerprint, row.value);
        existing.set(record.fingerprint, record);
      }
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
      const added: string[] = [];
      const writes: RowWrite[] = [];
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
          result.set(fingerprint, record);
          added.push(fingerprint);
        } else if (deviceId !== undefined && current.deviceId === undefined) {
          result.set(fingerprint, { ...current, deviceId });
        }
      }
      // One write per changed record, all or nothing; events only once every row is stored.
      for (const [fingerprint, record] of result)
        if (record !== existing.get(fingerprint))
          writes.push({
            key: storageKeys.record(account, contact, protocol, fingerprint),
            value: encodeRecord(record),
            previous: stored.get(fingerprint),
          });
      await this.#commit(writes);
      const trustedKeys = known.filter((r) => r.state !== "compromised" && policy.isTrusted(r.state));
      for (const fingerprint of added) {
        // From result: a device id given later in the same batch is in the event's record too.
        const record = result.get(fingerprint)!;
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
    ({ account, contact } = checkAddress(account, contact, protocol));
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
    await this.#ready();
    return this.#contactLock(account, contact, async () => {
      const key = storageKeys.record(account, contact, protocol, fp);
      const previous = await this.#storage.get(key);
      const current = previous === undefined ? undefined : decodeRecord(previous);
      if (current?.state === state) return current;
      const at = this.#now();
      const record =
        current === undefined
          ? { account, contact, protocol, fingerprint: fp, state, firstSeenAt: at, history: [{ state, at, cause }] }
          : withHistory(current, state, at, cause);
      await this.#commit([{ key, value: encodeRecord(record), previous }]);
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
    ({ account, contact } = checkAddress(account, contact, protocol));
    const key = storageKeys.record(account, contact, protocol, this.normalize(protocol, fingerprint));
    await this.#ready();
    return this.#load(key);
  }

  /** Every record of an account, of one contact, or of one contact and protocol. */
  async listRecords(account: string, contact?: string, protocol?: string): Promise<TrustRecord[]> {
    account = checkJid(account, "account");
    let prefix: string;
    if (contact === undefined) {
      if (protocol !== undefined)
        throw new TrustError("INVALID_ARGUMENT", "listRecords: give a contact with a protocol");
      prefix = storageKeys.accountPrefix(account);
    } else {
      contact = checkJid(contact, "contact");
      if (protocol === undefined) prefix = storageKeys.contactPrefix(account, contact);
      else prefix = storageKeys.protocolPrefix(account, contact, checkId(protocol, "protocol"));
    }
    await this.#ready();
    return this.#scan(prefix);
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
    account = checkJid(account, "account");
    contact = checkJid(contact, "contact");
    await this.#ready();
    const bytes = await this.#storage.get(storageKeys.settings(account, contact));
    return bytes === undefined ? this.#defaultSettings : decodeSettings(bytes).settings;
  }

  /** Change a contact's default encryption method and/or muted flag; returns the settings now stored. */
  async setContactSettings(
    account: string,
    contact: string,
    change: Partial<ContactSettings>,
  ): Promise<ContactSettings> {
    account = checkJid(account, "account");
    contact = checkJid(contact, "contact");
    if (change.defaultEncryption !== undefined && !ENCRYPTION_METHODS.includes(change.defaultEncryption))
      throw new TrustError("INVALID_ARGUMENT", `defaultEncryption must be one of ${ENCRYPTION_METHODS.join(", ")}`);
    if (change.muted !== undefined && typeof change.muted !== "boolean")
      throw new TrustError("INVALID_ARGUMENT", "muted must be a boolean");
    await this.#ready();
    return this.#contactLock(account, contact, async () => {
      const key = storageKeys.settings(account, contact);
      const stored = await this.#storage.get(key);
      const previous = stored === undefined ? this.#defaultSettings : decodeSettings(stored).settings;
      const settings: ContactSettings = {
        defaultEncryption: change.defaultEncryption ?? previous.defaultEncryption,
        muted: change.muted ?? previous.muted,
      };
      await this.#commit([{ key, value: encodeSettings(account, contact, settings), previous: stored }]);
      this.#events.emit("contactSettingsChanged", { account, contact, settings, previous });
      return settings;
    });
  }

  /**
   * Verify every fingerprint in a scanned or clicked `xmpp:` URI (or invite link, see parseShareUri) for its bare JID: known keys become verified,
   * unknown ones are stored verified for when the device shows up (as Conversations does). Returns the records.
   */
  async applyUri(account: string, uri: string | XmppUri, options: UriApplyOptions = {}): Promise<TrustRecord[]> {
    const given: unknown = options;
    if (typeof given !== "object" || given === null)
      throw new TrustError("INVALID_ARGUMENT", "applyUri's options must be an object");
    const parsed = typeof uri === "string" ? parseShareUri(uri, options) : uri;
    if (options.expectedContact !== undefined) {
      const expected = bareJidOf(checkJid(options.expectedContact, "expectedContact"));
      if (normalizeJid(parsed.bareJid) !== expected)
        throw new TrustError(
          "CONTACT_MISMATCH",
          `the code is for ${parsed.bareJid}, not for ${expected} whose chat it was scanned in; nothing was verified`,
        );
    }
    const action: UserAction = {
      method: options.method ?? "xmpp-uri",
      ...(options.actor === undefined ? {} : { actor: options.actor }),
    };
    const records: TrustRecord[] = [];
    for (const shared of parsed.fingerprints) {
      const protocol =
        shared.protocol === "omemo"
          ? (options.omemoProtocol ?? "omemo")
          : shared.protocol === "omemo2"
            ? (options.omemo2Protocol ?? "omemo2")
            : (options.otrProtocol ?? "otr");
      records.push(await this.verify(account, parsed.bareJid, protocol, shared.fingerprint, action));
    }
    return records;
  }

  /** Delete everything stored about a contact (records and settings). A later key is a first key again. */
  async forgetContact(account: string, contact: string): Promise<void> {
    account = checkJid(account, "account");
    contact = checkJid(contact, "contact");
    await this.#ready();
    await this.#contactLock(account, contact, async () => {
      const rows = await this.#storage.scan({ prefix: storageKeys.contactPrefix(account, contact) });
      const settingsKey = storageKeys.settings(account, contact);
      const settings = await this.#storage.get(settingsKey);
      if (settings !== undefined) rows.push({ key: settingsKey, value: settings });
      await this.#commit(rows.map((row) => ({ key: row.key, value: undefined, previous: row.value })));
    });
  }
}

export function createTrustStore(options: TrustStoreOptions): TrustStore {
  return new TrustStore(options);
}
