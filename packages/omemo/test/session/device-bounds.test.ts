// What one contact's device list can make an encrypt cost: a device without a usable bundle is
// fetched once a minute, not with every message (BUNDLE_RETRY_AFTER_MS), and an account listing more
// than MAX_DEVICES_PER_ACCOUNT devices gets that many, the ones we have sessions with first, while the
// other recipients of a group message are not affected.
import { describe, expect, it } from "vitest";
import { legacy, NS_LEGACY, NS_V2, v2, type OmemoNamespace } from "../../src/index.js";
import { BUNDLE_RETRY_AFTER_MS, MAX_DEVICES_PER_ACCOUNT } from "../../src/session/consts.js";
import { ALICE, BOB, CAROL, World } from "./world.js";

const listNode = (ns: OmemoNamespace): string => (ns === NS_LEGACY ? legacy.DEVICE_LIST_NODE : v2.DEVICES_NODE);
const encodeList = (ns: OmemoNamespace, ids: readonly number[]) =>
  ns === NS_LEGACY ? legacy.encodeDeviceList({ ids }) : v2.encodeDeviceList({ devices: ids.map((id) => ({ id })) });

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("bounds on a contact's devices (%s)", (_label, ns) => {
  it("a listed device without a bundle is fetched again only after BUNDLE_RETRY_AFTER_MS; replaceSession always fetches", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    // Bob's list names a second device that never published a bundle.
    const ghost = 4242;
    world.network.put(BOB, listNode(ns), "current", encodeList(ns, [bob.deviceId, ghost]));
    await world.network.flush();
    let fetches = 0;
    const inner = alice.transport.fetch.bind(alice.transport);
    (alice.transport as { fetch: typeof inner }).fetch = (jid, node, itemId) => {
      if (node.includes("bundles") && (node.endsWith(`:${ghost}`) || itemId === String(ghost))) fetches++;
      return inner(jid, node, itemId);
    };
    for (let i = 0; i < 5; i++) {
      const r = await alice.manager.encrypt(BOB, { body: `m${i}` });
      expect(r.devices.find((d) => d.deviceId === ghost)).toMatchObject({
        status: "failed",
        error: { code: "BUNDLE_INVALID" },
      });
      expect(r.devices.find((d) => d.deviceId === bob.deviceId)?.status).toBe("encrypted");
      world.clock += 1000;
    }
    expect(fetches).toBe(1);
    world.clock += BUNDLE_RETRY_AFTER_MS;
    await alice.manager.encrypt(BOB, { body: "a minute later" });
    expect(fetches).toBe(2);
    // The app's explicit request does not wait.
    await expect(alice.manager.replaceSession(BOB, ghost, ns)).rejects.toMatchObject({ code: "BUNDLE_INVALID" });
    expect(fetches).toBe(3);
  });

  it("a new device list of the account fetches at once (a bundle that landed after its list); our connection's failures are not remembered", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    await world.add(BOB, { namespaces: [ns] });
    const late = await world.add(BOB, { namespaces: [ns] });
    await world.network.flush();
    // Bob's second device is listed, but its bundle is not there yet.
    const address =
      ns === NS_LEGACY
        ? { node: legacy.bundleNode(late.deviceId), itemId: "current" }
        : { node: v2.BUNDLES_NODE, itemId: String(late.deviceId) };
    const bundle = world.network.fetch(BOB, address.node, address.itemId)![0]!;
    const options = ns === NS_LEGACY ? {} : { "pubsub#max_items": "max" };
    world.network.retractForTest(BOB, address.node, address.itemId);
    const first = await alice.manager.encrypt(BOB, { body: "one" });
    expect(first.devices.find((d) => d.deviceId === late.deviceId)).toMatchObject({
      status: "failed",
      error: { code: "BUNDLE_INVALID" },
    });
    // The bundle lands and Bob's list is published again: Alice fetches at once, no minute's wait.
    world.network.put(BOB, address.node, address.itemId, bundle, options);
    const list = world.network.fetch(BOB, listNode(ns))!.at(-1)!;
    world.network.put(BOB, listNode(ns), "current", list);
    await world.network.flush();
    const second = await alice.manager.encrypt(BOB, { body: "two" });
    expect(second.devices.find((d) => d.deviceId === late.deviceId)?.status).toBe("encrypted");

    // Our own connection failing is not the device's fault: the next message tries again.
    const carol = await world.add(CAROL, { namespaces: [ns] });
    alice.failing.add("fetch");
    const refused = await alice.manager.encrypt(CAROL, { body: "offline" });
    expect(refused.devices[0]).toMatchObject({ status: "failed", error: { code: "IO_FAILED" } });
    alice.failing.delete("fetch");
    const sent = await alice.manager.encrypt(CAROL, { body: "online again" });
    expect(sent.devices).toMatchObject([{ deviceId: carol.deviceId, status: "encrypted" }]);
  });

  it("an account listing hundreds of devices gets MAX_DEVICES_PER_ACCOUNT, known devices first; the rest of the room is not affected", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    const carol = await world.add(CAROL, { namespaces: [ns] });
    // Alice has a session with Carol's real device.
    await world.send(alice, CAROL, "hello");
    await world.network.flush();
    // Carol's list (a hostile occupant, or her server) now names 300 devices; her real one comes last.
    const fake = Array.from({ length: 300 }, (_, i) => 1000 + i);
    world.network.put(CAROL, listNode(ns), "current", encodeList(ns, [...fake, carol.deviceId]));
    await world.network.flush();
    let bundleFetches = 0;
    const inner = alice.transport.fetch.bind(alice.transport);
    (alice.transport as { fetch: typeof inner }).fetch = (jid, node, itemId) => {
      if (node.includes("bundles")) bundleFetches++;
      return inner(jid, node, itemId);
    };
    const r = await alice.manager.encrypt(
      [BOB, CAROL],
      { body: "to the room" },
      { envelopeTo: "room@muc.example.org" },
    );
    const carols = r.devices.filter((d) => d.jid === CAROL);
    expect(carols).toHaveLength(301);
    expect(carols.find((d) => d.deviceId === carol.deviceId)?.status).toBe("encrypted");
    const skipped = carols.filter((d) => d.status === "failed" && d.error?.code === "TOO_MANY_DEVICES");
    expect(skipped).toHaveLength(301 - MAX_DEVICES_PER_ACCOUNT);
    // Only the devices kept were tried: Bob's one bundle plus Carol's fake ones within the bound.
    expect(bundleFetches).toBe(1 + MAX_DEVICES_PER_ACCOUNT - 1);
    expect(r.devices.filter((d) => d.jid === BOB)).toMatchObject([{ deviceId: bob.deviceId, status: "encrypted" }]);
    expect(r.undeliverable).toEqual([]);
  });
});
