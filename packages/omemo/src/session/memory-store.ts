import { KeyedLock } from "./lock.js";
import type { OmemoKeyValue, OmemoStore, OmemoStoreTransaction } from "./io.js";

/** What a {@link MemoryOmemoStore} holds: store namespace -> key -> value. The constructor uses the map given, without copying. */
export type MemoryOmemoStoreData = Map<string, Map<string, Uint8Array>>;

function sortedScan(
  entries: Iterable<[string, Uint8Array]>,
  prefix: string,
): Array<{ key: string; value: Uint8Array }> {
  const out: Array<{ key: string; value: Uint8Array }> = [];
  for (const [key, value] of entries) if (key.startsWith(prefix)) out.push({ key, value: value.slice() });
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * An in-memory {@link OmemoStore} with the semantics of @parley/storage: values are copied in and
 * out, a transaction's writes are applied together when its body resolves and dropped when it
 * throws, and transactions (and plain writes) run one at a time. Two managers given one instance
 * behave like two tabs on one database. `snapshot()` / `fromSnapshot()` model a restart or a
 * restore from a backup.
 */
export class MemoryOmemoStore implements OmemoStore {
  readonly #data: MemoryOmemoStoreData;
  readonly #lock = new KeyedLock();

  constructor(data: MemoryOmemoStoreData = new Map()) {
    this.#data = data;
  }

  static fromSnapshot(snapshot: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>): MemoryOmemoStore {
    return new MemoryOmemoStore(copy(snapshot));
  }

  /** A deep copy of everything stored. */
  snapshot(): Map<string, Map<string, Uint8Array>> {
    return copy(this.#data);
  }

  #space(name: string): Map<string, Uint8Array> {
    let space = this.#data.get(name);
    if (space === undefined) {
      space = new Map();
      this.#data.set(name, space);
    }
    return space;
  }

  namespace(name: string): OmemoKeyValue {
    return {
      get: (key) => Promise.resolve(this.#space(name).get(key)?.slice()),
      put: (key, value) =>
        this.#lock.run("", () => {
          this.#space(name).set(key, value.slice());
          return Promise.resolve();
        }),
      delete: (key) =>
        this.#lock.run("", () => {
          this.#space(name).delete(key);
          return Promise.resolve();
        }),
      scan: (options) => Promise.resolve(sortedScan(this.#space(name), options?.prefix ?? "")),
    };
  }

  transaction<T>(body: (tx: OmemoStoreTransaction) => Promise<T>): Promise<T> {
    return this.#lock.run("", async () => {
      // name -> key -> value (null: deleted)
      const pending = new Map<string, Map<string, Uint8Array | null>>();
      let open = true;
      const writes = (name: string): Map<string, Uint8Array | null> => {
        if (!open) throw new Error("the transaction has ended");
        let w = pending.get(name);
        if (w === undefined) {
          w = new Map();
          pending.set(name, w);
        }
        return w;
      };
      const views = new Map<string, OmemoKeyValue>();
      const view = (name: string): OmemoKeyValue => ({
        get: (key) => {
          const w = writes(name);
          if (w.has(key)) return Promise.resolve(w.get(key)?.slice() ?? undefined);
          return Promise.resolve(this.#space(name).get(key)?.slice());
        },
        put: (key, value) => {
          writes(name).set(key, value.slice());
          return Promise.resolve();
        },
        delete: (key) => {
          writes(name).set(key, null);
          return Promise.resolve();
        },
        scan: (options) => {
          const merged = new Map(this.#space(name));
          for (const [k, v] of writes(name)) {
            if (v === null) merged.delete(k);
            else merged.set(k, v);
          }
          return Promise.resolve(sortedScan(merged, options?.prefix ?? ""));
        },
      });
      const tx: OmemoStoreTransaction = {
        namespace: (name) => {
          let v = views.get(name);
          if (v === undefined) views.set(name, (v = view(name)));
          return v;
        },
      };
      let result: T;
      try {
        result = await body(tx);
      } finally {
        open = false;
      }
      for (const [name, w] of pending) {
        const space = this.#space(name);
        for (const [key, value] of w) {
          if (value === null) space.delete(key);
          else space.set(key, value);
        }
      }
      return result;
    });
  }
}

function copy(data: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>): Map<string, Map<string, Uint8Array>> {
  const out = new Map<string, Map<string, Uint8Array>>();
  for (const [name, space] of data) {
    const s = new Map<string, Uint8Array>();
    for (const [k, v] of space) s.set(k, v.slice());
    out.set(name, s);
  }
  return out;
}

/** A fresh empty in-memory store. */
export function memoryOmemoStore(): MemoryOmemoStore {
  return new MemoryOmemoStore();
}
