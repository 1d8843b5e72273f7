// OMEMO 2 device labels (XEP-0384 v0.9.1 §5.3.1): a label MUST come with `labelsig`, the signature of
// its UTF-8 bytes by the device's identity key, and MUST be ignored when the signature is missing or
// does not verify. We publish ours only when asked (options.label) and show others' only verified.
import { createCrypto } from "@parley/crypto";
import { describe, expect, it } from "vitest";
import { isOmemoError, NS_V2, SessionManager, v2, type Element } from "../../src/index.js";
import { ALICE, BOB, World, type Device } from "./world.js";

const crypto = createCrypto({ provider: "noble" });
const te = new TextEncoder();
const LABEL = "Parley on Alice's laptop 💻";

function lastDeviceList(device: Device): v2.DeviceList {
  const published = device.published.filter((p) => p.node === v2.DEVICES_NODE);
  return v2.decodeDeviceList(published[published.length - 1]!.payload);
}

function listEvent(devices: v2.DeviceList["devices"]): Array<{ id: string; payload: Element }> {
  return [{ id: "current", payload: v2.encodeDeviceList({ devices }) }];
}

async function labelled(world: World): Promise<{ alice: Device; bob: Device }> {
  const alice = await world.add(ALICE, { namespaces: [NS_V2], label: LABEL });
  const bob = await world.add(BOB, { namespaces: [NS_V2] });
  return { alice, bob };
}

describe("OMEMO 2 device labels", () => {
  it("publishes our label with a labelsig made by our identity key, and shows it as ours", async () => {
    const world = new World();
    const { alice } = await labelled(world);
    const entry = lastDeviceList(alice).devices.find((d) => d.id === alice.deviceId)!;
    expect(entry.label).toBe(LABEL);
    expect(crypto.ed25519Verify(entry.labelsig!, te.encode(LABEL), alice.manager.identityKey)).toBe(true);
    expect(await alice.manager.deviceInfo(ALICE, NS_V2)).toEqual([{ id: alice.deviceId, active: true, label: LABEL }]);
  });

  it("shows a contact's label only once the device's identity key is known, and only while it verifies", async () => {
    const world = new World();
    const { alice, bob } = await labelled(world);
    // Bob has Alice's list, label and labelsig included, but not her identity key yet.
    expect(await bob.manager.deviceInfo(ALICE, NS_V2)).toEqual([{ id: alice.deviceId, active: true }]);
    await world.send(bob, ALICE, "hello");
    await world.network.flush();
    expect(await bob.manager.deviceInfo(ALICE, NS_V2)).toEqual([{ id: alice.deviceId, active: true, label: LABEL }]);
    // The same list kept across a restart (the label's signature is stored with it).
    await bob.restart();
    expect(await bob.manager.deviceInfo(ALICE, NS_V2)).toEqual([{ id: alice.deviceId, active: true, label: LABEL }]);

    const good = lastDeviceList(alice).devices.find((d) => d.id === alice.deviceId)!;
    const otherKey = crypto.ed25519KeyPair(new Uint8Array(32).fill(7));
    const cases: Array<[string, v2.DeviceList["devices"][number]]> = [
      ["no labelsig", { id: alice.deviceId, label: LABEL }],
      [
        "signed by another key",
        { id: alice.deviceId, label: LABEL, labelsig: crypto.ed25519Sign(otherKey.privateKey, te.encode(LABEL)) },
      ],
      [
        "another label under the real signature",
        { id: alice.deviceId, label: "Mallory's phone", labelsig: good.labelsig! },
      ],
      [
        "a flipped bit in the signature",
        { id: alice.deviceId, label: LABEL, labelsig: good.labelsig!.map((b, i) => (i === 5 ? b ^ 1 : b)) },
      ],
    ];
    for (const [what, device] of cases) {
      await bob.manager.handlePubsubEvent(ALICE, v2.DEVICES_NODE, listEvent([device]));
      expect(await bob.manager.deviceInfo(ALICE, NS_V2), what).toEqual([{ id: alice.deviceId, active: true }]);
    }
    await bob.manager.handlePubsubEvent(ALICE, v2.DEVICES_NODE, listEvent([good]));
    expect(await bob.manager.deviceInfo(ALICE, NS_V2)).toEqual([{ id: alice.deviceId, active: true, label: LABEL }]);
  });

  it("republishes our entry with our label when the server's list names us without it or with another", async () => {
    const world = new World();
    const { alice } = await labelled(world);
    const good = lastDeviceList(alice).devices.find((d) => d.id === alice.deviceId)!;
    const other = { id: 4242 };
    for (const ours of [{ id: alice.deviceId }, { id: alice.deviceId, label: "old name", labelsig: good.labelsig! }]) {
      const before = alice.published.length;
      await alice.manager.handlePubsubEvent(ALICE, v2.DEVICES_NODE, listEvent([other, ours]));
      expect(alice.published.length).toBe(before + 1);
      expect(lastDeviceList(alice).devices).toEqual([other, good]);
    }
    // As it should be: nothing to republish.
    const before = alice.published.length;
    await alice.manager.handlePubsubEvent(ALICE, v2.DEVICES_NODE, listEvent([other, good]));
    expect(alice.published.length).toBe(before);
  });

  it("without options.label we publish no label and leave our entry as the server has it", async () => {
    const world = new World();
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    expect(lastDeviceList(bob).devices).toEqual([{ id: bob.deviceId }]);
    const before = bob.published.length;
    const sig = crypto.ed25519Sign(new Uint8Array(32).fill(1), te.encode("x"));
    await bob.manager.handlePubsubEvent(
      BOB,
      v2.DEVICES_NODE,
      listEvent([{ id: bob.deviceId, label: "x", labelsig: sig }]),
    );
    expect(bob.published.length).toBe(before);
  });

  it("refuses a label that is empty, too long or not a string", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    for (const label of ["", "x".repeat(257), "two\nlines", 42]) {
      const error = await SessionManager.create({
        jid: ALICE,
        store: alice.store,
        transport: alice.transport,
        trust: { decide: () => "trusted" },
        namespaces: [NS_V2],
        label: label as string,
      }).catch((e: unknown) => e);
      expect(isOmemoError(error, "INVALID_ARGUMENT")).toBe(true);
    }
  });
});
