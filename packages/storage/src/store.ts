/**
 * The encrypted store: record-level XChaCha20-Poly1305 under a random data key, lookup keys MACed per
 * '/'-separated segment, an O(1)-updatable integrity digest over all records, atomic transactions.
 */
import { bytesToHex, concatBytes, defaultCrypto, hexToBytes, type Crypto, type ScryptParams } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import type { BackendLocks, RawEntry, RawWrite, StorageBackend } from "./backend.js";
import {
  DEFAULT_SCRYPT,
  KEY_TOKEN_BYTES,
  KEY_TOKEN_CACHE_SIZE,
  MAX_KEY_LENGTH,
  MAX_NAMESPACE_LENGTH,
  MAX_VALUE_BYTES,
} from "./consts.js";
import {
  add256,
  assertBytesValue,
  assertWellFormed,
  base64url,
  compareStrings,
  fromUtf8,
  sub256,
  utf8,
} from "./encoding.js";
import { StorageError, isStorageError } from "./errors.js";
import {
  assertScryptParams,
  decodeHeader,
  encodeHeader,
  unwrapDataKey,
  wrapDataKey,
  type StoreHeader,
} from "./header.js";
import type { Keystore } from "./keystore.js";
import { MediaStore } from "./media.js";
import { recordCryptoFor, type RecordCrypto } from "./record-crypto.js";

/**
 * The key-value handle every Parley package's store interface is satisfied by (structurally):
 * `db.namespace("trust")` is a `TrustStorage`, a session store, a queue store.
 */
export interface KVNamespace {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Sorted by key (JavaScript string order). */
  scan(options?: { prefix?: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
}

export interface ScanOptions {
  /** Only keys starting with this. Fastest on a '/' boundary ("alice/" reads only alice's records). */
  readonly prefix?: string;
  /** Only keys >= start. */
  readonly start?: string;
  /** Only keys < end. */
  readonly end?: string;
  /** At most this many entries (after ordering). */
  readonly limit?: number;
  /** Descending order. */
  readonly reverse?: boolean;
}

export interface Namespace extends KVNamespace {
  readonly name: string;
  scan(options?: ScanOptions): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** A namespace inside a transaction: reads see the transaction's own writes; writes apply at commit. */
export type TxNamespace = Namespace;

export interface Transaction {
  namespace(name: string): TxNamespace;
}

export interface TransactionOptions {
  /**
   * Names of what the transaction reads and rewrites ("conversation/alice"): on a backend shared by
   * several processes (PostgreSQL) transactions naming a common lock run one at a time, others in
   * parallel; a transaction naming none runs alone. In one process (memory, SQLite, IndexedDB) every
   * transaction runs alone anyway, so the names are checked and otherwise change nothing.
   */
  readonly lock?: readonly string[];
}

export interface CreateStoreOptions {
  readonly passphrase: string;
  /** scrypt cost; DEFAULT_SCRYPT (128 MiB, about half a second) unless given. Tests pass a small N. */
  readonly kdf?: ScryptParams;
  /** Also keep the passphrase in this keystore, so `openStore(backend, { keystore })` works. */
  readonly keystore?: Keystore;
  readonly crypto?: Crypto;
}

export interface OpenStoreOptions {
  /** The passphrase; or leave it out and give `keystore`. */
  readonly passphrase?: string;
  readonly keystore?: Keystore;
  readonly crypto?: Crypto;
  /**
   * When to check every record against the integrity digest (which detects records deleted, replayed
   * from an older copy or added while the store was closed; O(records)):
   * - `"background"` (default): open returns after the KDF and O(1) work; the check then runs in
   *   bounded slices between the store's own operations. `db.verification` settles when it is done; a
   *   mismatch makes it reject with TAMPERED, and every later operation on the store too.
   * - `"full"` or `true`: the check runs before open returns (TAMPERED from open).
   * - `false`: no check (only each record's own authentication, at every read).
   */
  readonly verify?: boolean | "background" | "full";
  /** Called after each slice of the integrity check: rows checked so far, and the rows the state counts. */
  readonly onVerifyProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyProgress {
  readonly checked: number;
  readonly total: number;
}

/**
 * Where the integrity check of an open store stands: `"off"` (opened with `verify: false`), `"running"`,
 * `"verified"`, `"tampered"` (every operation now fails with TAMPERED), `"stopped"` (closed before it ended).
 */
export type VerificationStatus = "off" | "running" | "verified" | "tampered" | "stopped";

/** The background check's progress over the rows in key order, kept in step with this process's commits. */
interface Sweep {
  /** The last row key checked; undefined before the first slice. */
  cursor: string | undefined;
  /** The digest and count of the rows at or before `cursor`, as they are now. */
  digest: Uint8Array;
  count: number;
}

/** Rows per slice of the integrity check: a few milliseconds of work between the store's operations. */
const VERIFY_SLICE = 1024;

interface IntegrityState {
  readonly counter: number;
  readonly count: number;
  readonly digest: Uint8Array;
}

interface Subkeys {
  readonly record: Uint8Array;
  readonly index: Uint8Array;
  readonly integrity: Uint8Array;
}

const RECORD_FORMAT = 1;
const NONCE_BYTES = 24;
const NONCE_POOL = 256;
/** What the integrity check reads of each record: the format byte and the nonce. */
const RECORD_HEAD = 1 + NONCE_BYTES;
const RECORD_AD = utf8("parley-storage record v1\0");
const STATE_AD = "parley-storage state v1\0";
const META_HEADER = "header";
const META_STATE = "state";
const STATE_AD_BYTES = utf8(STATE_AD);
/** Namespaces of this package itself start with NUL, which user names may not. */
const INTERNAL_PREFIX = "\u0000";

/**
 * A record's associated data: its row key. A sealed record therefore opens only at the row it was
 * written to; moved, copied or swapped to another row (or namespace) it fails authentication.
 */
function recordAd(rowKey: string): Uint8Array {
  return concatBytes(RECORD_AD, utf8(rowKey));
}

/**
 * The same bytes in a buffer reused call after call: for the AEAD, which reads its associated data
 * before returning and keeps no reference to it.
 */
const adScratch = new Uint8Array(1024);
function recordAdScratch(rowKey: string): Uint8Array {
  const length = RECORD_AD.length + rowKey.length;
  if (length > adScratch.length) return recordAd(rowKey);
  adScratch.set(RECORD_AD, 0);
  // The store's row keys are ASCII; a row key from the backend may be anything, and is then encoded whole.
  if (!asciiInto(rowKey, adScratch.subarray(RECORD_AD.length, length))) return recordAd(rowKey);
  return adScratch.subarray(0, length);
}

const encoder = new TextEncoder();
/**
 * Writes `s` into `out` (exactly `s.length` bytes long); false unless `s` is an ASCII string, so that it
 * filled `out` exactly. (A damaged backend can hand back a key that is no string at all.)
 */
function asciiInto(s: string, out: Uint8Array): boolean {
  return typeof s === "string" && encoder.encodeInto(s, out).read === s.length;
}

/**
 * What media.ts, archive.ts and the namespace handles need from a store. Not reachable through the
 * package's exports: applications must not write the media namespace or read row keys.
 */
export interface StoreInternals {
  assertOpen(): void;
  /** The MACed row key of (namespace, key). */
  rawKey(ns: string, key: string): string;
  read(ns: string, key: string, pending: Map<string, Pending> | undefined): Promise<Uint8Array | undefined>;
  scan(
    ns: string,
    options: ScanOptions,
    pending: Map<string, Pending> | undefined,
  ): Promise<Array<{ key: string; value: Uint8Array }>>;
  /** A namespace of this package itself (media metadata); user code cannot name it. */
  namespace(name: string): Namespace;
  /** A transaction over one of this package's own namespaces. */
  transaction<T>(name: string, body: (ns: TxNamespace) => Promise<T> | T): Promise<T>;
  /** Every user record, decrypted, for the archive export. */
  allRecords(): Promise<Array<{ ns: string; key: string; value: Uint8Array }>>;
  /** Drops freed bytes from the backend's journal and free pages. */
  compact(): Promise<void>;
}

let internalsOf: ((store: EncryptedStore) => StoreInternals) | undefined;

/** The internals of `store`, for this package's own modules. */
export function storeInternals(store: EncryptedStore): StoreInternals {
  return internalsOf!(store);
}

function keystoreEntry(storeId: string): string {
  return `parley-storage:${storeId}`;
}
function pendingEntry(storeId: string): string {
  return `parley-storage:${storeId}:pending`;
}

function backendFailed(cause: unknown): StorageError {
  return new StorageError("BACKEND_FAILED", "the storage backend failed; see `cause`", { cause });
}

/** Runs a backend call, turning foreign errors into BACKEND_FAILED (StorageErrors pass through). */
async function io<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isStorageError(error)) throw error;
    throw backendFailed(error);
  }
}

function alreadyExists(): StorageError {
  return new StorageError("ALREADY_EXISTS", "a store already exists here; open it, or delete it first");
}

function tampered(what: string): StorageError {
  return new StorageError(
    "TAMPERED",
    `${what} failed authentication: the store was modified outside @parley/storage; restore it from a backup or archive`,
  );
}

async function keystoreCall<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isStorageError(error)) throw error;
    throw new StorageError("KEYSTORE_FAILED", "the keystore failed; see `cause`", { cause: error });
  }
}

/** One-at-a-time section: transactions, passphrase changes and close never interleave. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(section);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

type Pending = { readonly ns: string; readonly key: string; readonly value: Uint8Array | null };

/** One row a commit changed: its digest terms before (absent: a new row) and after (absent: deleted). */
interface RowChange {
  readonly raw: string;
  readonly old: Uint8Array | undefined;
  readonly next: Uint8Array | undefined;
}

/** Which transaction body (of which store) the running code was called from, where Node can tell. */
interface BodyContext {
  readonly store: EncryptedStore;
  readonly tx: TxState;
}
interface AsyncContext {
  getStore(): unknown;
  run<R>(store: unknown, fn: () => R): R;
  disable(): void;
}
/** Node's AsyncLocalStorage, reached without an import (browsers have none: there the check is skipped). */
const bodyContext: AsyncContext | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const hooks = proc?.getBuiltinModule?.("node:async_hooks") as
      { AsyncLocalStorage?: new () => AsyncContext } | undefined;
    return hooks?.AsyncLocalStorage ? new hooks.AsyncLocalStorage() : undefined;
  } catch {
    return undefined;
  }
})();

/** A record's key: ASCII (most keys) without TextDecoder's per-call cost, anything else through it. */
function decodeKey(bytes: Uint8Array): string {
  if (bytes.length > 256) return fromUtf8(bytes);
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return fromUtf8(bytes);
  // ASCII: one flat string from the code units at once (no string built up character by character).
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** Whether `bytes` holds exactly `expected` at `offset`. */
function sameBytes(bytes: Uint8Array, offset: number, expected: Uint8Array): boolean {
  if (offset + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[offset + i] !== expected[i]) return false;
  return true;
}

/** Big-endian u64 of a safe integer (counters and counts), as `u64be`. */
function putU64be(out: Uint8Array, offset: number, n: number): void {
  const high = Math.floor(n / 2 ** 32);
  const low = n >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

let elementBytes = new Uint8Array(256);
/** `length` bytes of a scratch buffer, grown as needed: the input of a digest term's MAC, which copies it. */
function elementScratch(length: number): Uint8Array {
  if (length > elementBytes.length) elementBytes = new Uint8Array(length);
  return elementBytes.subarray(0, length);
}

/** Big-endian u32 at `offset` (callers check the bounds). */
function u32At(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * Where the value starts in a record's plaintext (u32 length ‖ ns ‖ u32 length ‖ key ‖ value) if it names
 * exactly `ns` and `key` (UTF-8); -1 otherwise.
 */
function valueOffset(plaintext: Uint8Array, ns: Uint8Array, key: Uint8Array): number {
  if (plaintext.length < 8 + ns.length + key.length) return -1;
  if (u32At(plaintext, 0) !== ns.length || !sameBytes(plaintext, 4, ns)) return -1;
  const keyAt = 4 + ns.length;
  if (u32At(plaintext, keyAt) !== key.length || !sameBytes(plaintext, keyAt + 4, key)) return -1;
  return keyAt + 4 + key.length;
}

/**
 * Runs a transaction body inside its context. On Node 20 an enabled AsyncLocalStorage hooks every
 * promise in the process, so it is disabled again whenever no body runs (of any store).
 */
let bodiesRunning = 0;
async function inBody<T>(context: BodyContext, body: () => Promise<T> | T): Promise<T> {
  bodiesRunning++;
  try {
    return await bodyContext!.run(context, body);
  } finally {
    if (--bodiesRunning === 0) bodyContext!.disable();
  }
}

/** Lets other work run between slices of the background integrity check. */
function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => {
    if (immediate) immediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/** A single put or delete: no lock names, so on a shared backend only the store lock, shared. */
const NO_LOCKS: readonly string[] = [];

export class EncryptedStore {
  static {
    // The one door to the internals: a static block sees private fields, module code does not.
    internalsOf = (store) => store.#internals;
  }

  readonly #backend: StorageBackend;
  readonly #crypto: Crypto;
  readonly #dataKey: Uint8Array;
  readonly #keys: Subkeys;
  readonly #tokens = new Map<string, string>();
  readonly #mutex = new Mutex();
  #header: StoreHeader;
  #state: IntegrityState;
  #closed = false;
  #noncePool: Uint8Array = new Uint8Array(0);
  #nonceOffset = 0;
  readonly #rc: RecordCrypto;
  readonly #indexMac: (data: Uint8Array) => Uint8Array;
  readonly #integrityMac: (data: Uint8Array) => Uint8Array;
  /** The integrity state's associated data (the store id never changes). */
  readonly #stateAdBytes: Uint8Array;
  /** Set once the integrity check finds a mismatch: every later operation fails with it. */
  #failure: StorageError | undefined;
  #sweep: Sweep | undefined;
  #stopVerification = false;
  #verificationStatus: VerificationStatus = "off";
  #verification: Promise<void> = Promise.resolve();
  readonly #internals: StoreInternals;
  /** Encrypted files and media, chunked and streamed. */
  readonly media: MediaStore;

  private constructor(
    backend: StorageBackend,
    crypto: Crypto,
    header: StoreHeader,
    dataKey: Uint8Array,
    state: IntegrityState,
  ) {
    this.#backend = backend;
    this.#crypto = crypto;
    this.#header = header;
    this.#dataKey = dataKey;
    this.#state = state;
    this.#rc = recordCryptoFor(crypto);
    const salt = hexToBytes(header.storeId);
    const sub = (info: string) => crypto.hkdfSha256(dataKey, salt, utf8(`parley-storage ${info} v1`), 32);
    this.#keys = { record: sub("record"), index: sub("index"), integrity: sub("integrity") };
    this.#indexMac = this.#rc.macFor(this.#keys.index);
    this.#integrityMac = this.#rc.macFor(this.#keys.integrity);
    this.#stateAdBytes = this.#stateAd();
    this.#internals = {
      assertOpen: () => {
        this.#assertOpen();
      },
      rawKey: (ns, key) => this.#rawKey(ns, key),
      read: (ns, key, pending) => this.#read(ns, key, pending),
      scan: (ns, options, pending) => this.#scan(ns, options, pending),
      namespace: (name) => this.#namespaceHandle(INTERNAL_PREFIX + name),
      transaction: (name, body) => this.#transact((tx) => body(tx.bind(INTERNAL_PREFIX + name)), undefined),
      allRecords: () => this.#allRecords(),
      compact: () => this.#compact(),
    };
    this.media = new MediaStore(this.#internals, backend.media, crypto);
  }

  /**
   * Creates a store in an empty backend (ALREADY_EXISTS if it holds one). The store owns the backend:
   * `close()` closes it, and so does a failed create or open.
   */
  static create(backend: StorageBackend, options: CreateStoreOptions): Promise<EncryptedStore> {
    return closingOnFailure(backend, () => EncryptedStore.#create(backend, options));
  }

  static async #create(backend: StorageBackend, options: CreateStoreOptions): Promise<EncryptedStore> {
    const crypto = options.crypto ?? defaultCrypto();
    const params = options.kdf ?? DEFAULT_SCRYPT;
    assertScryptParams(params);
    if (await io(() => backend.getMeta(META_HEADER))) throw alreadyExists();
    const storeId = bytesToHex(crypto.randomBytes(16));
    const dataKey = crypto.randomBytes(32);
    const header = await wrapDataKey(crypto, storeId, dataKey, options.passphrase, params);
    const state: IntegrityState = { counter: 0, count: 0, digest: new Uint8Array(32) };
    const store = new EncryptedStore(backend, crypto, header, dataKey, state);
    const write: RawWrite = {
      puts: [],
      deletes: [],
      meta: [
        { key: META_HEADER, value: encodeHeader(crypto, header) },
        { key: META_STATE, value: store.#sealState(state) },
      ],
    };
    if (backend.transaction) {
      // A shared backend: two processes creating at once must not both write a header (one data key would be lost).
      await backend.transaction({ locks: { store: "exclusive", keys: [] } }, async (btx) => {
        if (await io(() => btx.getMeta(META_HEADER))) throw alreadyExists();
        await io(() => btx.write(write));
      });
    } else {
      await io(() => backend.commit(write));
    }
    const keystore = options.keystore;
    if (keystore) await keystoreCall(() => keystore.set(keystoreEntry(storeId), options.passphrase));
    return store;
  }

  /**
   * Opens an existing store with the passphrase, or with the one kept in `keystore`.
   * WRONG_PASSPHRASE changes nothing; TAMPERED/CORRUPTED mean the bytes were altered. On any failure
   * the backend is closed (open a new one to retry).
   */
  static open(backend: StorageBackend, options: OpenStoreOptions): Promise<EncryptedStore> {
    return closingOnFailure(backend, () => EncryptedStore.#openExisting(backend, options));
  }

  static async #openExisting(backend: StorageBackend, options: OpenStoreOptions): Promise<EncryptedStore> {
    const crypto = options.crypto ?? defaultCrypto();
    const verify = options.verify ?? "background";
    if (verify !== true && verify !== false && verify !== "full" && verify !== "background")
      throw new StorageError("INVALID_ARGUMENT", 'verify must be true, false, "full" or "background"');
    const headerBytes = await io(() => backend.getMeta(META_HEADER));
    if (!headerBytes) throw new StorageError("NOT_FOUND", "no store here: create one first");
    const header = decodeHeader(crypto, headerBytes);
    let dataKey: Uint8Array;
    if (options.passphrase !== undefined) {
      dataKey = await unwrapDataKey(crypto, header, options.passphrase);
    } else if (options.keystore) {
      dataKey = await EncryptedStore.#unwrapFromKeystore(crypto, header, options.keystore);
    } else {
      throw new StorageError("INVALID_ARGUMENT", "give a passphrase or a keystore to open the store");
    }
    const store = new EncryptedStore(backend, crypto, header, dataKey, {
      counter: 0,
      count: 0,
      digest: new Uint8Array(32),
    });
    const progress = options.onVerifyProgress;
    // O(1): the sealed state is read and authenticated (another store's, or a forged one, is TAMPERED here).
    const stateBytes = await io(() => backend.getMeta(META_STATE));
    if (!stateBytes) throw tampered("the integrity state (missing)");
    store.#state = store.#openState(stateBytes);
    if (verify === false) return store;
    if (verify === true || verify === "full") {
      store.#verificationStatus = "running";
      await store.#verifyNow(progress);
      store.#verificationStatus = "verified";
      return store;
    }
    store.#verificationStatus = "running";
    // The first slice after the caller has its store: open itself stays O(1).
    const running = yieldToEventLoop()
      .then(() => store.#verifyNow(progress))
      .then(
        () => {
          store.#verificationStatus = "verified";
        },
        (error: unknown) => {
          if (isStorageError(error, "TAMPERED")) {
            store.#failure = error;
            store.#verificationStatus = "tampered";
          } else {
            store.#verificationStatus = "stopped";
          }
          throw error;
        },
      );
    // Nobody has to await it: a rejection nobody observes must not crash the process.
    running.catch(() => undefined);
    store.#verification = running;
    return store;
  }

  /**
   * The integrity check over every row: on a local backend in slices under the store's mutex, kept in
   * step with commits made meanwhile; on a shared backend over one snapshot (other processes write).
   */
  async #verifyNow(progress: ((p: VerifyProgress) => void) | undefined): Promise<void> {
    const report = (checked: number, total: number) => {
      try {
        progress?.({ checked, total });
      } catch {
        // A progress callback's error is the caller's; the check goes on.
      }
    };
    const backend = this.#backend;
    if (backend.transaction) {
      await backend.transaction({ snapshot: true }, async (reader) => {
        const stateBytes = await io(() => reader.getMeta(META_STATE));
        if (!stateBytes) throw tampered("the integrity state (missing)");
        const state = this.#openState(stateBytes);
        const sweep: Sweep = { cursor: undefined, digest: new Uint8Array(32), count: 0 };
        const scanAfter = reader.scanAfter?.bind(reader);
        for (;;) {
          this.#checkStop();
          const rows = scanAfter
            ? await io(() => scanAfter(sweep.cursor, VERIFY_SLICE, RECORD_HEAD))
            : await io(() => reader.scanPrefix(""));
          this.#addRows(sweep, rows, state);
          report(sweep.count, state.count);
          if (!scanAfter || rows.length < VERIFY_SLICE) break;
          await yieldToEventLoop();
        }
        this.#compareSweep(sweep, state);
      });
      return;
    }
    const sweep: Sweep = { cursor: undefined, digest: new Uint8Array(32), count: 0 };
    this.#sweep = sweep;
    try {
      for (;;) {
        const done = await this.#mutex.run(async () => {
          this.#checkStop();
          const scanAfter = backend.scanAfter?.bind(backend);
          const rows = scanAfter
            ? await io(() => scanAfter(sweep.cursor, VERIFY_SLICE, RECORD_HEAD))
            : await io(() => backend.scanPrefix(""));
          this.#addRows(sweep, rows, this.#state);
          if (scanAfter && rows.length === VERIFY_SLICE) return false;
          // The end, under the mutex: no commit between the last slice and the comparison.
          this.#compareSweep(sweep, this.#state);
          return true;
        });
        report(sweep.count, this.#state.count);
        if (done) return;
        await yieldToEventLoop();
      }
    } finally {
      this.#sweep = undefined;
    }
  }

  #checkStop(): void {
    if (this.#stopVerification || this.#closed)
      throw new StorageError("CLOSED", "the store was closed before its integrity check finished");
  }

  #addRows(sweep: Sweep, rows: readonly RawEntry[], state: IntegrityState): void {
    let digest = sweep.digest;
    for (const row of rows) digest = add256(digest, this.#element(row.key, row.value));
    sweep.digest = digest;
    sweep.count += rows.length;
    if (rows.length > 0) sweep.cursor = rows[rows.length - 1]!.key;
    // The rows up to the cursor are never more than all rows: more is tampering, and ends the check
    // here (also when a damaged file would hand the same rows back again and again).
    if (sweep.count > state.count) this.#compareSweep(sweep, state);
  }

  #compareSweep(sweep: Sweep, state: IntegrityState): void {
    if (sweep.count !== state.count || !this.#crypto.constantTimeEqual(sweep.digest, state.digest)) {
      throw tampered("the set of records (one was deleted, added or replaced by an older copy)");
    }
  }

  /**
   * The background integrity check started by `open` (`verify: "background"`, the default): resolves
   * once every row matched the digest; rejects with TAMPERED on a mismatch (from then on every
   * operation on the store fails with TAMPERED too), or CLOSED if the store was closed first. Already
   * resolved after `verify: "full"`, and after `verify: false` (see `verificationStatus`: "off").
   */
  get verification(): Promise<void> {
    return this.#verification;
  }

  /** Where the integrity check stands (see {@link VerificationStatus}). */
  get verificationStatus(): VerificationStatus {
    return this.#verificationStatus;
  }

  /** Opening from the keystore survives a crash during changePassphrase (the pending entry). */
  static async #unwrapFromKeystore(crypto: Crypto, header: StoreHeader, keystore: Keystore): Promise<Uint8Array> {
    const main = await keystoreCall(() => keystore.get(keystoreEntry(header.storeId)));
    const pending = await keystoreCall(() => keystore.get(pendingEntry(header.storeId)));
    if (main === undefined && pending === undefined) {
      throw new StorageError(
        "KEYSTORE_EMPTY",
        `the ${keystore.kind} keystore holds no passphrase for this store; open it with the passphrase`,
      );
    }
    if (main !== undefined) {
      try {
        return await unwrapDataKey(crypto, header, main);
      } catch (error) {
        if (pending === undefined || !isStorageError(error, "WRONG_PASSPHRASE")) throw error;
      }
    }
    const dataKey = await unwrapDataKey(crypto, header, pending!);
    await keystoreCall(() => keystore.set(keystoreEntry(header.storeId), pending!));
    await keystoreCall(() => keystore.delete(pendingEntry(header.storeId)));
    return dataKey;
  }

  /** True when the backend holds a store (without unlocking it). */
  static async exists(backend: StorageBackend): Promise<boolean> {
    return (await io(() => backend.getMeta(META_HEADER))) !== undefined;
  }

  /** The backend kind ("sqlite", "indexeddb", "memory"). */
  get backendKind(): string {
    return this.#backend.kind;
  }

  /** The scrypt parameters in the header now (public; they are stored in clear). */
  get kdfParams(): ScryptParams {
    const { N, r, p } = this.#header.kdf;
    return { N, r, p, dkLen: 32 };
  }

  /**
   * How many transactions were committed since creation (sealed in the integrity state). An app that
   * keeps it elsewhere (a server, the keychain) can detect a rollback of the whole store. On a shared
   * backend: as of this process's open or last commit (other processes move it on too).
   */
  get commitCounter(): number {
    return this.#state.counter;
  }

  namespace(name: string): Namespace {
    assertWellFormed(name, "namespace name", MAX_NAMESPACE_LENGTH, false);
    if (name.startsWith(INTERNAL_PREFIX))
      throw new StorageError("INVALID_ARGUMENT", "namespace names starting with NUL are reserved");
    return this.#namespaceHandle(name);
  }

  #namespaceHandle(name: string): Namespace {
    return namespaceView(this.#internals, name, undefined, {
      check: () => {
        this.#assertOpen();
      },
      // A single write reads nothing, so it needs no lock of its own (NO_LOCKS: the store lock shared).
      // Their body is this store's own code, which cannot call the store: no body context to set up.
      put: (key, value) =>
        this.#transact(
          (tx) => {
            tx.put(name, key, value);
          },
          NO_LOCKS,
          false,
        ),
      delete: (key) =>
        this.#transact(
          (tx) => {
            tx.delete(name, key);
          },
          NO_LOCKS,
          false,
        ),
    });
  }

  /**
   * Runs `body` and commits all its writes atomically (across namespaces) when it resolves; if it
   * throws, nothing is written and the error is rethrown. Transactions run one at a time in a process;
   * across processes sharing a backend, `options.lock` says which of them must not overlap.
   */
  transaction<T>(body: (tx: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    return promised(() => {
      if (typeof options !== "object" || options === null)
        throw new StorageError("INVALID_ARGUMENT", "transaction options must be an object");
      const { lock } = options;
      if (lock !== undefined) {
        if (!Array.isArray(lock)) throw new StorageError("INVALID_ARGUMENT", "lock must be an array of names");
        for (const name of lock as unknown[]) assertWellFormed(name, "lock name", MAX_KEY_LENGTH, false);
      }
      return this.#transact((tx) => body(tx.handle), lock);
    });
  }

  /** The backend locks for `lock` (undefined: the whole store), names MACed so the backend learns none. */
  #locks(lock: readonly string[] | undefined): BackendLocks {
    if (lock === undefined) return { store: "exclusive", keys: [] };
    const keys = [...new Set(lock.map((name) => this.#token(`lock\0${name}`)))].sort(compareStrings);
    return { store: "shared", keys };
  }

  /**
   * Whatever waits for the store's mutex, called from inside one of this store's transaction bodies
   * (which holds the mutex until it returns), would wait forever: in Node that is a typed DEADLOCK error
   * (AsyncLocalStorage tells which body the call comes from). Elsewhere it still deadlocks (README).
   */
  #assertNotInBody(what: string): void {
    const context = bodyContext?.getStore() as BodyContext | undefined;
    if (context && context.store === this && !context.tx.closed) {
      throw new StorageError(
        "DEADLOCK",
        `${what} through the store inside its own transaction body would wait for that transaction forever; use the transaction's namespaces (tx.namespace) instead`,
      );
    }
  }

  async #transact<T>(
    body: (tx: TxState) => Promise<T> | T,
    lock: readonly string[] | undefined,
    userBody = true,
  ): Promise<T> {
    this.#assertOpen();
    this.#assertNotInBody("a write or transaction");
    return this.#mutex.run(async () => {
      this.#assertOpen();
      const run = async () => {
        const tx = new TxState(this, this.#internals);
        try {
          const result = bodyContext && userBody ? await inBody({ store: this, tx }, () => body(tx)) : await body(tx);
          return { result, pending: tx.pending };
        } finally {
          tx.closed = true;
        }
      };
      const shared = this.#backend.transaction?.bind(this.#backend);
      if (!shared) {
        const { result, pending } = await run();
        if (pending.size > 0) {
          this.#assertOpen();
          const backend = this.#backend;
          const { state, changes } = await this.#commit(pending, this.#state, backend, (write) =>
            backend.commit(write),
          );
          this.#state = state;
          this.#trackSweep(changes);
        }
        return result;
      }
      // Shared backend: the body runs under its locks; the commit locks the state row and starts from
      // the state as other processes left it, not from this process's copy.
      let next: IntegrityState | undefined;
      const result = await shared({ locks: this.#locks(lock) }, async (btx) => {
        const { result, pending } = await run();
        if (pending.size > 0) {
          const stateBytes = await io(() => btx.lockMeta(META_STATE));
          if (!stateBytes) throw tampered("the integrity state (missing)");
          const current = this.#openState(stateBytes);
          if (current.counter < this.#state.counter)
            throw tampered("the integrity state (older than one already seen)");
          next = (await this.#commit(pending, current, btx, (write) => btx.write(write))).state;
        }
        return result;
      });
      if (next) this.#state = next;
      return result;
    });
  }

  /**
   * Rewraps the data key under `next` (with fresh salt, and new scrypt parameters if given): one
   * header row in one backend transaction, so O(1) and atomic. `current` must be right
   * (WRONG_PASSPHRASE otherwise, nothing changed). A keystore that held the passphrase is updated.
   */
  async changePassphrase(
    current: string,
    next: string,
    options: { kdf?: ScryptParams; keystore?: Keystore } = {},
  ): Promise<void> {
    this.#assertOpen();
    this.#assertNotInBody("changePassphrase");
    const params = options.kdf ?? this.kdfParams;
    assertScryptParams(params);
    await this.#mutex.run(async () => {
      this.#assertOpen();
      // A shared backend: another process may have changed the passphrase since this one opened.
      if (this.#backend.transaction) this.#header = await this.#freshHeader();
      const check = await unwrapDataKey(this.#crypto, this.#header, current);
      check.fill(0);
      const header = await wrapDataKey(this.#crypto, this.#header.storeId, this.#dataKey, next, params);
      const keystore = options.keystore;
      if (keystore) await keystoreCall(() => keystore.set(pendingEntry(header.storeId), next));
      await io(() =>
        this.#backend.commit({
          puts: [],
          deletes: [],
          meta: [{ key: META_HEADER, value: encodeHeader(this.#crypto, header) }],
        }),
      );
      this.#header = header;
      if (keystore) {
        await keystoreCall(() => keystore.set(keystoreEntry(header.storeId), next));
        await keystoreCall(() => keystore.delete(pendingEntry(header.storeId)));
      }
    });
  }

  /** Keeps the passphrase in `keystore` (checked first: WRONG_PASSPHRASE if it does not unlock this store). */
  async storePassphraseInKeystore(keystore: Keystore, passphrase: string): Promise<void> {
    this.#assertOpen();
    const check = await unwrapDataKey(this.#crypto, this.#header, passphrase);
    check.fill(0);
    await keystoreCall(() => keystore.set(keystoreEntry(this.#header.storeId), passphrase));
  }

  /** Whether `keystore` holds a passphrase for this store (so it opens without asking; a settings screen shows this). */
  async isPassphraseInKeystore(keystore: Keystore): Promise<boolean> {
    this.#assertOpen();
    return (await keystoreCall(() => keystore.get(keystoreEntry(this.#header.storeId)))) !== undefined;
  }

  /** Removes the passphrase from `keystore`: from now on it must be entered at every start. */
  async removePassphraseFromKeystore(keystore: Keystore): Promise<void> {
    this.#assertOpen();
    await keystoreCall(() => keystore.delete(keystoreEntry(this.#header.storeId)));
    await keystoreCall(() => keystore.delete(pendingEntry(this.#header.storeId)));
  }

  /** Deletes every media item (bytes and keys) and compacts the backend. Records are kept. */
  async deleteAllMedia(): Promise<void> {
    await this.media.deleteAll();
  }

  /** Waits for running transactions, closes the backend and forgets the keys. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#assertNotInBody("close");
    // A running integrity check stops at its next slice (its promise rejects with CLOSED).
    this.#stopVerification = true;
    await this.#verification.catch(() => undefined);
    await this.#mutex.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#dataKey.fill(0);
      for (const k of [this.#keys.record, this.#keys.index, this.#keys.integrity]) k.fill(0);
      this.#tokens.clear();
      await io(() => this.#backend.close());
    });
  }

  toString(): string {
    return `EncryptedStore(${this.#backend.kind}, ${this.#closed ? "closed" : "open"}, keys redacted)`;
  }
  toJSON(): string {
    return this.toString();
  }
  [INSPECT_CUSTOM](): string {
    return this.toString();
  }

  // ---- internals ----

  async #allRecords(): Promise<Array<{ ns: string; key: string; value: Uint8Array }>> {
    this.#assertOpen();
    const rows = await io(() => this.#backend.scanPrefix(""));
    return rows.map((row) => this.#open(row)).filter((r) => !r.ns.startsWith(INTERNAL_PREFIX));
  }

  async #compact(): Promise<void> {
    this.#assertOpen();
    this.#assertNotInBody("compact (deleteAllMedia)");
    await this.#mutex.run(() => io(() => this.#backend.compact()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError("CLOSED", "the store is closed; open it again");
    if (this.#failure) throw this.#failure;
  }

  /** Keeps a running background check in step: rows it has already passed changed in this commit. */
  #trackSweep(changes: readonly RowChange[]): void {
    const sweep = this.#sweep;
    if (!sweep || sweep.cursor === undefined) return;
    const cursor = sweep.cursor;
    let digest = sweep.digest;
    for (const change of changes) {
      if (change.raw > cursor) continue; // the check reads this row's new version when it gets there
      if (change.old) {
        digest = sub256(digest, change.old);
        sweep.count--;
      }
      if (change.next) {
        digest = add256(digest, change.next);
        sweep.count++;
      }
    }
    sweep.digest = digest;
  }

  #token(input: string): string {
    let token = this.#tokens.get(input);
    if (token === undefined) {
      token = base64url(this.#indexMac(utf8(input)).subarray(0, KEY_TOKEN_BYTES));
      if (this.#tokens.size >= KEY_TOKEN_CACHE_SIZE) this.#tokens.delete(this.#tokens.keys().next().value!);
      this.#tokens.set(input, token);
    }
    return token;
  }

  /** The MACed row key: namespace token, then one token per segment, each chained to all before it. */
  #rawKey(ns: string, key: string): string {
    let raw = this.#token(`ns\0${ns}`);
    for (const segment of key.split("/")) raw = `${raw}/${this.#token(`${raw}\0${segment}`)}`;
    return raw;
  }

  /** The row-key prefix covering every key that starts with `prefix` (as narrow as segment boundaries allow). */
  #rawPrefix(ns: string, prefix: string): string {
    const cut = prefix.lastIndexOf("/");
    if (cut < 0) return `${this.#token(`ns\0${ns}`)}/`;
    return `${this.#rawKey(ns, prefix.slice(0, cut))}/`;
  }

  /**
   * A fresh random 24-byte nonce, drawn from the CSPRNG in blocks: one getRandomValues call per
   * 256 nonces instead of per record (it was the largest single cost of a write).
   */
  #nonce(): Uint8Array {
    if (this.#nonceOffset + NONCE_BYTES > this.#noncePool.length) {
      this.#noncePool = this.#crypto.randomBytes(NONCE_BYTES * NONCE_POOL);
      this.#nonceOffset = 0;
    }
    const nonce = this.#noncePool.subarray(this.#nonceOffset, this.#nonceOffset + NONCE_BYTES);
    this.#nonceOffset += NONCE_BYTES;
    return nonce;
  }

  #seal(raw: string, ns: string, key: string, value: Uint8Array): Uint8Array {
    const nsBytes = utf8(ns);
    const keyBytes = utf8(key);
    const plaintext = new Uint8Array(8 + nsBytes.length + keyBytes.length + value.length);
    const view = new DataView(plaintext.buffer);
    view.setUint32(0, nsBytes.length);
    plaintext.set(nsBytes, 4);
    view.setUint32(4 + nsBytes.length, keyBytes.length);
    plaintext.set(keyBytes, 8 + nsBytes.length);
    plaintext.set(value, 8 + nsBytes.length + keyBytes.length);
    const nonce = this.#nonce();
    // Format byte and nonce go in front of ciphertext ‖ tag, in the one buffer the cipher returns.
    const sealed = this.#rc.seal(this.#keys.record, nonce, plaintext, recordAdScratch(raw), 1 + NONCE_BYTES);
    sealed[0] = RECORD_FORMAT;
    sealed.set(nonce, 1);
    return sealed;
  }

  /** A sealed row's plaintext (ns ‖ key ‖ value, lengths prefixed); TAMPERED unless it authenticates at `rawKey`. */
  #plaintext(rawKey: string, v: Uint8Array): Uint8Array {
    if (v.length < 1 + NONCE_BYTES + 16 + 8 || v[0] !== RECORD_FORMAT) throw tampered("a record");
    const plaintext = this.#rc.open(
      this.#keys.record,
      v.subarray(1, 1 + NONCE_BYTES),
      v.subarray(1 + NONCE_BYTES),
      recordAdScratch(rawKey),
    );
    if (!plaintext) throw tampered("a record");
    return plaintext;
  }

  /**
   * Opens a sealed row. With `expected` (a namespace and its UTF-8 bytes), a record of any other
   * namespace is TAMPERED here, and the name is not decoded again for every row of a scan.
   */
  #open(row: RawEntry, expected?: { name: string; bytes: Uint8Array }): { ns: string; key: string; value: Uint8Array } {
    const plaintext = this.#plaintext(row.key, row.value);
    const nsLength = u32At(plaintext, 0);
    let ns: string;
    if (expected) {
      if (nsLength !== expected.bytes.length || !sameBytes(plaintext, 4, expected.bytes)) throw tampered("a record");
      ns = expected.name;
    } else {
      ns = fromUtf8(plaintext.subarray(4, 4 + nsLength));
    }
    const keyLength = u32At(plaintext, 4 + nsLength);
    const keyStart = 8 + nsLength;
    const key = decodeKey(plaintext.subarray(keyStart, keyStart + keyLength));
    return { ns, key, value: plaintext.slice(keyStart + keyLength) };
  }

  /**
   * A row's term in the digest, HMAC(row key ‖ 0 ‖ nonce): the row key so that a ciphertext moved to
   * another row changes the digest, the nonce so that an older ciphertext of the same row does too
   * (it opens, being sealed for that very row: only the digest can tell it is not the latest).
   */
  #element(raw: string, sealed: Uint8Array): Uint8Array {
    // Only the row key and the nonce count (the rest is authenticated by the record's own tag, at read).
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    // Into a buffer reused call after call (the MAC copies its input), with the separator set each time.
    const input = elementScratch(raw.length + 1 + nonce.length);
    input[raw.length] = 0;
    if (!asciiInto(raw, input.subarray(0, raw.length))) {
      // Not a row key this store wrote (those are ASCII): the general encoding, as for any input.
      return this.#integrityMac(concatBytes(utf8(raw), Uint8Array.of(0), nonce));
    }
    input.set(nonce, raw.length + 1);
    return this.#integrityMac(input);
  }

  /** The integrity state's associated data names the store it belongs to. */
  #stateAd(): Uint8Array {
    return concatBytes(STATE_AD_BYTES, utf8(this.#header.storeId));
  }

  #sealState(state: IntegrityState): Uint8Array {
    const nonce = this.#nonce();
    const body = new Uint8Array(48);
    putU64be(body, 0, state.counter);
    putU64be(body, 8, state.count);
    body.set(state.digest, 16);
    // nonce ‖ ciphertext ‖ tag; the record crypto gives the facade's bytes (node:crypto in Node, one call per commit).
    const sealed = this.#rc.seal(this.#keys.integrity, nonce, body, this.#stateAdBytes, NONCE_BYTES);
    sealed.set(nonce, 0);
    return sealed;
  }

  #openState(bytes: Uint8Array): IntegrityState {
    let body: Uint8Array;
    try {
      body = this.#crypto.xchacha20Poly1305Decrypt(
        this.#keys.integrity,
        bytes.subarray(0, NONCE_BYTES),
        bytes.subarray(NONCE_BYTES),
        this.#stateAdBytes,
      );
    } catch {
      throw tampered("the integrity state");
    }
    if (body.length !== 48) throw tampered("the integrity state");
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    return { counter: Number(view.getBigUint64(0)), count: Number(view.getBigUint64(8)), digest: body.slice(16) };
  }

  /** The header as stored now (another process may have rewrapped the key); it must name this store. */
  async #freshHeader(): Promise<StoreHeader> {
    const bytes = await io(() => this.#backend.getMeta(META_HEADER));
    if (!bytes) throw tampered("the header (missing)");
    const header = decodeHeader(this.#crypto, bytes);
    if (header.storeId !== this.#header.storeId) throw tampered("the header (another store's)");
    return header;
  }

  async #read(ns: string, key: string, pending: Map<string, Pending> | undefined): Promise<Uint8Array | undefined> {
    const raw = this.#rawKey(ns, key);
    if (pending !== undefined) {
      const own = pending.get(raw);
      if (own) return own.value?.slice();
    }
    let value: Uint8Array | undefined;
    try {
      value = await this.#backend.get(raw);
    } catch (error) {
      throw isStorageError(error) ? error : backendFailed(error);
    }
    if (!value) return undefined;
    const plaintext = this.#plaintext(raw, value);
    // The record must name the namespace and key it was looked up by (compared as bytes: nothing decoded).
    const valueStart = valueOffset(plaintext, utf8(ns), utf8(key));
    if (valueStart < 0) throw tampered("a record");
    return plaintext.slice(valueStart);
  }

  async #scan(
    ns: string,
    options: ScanOptions,
    pending: Map<string, Pending> | undefined,
  ): Promise<Array<{ key: string; value: Uint8Array }>> {
    const { prefix = "", start, end, limit, reverse = false } = options;
    assertWellFormed(prefix, "scan prefix", MAX_KEY_LENGTH, true);
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0))
      throw new StorageError("INVALID_ARGUMENT", "scan limit must be a non-negative integer");
    const rawPrefix = this.#rawPrefix(ns, prefix);
    let rows: RawEntry[];
    try {
      rows = await this.#backend.scanPrefix(rawPrefix);
    } catch (error) {
      throw isStorageError(error) ? error : backendFailed(error);
    }
    const expected = { name: ns, bytes: utf8(ns) };
    const wanted = (key: string) =>
      key.startsWith(prefix) && (start === undefined || key >= start) && (end === undefined || key < end);
    let out: Array<{ key: string; value: Uint8Array }> = [];
    let own = false;
    if (pending !== undefined) for (const p of pending.values()) if (p.ns === ns) own = true;
    if (!own) {
      // Outside a transaction (or one that wrote nothing here): each row straight into the result.
      for (const row of rows) {
        const record = this.#open(row, expected);
        if (wanted(record.key)) out.push({ key: record.key, value: record.value });
      }
    } else {
      const found = new Map<string, Uint8Array | null>();
      for (const row of rows) {
        const record = this.#open(row, expected);
        found.set(record.key, record.value);
      }
      for (const p of pending!.values()) if (p.ns === ns) found.set(p.key, p.value?.slice() ?? null);
      out = [];
      for (const [key, value] of found) if (value !== null && wanted(key)) out.push({ key, value });
    }
    out.sort((a, b) => compareStrings(a.key, b.key));
    if (reverse) out.reverse();
    return limit === undefined ? out : out.slice(0, limit);
  }

  /**
   * Seals the pending writes and the integrity state that follows `base`, and writes them in one
   * backend write; returns that state. `reader` must see the rows as `base` covers them.
   */
  async #commit(
    pending: Map<string, Pending>,
    base: IntegrityState,
    reader: Pick<StorageBackend, "get" | "getMany">,
    write: (write: RawWrite) => Promise<void>,
  ): Promise<{ state: IntegrityState; changes: RowChange[] }> {
    let { count, digest } = base;
    const puts: RawEntry[] = [];
    const deletes: string[] = [];
    const changes: RowChange[] = [];
    // Every old row in one call where the backend can (one round trip on PostgreSQL, one await on
    // SQLite); otherwise one read each.
    const getMany = reader.getMany?.bind(reader);
    const olds = getMany ? await io(() => getMany([...pending.keys()])) : undefined;
    for (const [raw, p] of pending) {
      const old = olds ? olds.get(raw) : await io(() => reader.get(raw));
      let oldElement: Uint8Array | undefined;
      let nextElement: Uint8Array | undefined;
      if (old) {
        oldElement = this.#element(raw, old);
        digest = sub256(digest, oldElement);
        count--;
      }
      if (p.value) {
        const sealed = this.#seal(raw, p.ns, p.key, p.value);
        nextElement = this.#element(raw, sealed);
        digest = add256(digest, nextElement);
        count++;
        puts.push({ key: raw, value: sealed });
      } else if (old) {
        deletes.push(raw);
      }
      if (oldElement || nextElement) changes.push({ raw, old: oldElement, next: nextElement });
    }
    const state: IntegrityState = { counter: base.counter + 1, count, digest };
    await io(() => write({ puts, deletes, meta: [{ key: META_STATE, value: this.#sealState(state) }] }));
    return { state, changes };
  }
}

async function closingOnFailure<T>(backend: StorageBackend, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw error;
  }
}

/** A synchronous throw (an argument error, always a StorageError) as a rejection. */
function rejection(error: unknown): Promise<never> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

/** Argument errors become rejections, as callers of an async API expect. */
function promised<T>(run: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(run());
  });
}

/** One namespace handle for both the store (pending undefined) and a transaction (its pending writes). */
function namespaceView(
  store: StoreInternals,
  name: string,
  pending: Map<string, Pending> | undefined,
  ops: {
    check: () => void;
    put: (key: string, value: Uint8Array) => Promise<void>;
    delete: (key: string) => Promise<void>;
  },
): Namespace {
  return {
    name,
    // Argument errors become rejections; the read itself is already a promise (no second one around it).
    get(key) {
      try {
        ops.check();
        assertKey(key);
        return store.read(name, key, pending);
      } catch (error) {
        return rejection(error);
      }
    },
    put: ops.put,
    delete: ops.delete,
    scan(options) {
      try {
        ops.check();
        return store.scan(name, options ?? {}, pending);
      } catch (error) {
        return rejection(error);
      }
    },
  };
}

function assertKey(key: unknown): asserts key is string {
  assertWellFormed(key, "key", MAX_KEY_LENGTH, true);
}

class TxState {
  readonly pending = new Map<string, Pending>();
  closed = false;
  readonly handle: Transaction;
  readonly #store: StoreInternals;

  constructor(store: EncryptedStore, internals: StoreInternals) {
    this.#store = internals;
    this.handle = {
      namespace: (name: string): TxNamespace => this.bind(store.namespace(name).name),
    };
  }

  bind(name: string): TxNamespace {
    return namespaceView(this.#store, name, this.pending, {
      check: () => {
        this.#assertOpen();
      },
      put: (key, value) =>
        promised(() => {
          this.put(name, key, value);
        }),
      delete: (key) =>
        promised(() => {
          this.delete(name, key);
        }),
    });
  }

  #assertOpen(): void {
    this.#store.assertOpen();
    if (this.closed) throw new StorageError("CLOSED", "the transaction has ended; use the store or a new transaction");
  }

  put(ns: string, key: string, value: Uint8Array): void {
    this.#assertOpen();
    assertKey(key);
    assertBytesValue(value, "value", MAX_VALUE_BYTES);
    this.pending.set(this.#store.rawKey(ns, key), { ns, key, value: value.slice() });
  }

  delete(ns: string, key: string): void {
    this.#assertOpen();
    assertKey(key);
    this.pending.set(this.#store.rawKey(ns, key), { ns, key, value: null });
  }
}
