import { MAX_BATCH_KEYS, MAX_HISTORY, MAX_ID_LENGTH, MAX_KEYS_PER_PROTOCOL, MAX_URI_FINGERPRINTS } from "./consts.js";
import { decodeGroup, decodeRecord, decodeSettings, encodeGroup, encodeRecord, encodeSettings } from "./codec.js";
import type { GroupState } from "./codec.js";
import { TypedEmitter } from "./emitter.js";
import { TrustError } from "./errors.js";
import { FINGERPRINT_FORMATS, normalizeFingerprint } from "./fingerprint.js";
import type { FingerprintFormat } from "./fingerprint.js";
import { lowercaseJid, normalizeJid, parseJid } from "./jid.js";
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
import type { ParseShareUriOptions, SharedFingerprint, XmppUri } from "./uri.js";

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

export interface KeysSeenOptions {
  /**
   * The keys were learnt from incoming messages (a device of the contact wrote to us), not for encrypting to the
   * contact. While the contact's first batch is open (we never encrypted to the contact: no `keysSeen` without
   * `incoming` yet, and the user never acted on one of its keys) such keys join it, and it stays open; after
   * that they are new keys like any other. Default false: the report closes the first batch.
   */
  readonly incoming?: boolean;
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
  /** Record protocol for `omemo-sid-*` fingerprints; default `omemo`, the protocol omemoTrustDecider uses. */
  readonly omemoProtocol?: string;
  /**
   * Record protocol for `omemo2-sid-*` fingerprints (Moxxy's OMEMO 2 form); default: the same as `omemoProtocol`.
   * Both namespaces show the identity key's Curve25519 form, so one protocol holds the keys of both.
   */
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

/**
 * The marker of the identifier migration (#normaliseStoredIdentifiers). `jid-lowercase` (case spellings merged)
 * was the first; `jid-bare` (resources and a trailing dot too) re-runs the migration once on storages marked so.
 */
const IDENTIFIERS_MARKER = new TextEncoder().encode(JSON.stringify({ v: 1, t: "meta", identifiers: "jid-bare" }));

function checkId(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH)
    throw new TrustError(
      "INVALID_ARGUMENT",
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
    );
  return value;
}

/**
 * An account or contact: checked, then normalised as a bare JID (see normalizeJid: resource and a trailing dot
 * dropped, localpart and domain lowercased), the one form the store keys by.
 */
function checkJid(value: unknown, name: string): string {
  const jid = normalizeJid(checkId(value, name));
  const domain = jid.slice(jid.indexOf("@") + 1);
  if (domain.length === 0 || domain.endsWith(".") || jid.startsWith("@"))
    throw new TrustError("INVALID_ARGUMENT", `${name} must be a JID (localpart@domain or domain)`);
  return jid;
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

/**
 * The account and contact a row's key was stored under, and their normalised (bare) form; `moved` when they
 * differ. Undefined for a key that is not ours or names no valid JID (such a row is left where it is).
 */
function storedIds(key: string):
  | {
      readonly stored: { account: string; contact: string };
      readonly normalised: { account: string; contact: string };
      readonly moved: boolean;
    }
  | undefined {
  const [, accountSegment, contactSegment] = key.split("/");
  if (accountSegment === undefined || contactSegment === undefined) return undefined;
  try {
    const stored = { account: decodeURIComponent(accountSegment), contact: decodeURIComponent(contactSegment) };
    const normalised = { account: checkJid(stored.account, "account"), contact: checkJid(stored.contact, "contact") };
    const moved = normalised.account !== stored.account || normalised.contact !== stored.contact;
    return { stored, normalised, moved };
  } catch {
    return undefined;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkAction(action: UserAction | undefined): void {
  const given: unknown = action;
  if (given !== undefined && (typeof given !== "object" || given === null))
    throw new TrustError("INVALID_ARGUMENT", "a user action must be an object ({ method?, actor? })");
  if (action?.method !== undefined && !VERIFICATION_METHODS.includes(action.method))
    throw new TrustError("INVALID_ARGUMENT", `method must be one of ${VERIFICATION_METHODS.join(", ")}`);
  if (action?.actor !== undefined) checkId(action.actor, "actor");
}

/** The history cause of a user action, once the state and the action are checked. */
function userCause(state: unknown, action: UserAction | undefined): TrustCause {
  if (state !== "verified" && state !== "untrusted" && state !== "compromised")
    throw new TrustError(
      "INVALID_ARGUMENT",
      "a user can set verified, untrusted or compromised; tofu is given by a policy only",
    );
  checkAction(action);
  return {
    kind: "user",
    ...(action?.method === undefined ? {} : { method: action.method }),
    ...(action?.actor === undefined ? {} : { actor: action.actor }),
  };
}

/** A URI object given to applyUri (parseXmppUri's result, or one an app built): checked before anything is written. */
function checkUriObject(value: unknown): {
  readonly bareJid: string;
  readonly fingerprints: readonly SharedFingerprint[];
} {
  const refuse = (): TrustError =>
    new TrustError(
      "INVALID_ARGUMENT",
      `uri must be an xmpp: URI or parseXmppUri's result (bareJid, at most ${MAX_URI_FINGERPRINTS} fingerprints)`,
    );
  if (typeof value !== "object" || value === null) throw refuse();
  const { bareJid, fingerprints } = value as { bareJid?: unknown; fingerprints?: unknown };
  if (typeof bareJid !== "string" || !Array.isArray(fingerprints) || fingerprints.length > MAX_URI_FINGERPRINTS)
    throw refuse();
  for (const shared of fingerprints as unknown[]) {
    if (typeof shared !== "object" || shared === null) throw refuse();
    const { protocol, fingerprint } = shared as { protocol?: unknown; fingerprint?: unknown };
    if ((protocol !== "omemo" && protocol !== "omemo2" && protocol !== "otr") || typeof fingerprint !== "string")
      throw refuse();
  }
  // The same JID rules as for a JID read from a URI (no control or format characters, one '@', ...).
  return { bareJid: parseJid(bareJid).bareJid, fingerprints: fingerprints as SharedFingerprint[] };
}

/** Reads a change decides on: the storage's own, or those of the transaction the change runs in. */
interface Reader {
  get(key: string): Promise<Uint8Array | undefined>;
  scan(options: { prefix: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** What a change writes, what it returns, and the events it emits once its rows are stored. */
interface Change<T> {
  readonly writes: readonly RowWrite[];
  readonly result: T;
  readonly emit?: () => void;
}

/** Whether the user ever verified or marked compromised this key (its state, or a user entry of its history). */
function verifiedOrCompromisedByUser(record: TrustRecord): boolean {
  return (
    record.state === "verified" ||
    record.state === "compromised" ||
    record.history.some((h) => h.cause.kind === "user" && (h.state === "verified" || h.state === "compromised"))
  );
}

/**
 * A contact's state for one protocol: its stored group row, or, for contacts stored before that row existed and
 * contacts never seen, what the records say (a first batch is open only while no record exists). `vouched` is
 * also read from the records, so a verification a previous version stored counts.
 */
function groupState(stored: Uint8Array | undefined, records: readonly TrustRecord[]): GroupState {
  const vouched = records.some(verifiedOrCompromisedByUser);
  if (stored === undefined) return { open: records.length === 0, vouched };
  const group = decodeGroup(stored);
  return { open: group.open, vouched: group.vouched || vouched };
}

/** The write that stores `next`, or undefined when the stored row (or, without one, the records) already says it. */
function groupWrite(
  key: string,
  stored: Uint8Array | undefined,
  next: GroupState,
  recordsAfter: readonly TrustRecord[],
): RowWrite | undefined {
  const now = stored === undefined ? groupState(undefined, recordsAfter) : decodeGroup(stored);
  return now.open === next.open && now.vouched === next.vouched
    ? undefined
    : { key, value: encodeGroup(next), previous: stored };
}

/** The record as its device's current key: without `supersededAt`. */
function currentKey(record: TrustRecord): TrustRecord {
  if (record.supersededAt === undefined) return record;
  const copy: { -readonly [K in keyof TrustRecord]: TrustRecord[K] } = { ...record };
  delete copy.supersededAt;
  return copy;
}

/**
 * Past MAX_KEYS_PER_PROTOCOL, removes from `records` the oldest keys that are untrusted by policy alone (no user
 * decision in their history) and not in the batch being reported; returns them. Never a tofu, verified or
 * compromised key, nor one the user distrusted: those are decisions, and a tofu key may be the contact's real one.
 */
function evictOverCap(records: Map<string, TrustRecord>, inBatch: ReadonlySet<string>): TrustRecord[] {
  if (records.size <= MAX_KEYS_PER_PROTOCOL) return [];
  const evictable = [...records.values()]
    .filter(
      (r) => r.state === "untrusted" && !inBatch.has(r.fingerprint) && !r.history.some((h) => h.cause.kind === "user"),
    )
    .sort((a, b) => a.firstSeenAt - b.firstSeenAt || (a.fingerprint < b.fingerprint ? -1 : 1));
  const evicted: TrustRecord[] = [];
  for (const record of evictable) {
    if (records.size <= MAX_KEYS_PER_PROTOCOL) break;
    records.delete(record.fingerprint);
    evicted.push(record);
  }
  return evicted;
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
 * per-contact settings, and events. Changes for one (account, contact) are serialised, so concurrent calls
 * cannot both see "no key yet"; with a storage `transaction`, each change also reads what it decides on inside
 * that transaction, so other store instances on the same storage cannot either. Without one, use one store
 * instance per storage. Create it with `createTrustStore`.
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
   * Runs one change of a contact: under the contact's lock, `plan` reads (inside the storage's transaction when
   * it has one, so the decision and its writes are one atomic step for every store instance on the storage) and
   * says what to write; the rows are written all-or-nothing, then the change's events are emitted.
   */
  #change<T>(account: string, contact: string, plan: (read: Reader) => Promise<Change<T>>): Promise<T> {
    return this.#contactLock(account, contact, async () => {
      const storage = this.#storage;
      let change: Change<T>;
      if (storage.transaction === undefined) {
        change = await plan(storage);
        await this.#commit(change.writes);
      } else {
        change = await storage.transaction(async (tx) => {
          const read: Reader = {
            get: (key) => tx.get(key),
            scan: (options) => (tx.scan === undefined ? storage.scan(options) : tx.scan(options)),
          };
          const planned = await plan(read);
          for (const write of planned.writes) await applyRow(tx, write.key, write.value);
          return planned;
        });
      }
      change.emit?.();
      return change.result;
    });
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
   * Before the first read or write: earlier versions stored identifiers as given ("Alice@Example.com"), then
   * lowercased but with a resource or a trailing dot; such rows move to the bare normalised JID (merging with rows
   * already there, see mergeSpellings and the tofu rule in #normaliseStoredIdentifiers). Done once per storage:
   * a marker row records it. A failure leaves the marker as it was and the next call tries again.
   */
  #ready(): Promise<void> {
    this.#identifiersNormalised ??= this.#normaliseStoredIdentifiers().catch((error: unknown) => {
      this.#identifiersNormalised = undefined;
      throw error;
    });
    return this.#identifiersNormalised;
  }

  async #normaliseStoredIdentifiers(): Promise<void> {
    const marker = await this.#storage.get(storageKeys.identifiersMarker);
    if (marker !== undefined && sameBytes(marker, IDENTIFIERS_MARKER)) return;
    const rows = new Map<string, Uint8Array>();
    for (const prefix of ["rec/", "set/"])
      for (const row of await this.#storage.scan({ prefix })) rows.set(row.key, row.value);
    /** A stored record, the spelling it was stored under (`source`), and where it belongs now. */
    interface Found {
      readonly key: string;
      readonly value: Uint8Array;
      readonly record: TrustRecord;
      readonly source: string;
      readonly target: string;
      readonly group: string;
      readonly ids: { readonly account: string; readonly contact: string };
    }
    const found: Found[] = [];
    const settings = new Map<string, { account: string; contact: string; value: Uint8Array }>();
    const writes: RowWrite[] = [];
    for (const [key, value] of rows) {
      const ids = storedIds(key);
      if (ids === undefined) continue;
      const { account, contact } = ids.normalised;
      if (key.startsWith("rec/")) {
        const record = decodeRecord(value);
        found.push({
          key,
          value,
          record,
          // Spellings v1 already took for one contact (they differ in case only) are one source.
          source: JSON.stringify([lowercaseJid(ids.stored.account), lowercaseJid(ids.stored.contact)]),
          target: storageKeys.record(account, contact, record.protocol, record.fingerprint),
          group: storageKeys.protocolPrefix(account, contact, record.protocol),
          ids: ids.normalised,
        });
      } else if (ids.moved) {
        writes.push({ key, value: undefined, previous: value });
        const target = storageKeys.settings(account, contact);
        // The row already under the normalised JID wins; otherwise the first spelling in key order.
        if (!settings.has(target)) settings.set(target, { account, contact, value });
      }
    }
    // Where several spellings (a resource, a trailing dot) meet in one (account, contact, protocol), each had its
    // own "first batch": only the tofu keys of the spelling that saw a key first stay tofu, the others' become
    // untrusted (a key trusted because the contact was misspelt is not the contact's first key).
    const firstSource = new Map<string, string>();
    const sources = new Map<string, Set<string>>();
    for (const f of [...found].sort((a, b) => a.record.firstSeenAt - b.record.firstSeenAt || compare(a.key, b.key))) {
      if (!firstSource.has(f.group)) firstSource.set(f.group, f.source);
      const set = sources.get(f.group) ?? new Set<string>();
      set.add(f.source);
      sources.set(f.group, set);
    }
    const byTarget = new Map<string, Found[]>();
    for (const f of found) byTarget.set(f.target, [...(byTarget.get(f.target) ?? []), f]);
    const at = this.#now();
    for (const [target, copies] of byTarget) {
      const { group, ids } = copies[0]!;
      const mixed = sources.get(group)!.size > 1;
      if (!mixed && copies.every((c) => c.key === target)) continue;
      let merged = mergeSpellings(
        copies.map((c) => c.record),
        ids.account,
        ids.contact,
      );
      const first = firstSource.get(group);
      if (merged.state === "tofu" && !copies.some((c) => c.source === first && c.record.state === "tofu"))
        merged = withHistory(merged, "untrusted", at, { kind: "first-seen", policy: "jid-merge", firstBatch: false });
      for (const c of copies) if (c.key !== target) writes.push({ key: c.key, value: undefined, previous: c.value });
      const previous = rows.get(target);
      const value = encodeRecord(merged);
      if (previous === undefined || !sameBytes(previous, value)) writes.push({ key: target, value, previous });
    }
    for (const [target, moved] of settings) {
      const previous = rows.get(target);
      const { settings: value } = decodeSettings(previous ?? moved.value);
      writes.push({ key: target, value: encodeSettings(moved.account, moved.contact, value), previous });
    }
    writes.push({ key: storageKeys.identifiersMarker, value: IDENTIFIERS_MARKER, previous: marker });
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
    options?: KeysSeenOptions,
  ): Promise<TrustRecord> {
    const [record] = await this.keysSeen(account, contact, protocol, [key], options);
    return record!;
  }

  /**
   * A protocol saw these keys of a contact together (an OMEMO device list and its bundles, an OTR AKE), as one
   * atomic event: under TOFU every key of the contact's first batch for this protocol is `tofu`, keys of later
   * batches are `untrusted`. The first batch closes with the first call without `incoming` (we are about to
   * encrypt to the contact) or the first user action on one of its keys; keys reported with `incoming` before
   * that join it. Keys already stored keep their state (a device id is filled in if missing). A key reported for
   * a device id marks the other keys of that device id superseded. Returns the records in input order.
   */
  async keysSeen(
    account: string,
    contact: string,
    protocol: string,
    keys: ReadonlyArray<SeenKey | string | Uint8Array>,
    options: KeysSeenOptions = {},
  ): Promise<TrustRecord[]> {
    ({ account, contact } = checkAddress(account, contact, protocol));
    const list: unknown = keys;
    if (!Array.isArray(list) || keys.length === 0 || keys.length > MAX_BATCH_KEYS)
      throw new TrustError("INVALID_ARGUMENT", `keys must be an array of 1..${MAX_BATCH_KEYS} keys`);
    const given: unknown = options;
    if (typeof given !== "object" || given === null)
      throw new TrustError("INVALID_ARGUMENT", "keysSeen's options must be an object");
    if (options.incoming !== undefined && typeof options.incoming !== "boolean")
      throw new TrustError("INVALID_ARGUMENT", "incoming must be a boolean");
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
    const incoming = options.incoming === true;
    await this.#ready();
    return this.#change(account, contact, async (read) => {
      const rows = await read.scan({ prefix: storageKeys.protocolPrefix(account, contact, protocol) });
      const stored = new Map<string, Uint8Array>();
      const existing = new Map<string, TrustRecord>();
      for (const row of rows) {
        const record = decodeRecord(row.value);
        stored.set(record.fingerprint, row.value);
        existing.set(record.fingerprint, record);
      }
      const known = [...existing.values()];
      const groupKey = storageKeys.group(account, contact, protocol);
      const storedGroup = await read.get(groupKey);
      const group = groupState(storedGroup, known);
      const firstBatch = group.open;
      const policy = this.#policy;
      const initial = policy.initialState({
        known: known.map((r) => r.state),
        firstBatch,
        everVerifiedOrCompromised: group.vouched,
      });
      if (initial !== "tofu" && initial !== "untrusted")
        throw new TrustError(
          "INVALID_ARGUMENT",
          `policy ${policy.name} gave a new key the state ${String(initial)}; use tofu or untrusted`,
        );
      // Compromised keys kept by forgetContact: such a key comes back compromised, with its history.
      const tombstones = new Map<string, { record: TrustRecord; value: Uint8Array }>();
      if (seen.some(({ fingerprint }) => !existing.has(fingerprint)))
        for (const row of await read.scan({
          prefix: storageKeys.tombstoneProtocolPrefix(account, contact, protocol),
        })) {
          const record = decodeRecord(row.value);
          tombstones.set(record.fingerprint, { record, value: row.value });
        }
      const at = this.#now();
      const added: string[] = [];
      const result = new Map<string, TrustRecord>(existing);
      for (const { fingerprint, deviceId } of seen) {
        let record = result.get(fingerprint);
        if (record === undefined) {
          record = tombstones.get(fingerprint)?.record ?? {
            account,
            contact,
            protocol,
            fingerprint,
            state: initial,
            firstSeenAt: at,
            history: [{ state: initial, at, cause: { kind: "first-seen", policy: policy.name, firstBatch } }],
          };
          added.push(fingerprint);
        }
        if (deviceId !== undefined && record.deviceId === undefined) record = { ...record, deviceId };
        if (deviceId !== undefined && record.deviceId === deviceId) {
          // This is the device's current key (the one it reported last); any other key of that device id is not.
          record = currentKey(record);
          for (const other of result.values())
            if (other.deviceId === deviceId && other.fingerprint !== fingerprint && other.supersededAt === undefined)
              result.set(other.fingerprint, { ...other, supersededAt: at });
        }
        result.set(fingerprint, record);
      }
      const evicted = added.length === 0 ? [] : evictOverCap(result, new Set(seen.map((k) => k.fingerprint)));
      if (result.size > MAX_KEYS_PER_PROTOCOL && added.length > 0)
        throw new TrustError(
          "TOO_MANY_KEYS",
          `${contact} has ${MAX_KEYS_PER_PROTOCOL} ${protocol} keys none of which may be evicted; new keys not stored`,
        );
      // One write per changed record, all or nothing; events only once every row is stored.
      const writes: RowWrite[] = [];
      for (const [fingerprint, record] of result)
        if (record !== existing.get(fingerprint))
          writes.push({
            key: storageKeys.record(account, contact, protocol, fingerprint),
            value: encodeRecord(record),
            previous: stored.get(fingerprint),
          });
      for (const record of evicted)
        writes.push({
          key: storageKeys.record(account, contact, protocol, record.fingerprint),
          value: undefined,
          previous: stored.get(record.fingerprint),
        });
      const restored = added.filter((fingerprint) => tombstones.has(fingerprint));
      for (const fingerprint of restored)
        writes.push({
          key: storageKeys.tombstone(account, contact, protocol, fingerprint),
          value: undefined,
          previous: tombstones.get(fingerprint)!.value,
        });
      // Keys from incoming messages join an open first batch and leave it open; any other report closes it.
      const nextGroup: GroupState = { open: incoming && firstBatch, vouched: group.vouched };
      const groupRow = groupWrite(groupKey, storedGroup, nextGroup, [...result.values()]);
      if (groupRow !== undefined) writes.push(groupRow);
      const trustedKeys = known.filter((r) => r.state !== "compromised" && policy.isTrusted(r.state));
      return {
        writes,
        result: seen.map(({ fingerprint }) => result.get(fingerprint)!),
        emit: () => {
          for (const fingerprint of added) {
            // From result: a device id given later in the same batch is in the event's record too.
            const record = result.get(fingerprint)!;
            this.#events.emit("keyAdded", { record, firstBatch: firstBatch && !tombstones.has(fingerprint) });
            if (!policy.isTrusted(record.state) && trustedKeys.length > 0)
              this.#events.emit("keyChangeWarning", { record, trustedKeys });
          }
        },
      };
    });
  }

  /**
   * Set a key's state by a user action. Works on keys never seen too (a fingerprint verified out of band before
   * the device shows up). `tofu` can only be given by a policy. Returns the record; no-op if a user decision
   * already put it in that state (distrusting a key the policy left untrusted records the user's decision).
   * A user action closes the contact's first batch for the protocol (see keysSeen).
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
    const cause = userCause(state, action);
    const fp = this.normalize(protocol, fingerprint);
    await this.#ready();
    const [record] = await this.#userSet(account, contact, [{ protocol, fingerprint: fp }], state, cause);
    return record!;
  }

  /** Sets several keys of one contact to one state by one user action, in one change. */
  #userSet(
    account: string,
    contact: string,
    items: ReadonlyArray<{ readonly protocol: string; readonly fingerprint: string }>,
    state: Exclude<TrustState, "tofu">,
    cause: TrustCause,
  ): Promise<TrustRecord[]> {
    return this.#change(account, contact, async (read) => {
      const at = this.#now();
      const writes: RowWrite[] = [];
      const changed: Array<TrustEvents["trustChanged"]> = [];
      const records = new Map<string, TrustRecord>();
      const changedProtocols = new Set<string>();
      for (const { protocol, fingerprint } of items) {
        const key = storageKeys.record(account, contact, protocol, fingerprint);
        if (records.has(key)) continue;
        const previous = await read.get(key);
        let current = previous === undefined ? undefined : decodeRecord(previous);
        let tombstone: RowWrite | undefined;
        if (current === undefined) {
          const tombKey = storageKeys.tombstone(account, contact, protocol, fingerprint);
          const value = await read.get(tombKey);
          if (value !== undefined) {
            current = decodeRecord(value);
            tombstone = { key: tombKey, value: undefined, previous: value };
          }
        }
        // Already in that state by a user decision: nothing to do. A key untrusted by the policy alone that the
        // user distrusts gets the user's decision recorded (it then counts as acted on, see MAX_KEYS_PER_PROTOCOL).
        if (current?.state === state && current.history.at(-1)!.cause.kind === "user") {
          records.set(key, current);
          continue;
        }
        const record: TrustRecord =
          current === undefined
            ? { account, contact, protocol, fingerprint, state, firstSeenAt: at, history: [{ state, at, cause }] }
            : withHistory(current, state, at, cause);
        writes.push({ key, value: encodeRecord(record), previous });
        if (tombstone !== undefined) writes.push(tombstone);
        records.set(key, record);
        changed.push({ record, previous: current?.state });
        changedProtocols.add(protocol);
      }
      // The user judged a key: the first batch is over, and BTBV stays strict once a key was verified or compromised.
      for (const protocol of changedProtocols) {
        const groupKey = storageKeys.group(account, contact, protocol);
        const stored = await read.get(groupKey);
        const vouched = stored !== undefined && decodeGroup(stored).vouched;
        const next = { open: false, vouched: vouched || state === "verified" || state === "compromised" };
        const groupRow = groupWrite(groupKey, stored, next, []);
        if (groupRow !== undefined) writes.push(groupRow);
      }
      return {
        writes,
        result: items.map(({ protocol, fingerprint }) =>
          records.get(storageKeys.record(account, contact, protocol, fingerprint))!,
        ),
        emit: () => {
          for (const event of changed) this.#events.emit("trustChanged", event);
        },
      };
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

  /**
   * A key's record. After forgetContact a compromised key has no record but a tombstone, which this returns (so
   * shouldEncryptTo and shouldAcceptFrom keep saying `compromised`); listRecords does not list tombstones.
   */
  async getRecord(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
  ): Promise<TrustRecord | undefined> {
    ({ account, contact } = checkAddress(account, contact, protocol));
    const fp = this.normalize(protocol, fingerprint);
    await this.#ready();
    return (
      (await this.#load(storageKeys.record(account, contact, protocol, fp))) ??
      (await this.#load(storageKeys.tombstone(account, contact, protocol, fp)))
    );
  }

  /** Every record of an account, of one contact, or of one contact and protocol (superseded keys included). */
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

  /**
   * The contact's keys for a protocol that may be encrypted to under the current policy: trusted, and each its
   * device's current key. A key whose device id reported another key since (`supersededAt`) is left out; so is,
   * for records stored before supersession was tracked, any key of a device id that has a later-seen key.
   */
  async trustedRecords(account: string, contact: string, protocol: string): Promise<TrustRecord[]> {
    const records = (await this.listRecords(account, contact, protocol)).filter((r) => r.supersededAt === undefined);
    const latest = new Map<number, number>();
    for (const r of records)
      if (r.deviceId !== undefined)
        latest.set(r.deviceId, Math.max(latest.get(r.deviceId) ?? r.firstSeenAt, r.firstSeenAt));
    return records.filter(
      (r) =>
        (r.deviceId === undefined || latest.get(r.deviceId) === r.firstSeenAt) &&
        decideEncrypt(this.#policy, r.state).allowed,
    );
  }

  /**
   * May the protocol encrypt to this key? Only if it is trusted under the current policy and still its device's
   * current key: a superseded key is refused with the reason `superseded`. The reason says why not.
   */
  async shouldEncryptTo(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
  ): Promise<TrustDecision> {
    const record = await this.getRecord(account, contact, protocol, fingerprint);
    const decision = decideEncrypt(this.#policy, record?.state);
    return decision.allowed && record?.supersededAt !== undefined
      ? { ...decision, allowed: false, reason: "superseded" }
      : decision;
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
    const given: unknown = change;
    if (typeof given !== "object" || given === null)
      throw new TrustError("INVALID_ARGUMENT", "the change must be an object ({ defaultEncryption?, muted? })");
    if (change.defaultEncryption !== undefined && !ENCRYPTION_METHODS.includes(change.defaultEncryption))
      throw new TrustError("INVALID_ARGUMENT", `defaultEncryption must be one of ${ENCRYPTION_METHODS.join(", ")}`);
    if (change.muted !== undefined && typeof change.muted !== "boolean")
      throw new TrustError("INVALID_ARGUMENT", "muted must be a boolean");
    await this.#ready();
    return this.#change(account, contact, async (read) => {
      const key = storageKeys.settings(account, contact);
      const stored = await read.get(key);
      const previous = stored === undefined ? this.#defaultSettings : decodeSettings(stored).settings;
      const settings: ContactSettings = {
        defaultEncryption: change.defaultEncryption ?? previous.defaultEncryption,
        muted: change.muted ?? previous.muted,
      };
      return {
        writes: [{ key, value: encodeSettings(account, contact, settings), previous: stored }],
        result: settings,
        emit: () => {
          this.#events.emit("contactSettingsChanged", { account, contact, settings, previous });
        },
      };
    });
  }

  /**
   * Verify every fingerprint in a scanned or clicked `xmpp:` URI (or invite link, see parseShareUri) for its bare
   * JID: known keys become verified, unknown ones are stored verified for when the device shows up (as
   * Conversations does). `omemo-sid-` and `omemo2-sid-` devices both go under the protocol `omemo` (their
   * fingerprints are the same Curve25519 form, and omemoTrustDecider reads `omemo`). Everything is checked first
   * and then written in one change: a URI with one bad fingerprint verifies nothing. Returns the records.
   */
  async applyUri(account: string, uri: string | XmppUri, options: UriApplyOptions = {}): Promise<TrustRecord[]> {
    const given: unknown = options;
    if (typeof given !== "object" || given === null)
      throw new TrustError("INVALID_ARGUMENT", "applyUri's options must be an object");
    account = checkJid(account, "account");
    const omemoProtocol = checkId(options.omemoProtocol ?? "omemo", "omemoProtocol");
    const protocols = {
      omemo: omemoProtocol,
      omemo2: checkId(options.omemo2Protocol ?? omemoProtocol, "omemo2Protocol"),
      otr: checkId(options.otrProtocol ?? "otr", "otrProtocol"),
    };
    const cause = userCause("verified", {
      method: options.method ?? "xmpp-uri",
      ...(options.actor === undefined ? {} : { actor: options.actor }),
    });
    const parsed = typeof uri === "string" ? parseShareUri(uri, options) : checkUriObject(uri);
    const contact = checkJid(parsed.bareJid, "the URI's JID");
    if (options.expectedContact !== undefined) {
      const expected = checkJid(options.expectedContact, "expectedContact");
      if (contact !== expected)
        throw new TrustError(
          "CONTACT_MISMATCH",
          `the code is for ${parsed.bareJid}, not for ${expected} whose chat it was scanned in; nothing was verified`,
        );
    }
    const items = parsed.fingerprints.map((shared) => {
      const protocol = protocols[shared.protocol];
      return { protocol, fingerprint: this.normalize(protocol, shared.fingerprint) };
    });
    if (items.length === 0) return [];
    await this.#ready();
    return this.#userSet(account, contact, items, "verified", cause);
  }

  /**
   * Delete what is stored about a contact (records, first-batch state, settings): a later key is a first key
   * again. Compromised keys are kept as tombstones: seen again, such a key is `compromised`, not a fresh `tofu`.
   */
  async forgetContact(account: string, contact: string): Promise<void> {
    account = checkJid(account, "account");
    contact = checkJid(contact, "contact");
    await this.#ready();
    await this.#change(account, contact, async (read) => {
      const writes: RowWrite[] = [];
      for (const row of await read.scan({ prefix: storageKeys.contactPrefix(account, contact) })) {
        const record = decodeRecord(row.value);
        if (record.state === "compromised") {
          const tombKey = storageKeys.tombstone(account, contact, record.protocol, record.fingerprint);
          writes.push({ key: tombKey, value: row.value, previous: await read.get(tombKey) });
        }
        writes.push({ key: row.key, value: undefined, previous: row.value });
      }
      for (const row of await read.scan({ prefix: storageKeys.groupContactPrefix(account, contact) }))
        writes.push({ key: row.key, value: undefined, previous: row.value });
      const settingsKey = storageKeys.settings(account, contact);
      const settings = await read.get(settingsKey);
      if (settings !== undefined) writes.push({ key: settingsKey, value: undefined, previous: settings });
      return { writes, result: undefined };
    });
  }
}

export function createTrustStore(options: TrustStoreOptions): TrustStore {
  return new TrustStore(options);
}
