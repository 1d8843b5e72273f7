/**
 * One async lock per key (a peer address, a namespace's prekeys). Calls with the same key run one
 * after another in call order; different keys run concurrently. Entries are dropped when idle, so
 * the map holds only keys with work queued.
 */
export class KeyedLock {
  /** Per key: settles when the last call queued on it is done (never rejects). */
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, body: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tails.set(key, mine);
    const go = async (): Promise<T> => {
      try {
        return await body();
      } finally {
        release();
        if (this.#tails.get(key) === mine) this.#tails.delete(key);
      }
    };
    // A free key runs at once (no hop through a resolved promise); a busy one after its predecessor.
    return previous === undefined ? go() : previous.then(go);
  }

  /** Keys with work running or queued (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}
