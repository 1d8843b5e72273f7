/**
 * Where a store's passphrase can be kept so the app starts unattended (SimpleX's default), or not
 * (removed: the user types it at every start). Plug in the OS keychain by implementing this interface;
 * `FileKeystore` (Node, `@parley/storage/file-keystore`) is the explicit fallback, `MemoryKeystore` for tests.
 */
export interface Keystore {
  /** Short description for messages ("file", "memory", "macos-keychain"); never a secret. */
  readonly kind: string;
  get(entry: string): Promise<string | undefined>;
  set(entry: string, secret: string): Promise<void>;
  delete(entry: string): Promise<void>;
}

/** Keeps secrets in process memory: for tests and for apps that hold the passphrase for one run. */
export class MemoryKeystore implements Keystore {
  readonly kind = "memory";
  readonly #entries = new Map<string, string>();
  get(entry: string): Promise<string | undefined> {
    return Promise.resolve(this.#entries.get(entry));
  }
  set(entry: string, secret: string): Promise<void> {
    this.#entries.set(entry, secret);
    return Promise.resolve();
  }
  delete(entry: string): Promise<void> {
    this.#entries.delete(entry);
    return Promise.resolve();
  }
  /** Entry names held (not their secrets). */
  entries(): string[] {
    return [...this.#entries.keys()];
  }
  toString(): string {
    return `MemoryKeystore(${this.#entries.size} entries, secrets redacted)`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
