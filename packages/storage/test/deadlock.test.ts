/**
 * Inside a transaction body, writing through the store itself (not `tx`) used to wait for that very
 * transaction forever. In Node it is now a typed DEADLOCK error, raised at the call (README "API").
 */
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError, MemoryBackend } from "../src/index.js";
import { bytes, FAST_KDF, text } from "./helpers.js";

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    return isStorageError(error) ? error.code : `foreign error: ${String(error)}`;
  }
}

async function store() {
  return EncryptedStore.create(new MemoryBackend(), { passphrase: "p", kdf: FAST_KDF });
}

describe("the store used inside its own transaction body", () => {
  const calls: Array<[string, (db: EncryptedStore) => Promise<unknown>]> = [
    ["a put through db.namespace()", (db) => db.namespace("a").put("k", bytes("v"))],
    ["a delete through db.namespace()", (db) => db.namespace("a").delete("k")],
    ["a nested db.transaction", (db) => db.transaction(() => undefined)],
    ["db.media.put", (db) => db.media.put(bytes("photo"))],
    ["db.changePassphrase", (db) => db.changePassphrase("p", "q", { kdf: FAST_KDF })],
    ["db.deleteAllMedia", (db) => db.deleteAllMedia()],
    ["db.close", (db) => db.close()],
  ];
  for (const [what, call] of calls) {
    it(`${what} is a DEADLOCK error, and the transaction still commits what tx wrote`, async () => {
      const db = await store();
      let inner = "";
      await db.transaction(async (tx) => {
        await tx.namespace("a").put("from tx", bytes("kept"));
        inner = await outcome(() => call(db));
      });
      expect(inner).toBe("DEADLOCK");
      expect(text(await db.namespace("a").get("from tx"))).toBe("kept");
      await db.close();
    });
  }

  it("also from code the body awaits indirectly (a helper, a later microtask)", async () => {
    const db = await store();
    const helper = async () => {
      await Promise.resolve();
      return db.namespace("a").put("k", bytes("v"));
    };
    let inner = "";
    await db.transaction(async () => {
      inner = await outcome(helper);
    });
    expect(inner).toBe("DEADLOCK");
    await db.close();
  });

  it("still detected after another store's transaction, run from inside this body, has ended", async () => {
    const db = await store();
    const other = await store();
    let inner = "";
    await db.transaction(async () => {
      await other.transaction(async (tx) => {
        await tx.namespace("b").put("k", bytes("v"));
      });
      inner = await outcome(() => db.namespace("a").put("k", bytes("v")));
    });
    expect(inner).toBe("DEADLOCK");
    expect(text(await other.namespace("b").get("k"))).toBe("v");
    await db.close();
    await other.close();
  });

  it("reads through the store inside the body still work (they never waited), and see committed data only", async () => {
    const db = await store();
    await db.namespace("a").put("k", bytes("committed"));
    await db.transaction(async (tx) => {
      await tx.namespace("a").put("k", bytes("pending"));
      expect(text(await db.namespace("a").get("k"))).toBe("committed");
      expect((await db.namespace("a").scan()).length).toBe(1);
    });
    await db.close();
  });

  it("work the body schedules for after it ends is not refused, and another store is not affected", async () => {
    const db = await store();
    const other = await store();
    let later: Promise<void> | undefined;
    await db.transaction(async () => {
      await other.namespace("b").put("k", bytes("other store"));
      later = new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          db.namespace("a").put("after", bytes("later")).then(resolve, reject);
        }, 0);
      });
    });
    await later;
    expect(text(await db.namespace("a").get("after"))).toBe("later");
    expect(text(await other.namespace("b").get("k"))).toBe("other store");
    await db.close();
    await other.close();
  });
});
