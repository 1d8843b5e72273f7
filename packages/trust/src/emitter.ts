/** A minimal typed event emitter with no Node dependency (runs in browsers). */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(event: never) => void>>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribe; returns a function that unsubscribes. */
  on<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): () => void {
    let set = this.#listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener);
    return () => {
      this.off(name, listener);
    };
  }

  off<K extends keyof Events>(name: K, listener: (event: Events[K]) => void): void {
    this.#listeners.get(name)?.delete(listener);
  }

  /** Calls every listener; one that throws does not stop the others or the store (its error goes to onListenerError). */
  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set] as Array<(event: Events[K]) => void>) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
