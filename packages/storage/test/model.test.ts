/**
 * Model test: any sequence of put/get/delete/scan/transaction/close-reopen/change-passphrase
 * against a plain Map per namespace; the store must agree with the model at every step.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EncryptedStore, type StorageBackend } from "../src/index.js";
import { BACKENDS, FAST_KDF } from "./helpers.js";

type Op =
  | { t: "put"; ns: string; key: string; value: Uint8Array }
  | { t: "get"; ns: string; key: string }
  | { t: "delete"; ns: string; key: string }
  | { t: "scan"; ns: string; prefix: string }
  | { t: "tx"; ops: Array<{ ns: string; key: string; value: Uint8Array | null }>; abort: boolean }
  | { t: "reopen" }
  | { t: "change" };

// Few, overlapping keys and segment structure so overwrites, deletes and prefix scans collide often.
const segment = fc.constantFrom("", "a", "b", "alice", "al", "1", "10");
const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join("/"));
const ns = fc.constantFrom("trust", "sessions");
const value = fc.uint8Array({ maxLength: 24 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant("put" as const), ns, key, value }),
  fc.record({ t: fc.constant("get" as const), ns, key }),
  fc.record({ t: fc.constant("delete" as const), ns, key }),
  fc.record({ t: fc.constant("scan" as const), ns, prefix: fc.oneof(key, fc.constantFrom("", "a/", "al", "alice/1")) }),
  fc.record({
    t: fc.constant("tx" as const),
    ops: fc.array(fc.record({ ns, key, value: fc.option(value, { nil: null }) }), { maxLength: 5 }),
    abort: fc.boolean(),
  }),
  fc.constant({ t: "reopen" as const }),
  fc.constant({ t: "change" as const }),
);

function modelScan(model: Map<string, Map<string, Uint8Array>>, name: string, prefix: string) {
  return [...(model.get(name) ?? new Map<string, Uint8Array>())]
    .filter(([k]) => k.startsWith(prefix))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => ({ key: k, value: v }));
}

for (const kind of BACKENDS) {
  describe(`model: the store agrees with a Map (${kind.name})`, () => {
    it("for any sequence of operations", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
          const loc = kind.fresh();
          let passphrase = "p0";
          let generation = 0;
          let backend: StorageBackend = await loc.open();
          let db = await EncryptedStore.create(backend, { passphrase, kdf: FAST_KDF });
          const model = new Map<string, Map<string, Uint8Array>>([
            ["trust", new Map()],
            ["sessions", new Map()],
          ]);
          try {
            for (const o of ops) {
              switch (o.t) {
                case "put":
                  await db.namespace(o.ns).put(o.key, o.value);
                  model.get(o.ns)!.set(o.key, o.value);
                  break;
                case "get":
                  expect(await db.namespace(o.ns).get(o.key)).toEqual(model.get(o.ns)!.get(o.key));
                  break;
                case "delete":
                  await db.namespace(o.ns).delete(o.key);
                  model.get(o.ns)!.delete(o.key);
                  break;
                case "scan":
                  expect(await db.namespace(o.ns).scan({ prefix: o.prefix })).toEqual(modelScan(model, o.ns, o.prefix));
                  break;
                case "tx": {
                  const run = db.transaction(async (tx) => {
                    for (const w of o.ops) {
                      if (w.value) await tx.namespace(w.ns).put(w.key, w.value);
                      else await tx.namespace(w.ns).delete(w.key);
                    }
                    if (o.abort) throw new Error("abort");
                  });
                  if (o.abort) {
                    await expect(run).rejects.toThrow("abort");
                  } else {
                    await run;
                    for (const w of o.ops) {
                      if (w.value) model.get(w.ns)!.set(w.key, w.value);
                      else model.get(w.ns)!.delete(w.key);
                    }
                  }
                  break;
                }
                case "reopen":
                  await db.close();
                  backend = await loc.open();
                  db = await EncryptedStore.open(backend, { passphrase });
                  break;
                case "change": {
                  const next = `p${++generation}`;
                  await db.changePassphrase(passphrase, next);
                  passphrase = next;
                  break;
                }
              }
            }
            await db.close();
            db = await EncryptedStore.open(await loc.open(), { passphrase });
            for (const name of ["trust", "sessions"])
              expect(await db.namespace(name).scan()).toEqual(modelScan(model, name, ""));
          } finally {
            await db.close();
            loc.cleanup();
          }
        }),
        { numRuns: kind.name === "memory" ? 200 : 60 },
      );
    });
  });
}
