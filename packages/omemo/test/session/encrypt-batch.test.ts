// Encrypting to several devices we already have sessions with stores all their successors in one
// transaction (one durable commit per message, not one per device). When that transaction fails,
// every device goes the per-device way again from what the store holds: nothing is lost or spent.
import { describe, expect, it } from "vitest";
import {
  MemoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  type OmemoNamespace,
  type OmemoStoreTransaction,
} from "../../src/index.js";
import { ALICE, BOB, World } from "./world.js";

/** Counts transactions; fails the next `failNext` of them at commit. */
class CountingStore extends MemoryOmemoStore {
  transactions = 0;
  failNext = 0;
  override transaction<T>(body: (tx: OmemoStoreTransaction) => Promise<T>): Promise<T> {
    this.transactions++;
    return super.transaction(async (tx) => {
      const result = await body(tx);
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error("commit failed (injected)");
      }
      return result;
    });
  }
}

/** Alice (device 0 on a counting store, plus 1 more device) and Bob (3 devices), all sessions answered. */
async function setUp(ns: OmemoNamespace) {
  const world = new World();
  const alice = await world.add(ALICE, { namespaces: [ns] });
  await world.add(ALICE, { namespaces: [ns] });
  for (let i = 0; i < 3; i++) await world.add(BOB, { namespaces: [ns] });
  const store = new CountingStore(alice.store.snapshot());
  await alice.restart(store);
  await world.send(alice, BOB, "hello");
  await world.network.flush();
  for (const d of world.devices.slice(1)) {
    await world.send(d, ALICE, `ack from ${d.resource}`);
    await world.network.flush();
  }
  return { world, alice, store };
}

describe.each([NS_LEGACY, NS_V2] as const)("%s: encrypting to established sessions", (ns) => {
  it("4 established devices: one transaction for the whole message, and every device reads it", async () => {
    const { world, alice, store } = await setUp(ns);
    store.transactions = 0;
    const r = await alice.manager.encrypt(BOB, { body: "one commit" });
    expect(r.devices.map((d) => d.status)).toEqual(["encrypted", "encrypted", "encrypted", "encrypted"]);
    expect(r.devices.every((d) => d.keyExchange === false)).toBe(true);
    expect(store.transactions).toBe(1);
    const xml = serializeXml(
      parseXml(`<message from='${ALICE}/r0' to='${BOB}'/>`).cnode(r.messages[0]!.encrypted).root(),
    );
    for (const d of world.devices.slice(1)) {
      expect((await d.manager.decrypt(parseXml(xml))).body).toBe("one commit");
    }
  });

  it("a failed batch commit: each device is encrypted again on its own from the stored session, all read once", async () => {
    const { world, alice, store } = await setUp(ns);
    store.failNext = 1;
    store.transactions = 0;
    const r = await alice.manager.encrypt(BOB, { body: "second try" });
    expect(r.devices.map((d) => d.status)).toEqual(["encrypted", "encrypted", "encrypted", "encrypted"]);
    // The failed batch, then one per device.
    expect(store.transactions).toBe(1 + 4);
    const xml = serializeXml(
      parseXml(`<message from='${ALICE}/r0' to='${BOB}'/>`).cnode(r.messages[0]!.encrypted).root(),
    );
    for (const d of world.devices.slice(1)) {
      expect((await d.manager.decrypt(parseXml(xml))).body).toBe("second try");
    }
    // The sessions go on: the next message is one batch again and reads everywhere.
    store.transactions = 0;
    await world.send(alice, BOB, "and on");
    await world.network.flush();
    expect(store.transactions).toBe(1);
    for (const d of world.devices.slice(1)) expect(d.texts().at(-1)).toBe("and on");
  });
});
