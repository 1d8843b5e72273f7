// Regressions found by review of the session manager: each test failed before its fix.
import { describe, expect, it } from "vitest";
import { MemoryOmemoStore, NS_LEGACY, NS_V2, parseXml, v2 } from "../../src/index.js";
import { wrapMessage } from "../../src/session/stanza.js";
import { ALICE, BOB, Device, World } from "./world.js";

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §6 replacing a session (%s)", (_label, ns) => {
  it("one message in the replaced session does not make it current again", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    await world.send(bob, ALICE, "b1");
    await world.network.flush();
    // Whoever holds an old copy of Bob's state (a stolen backup) has the session Alice is about to replace.
    const stolen = new MemoryOmemoStore(bob.store.snapshot());
    await alice.manager.replaceSession(BOB, bob.deviceId, ns);
    await world.network.flush();
    const evil = new Device(world, BOB, "evil", { namespaces: [ns] });
    evil.store = stolen;
    await evil.start();
    const r = await evil.manager.encrypt(ALICE, { body: "from the old session" });
    for (const m of r.messages) await evil.client.transport.send(ALICE, wrapMessage(ALICE, m.namespace, m.encrypted));
    await world.network.deliverWhere((p) => p.to === alice.client && p.kind === "message");
    // Still read: it may be a late message of the old session.
    expect(alice.texts()).toContain("from the old session");
    await world.send(alice, BOB, "secret after replacement");
    await world.network.flush();
    expect(evil.texts()).not.toContain("secret after replacement");
    expect(bob.texts()).toContain("secret after replacement");
  });
});

describe("XEP-0384 v0.8.3 §6 session healing", () => {
  it("a device that is not on the sender's list costs no bundle fetch", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const fetches: string[] = [];
    const inner = alice.transport.fetch.bind(alice.transport);
    (alice.transport as { fetch: typeof inner }).fetch = async (jid, node, item) => {
      fetches.push(`${jid} ${node} ${String(item)}`);
      return inner(jid, node, item);
    };
    for (let sid = 1; sid <= 50; sid++) {
      const msg = parseXml(
        `<message xmlns="jabber:client" from="mallory${sid % 7}@evil.example/x" to="${ALICE}" type="chat"/>`,
      );
      msg.cnode(
        v2.encodeEncryptedMessage({
          sid,
          keys: [{ jid: ALICE, keys: [{ rid: alice.deviceId, kex: false, data: new Uint8Array(40).fill(1) }] }],
          payload: new Uint8Array(16),
        }),
      );
      await expect(alice.manager.decrypt(msg)).rejects.toMatchObject({ code: "NO_SESSION" });
    }
    expect(fetches.filter((f) => f.includes(v2.BUNDLES_NODE))).toEqual([]);
  });
});

describe("setting up", () => {
  it("a create() retried after a failed first publication publishes the bundle and the device list", async () => {
    const world = new World();
    const d = new Device(world, ALICE, "x", { namespaces: [NS_V2] });
    d.failing.add("publish");
    await expect(d.start()).rejects.toMatchObject({ code: "IO_FAILED" });
    d.failing.delete("publish");
    await d.start();
    await world.network.flush();
    expect(world.network.fetch(ALICE, v2.DEVICES_NODE, "current")).not.toBeNull();
    expect(world.network.fetch(ALICE, v2.BUNDLES_NODE, String(d.deviceId))).not.toBeNull();
  });
});

describe("trust is asked about authenticated messages only", () => {
  it("a forged message in an existing session is refused without asking the trust decider", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    bob.asked.length = 0;
    const msg = parseXml(`<message xmlns="jabber:client" from="${ALICE}/r" to="${BOB}" type="chat"/>`);
    msg.cnode(
      v2.encodeEncryptedMessage({
        sid: alice.deviceId,
        keys: [{ jid: BOB, keys: [{ rid: bob.deviceId, kex: false, data: new Uint8Array(60).fill(7) }] }],
        payload: new Uint8Array(16),
      }),
    );
    await expect(bob.manager.decrypt(msg)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect(bob.asked).toEqual([]);
  });
});

describe("XEP-0384 v0.3.0 §4.6 key transport", () => {
  it("every recipient device gets the same key", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob1 = await world.add(BOB, { namespaces: [NS_LEGACY] });
    const bob2 = await world.add(BOB, { namespaces: [NS_LEGACY] });
    await world.network.flush();
    const r = await alice.manager.encryptKeyTransport(BOB);
    expect(r.devices.filter((d) => d.status === "encrypted")).toHaveLength(2);
    for (const m of r.messages) await alice.client.transport.send(BOB, wrapMessage(BOB, m.namespace, m.encrypted));
    await world.network.deliverWhere((p) => p.kind === "message" && (p.to === bob1.client || p.to === bob2.client));
    const k1 = bob1.received.find((x) => x.result?.kind === "empty")?.result?.keyMaterial;
    const k2 = bob2.received.find((x) => x.result?.kind === "empty")?.result?.keyMaterial;
    expect(k1).toBeInstanceOf(Uint8Array);
    expect(k2).toEqual(k1);
  });
});
