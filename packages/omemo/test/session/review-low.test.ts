// Regressions of the low-severity review findings of the session manager (L1, L4, L5, L6): each test
// failed before its fix (see mutations.json).
import { describe, expect, it } from "vitest";
import {
  legacy,
  MemoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  v2,
  type DeviceIdentity,
  type OmemoError,
  type OmemoNamespace,
} from "../../src/index.js";
import { decodePreKeys } from "../../src/session/records.js";
import { ALICE, BOB, CAROL, World, type Device } from "./world.js";

function bundleIds(world: World, device: Device, ns: OmemoNamespace): number[] {
  const payload =
    ns === NS_LEGACY
      ? world.network.fetch(device.jid, legacy.bundleNode(device.deviceId), "current")![0]!
      : world.network.fetch(device.jid, v2.BUNDLES_NODE, String(device.deviceId))![0]!;
  const bundle = ns === NS_LEGACY ? legacy.decodeBundle(payload) : v2.decodeBundle(payload);
  return bundle.preKeys.map((k) => k.id);
}

async function ownIds(device: Device, ns: OmemoNamespace): Promise<number[]> {
  return (await device.manager.ownBundle(ns)).preKeys.map((k) => k.id);
}

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §5.6 / v0.3.0 §4.7 republishing the bundle (%s)", (_label, ns) => {
  it("a republication that failed after a prekey was consumed is retried, even after a restart, until it succeeds", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const published = bundleIds(world, bob, ns);
    await world.send(alice, BOB, "consumes a prekey");
    bob.failing.add("publish");
    const errors: OmemoError[] = [];
    bob.manager.on("error", (e) => errors.push(e));
    await world.network.flush();
    expect(bob.texts()).toEqual(["consumes a prekey"]);
    expect(errors.map((e) => e.code)).toContain("IO_FAILED");
    // The server still offers the consumed prekey.
    expect(bundleIds(world, bob, ns)).toEqual(published);
    expect(await ownIds(bob, ns)).not.toEqual(published);

    // Still failing: the next operation tries again and reports it, and the mark stays.
    await world.send(bob, ALICE, "while the server refuses");
    expect(errors.filter((e) => e.code === "IO_FAILED").length).toBeGreaterThanOrEqual(2);
    expect(bundleIds(world, bob, ns)).toEqual(published);

    bob.failing.delete("publish");
    await bob.restart();
    await world.send(bob, ALICE, "after the restart");
    expect(bundleIds(world, bob, ns)).toEqual(await ownIds(bob, ns));

    // Published once: later operations publish nothing more.
    const count = bob.published.length;
    await world.send(bob, ALICE, "nothing left to publish");
    expect(bob.published.length).toBe(count);
  });

  it("a failed republication is retried by the next decrypt", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const published = bundleIds(world, bob, ns);
    await world.send(alice, BOB, "one");
    bob.failing.add("publish");
    await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
    expect(bundleIds(world, bob, ns)).toEqual(published);
    bob.failing.delete("publish");
    await world.send(alice, BOB, "two");
    await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
    expect(bob.texts()).toEqual(["one", "two"]);
    expect(bundleIds(world, bob, ns)).toEqual(await ownIds(bob, ns));
  });
});

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §6 / §4.3 answering a key exchange (%s)", (_label, ns) => {
  it("a key exchange repeated over a catch-up of many messages gets one empty message, which completes the session", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    for (let i = 0; i < 5; i++) {
      const r = await world.send(alice, BOB, `offline ${i}`);
      expect(r.devices[0]!.keyExchange).toBe(true);
    }
    const sent: string[] = [];
    bob.manager.on("sent", (e) => sent.push(e.reason));
    await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
    expect(bob.texts()).toEqual([0, 1, 2, 3, 4].map((i) => `offline ${i}`));
    expect(bob.received.map((r) => r.result?.replied)).toEqual([
      "key-exchange-completion",
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(sent).toEqual(["key-exchange-completion"]);
    // The one reply is enough: Alice stops repeating the key exchange.
    await world.network.flush();
    expect(alice.received.map((r) => r.result?.kind)).toEqual(["empty"]);
    const next = await world.send(alice, BOB, "completed");
    expect(next.devices[0]!.keyExchange).toBe(false);
    await world.network.flush();
    expect(bob.texts().at(-1)).toBe("completed");
  });

  it("a new session of the same device is answered again", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(alice, BOB, "first session");
    await world.network.flush();
    await alice.manager.replaceSession(BOB, bob.deviceId, ns);
    await world.network.flush();
    expect(bob.received.map((r) => r.result?.replied)).toEqual(["key-exchange-completion", "key-exchange-completion"]);
  });
});

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §5.8 group chats: the sender is the occupant's real JID (%s)", (_label, ns) => {
  it("a type='groupchat' stanza without options.from is INVALID_ARGUMENT, fetching and storing nothing", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const room = "room@muc.example.org";
    const r = await alice.manager.encrypt([BOB], { body: "hello room" }, { envelopeTo: room });
    const stanza = parseXml(`<message from='${room}/alice' to='${BOB}/r1' type='groupchat'/>`);
    stanza.cnode(parseXml(serializeXml(r.messages[0]!.encrypted)));
    const fetched: string[] = [];
    const inner = bob.transport.fetch.bind(bob.transport);
    (bob.transport as { fetch: typeof inner }).fetch = async (jid, node, item) => {
      fetched.push(jid);
      return inner(jid, node, item);
    };
    const before = bob.store.snapshot();
    const error = await bob.manager.decrypt(stanza).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect((error as Error).message).toContain("options.from");
    expect(fetched).toEqual([]);
    expect(bob.store.snapshot()).toEqual(before);
    // With the occupant's real JID it decrypts; the room (the stanza's from) is the envelope's `<to>`.
    const got = await bob.manager.decrypt(stanza, { from: ALICE });
    expect(got).toMatchObject({ from: ALICE, body: "hello room" });
  });
});

describe("XEP-0384 v0.8.3 §5.5.1 group chats: the envelope's <to> is the room", () => {
  it("type='groupchat' alone makes the room the expected <to> and requires it", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const carol = await world.add(CAROL, { namespaces: [NS_V2] });
    const room = "room@muc.example.org";
    const direct = await alice.manager.encrypt([CAROL], { body: "not for the room" });
    const misplaced = parseXml(`<message from='${room}/alice' to='${CAROL}/r1' type='groupchat'/>`);
    misplaced.cnode(parseXml(serializeXml(direct.messages[0]!.encrypted)));
    // A one-to-one envelope replayed into the room names Carol, not the room.
    await expect(carol.manager.decrypt(misplaced, { from: ALICE })).rejects.toMatchObject({
      code: "SCE_WRONG_RECIPIENT",
    });
  });
});

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §5.3.2 / §8 identities come from verified bundles (%s)", (_label, ns) => {
  it("a bundle whose signed prekey signature is bad stores no identity, fires no event and asks no trust", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const codec = ns === NS_LEGACY ? legacy : v2;
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const itemId = ns === NS_LEGACY ? "current" : String(bob.deviceId);
    const real = codec.decodeBundle(world.network.fetch(BOB, node, itemId)![0]!);
    const signature = real.signedPreKeySignature.slice();
    signature[0] = signature[0]! ^ 1;
    world.network.put(BOB, node, itemId, codec.encodeBundle({ ...real, signedPreKeySignature: signature }));
    const events: DeviceIdentity[] = [];
    alice.manager.on("device", (d) => events.push(d));
    alice.manager.on("identityChanged", (d) => events.push(d));
    alice.asked.length = 0;
    const before = alice.store.snapshot();
    const r = await alice.manager.encrypt(BOB, { body: "to a forged bundle" });
    expect(r.devices).toMatchObject([{ jid: BOB, deviceId: bob.deviceId, status: "failed" }]);
    expect(r.devices[0]!.error).toMatchObject({ code: "BUNDLE_INVALID" });
    expect(events).toEqual([]);
    expect(alice.asked).toEqual([]);
    expect(alice.store.snapshot()).toEqual(before);

    // replaceSession (and healing, the same path) builds from the bundle before asking trust too.
    const replaced = await alice.manager.replaceSession(BOB, bob.deviceId, ns).catch((e: unknown) => e);
    expect(replaced).toMatchObject({ code: "BUNDLE_INVALID" });
    expect(events).toEqual([]);
    expect(alice.asked).toEqual([]);
    expect(alice.store.snapshot()).toEqual(before);

    // The real bundle back, a minute later (a failed bundle is not fetched again before): the identity
    // is noted with the session, and its event fires once.
    world.network.put(BOB, node, itemId, codec.encodeBundle(real));
    world.clock += 60_000;
    const ok = await alice.manager.encrypt(BOB, { body: "to the real bundle" });
    expect(ok.devices[0]!.status).toBe("encrypted");
    expect(events.map((d) => [d.jid, d.deviceId, d.fingerprint])).toEqual([
      [BOB, bob.deviceId, bob.manager.fingerprint],
    ]);
  });
});

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §5.6 publishing the bundle without holding the prekeys (%s)", (_label, ns) => {
  it("a key exchange is accepted while a bundle publication hangs, and the newest prekeys end up published", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(alice, BOB, "during a slow publication");
    // The server answers Bob's next publication only when told to.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inner = bob.transport.publish.bind(bob.transport);
    let held = false;
    (bob.transport as { publish: typeof inner }).publish = async (node, itemId, payload, options) => {
      if (!held && node.includes("bundle")) {
        held = true;
        await gate;
      }
      await inner(node, itemId, payload, options);
    };
    const slow = bob.manager.publishOwnDevice();
    // Its bundle publication hangs before the key exchange arrives.
    for (let i = 0; i < 50 && !held; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(held).toBe(true);
    let decrypted = false;
    const delivery = world.network
      .deliverWhere((p) => p.to === bob.client && p.kind === "message")
      .then(() => {
        decrypted = true;
      });
    // Everything here is in memory: let the event loop run until the decryption settles (or cannot).
    for (let i = 0; i < 50 && !decrypted; i++) await new Promise((resolve) => setImmediate(resolve));
    const decryptedWhileHanging = decrypted;
    release();
    await delivery;
    await slow;
    expect(held).toBe(true);
    expect(decryptedWhileHanging).toBe(true);
    expect(bob.texts()).toEqual(["during a slow publication"]);
    // The hanging publication carried the prekeys from before the key exchange and landed last: the
    // newest were published again after it.
    expect(bundleIds(world, bob, ns)).toEqual(await ownIds(bob, ns));
  });
});

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §6 / §8 postponing prekey deletion during a catch-up (%s)", (_label, ns) => {
  function storedOneTimeIds(device: Device): number[] {
    const raw = device.store
      .snapshot()
      .get("omemo")!
      .get(`prekeys/${ns === NS_LEGACY ? "legacy" : "v2"}`)!;
    return decodePreKeys(raw).oneTime.map((k) => k.id);
  }

  it("two key exchanges on one prekey both decrypt in a catch-up; the prekey is deleted and the bundle republished once at its end", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const carol = await world.add(CAROL, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    // Bob's bundle as the server serves it offers one prekey (prekeys are not signed): Alice and
    // Carol both build their sessions on it, as peers with a stale bundle do.
    const codec = ns === NS_LEGACY ? legacy : v2;
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const itemId = ns === NS_LEGACY ? "current" : String(bob.deviceId);
    const real = codec.decodeBundle(world.network.fetch(BOB, node, itemId)![0]!);
    const only = real.preKeys[0]!;
    world.network.put(BOB, node, itemId, codec.encodeBundle({ ...real, preKeys: [only] }));
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    const publications = (): number => bob.published.filter((p) => p.node === node).length;
    const before = publications();
    const sent: string[] = [];
    bob.manager.on("sent", (e) => sent.push(`${e.to} ${e.reason}`));
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
      // Kept for the catch-up, offered to nobody, nothing published yet.
      expect(storedOneTimeIds(bob)).toContain(only.id);
      expect(await ownIds(bob, ns)).not.toContain(only.id);
      expect(publications()).toBe(before);
    });
    expect(bob.texts()).toEqual(["from alice", "from carol"]);
    // v0.8.3 §6: with deletion postponed, each key exchange is still answered at once. v0.3.0 §5:
    // legacy answers when the catch-up ends, with a key exchange of its own in a new session.
    expect(sent).toEqual(
      ns === NS_LEGACY
        ? [`${ALICE} catch-up-rekey`, `${CAROL} catch-up-rekey`]
        : [`${ALICE} key-exchange-completion`, `${CAROL} key-exchange-completion`],
    );
    expect(storedOneTimeIds(bob)).not.toContain(only.id);
    expect(publications()).toBe(before + 1);
    const published = bundleIds(world, bob, ns);
    expect(published).toEqual(await ownIds(bob, ns));
    expect(published).toHaveLength(100);
    expect(published).not.toContain(only.id);
  });

  it("a catch-up cut short (a restart) leaves its used prekey refused, and publishOwnDevice deletes it", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const carol = await world.add(CAROL, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const codec = ns === NS_LEGACY ? legacy : v2;
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const itemId = ns === NS_LEGACY ? "current" : String(bob.deviceId);
    const real = codec.decodeBundle(world.network.fetch(BOB, node, itemId)![0]!);
    const only = real.preKeys[0]!;
    world.network.put(BOB, node, itemId, codec.encodeBundle({ ...real, preKeys: [only] }));
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    const fromAlice = world.network.queue.find((p) => p.to === bob.client && p.kind === "message")!;
    let crashed: MemoryOmemoStore | undefined;
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p === fromAlice);
      expect(bob.texts()).toEqual(["from alice"]);
      crashed = new MemoryOmemoStore(bob.store.snapshot());
    });
    await bob.restart(crashed);
    expect(storedOneTimeIds(bob)).toContain(only.id);
    await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
    expect(bob.texts()).toEqual(["from alice"]);
    expect(bob.errors()).toHaveLength(1);
    await bob.manager.publishOwnDevice();
    expect(storedOneTimeIds(bob)).not.toContain(only.id);
    expect(bundleIds(world, bob, ns)).toEqual(await ownIds(bob, ns));
  });

  it("outside a catch-up the prekey is deleted at once: a second key exchange on it fails", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const carol = await world.add(CAROL, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const codec = ns === NS_LEGACY ? legacy : v2;
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const itemId = ns === NS_LEGACY ? "current" : String(bob.deviceId);
    const real = codec.decodeBundle(world.network.fetch(BOB, node, itemId)![0]!);
    world.network.put(BOB, node, itemId, codec.encodeBundle({ ...real, preKeys: [real.preKeys[0]!] }));
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    await world.network.deliverWhere((p) => p.to === bob.client && p.kind === "message");
    expect(bob.texts()).toEqual(["from alice"]);
    expect(bob.errors()).toHaveLength(1);
  });
});
