/**
 * The reads and writes of one all-or-nothing transaction: none of its puts and deletes apply unless `fn` resolves.
 * Reads see the transaction's own writes.
 */
export interface TrustStorageTransaction {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Optional, as `TrustStorage.scan` but inside the transaction. With it every read a decision depends on (is this
   * the contact's first batch?) happens inside the transaction; without it the store scans through the storage
   * itself, from inside the transaction body. `@parley/storage`'s `tx.namespace(…)` has it.
   */
  scan?(options?: { prefix?: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/**
 * Where the trust store keeps its records. Declared here, where it is consumed; @parley/storage's namespace
 * handle satisfies it structurally, and `memoryTrustStorage()` does for tests and demos.
 * Values are opaque bytes; keys need not be human-readable but must list a contact's records by prefix.
 */
export interface TrustStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  scan(options?: { prefix?: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
  /**
   * Optional: run `fn` and apply all its writes atomically when it resolves, none when it rejects. When present
   * every change of the store (a batch of keys, a user action, a migration, forgetting a contact) reads what it
   * decides on and writes its rows inside one transaction, so several store instances (tabs, processes) on one
   * storage decide as one would, provided the storage runs transactions serialisably. Without it the store undoes
   * a failed batch itself (see README, "Atomicity") and only one store instance may use the storage.
   */
  transaction?<T>(fn: (tx: TrustStorageTransaction) => Promise<T>): Promise<T>;
}

/** A TrustStorage in a Map: nothing persists. Values are copied in and out, as a real store would. */
export function memoryTrustStorage(): TrustStorage {
  const map = new Map<string, Uint8Array>();
  return {
    get: (key) => {
      const value = map.get(key);
      return Promise.resolve(value === undefined ? undefined : value.slice());
    },
    put: (key, value) => {
      map.set(key, value.slice());
      return Promise.resolve();
    },
    delete: (key) => {
      map.delete(key);
      return Promise.resolve();
    },
    scan: (options) => {
      const prefix = options?.prefix ?? "";
      const rows = [...map]
        .filter(([key]) => key.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => ({ key, value: value.slice() }));
      return Promise.resolve(rows);
    },
  };
}

const enc = encodeURIComponent;

/**
 * Storage keys. Each identifier is percent-encoded, so '/' only ever separates fields and a contact's prefix
 * (`rec/<account>/<contact>/`) cannot match another contact whose name merely starts the same way.
 */
export const storageKeys = {
  record: (account: string, contact: string, protocol: string, fingerprint: string): string =>
    `rec/${enc(account)}/${enc(contact)}/${enc(protocol)}/${fingerprint}`,
  protocolPrefix: (account: string, contact: string, protocol: string): string =>
    `rec/${enc(account)}/${enc(contact)}/${enc(protocol)}/`,
  contactPrefix: (account: string, contact: string): string => `rec/${enc(account)}/${enc(contact)}/`,
  accountPrefix: (account: string): string => `rec/${enc(account)}/`,
  settings: (account: string, contact: string): string => `set/${enc(account)}/${enc(contact)}`,
  /** A contact's state for one protocol: is its first batch open, has the user ever verified or compromised a key. */
  group: (account: string, contact: string, protocol: string): string =>
    `grp/${enc(account)}/${enc(contact)}/${enc(protocol)}`,
  groupContactPrefix: (account: string, contact: string): string => `grp/${enc(account)}/${enc(contact)}/`,
  /** A compromised record kept after forgetContact, so that the key stays compromised. */
  tombstone: (account: string, contact: string, protocol: string, fingerprint: string): string =>
    `tomb/${enc(account)}/${enc(contact)}/${enc(protocol)}/${fingerprint}`,
  tombstoneProtocolPrefix: (account: string, contact: string, protocol: string): string =>
    `tomb/${enc(account)}/${enc(contact)}/${enc(protocol)}/`,
  /** Present once every stored identifier has been normalised (see TrustStore, "identifiers"). */
  identifiersMarker: "meta/identifiers",
};
