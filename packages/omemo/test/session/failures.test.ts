// Failing I/O: a store that cannot commit, a transport that cannot publish or send. A failed call
// stores nothing and can be repeated; work that follows a successful one (republishing the bundle,
// an automatic empty message) fails on its own and is reported as an `error` event.
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  legacy,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  v2,
  type OmemoError,
} from "../../src/index.js";
import { ALICE, BOB, BrokenStore, World } from "./world.js";

describe.each([NS_LEGACY, NS_V2] as const)("%s: failing I/O", (ns) => {
  it("a store that cannot commit: decrypt fails with IO_FAILED, nothing changes, and the same stanza decrypts later", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const store = new BrokenStore(bob.store.snapshot());
    await bob.restart(store);
    await world.send(alice, BOB, "kept for later");
    const stanza = world.network.queue.splice(0).find((p) => p.to === bob.client)!.stanza;
    store.broken = true;
    const before = store.snapshot();
    const error = await bob.manager.decrypt(parseXml(serializeXml(stanza))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "IO_FAILED")).toBe(true);
    expect((error as OmemoError).cause).toBeInstanceOf(Error);
    expect(store.snapshot()).toEqual(before);
    expect(world.network.queue).toEqual([]);
    store.broken = false;
    expect((await bob.manager.decrypt(parseXml(serializeXml(stanza)))).body).toBe("kept for later");
    // Encrypting with a broken store: the device fails, no message comes out.
    store.broken = true;
    const r = await bob.manager.encrypt(ALICE, { body: "not now" });
    expect(r.messages).toEqual([]);
    expect(isOmemoError(r.devices[0]!.error, "IO_FAILED")).toBe(true);
  });

  it("a transport that cannot publish or send: the message is still read, the failures come as error events", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const errors: OmemoError[] = [];
    bob.manager.on("error", (e) => errors.push(e));
    bob.failing.add("publish");
    bob.failing.add("send");
    await world.send(alice, BOB, "hello");
    await world.network.flush();
    expect(bob.texts()).toEqual(["hello"]);
    expect(errors.map((e) => e.code)).toEqual(["IO_FAILED", "IO_FAILED"]);
    // The prekey was consumed and replaced in the store; the next publication carries it.
    bob.failing.clear();
    const published = bob.published.length;
    await bob.manager.publishOwnDevice();
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const bundle = bob.published.slice(published).find((p) => p.node === node)!;
    const decoded = ns === NS_LEGACY ? legacy.decodeBundle(bundle.payload) : v2.decodeBundle(bundle.payload);
    expect(decoded).toEqual(await bob.manager.ownBundle(ns));
    // Alice never got the empty message: she repeats the key exchange, which Bob reads in the same session.
    const again = await world.send(alice, BOB, "again");
    expect(again.devices[0]!.keyExchange).toBe(true);
    await world.network.flush();
    expect(bob.texts()).toEqual(["hello", "again"]);
    expect(bob.received.at(-1)!.result!.newSession).toBe(false);
  });

  it("a listener that throws is reported as an error event and does not break the call", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    await world.add(BOB, { namespaces: [ns] });
    const errors: OmemoError[] = [];
    alice.manager.on("error", (e) => errors.push(e));
    alice.manager.on("device", () => {
      throw new Error("listener bug");
    });
    const r = await alice.manager.encrypt(BOB, { body: "x" });
    expect(r.devices[0]!.status).toBe("encrypted");
    expect(errors).toHaveLength(1);
  });
});
