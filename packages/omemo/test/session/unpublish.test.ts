// Turning OMEMO off for a device (XEP-0384 v0.8.3 §6 SHOULD: "delete the corresponding bundles and
// device ids from the PEP nodes"): unpublishOwnDevice, the mark that keeps the device unannounced
// across notifications and restarts, and publishOwnDevice turning it back on.
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  legacy,
  MemoryXmppNetwork,
  memoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  SessionManager,
  v2,
  type OmemoNamespace,
  type OmemoTransport,
} from "../../src/index.js";
import { ALICE, BOB, CAROL, World, type Device } from "./world.js";

const listNode = (ns: OmemoNamespace): string => (ns === NS_LEGACY ? legacy.DEVICE_LIST_NODE : v2.DEVICES_NODE);
const bundleOf = (world: World, d: Device, ns: OmemoNamespace) =>
  ns === NS_LEGACY
    ? world.network.fetch(d.jid, legacy.bundleNode(d.deviceId), "current")
    : world.network.fetch(d.jid, v2.BUNDLES_NODE, String(d.deviceId));
/** The device ids of `jid`'s published list, or null when it publishes none. */
function listedIds(world: World, jid: string, ns: OmemoNamespace): number[] | null {
  const items = world.network.fetch(jid, listNode(ns));
  if (items === null) return null;
  return ns === NS_LEGACY
    ? [...legacy.decodeDeviceList(items.at(-1)!).ids]
    : v2.decodeDeviceList(items.at(-1)!).devices.map((d) => d.id);
}

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("unpublishOwnDevice (%s)", (_label, ns) => {
  async function setUp() {
    const world = new World();
    const phone = await world.add(ALICE, { namespaces: [ns] });
    const laptop = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(bob, ALICE, "before");
    await world.network.flush();
    return { world, phone, laptop, bob };
  }

  it("our id leaves the list, the other device stays, our bundle is retracted, and contacts stop encrypting to us", async () => {
    const { world, phone, laptop, bob } = await setUp();
    expect(listedIds(world, ALICE, ns)).toEqual(expect.arrayContaining([phone.deviceId, laptop.deviceId]));
    await phone.manager.unpublishOwnDevice();
    const publications = world.network.publications.length;
    await world.network.flush();
    expect(listedIds(world, ALICE, ns)).toEqual([laptop.deviceId]);
    expect(bundleOf(world, phone, ns)).toBeNull();
    // The phone saw our list without it and did not put itself back (v0.8.3 §5.3.1 would, if it were on).
    expect(world.network.publications.length).toBe(publications);
    expect(await bob.manager.devices(ALICE, ns)).toEqual([laptop.deviceId]);
    const result = await world.send(bob, ALICE, "after");
    expect(result.devices.map((d) => d.deviceId)).toEqual([laptop.deviceId]);
    await world.network.flush();
    expect(laptop.texts()).toEqual(["before", "after"]);
    expect(phone.texts()).toEqual(["before"]);
  });

  it("alone on the account: the list is retracted, never published empty, and contacts see no device", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    expect(await bob.manager.devices(ALICE, ns)).toEqual([alice.deviceId]);
    const published = world.network.publications.length;
    await alice.manager.unpublishOwnDevice();
    expect(world.network.publications.length).toBe(published);
    expect(world.network.retractions).toEqual([
      `${ALICE} ${listNode(ns)} current`,
      ns === NS_LEGACY
        ? `${ALICE} ${legacy.bundleNode(alice.deviceId)} current`
        : `${ALICE} ${v2.BUNDLES_NODE} ${alice.deviceId}`,
    ]);
    expect(listedIds(world, ALICE, ns)).toBeNull();
    await world.network.flush();
    // Bob got the retraction, fetched the list again and found none.
    expect(await bob.manager.devices(ALICE, ns)).toEqual([]);
    const result = await bob.manager.encrypt(ALICE, { body: "anyone?" });
    expect(result.undeliverable).toEqual([ALICE]);
  });

  it("stays off after a restart and when it reads our list again; archived messages still decrypt; a consumed prekey republishes nothing", async () => {
    const { world, phone } = await setUp();
    // Carol writes to the phone before it goes off; her key exchange arrives afterwards.
    const carol = await world.add(CAROL, { namespaces: [ns] });
    await world.send(carol, ALICE, "late key exchange");
    const late = world.network.queue.filter((p) => p.to === phone.client && p.kind === "message");
    expect(late).toHaveLength(1);
    await phone.manager.unpublishOwnDevice();
    await phone.restart();
    await phone.manager.refreshDeviceList(ALICE, ns);
    const publications = world.network.publications.length;
    await world.network.deliverWhere((p) => late.includes(p));
    expect(phone.texts()).toEqual(["before", "late key exchange"]);
    await world.network.flush();
    const phoneBundle =
      ns === NS_LEGACY
        ? `${ALICE} ${legacy.bundleNode(phone.deviceId)} current`
        : `${ALICE} ${v2.BUNDLES_NODE} ${phone.deviceId}`;
    const phoneList = `${ALICE} ${listNode(ns)} current`;
    // (The laptop read Carol's key exchange too and republished its own bundle: not the phone's.)
    expect(world.network.publications.slice(publications).filter((p) => p === phoneBundle || p === phoneList)).toEqual(
      [],
    );
    expect(bundleOf(world, phone, ns)).toBeNull();
    expect(listedIds(world, ALICE, ns)).not.toContain(phone.deviceId);
  });

  it("publishOwnDevice at login keeps it off; with reactivate it is back on: bundle and list entry published, contacts encrypt to it again", async () => {
    const { world, phone, bob } = await setUp();
    await phone.manager.unpublishOwnDevice();
    await world.network.flush();
    // What an app does at every login: nothing is published while the user has OMEMO off.
    const publications = world.network.publications.length;
    await phone.manager.publishOwnDevice();
    await world.network.flush();
    expect(world.network.publications.length).toBe(publications);
    expect(await phone.manager.isDeactivated()).toBe(true);
    expect(listedIds(world, ALICE, ns)).not.toContain(phone.deviceId);
    await phone.manager.publishOwnDevice({ reactivate: true });
    expect(await phone.manager.isDeactivated()).toBe(false);
    await world.network.flush();
    expect(listedIds(world, ALICE, ns)).toContain(phone.deviceId);
    expect(bundleOf(world, phone, ns)).not.toBeNull();
    await world.send(bob, ALICE, "welcome back");
    await world.network.flush();
    expect(phone.texts()).toEqual(["before", "welcome back"]);
  });

  it("a failed retraction is IO_FAILED with the device already off; calling again finishes", async () => {
    const { world, phone, laptop } = await setUp();
    phone.failing.add("retract");
    await expect(phone.manager.unpublishOwnDevice()).rejects.toSatisfy((e: unknown) => isOmemoError(e, "IO_FAILED"));
    // Off already: a notification of our list does not bring the device back.
    await world.network.flush();
    expect(listedIds(world, ALICE, ns)).toEqual([laptop.deviceId]);
    expect(bundleOf(world, phone, ns)).not.toBeNull();
    phone.failing.delete("retract");
    await phone.manager.unpublishOwnDevice();
    expect(bundleOf(world, phone, ns)).toBeNull();
  });
});

describe("unpublishOwnDevice, other cases", () => {
  it("a transport without retract(): INVALID_ARGUMENT and nothing changed", async () => {
    const network = new MemoryXmppNetwork();
    const client = network.connect(`${ALICE}/x`);
    const inner = client.transport;
    const withoutRetract: OmemoTransport = {
      publish: (node, itemId, payload, options) => inner.publish(node, itemId, payload, options),
      fetch: (jid, node, itemId) => inner.fetch(jid, node, itemId),
      send: (to, message) => inner.send(to, message),
    };
    const manager = await SessionManager.create({
      jid: ALICE,
      store: memoryOmemoStore(),
      transport: withoutRetract,
      trust: { decide: () => "trusted" },
    });
    await expect(manager.unpublishOwnDevice()).rejects.toSatisfy((e: unknown) => isOmemoError(e, "INVALID_ARGUMENT"));
    // Still on: a list without us is answered by announcing ourselves again.
    const before = network.publications.length;
    await manager.handlePubsubEvent(ALICE, v2.DEVICES_NODE, [
      { id: "current", payload: v2.encodeDeviceList({ devices: [{ id: 12345 }] }) },
    ]);
    expect(network.publications.length).toBe(before + 1);
    expect(network.publications.at(-1)).toBe(`${ALICE} ${v2.DEVICES_NODE} current`);
  });

  it("the mark is account-wide: a namespace enabled after OMEMO was turned off is not announced either", async () => {
    const world = new World();
    const phone = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB);
    await phone.manager.unpublishOwnDevice();
    await world.network.flush();
    // An upgrade enables OMEMO 2 on the same store.
    phone.options = { namespaces: [NS_LEGACY, NS_V2] };
    await phone.restart();
    await phone.manager.publishOwnDevice();
    await world.network.flush();
    expect(listedIds(world, ALICE, NS_V2) ?? []).not.toContain(phone.deviceId);
    expect(bundleOf(world, phone, NS_V2)).toBeNull();
    expect(await bob.manager.refreshDeviceList(ALICE, NS_V2)).not.toContain(phone.deviceId);
  });

  it("a bundle publication on its way when another tab turns the device off is retracted when it lands", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    // A second manager (another tab) on the same store and connection.
    const other = await SessionManager.create({
      jid: ALICE,
      store: alice.store,
      transport: alice.transport,
      trust: { decide: () => "trusted" },
      namespaces: [NS_V2],
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inner = alice.transport.publish.bind(alice.transport);
    let held = false;
    (alice.transport as { publish: typeof inner }).publish = async (node, itemId, payload, options) => {
      if (!held && node === v2.BUNDLES_NODE) {
        held = true;
        await gate;
      }
      await inner(node, itemId, payload, options);
    };
    const slow = alice.manager.rotateSignedPreKeys({ force: true });
    for (let i = 0; i < 50 && !held; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(held).toBe(true);
    await other.unpublishOwnDevice();
    expect(bundleOf(world, alice, NS_V2)).toBeNull();
    release();
    await slow;
    expect(bundleOf(world, alice, NS_V2)).toBeNull();
  });

  it("an account in both namespaces leaves both", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    expect(alice.manager.namespaces).toEqual(expect.arrayContaining([NS_LEGACY, NS_V2]));
    await alice.manager.unpublishOwnDevice();
    for (const ns of [NS_LEGACY, NS_V2] as const) {
      expect(listedIds(world, ALICE, ns)).toBeNull();
      expect(bundleOf(world, alice, ns)).toBeNull();
    }
  });
});
