/**
 * The client's state on disk, all of it in one @parley/storage store (SQLite, every record encrypted):
 * the OMEMO account and sessions, the trust store, the OTR key, the message history and received
 * files. The passphrase is kept in a keystore by default (SimpleX Chat's model: the app starts
 * unattended), or removed from it so it is asked at every start; it can be changed.
 *
 * Layout of a profile directory (one per account): `parley.db` (the store), `keystore.json` (the
 * passphrase, mode 0600, while it is remembered).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { bytesToHex, createCrypto } from "@parley/crypto";
import { EncryptedStore, isStorageError, type Keystore } from "@parley/storage";
import { FileKeystore } from "@parley/storage/file-keystore";
import { openSqliteBackend } from "@parley/storage/sqlite";
import type { HistoryEntry } from "@parley/sdk";
import { createTrustStore, type TrustStorage, type TrustStore } from "@parley/trust";

/** scrypt parameters (see @parley/storage's DEFAULT_SCRYPT, used unless given). */
export interface KdfParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly dkLen: number;
}

export type ProfileErrorCode =
  /** The passphrase does not open the store (nothing was changed). */
  | "WRONG_PASSPHRASE"
  /** The store exists, its passphrase is not in the keystore and none was given: ask the user. */
  | "PASSPHRASE_REQUIRED"
  /** The store's bytes were altered or it cannot be read. */
  | "STORE_DAMAGED"
  | "INVALID_ARGUMENT";

/** A typed error of the profile; its message never holds a passphrase. */
export class ProfileError extends Error {
  readonly code: ProfileErrorCode;
  constructor(code: ProfileErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProfileError";
    this.code = code;
  }
}

export const isProfileError = (e: unknown, code?: ProfileErrorCode): e is ProfileError =>
  e instanceof ProfileError && (code === undefined || e.code === code);

export interface OpenProfileOptions {
  /** The profile's directory (created if missing). */
  readonly dir: string;
  /**
   * The passphrase. At creation: the store's passphrase (default: 32 random bytes in hex, kept in the
   * keystore). At a later start: leave it out to take the one the keystore holds.
   */
  readonly passphrase?: string;
  /** At creation: keep the passphrase in the keystore (default true; false: asked at every start). */
  readonly remember?: boolean;
  /** Default: a FileKeystore at `<dir>/keystore.json`. */
  readonly keystore?: Keystore;
  /** scrypt cost (tests pass a small N). */
  readonly kdf?: KdfParams;
}

/** One message of the history, as stored (encrypted, like everything else in the store): the API's type. */
export type { HistoryEntry };

const te = new TextEncoder();
const td = new TextDecoder();
const MAX_HISTORY_PAGE = 1000;
/** The history: `<peer>/<at, 15 digits>-<sequence>` → a HistoryEntry as JSON (the same format since the first version). */
const HISTORY = "history";
/**
 * Outgoing messages of the queue not sent yet: message id (origin-id) → the key of their history entry,
 * whose encryption is the one intended until the queue says which one it used.
 */
const UNSENT = "history-unsent";

/**
 * The profile's keystore seen through: the passphrases it handed out or was given in this run, so a
 * passphrase the user never saw (the random one of a new profile) can be changed without typing it. They
 * stay in this process's memory only, as the store's data key does.
 */
class WatchedKeystore implements Keystore {
  readonly kind: string;
  readonly #inner: Keystore;
  readonly #seen = new Set<string>();
  constructor(inner: Keystore) {
    this.#inner = inner;
    this.kind = inner.kind;
  }
  async get(entry: string): Promise<string | undefined> {
    const v = await this.#inner.get(entry);
    if (v !== undefined) this.#seen.add(v);
    return v;
  }
  async set(entry: string, secret: string): Promise<void> {
    await this.#inner.set(entry, secret);
    this.#seen.add(secret);
  }
  delete(entry: string): Promise<void> {
    return this.#inner.delete(entry);
  }
  /** Passphrases seen in this run, newest last. */
  seen(): string[] {
    return [...this.#seen];
  }
  toString(): string {
    return `Keystore(${this.kind}, secrets redacted)`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** Marks in the store's "profile" namespace: whether the passphrase was generated (never shown to anyone). */
const PASSPHRASE_ORIGIN = "passphrase-origin";
/** Present while the user has turned OMEMO off for this device (`/omemo off`), until `/omemo on`. */
const OMEMO_OFF = "omemo-off";

/** The store's "trust" namespace as @parley/trust's storage, transactions included. */
function trustStorageIn(db: EncryptedStore): TrustStorage {
  const ns = db.namespace("trust");
  return {
    get: (key) => ns.get(key),
    put: (key, value) => ns.put(key, value),
    delete: (key) => ns.delete(key),
    scan: (options) => ns.scan(options),
    transaction: (fn) => db.transaction((tx) => fn(tx.namespace("trust"))),
  };
}

export class Profile {
  readonly dir: string;
  readonly db: EncryptedStore;
  readonly trust: TrustStore;
  readonly keystore: Keystore;
  /** Whether this start created the store. */
  readonly created: boolean;
  #seq = 0;

  readonly #keystore: WatchedKeystore;

  private constructor(dir: string, db: EncryptedStore, keystore: WatchedKeystore, created: boolean) {
    this.dir = dir;
    this.db = db;
    this.keystore = keystore;
    this.#keystore = keystore;
    this.created = created;
    this.trust = createTrustStore({ storage: trustStorageIn(db) });
  }

  /** Opens the profile in `dir`, creating it on first use. */
  static async open(options: OpenProfileOptions): Promise<Profile> {
    if (typeof options.dir !== "string" || options.dir === "") {
      throw new ProfileError("INVALID_ARGUMENT", "a profile directory is required");
    }
    if (options.passphrase !== undefined && (typeof options.passphrase !== "string" || options.passphrase === "")) {
      throw new ProfileError("INVALID_ARGUMENT", "the passphrase must be a non-empty string");
    }
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const keystore = new WatchedKeystore(
      options.keystore ?? new FileKeystore(join(options.dir, "keystore.json"), { warn: false }),
    );
    const backend = await openSqliteBackend(join(options.dir, "parley.db"));
    if (!(await EncryptedStore.exists(backend))) {
      const passphrase = options.passphrase ?? bytesToHex(createCrypto().randomBytes(32));
      const remember = options.remember ?? true;
      if (!remember && options.passphrase === undefined) {
        await backend.close();
        throw new ProfileError("INVALID_ARGUMENT", "a profile that does not remember its passphrase needs one");
      }
      const db = await EncryptedStore.create(backend, {
        passphrase,
        ...(options.kdf ? { kdf: options.kdf } : {}),
        ...(remember ? { keystore } : {}),
      });
      const origin = options.passphrase === undefined ? "generated" : "chosen";
      await db.namespace("profile").put(PASSPHRASE_ORIGIN, te.encode(origin));
      return new Profile(options.dir, db, keystore, true);
    }
    try {
      const db = await EncryptedStore.open(
        backend,
        options.passphrase !== undefined ? { passphrase: options.passphrase } : { keystore },
      );
      return new Profile(options.dir, db, keystore, false);
    } catch (e) {
      await backend.close().catch(() => undefined);
      throw profileError(e);
    }
  }

  /**
   * Changes the passphrase (O(1): the data key is rewrapped); the keystore follows if it held the old one.
   * `current` may be left out while the keystore holds it (a new profile's random passphrase, which the
   * user never saw): then the one it gave this run is used.
   */
  async changePassphrase(current: string | undefined, next: string, options: { kdf?: KdfParams } = {}): Promise<void> {
    if (typeof next !== "string" || next.length < 1) {
      throw new ProfileError("INVALID_ARGUMENT", "the new passphrase must be a non-empty string");
    }
    const remembered = await this.remembersPassphrase();
    const candidates = current !== undefined ? [current] : remembered ? this.#keystore.seen().reverse() : [];
    if (candidates.length === 0) {
      throw new ProfileError("PASSPHRASE_REQUIRED", "enter the current passphrase to change it");
    }
    let failure: unknown;
    for (const candidate of candidates) {
      try {
        await this.db.changePassphrase(candidate, next, {
          ...(options.kdf ? { kdf: options.kdf } : {}),
          ...(remembered ? { keystore: this.keystore } : {}),
        });
        await this.db.namespace("profile").put(PASSPHRASE_ORIGIN, te.encode("chosen"));
        return;
      } catch (e) {
        failure = e;
        if (!isStorageError(e, "WRONG_PASSPHRASE")) break;
      }
    }
    throw profileError(failure);
  }

  /** Whether the passphrase is a random one generated with the profile and never shown (so never forgotten). */
  async passphraseIsGenerated(): Promise<boolean> {
    const v = await this.db.namespace("profile").get(PASSPHRASE_ORIGIN);
    return v !== undefined && td.decode(v) === "generated";
  }

  /** Whether the keystore holds the passphrase (the app starts without asking). */
  async remembersPassphrase(): Promise<boolean> {
    return this.db.isPassphraseInKeystore(this.keystore);
  }

  /** Removes the passphrase from the keystore: from the next start on it is asked. */
  async forgetPassphrase(): Promise<void> {
    if (await this.passphraseIsGenerated()) {
      throw new ProfileError(
        "INVALID_ARGUMENT",
        "the passphrase is a random one nobody has seen: choose one first (change it), then it can be forgotten",
      );
    }
    await this.db.removePassphraseFromKeystore(this.keystore);
  }

  /** Keeps the passphrase in the keystore (checked first: WRONG_PASSPHRASE if it does not open this store). */
  async rememberPassphrase(passphrase: string): Promise<void> {
    try {
      await this.db.storePassphraseInKeystore(this.keystore, passphrase);
    } catch (e) {
      throw profileError(e);
    }
  }

  /** Whether OMEMO is on for this device: the user's choice (`/omemo off`, `/omemo on`), on by default. */
  async omemoEnabled(): Promise<boolean> {
    return (await this.db.namespace("profile").get(OMEMO_OFF)) === undefined;
  }

  /** Keeps the user's choice of OMEMO for this device across restarts. */
  async setOmemoEnabled(enabled: boolean): Promise<void> {
    const ns = this.db.namespace("profile");
    if (enabled) await ns.delete(OMEMO_OFF);
    else await ns.put(OMEMO_OFF, te.encode("off"));
  }

  /**
   * Appends a message to the history of its conversation. With `messageId` (an outgoing message of the
   * queue, not sent yet), its `encryption` is the one intended, and {@link recordSent} corrects it to the
   * one the queue used once it is known: the entry is noted under the id (in the same transaction).
   */
  async record(entry: HistoryEntry, options: { messageId?: string } = {}): Promise<void> {
    const key = `${entry.peer}/${String(entry.at).padStart(15, "0")}-${String(this.#seq++).padStart(6, "0")}`;
    const value = te.encode(JSON.stringify(entry));
    const { messageId } = options;
    if (messageId === undefined) {
      await this.db.namespace(HISTORY).put(key, value);
      return;
    }
    await this.db.transaction(async (tx) => {
      await tx.namespace(HISTORY).put(key, value);
      await tx.namespace(UNSENT).put(messageId, te.encode(key));
    });
  }

  /**
   * The queue sent the message recorded with `messageId` (see {@link record}): its entry now says the
   * encryption it went out with. False if no entry waits under that id (none was recorded, or it was
   * corrected already).
   */
  async recordSent(messageId: string, encryption: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const unsent = tx.namespace(UNSENT);
      const ref = await unsent.get(messageId);
      if (ref === undefined) return false;
      await unsent.delete(messageId);
      const history = tx.namespace(HISTORY);
      const key = td.decode(ref);
      const stored = await history.get(key);
      if (stored !== undefined) {
        const entry = JSON.parse(td.decode(stored)) as HistoryEntry;
        // Whatever else the record holds (a later version's fields) is kept.
        await history.put(key, te.encode(JSON.stringify({ ...entry, encryption })));
      }
      return true;
    });
  }

  /** The ids of outgoing messages whose history entry still shows the encryption intended (see {@link record}). */
  async unsentMessageIds(): Promise<string[]> {
    return (await this.db.namespace(UNSENT).scan()).map((e) => e.key);
  }

  /** Stops waiting for the queue to send `messageId` (cancelled, or gone): its entry stays as it is. */
  async forgetUnsent(messageId: string): Promise<void> {
    await this.db.namespace(UNSENT).delete(messageId);
  }

  /** The last `limit` messages with `peer` (bare JID), oldest first. */
  async history(peer: string, limit = 50): Promise<HistoryEntry[]> {
    const n = Math.max(0, Math.min(MAX_HISTORY_PAGE, Math.floor(limit)));
    const all = await this.db.namespace(HISTORY).scan({ prefix: `${peer}/` });
    return all.slice(Math.max(0, all.length - n)).map((e) => JSON.parse(td.decode(e.value)) as HistoryEntry);
  }

  /** Deletes every received or sent file kept in the store (messages stay). */
  async deleteAllMedia(): Promise<void> {
    await this.db.deleteAllMedia();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function profileError(e: unknown): unknown {
  if (isStorageError(e, "WRONG_PASSPHRASE")) {
    return new ProfileError("WRONG_PASSPHRASE", "wrong passphrase: the store was not opened and nothing was changed");
  }
  if (isStorageError(e, "KEYSTORE_EMPTY")) {
    return new ProfileError(
      "PASSPHRASE_REQUIRED",
      "the passphrase is not kept in the keystore: enter it (--ask-passphrase, or PARLEY_CHAT_PASSPHRASE)",
    );
  }
  if (isStorageError(e, "TAMPERED") || isStorageError(e, "CORRUPTED")) {
    return new ProfileError("STORE_DAMAGED", "the store was altered or is damaged; it was not opened", { cause: e });
  }
  return e;
}
