/**
 * The explicit fallback keystore for Node where no OS keychain binding works (headless Linux has no
 * Secret Service; docs/measurements/storage.md says what was tried): a JSON file with mode
 * 0600 in a 0700 directory. Anyone who can read the file as this user can open the store; it
 * protects against other users and against copies of the store alone, not against this user's
 * malware or a full-disk copy. It says so once, on console.warn, when it first stores a secret.
 * @packageDocumentation
 */
import { chmod, mkdir, open, readFile, rename, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { StorageError } from "./errors.js";
import type { Keystore } from "./keystore.js";

const warned = new Set<string>();

export interface FileKeystoreOptions {
  /** Set false once the user has been told where the passphrase is kept (default true). */
  readonly warn?: boolean;
}

export class FileKeystore implements Keystore {
  readonly kind = "file";
  readonly path: string;
  readonly #warn: boolean;

  constructor(path: string, options: FileKeystoreOptions = {}) {
    if (typeof path !== "string" || path.length === 0)
      throw new StorageError("INVALID_ARGUMENT", "the keystore path must be a non-empty string");
    this.path = path;
    this.#warn = options.warn ?? true;
  }

  async #load(): Promise<Record<string, string>> {
    let info;
    try {
      info = await stat(this.path);
    } catch {
      return {};
    }
    if ((info.mode & 0o077) !== 0) {
      throw new StorageError(
        "KEYSTORE_FAILED",
        `the keystore file ${this.path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); remove it or chmod 600 it`,
      );
    }
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, "utf8"));
      if (typeof parsed !== "object" || parsed === null) throw new Error("not an object");
      return parsed as Record<string, string>;
    } catch (cause) {
      throw new StorageError(
        "KEYSTORE_FAILED",
        `the keystore file ${this.path} is unreadable; delete it and store the passphrase again`,
        { cause },
      );
    }
  }

  async #save(entries: Record<string, string>): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    const file = await open(tmp, "w", 0o600);
    try {
      await file.chmod(0o600);
      await file.writeFile(JSON.stringify(entries));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.path);
    await chmod(this.path, 0o600);
  }

  async get(entry: string): Promise<string | undefined> {
    const entries = await this.#load();
    return Object.hasOwn(entries, entry) ? entries[entry] : undefined;
  }

  async set(entry: string, secret: string): Promise<void> {
    if (this.#warn && !warned.has(this.path)) {
      warned.add(this.path);
      console.warn(
        `[@parley/storage] FileKeystore: the store passphrase is kept in plain text in ${this.path} (mode 0600). ` +
          "Anyone who can read that file as this user can open the store. Use an OS keychain Keystore where one exists, or remove the passphrase from the keystore.",
      );
    }
    const entries = await this.#load();
    entries[entry] = secret;
    await this.#save(entries);
  }

  async delete(entry: string): Promise<void> {
    const entries = await this.#load();
    if (!Object.hasOwn(entries, entry)) return;
    // Rewritten without the entry; the old file's blocks are released by the rename, not overwritten.
    const rest = { ...entries };
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a copy keyed by entry name
    delete rest[entry];
    await this.#save(rest);
  }

  toString(): string {
    return `FileKeystore(${this.path}, secrets redacted)`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
