// Account setup and publishing (XEP-0384 v0.3.0 §4.1–4.3, v0.8.3 §5.1–5.3 and §4.2): device id,
// one identity for both namespaces, prekeys persisted and published with publish-options, device
// lists merged without ever dropping our own device, restarts, signed prekey rotation.
import { createCrypto } from "@parley/crypto";
import { legacyOmemoX3dh, omemo2X3dh, verifySignedPreKey } from "@parley/x3dh";
import { describe, expect, it } from "vitest";
import {
  formatFingerprint,
  isOmemoError,
  legacy,
  NS_LEGACY,
  NS_V2,
  OLD_SIGNED_PRE_KEY_GRACE_MS,
  ONE_TIME_PRE_KEYS,
  SessionManager,
  SIGNED_PRE_KEY_ROTATION_PERIOD_MS,
  v2,
  type OmemoNamespace,
} from "../../src/index.js";
import { ALICE, BOB, World } from "./world.js";

const crypto = createCrypto();
const BOTH: readonly OmemoNamespace[] = [NS_V2, NS_LEGACY];

function listIds(world: World, jid: string, ns: OmemoNamespace): number[] {
  const node = ns === NS_LEGACY ? legacy.DEVICE_LIST_NODE : v2.DEVICES_NODE;
  const payload = world.network.fetch(jid, node, "current")?.[0];
  if (payload === undefined) return [];
  return ns === NS_LEGACY
    ? [...legacy.decodeDeviceList(payload).ids]
    : v2.decodeDeviceList(payload).devices.map((d) => d.id);
}

function publishedBundle(world: World, jid: string, ns: OmemoNamespace, deviceId: number) {
  if (ns === NS_LEGACY)
    return legacy.decodeBundle(world.network.fetch(jid, legacy.bundleNode(deviceId), "current")![0]!);
  return v2.decodeBundle(world.network.fetch(jid, v2.BUNDLES_NODE, v2.bundleItemId(deviceId))![0]!);
}

describe("XEP-0384 §5.1 setup: device id, identity, prekeys", () => {
  it("a random device id in 1 … 2^31 − 1, one Ed25519 identity whose Curve25519 form is the legacy key and the fingerprint of both", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const id = alice.manager.deviceId;
    expect(Number.isInteger(id) && id >= 1 && id <= 2 ** 31 - 1).toBe(true);
    const legacyBundle = publishedBundle(world, ALICE, NS_LEGACY, id);
    const v2Bundle = publishedBundle(world, ALICE, NS_V2, id);
    expect(v2Bundle.identityKey).toEqual(alice.manager.identityKey);
    const u = crypto.edwardsToMontgomery(alice.manager.identityKey);
    expect(legacyBundle.identityKey).toEqual(Uint8Array.of(0x05, ...u));
    expect(alice.manager.fingerprint).toBe(Buffer.from(u).toString("hex"));
    expect(formatFingerprint(alice.manager.fingerprint).split(" ")).toHaveLength(8);
    // Legacy signs with libsignal's variant under the same scalar: the sign bit in byte 63 is the
    // real Ed25519 key's, so a peer that rebuilds the Ed25519 key from it (python-oldmemo) gets ours.
    verifySignedPreKey(
      legacyOmemoX3dh,
      legacyBundle.identityKey,
      legacyBundle.signedPreKey,
      legacyBundle.signedPreKeySignature,
      crypto,
    );
    verifySignedPreKey(omemo2X3dh, v2Bundle.identityKey, v2Bundle.signedPreKey, v2Bundle.signedPreKeySignature, crypto);
    expect(legacyBundle.signedPreKeySignature[63]! & 0x80).toBe(alice.manager.identityKey[31]! & 0x80);
    expect(crypto.montgomeryToEdwards(u, ((legacyBundle.signedPreKeySignature[63]! & 0x80) >> 7) as 0 | 1)).toEqual(
      alice.manager.identityKey,
    );
  });

  it(`${ONE_TIME_PRE_KEYS} one-time prekeys per namespace with distinct ids, bundles published before the device lists`, async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const id = alice.manager.deviceId;
    for (const ns of BOTH) {
      const bundle = publishedBundle(world, ALICE, ns, id);
      expect(bundle.preKeys).toHaveLength(ONE_TIME_PRE_KEYS);
      expect(new Set(bundle.preKeys.map((k) => k.id)).size).toBe(ONE_TIME_PRE_KEYS);
      expect(listIds(world, ALICE, ns)).toEqual([id]);
    }
    const order = alice.published.map((p) => p.node);
    expect(order).toEqual([v2.BUNDLES_NODE, legacy.bundleNode(id), v2.DEVICES_NODE, legacy.DEVICE_LIST_NODE]);
  });

  it("publish-options: access_model=open everywhere, max_items=max on the OMEMO 2 bundles node (v0.8.3 §5.3)", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const options = Object.fromEntries(alice.published.map((p) => [p.node, p.options]));
    expect(options[v2.BUNDLES_NODE]).toEqual({ "pubsub#max_items": "max", "pubsub#access_model": "open" });
    expect(options[v2.DEVICES_NODE]).toEqual({ "pubsub#access_model": "open" });
    expect(options[legacy.DEVICE_LIST_NODE]).toEqual({ "pubsub#access_model": "open" });
    expect(options[legacy.bundleNode(alice.manager.deviceId)]).toEqual({ "pubsub#access_model": "open" });
    const items = Object.fromEntries(alice.published.map((p) => [p.node, p.itemId]));
    expect(items[v2.BUNDLES_NODE]).toBe(String(alice.manager.deviceId));
    expect(items[v2.DEVICES_NODE]).toBe("current");
  });

  it("a restart from the store keeps device id and identity and publishes nothing; publishOwnDevice republishes", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const { deviceId, fingerprint } = alice.manager;
    const bundle = publishedBundle(world, ALICE, NS_V2, deviceId);
    alice.published.length = 0;
    await alice.restart();
    expect(alice.manager.deviceId).toBe(deviceId);
    expect(alice.manager.fingerprint).toBe(fingerprint);
    expect(alice.published).toEqual([]);
    expect(await alice.manager.ownBundle(NS_V2)).toEqual(bundle);
    await alice.manager.publishOwnDevice();
    expect(alice.published.map((p) => p.node).sort()).toEqual([v2.BUNDLES_NODE, legacy.bundleNode(deviceId)].sort());
  });

  it("a namespace enabled later gets its prekeys and is published, the other is left as it was", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    expect(listIds(world, ALICE, NS_V2)).toEqual([]);
    alice.published.length = 0;
    alice.options = { ...alice.options, namespaces: BOTH };
    await alice.restart();
    expect(alice.published.map((p) => p.node)).toEqual([v2.BUNDLES_NODE, v2.DEVICES_NODE]);
    expect(listIds(world, ALICE, NS_V2)).toEqual([alice.manager.deviceId]);
  });

  it("a store of another account is refused", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const error = await SessionManager.create({
      jid: BOB,
      store: alice.store,
      transport: alice.transport,
      trust: { decide: () => "trusted" },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "INVALID_ARGUMENT")).toBe(true);
  });
});

describe("XEP-0384 §5.3.1 device lists: merged, our own device never dropped", () => {
  it("a second device of the account is added to the list; the first stays", async () => {
    const world = new World();
    const phone = await world.add(ALICE);
    const laptop = await world.add(ALICE);
    for (const ns of BOTH) {
      expect(new Set(listIds(world, ALICE, ns))).toEqual(new Set([phone.manager.deviceId, laptop.manager.deviceId]));
      expect(new Set(await phone.manager.devices(ALICE, ns))).toEqual(
        new Set([phone.manager.deviceId, laptop.manager.deviceId]),
      );
    }
    expect(laptop.manager.deviceId).not.toBe(phone.manager.deviceId);
  });

  it("an update of our account's list that lacks us is republished with us added, other devices kept", async () => {
    const world = new World();
    const phone = await world.add(ALICE);
    const laptop = await world.add(ALICE);
    // Another client overwrites the list with only itself and a stranger id.
    world.network.put(ALICE, v2.DEVICES_NODE, "current", v2.encodeDeviceList({ devices: [{ id: 4242, label: "x" }] }));
    world.network.put(ALICE, legacy.DEVICE_LIST_NODE, "current", legacy.encodeDeviceList({ ids: [4242] }));
    await world.network.flush();
    for (const ns of BOTH) {
      const ids = listIds(world, ALICE, ns);
      expect(ids).toContain(4242);
      expect(ids).toContain(phone.manager.deviceId);
      expect(ids).toContain(laptop.manager.deviceId);
    }
    // The label of the other device survives our republication.
    const payload = world.network.fetch(ALICE, v2.DEVICES_NODE, "current")![0]!;
    expect(v2.decodeDeviceList(payload).devices.find((d) => d.id === 4242)!.label).toBe("x");
  });

  it("a contact's device missing from a new list is no longer encrypted to, and comes back when listed again", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob1 = await world.add(BOB, { namespaces: [NS_V2] });
    const bob2 = await world.add(BOB, { namespaces: [NS_V2] });
    const events: Array<{ added: readonly number[]; removed: readonly number[] }> = [];
    alice.manager.on("deviceList", (e) => {
      if (e.jid === BOB) events.push({ added: e.added, removed: e.removed });
    });
    world.network.put(BOB, v2.DEVICES_NODE, "current", v2.encodeDeviceList({ devices: [{ id: bob1.deviceId }] }));
    // Only Alice applies this one (Bob's devices would re-add themselves).
    const [toAlice] = world.network.queue.splice(0).filter((p) => p.to === alice.client);
    world.network.queue.push(toAlice!);
    await world.network.flush();
    expect(events).toEqual([{ added: [], removed: [bob2.deviceId] }]);
    const r = await alice.manager.encrypt(BOB, { body: "x" });
    expect(r.devices.map((d) => d.deviceId)).toEqual([bob1.deviceId]);
    world.network.put(
      BOB,
      v2.DEVICES_NODE,
      "current",
      v2.encodeDeviceList({ devices: [{ id: bob1.deviceId }, { id: bob2.deviceId }] }),
    );
    world.network.queue.length = 0;
    expect(new Set(await alice.manager.refreshDeviceList(BOB, NS_V2))).toEqual(new Set([bob1.deviceId, bob2.deviceId]));
    expect(events[1]).toEqual({ added: [bob2.deviceId], removed: [] });
  });
});

describe("XEP-0384 v0.8.3 §6 a message from a device that is not on the list", () => {
  it("makes the receiver fetch the sender's device list again", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob1 = await world.add(BOB, { namespaces: [NS_V2] });
    const bob2 = await world.add(BOB, { namespaces: [NS_V2] });
    // Alice's copy of Bob's list missed bob2 (a lost notification).
    await alice.manager.handlePubsubEvent(BOB, v2.DEVICES_NODE, [
      { id: "current", payload: v2.encodeDeviceList({ devices: [{ id: bob1.deviceId }] }) },
    ]);
    expect(await alice.manager.devices(BOB, NS_V2)).toEqual([bob1.deviceId]);
    const added: number[][] = [];
    alice.manager.on("deviceList", (e) => added.push([...e.added]));
    await world.send(bob2, ALICE, "from the unlisted one");
    await world.network.flush();
    expect(alice.texts()).toEqual(["from the unlisted one"]);
    expect(added).toEqual([[bob2.deviceId]]);
    expect(new Set(await alice.manager.devices(BOB, NS_V2))).toEqual(new Set([bob1.deviceId, bob2.deviceId]));
  });
});

describe("XEP-0384 v0.8.3 §4.2 signed prekey rotation", () => {
  it("rotates after the period, keeps the previous one for the grace period, then drops it", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const first = (await alice.manager.ownBundle(NS_V2)).signedPreKeyId;
    world.clock += SIGNED_PRE_KEY_ROTATION_PERIOD_MS - 1;
    expect(await alice.manager.rotateSignedPreKeys()).toEqual([]);
    world.clock += 1;
    alice.published.length = 0;
    expect(await alice.manager.rotateSignedPreKeys()).toEqual([NS_V2]);
    expect(alice.published.map((p) => p.node)).toEqual([v2.BUNDLES_NODE]);
    const second = await alice.manager.ownBundle(NS_V2);
    expect(second.signedPreKeyId).toBe(first + 1);
    expect(publishedBundle(world, ALICE, NS_V2, alice.deviceId).signedPreKeyId).toBe(first + 1);
    verifySignedPreKey(omemo2X3dh, second.identityKey, second.signedPreKey, second.signedPreKeySignature, crypto);
    // Same one-time prekeys: rotation touches only the signed prekey.
    expect(second.preKeys.length).toBe(ONE_TIME_PRE_KEYS);
    world.clock += OLD_SIGNED_PRE_KEY_GRACE_MS;
    expect(await alice.manager.rotateSignedPreKeys()).toEqual([NS_V2]);
    expect((await alice.manager.ownBundle(NS_V2)).signedPreKeyId).toBe(first + 2);
  });
});
