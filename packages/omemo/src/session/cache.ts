/**
 * What the manager decoded from the store, kept in memory while the store still holds the bytes it
 * was decoded from. Every use reads the record as before (so another tab or process that wrote it
 * meanwhile is seen) and compares the bytes: a hit skips only the decoding. Bounded, least recently
 * used out first.
 */
export class DecodedCache<T> {
  readonly #max: number;
  readonly #entries = new Map<string, { readonly raw: Uint8Array; readonly value: T }>();

  constructor(max: number) {
    this.#max = max;
  }

  /** The value cached for `key` if it was decoded from exactly `raw`; it stays cached. */
  get(key: string, raw: Uint8Array): T | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (!equalBytes(e.raw, raw)) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.value;
  }

  /**
   * Like get, but the entry is removed: for a value that the caller may spend (a Double Ratchet
   * session is single-use), to be put back with {@link set} only once its successor is stored.
   */
  take(key: string, raw: Uint8Array): T | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    this.#entries.delete(key);
    return equalBytes(e.raw, raw) ? e.value : undefined;
  }

  /** Remembers `value` as decoded from `raw` (the bytes just stored or read at `key`). */
  set(key: string, raw: Uint8Array, value: T): void {
    if (this.#max <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { raw, value });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Byte equality of two copies of our own stored record (not a secret compared with an attacker's
 * guess, so no constant-time loop is needed).
 */
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
