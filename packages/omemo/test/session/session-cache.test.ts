// The manager keeps recently used sessions decoded in memory (option sessionCacheSize). A cached
// session is used only while the store holds the exact bytes it came from, it is taken out while an
// operation may spend it, and it goes back only once its successor is committed. These tests pin
// each of those rules: a failed commit, a second tab writing the same record, and a disabled cache.
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  MemoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  SessionManager,
  type OmemoNamespace,
} from "../../src/index.js";
import { ALICE, BOB, BrokenStore, World } from "./world.js";

/** Alice and Bob with an answered session in `ns`, Bob on a store that can be broken. */
async function established(ns: OmemoNamespace) {
  const world = new World();
  const alice = await world.add(ALICE, { namespaces: [ns] });
  const bob = await world.add(BOB, { namespaces: [ns] });
  const store = new BrokenStore(bob.store.snapshot());
  await bob.restart(store);
  await world.send(alice, BOB, "hello");
  await world.network.flush();
  await world.send(bob, ALICE, "hi");
  await world.network.flush();
  await world.send(alice, BOB, "how are you");
  await world.network.flush();
  expect(bob.texts()).toEqual(["hello", "how are you"]);
  return { world, alice, bob, store };
}

const copy = (stanza: Parameters<typeof serializeXml>[0]) => parseXml(serializeXml(stanza));

describe.each([NS_LEGACY, NS_V2] as const)("%s: the session cache", (ns) => {
  it("a decrypt whose commit fails spends no cached session: the same stanza decrypts afterwards", async () => {
    const { world, alice, bob, store } = await established(ns);
    await world.send(alice, BOB, "after a full disk");
    const stanza = world.network.queue.splice(0).find((p) => p.to === bob.client)!.stanza;
    store.broken = true;
    const failed = await bob.manager.decrypt(copy(stanza)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(failed, "IO_FAILED")).toBe(true);
    store.broken = false;
    expect((await bob.manager.decrypt(copy(stanza))).body).toBe("after a full disk");
    // And the session goes on in both directions.
    await world.send(bob, ALICE, "back");
    await world.network.flush();
    expect(alice.texts().at(-1)).toBe("back");
  });

  it("an encrypt whose commit fails spends no cached session: the next encrypt reads at the peer", async () => {
    const { world, alice, bob, store } = await established(ns);
    store.broken = true;
    const failed = await bob.manager.encrypt(ALICE, { body: "lost" });
    expect(failed.messages).toEqual([]);
    expect(isOmemoError(failed.devices[0]!.error, "IO_FAILED")).toBe(true);
    store.broken = false;
    await world.send(bob, ALICE, "kept");
    await world.network.flush();
    expect(alice.texts().at(-1)).toBe("kept");
    expect(alice.errors()).toEqual([]);
  });
});

describe("the session cache and a second manager on the same store (two tabs)", () => {
  it("each tab sees the other's writes: messages decrypted alternately by two tabs all read, and no write is refused", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "start");
    await world.network.flush();
    await world.send(bob, ALICE, "ack");
    await world.network.flush();
    const tab = (): Promise<SessionManager> =>
      SessionManager.create({
        jid: BOB,
        store: bob.store,
        transport: bob.transport,
        trust: { decide: () => "trusted" },
        namespaces: [NS_V2],
      });
    const tabs = [await tab(), await tab()];
    const read: string[] = [];
    for (let i = 0; i < 6; i++) {
      await world.send(alice, BOB, `m${i}`);
      const stanza = world.network.queue.splice(0).find((p) => p.to === bob.client)!.stanza;
      // Alternate tabs, and every tab also encrypts: each must load what the other stored.
      const t = tabs[i % 2]!;
      read.push((await t.decrypt(copy(stanza))).body!);
      const reply = await t.encrypt(ALICE, { body: `r${i}` });
      expect(reply.devices.map((d) => d.status)).toEqual(["encrypted"]);
      const s = parseXml(`<message from='${BOB}/x' to='${ALICE}'/>`);
      s.cnode(reply.messages[0]!.encrypted);
      expect((await alice.manager.decrypt(s)).body).toBe(`r${i}`);
    }
    expect(read).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
  });

  it("sessionCacheSize 0 keeps nothing and changes nothing observable; a negative size is refused", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], sessionCacheSize: 0 });
    const bob = await world.add(BOB, { namespaces: [NS_V2], sessionCacheSize: 0 });
    for (let i = 0; i < 3; i++) {
      await world.send(alice, BOB, `a${i}`);
      await world.send(bob, ALICE, `b${i}`);
      await world.network.flush();
    }
    expect(bob.texts()).toEqual(["a0", "a1", "a2"]);
    expect(alice.texts()).toEqual(["b0", "b1", "b2"]);
    await expect(
      SessionManager.create({
        jid: "carol@example.com",
        store: new MemoryOmemoStore(),
        transport: alice.transport,
        trust: { decide: () => "trusted" },
        sessionCacheSize: -1,
      }),
    ).rejects.toSatisfy((e: unknown) => isOmemoError(e, "INVALID_ARGUMENT"));
  });
});
