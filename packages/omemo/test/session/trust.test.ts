// Trust is decided outside (XEP-0384 v0.8.3 §8): the manager asks before encrypting to a device and
// before accepting from one, and reports new and changed identities. @parley/trust's store answers
// through a short adapter (trustStoreDecider below).
import { createTrustStore, memoryTrustStorage, omemoTrustDecider } from "@parley/trust";
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  NS_V2,
  parseXml,
  serializeXml,
  v2,
  type DeviceIdentity,
  type TrustDecider,
} from "../../src/index.js";
import { ALICE, BOB, World } from "./world.js";

/**
 * @parley/trust's store as a TrustDecider: the devices an encrypt learns together (`seen`) are one
 * batch (TOFU trusts a contact's whole first batch), every device asked about is a key seen, and
 * the store's policy answers. A key not allowed for sending waits for the user unless it is
 * compromised.
 */
function trustStoreDecider(trustStore: ReturnType<typeof createTrustStore>, account: string): TrustDecider {
  const key = (d: DeviceIdentity) => ({ fingerprint: d.fingerprint, deviceId: d.deviceId });
  return {
    async seen(devices) {
      await trustStore.keysSeen(account, devices[0]!.jid, "omemo", devices.map(key));
    },
    async decide(device, purpose) {
      await trustStore.keySeen(account, device.jid, "omemo", key(device));
      const d =
        purpose === "encrypt"
          ? await trustStore.shouldEncryptTo(account, device.jid, "omemo", device.fingerprint)
          : await trustStore.shouldAcceptFrom(account, device.jid, "omemo", device.fingerprint);
      if (!d.allowed) return d.state === "compromised" || purpose === "decrypt" ? "untrusted" : "undecided";
      return d.trusted ? "trusted" : "undecided";
    },
  };
}

describe("XEP-0384 v0.8.3 §8 trust decisions", () => {
  it("untrusted and undecided devices are skipped when encrypting, with no session built for them", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob1 = await world.add(BOB, { namespaces: [NS_V2] });
    const bob2 = await world.add(BOB, { namespaces: [NS_V2] });
    const bob3 = await world.add(BOB, { namespaces: [NS_V2] });
    alice.trust.set(bob2.manager.fingerprint, "untrusted");
    alice.trust.set(bob3.manager.fingerprint, "undecided");
    const r = await alice.manager.encrypt(BOB, { body: "only to the trusted one" });
    const status = Object.fromEntries(r.devices.map((d) => [d.deviceId, d.status]));
    expect(status).toEqual({
      [bob1.deviceId]: "encrypted",
      [bob2.deviceId]: "untrusted",
      [bob3.deviceId]: "undecided",
    });
    expect(await alice.manager.sessionInfo(BOB, bob2.deviceId, NS_V2)).toBeUndefined();
    expect(await alice.manager.sessionInfo(BOB, bob3.deviceId, NS_V2)).toBeUndefined();
    expect(
      alice.asked
        .filter((a) => a.purpose === "encrypt")
        .map((a) => a.deviceId)
        .sort(),
    ).toEqual([bob1.deviceId, bob2.deviceId, bob3.deviceId].sort());
    // A recipient with no trusted device at all: send() refuses and sends nothing.
    alice.trust.set(bob1.manager.fingerprint, "undecided");
    const queued = world.network.queue.length;
    const error = await alice.manager.send(BOB, { body: "nobody" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "NO_ELIGIBLE_DEVICES")).toBe(true);
    expect(world.network.queue.length).toBe(queued);
  });

  it("a message from an untrusted device is UNTRUSTED_DEVICE and changes nothing (its prekey stays); undecided is read and marked", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "hello");
    const stanza = world.network.queue.splice(0)[0]!.stanza;
    bob.trust.set(alice.manager.fingerprint, "untrusted");
    const before = bob.store.snapshot();
    const error = await bob.manager.decrypt(parseXml(serializeXml(stanza))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "UNTRUSTED_DEVICE")).toBe(true);
    expect(bob.store.snapshot()).toEqual(before);
    bob.trust.set(alice.manager.fingerprint, "undecided");
    const got = await bob.manager.decrypt(parseXml(serializeXml(stanza)));
    expect(got).toMatchObject({ body: "hello", trust: "undecided", newSession: true });
  });

  it("events: a new device's identity once, and identityChanged when a device id comes with another key", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    const mallory = await world.add("mallory@evil.example", { namespaces: [NS_V2] });
    const seen: DeviceIdentity[] = [];
    const changed: Array<DeviceIdentity & { previousFingerprint: string }> = [];
    alice.manager.on("device", (d) => seen.push(d));
    alice.manager.on("identityChanged", (d) => changed.push(d));
    await world.send(alice, BOB, "one");
    await world.send(alice, BOB, "two");
    expect(seen.map((d) => [d.jid, d.deviceId, d.fingerprint])).toEqual([[BOB, bob.deviceId, bob.manager.fingerprint]]);
    // Bob's bundle is replaced by one with Mallory's identity under Bob's device id.
    const malloryBundle = world.network.fetch("mallory@evil.example", v2.BUNDLES_NODE, String(mallory.deviceId))![0]!;
    world.network.put(BOB, v2.BUNDLES_NODE, String(bob.deviceId), malloryBundle);
    await alice.manager.deleteSession(BOB, bob.deviceId, NS_V2);
    alice.trust.set(mallory.manager.fingerprint, "untrusted");
    const r = await alice.manager.encrypt(BOB, { body: "three" });
    expect(r.devices[0]!.status).toBe("untrusted");
    expect(changed).toEqual([
      expect.objectContaining({
        jid: BOB,
        deviceId: bob.deviceId,
        fingerprint: mallory.manager.fingerprint,
        previousFingerprint: bob.manager.fingerprint,
      }),
    ]);
  });

  it("@parley/trust answers as a TrustDecider: TOFU trusts the first batch, a later device only after verification", async () => {
    const trustStore = createTrustStore({ storage: memoryTrustStorage() });
    const decider = trustStoreDecider(trustStore, ALICE);
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], trust: decider });
    const bob1 = await world.add(BOB, { namespaces: [NS_V2] });
    const first = await alice.manager.encrypt(BOB, { body: "tofu" });
    expect(first.devices.map((d) => d.status)).toEqual(["encrypted"]);
    const bob2 = await world.add(BOB, { namespaces: [NS_V2] });
    const second = await alice.manager.encrypt(BOB, { body: "new device" });
    const status = Object.fromEntries(second.devices.map((d) => [d.deviceId, d.status]));
    expect(status).toEqual({ [bob1.deviceId]: "encrypted", [bob2.deviceId]: "undecided" });
    await trustStore.verify(ALICE, BOB, "omemo", bob2.manager.fingerprint, { method: "fingerprint-compared" });
    const third = await alice.manager.encrypt(BOB, { body: "verified" });
    expect(third.devices.every((d) => d.status === "encrypted")).toBe(true);
    await trustStore.markCompromised(ALICE, BOB, "omemo", bob1.manager.fingerprint, { actor: "alice" });
    await world.network.flush();
    await world.send(bob1, ALICE, "from a compromised key");
    await world.network.flush();
    expect(alice.errors().some((e) => isOmemoError(e, "UNTRUSTED_DEVICE"))).toBe(true);
  });

  it("a contact's devices met in one encrypt are one first batch: TOFU trusts all of them, a later one waits", async () => {
    const trustStore = createTrustStore({ storage: memoryTrustStorage() });
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], trust: trustStoreDecider(trustStore, ALICE) });
    const bobs = [await world.add(BOB, { namespaces: [NS_V2] }), await world.add(BOB, { namespaces: [NS_V2] })];
    const first = await alice.manager.encrypt(BOB, { body: "hello, both of you" });
    expect(first.devices.map((d) => d.status)).toEqual(["encrypted", "encrypted"]);
    const records = await trustStore.listRecords(ALICE, BOB, "omemo");
    expect(records.map((r) => r.state).sort()).toEqual(["tofu", "tofu"]);
    const bob3 = await world.add(BOB, { namespaces: [NS_V2] });
    const later = await alice.manager.encrypt(BOB, { body: "a third one" });
    const status = Object.fromEntries(later.devices.map((d) => [d.deviceId, d.status]));
    expect(status).toEqual({
      [bobs[0]!.deviceId]: "encrypted",
      [bobs[1]!.deviceId]: "encrypted",
      [bob3.deviceId]: "undecided",
    });
  });

  it("a contact who wrote first from one device: its second device, met when we reply, is in its first batch too (TOFU)", async () => {
    const trustStore = createTrustStore({ storage: memoryTrustStorage() });
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], trust: omemoTrustDecider(trustStore, ALICE) });
    const phone = await world.add(BOB, { namespaces: [NS_V2] });
    const laptop = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(phone, ALICE, "hi from my phone");
    await world.network.flush();
    expect(alice.texts()).toEqual(["hi from my phone"]);
    // Alice answers: the phone has a session, the laptop is new. seen() hears of both before any
    // decision, so the laptop joins the first batch instead of being a later, unverified key.
    const reply = await alice.manager.encrypt(BOB, { body: "hi Bob" });
    const status = Object.fromEntries(reply.devices.map((d) => [d.deviceId, d.status]));
    expect(status).toEqual({ [phone.deviceId]: "encrypted", [laptop.deviceId]: "encrypted" });
    const records = await trustStore.listRecords(ALICE, BOB, "omemo");
    expect(records.map((r) => r.state).sort()).toEqual(["tofu", "tofu"]);
    // The batch is closed now: a device that appears later waits for the user.
    const tablet = await world.add(BOB, { namespaces: [NS_V2] });
    const later = await alice.manager.encrypt(BOB, { body: "and now?" });
    expect(later.devices.find((d) => d.deviceId === tablet.deviceId)?.status).toBe("untrusted");
  });

  it("with a device to build a session for, seen() also names the account's devices we have sessions with, before any decide()", async () => {
    const calls: string[] = [];
    const decider: TrustDecider = {
      seen(devices) {
        calls.push(
          `seen ${devices
            .map((d) => d.deviceId)
            .sort((a, b) => a - b)
            .join(",")}`,
        );
      },
      decide(device, purpose) {
        calls.push(`decide ${device.deviceId} ${purpose}`);
        return "trusted";
      },
    };
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], trust: decider });
    const phone = await world.add(BOB, { namespaces: [NS_V2] });
    await alice.manager.encrypt(BOB, { body: "to the phone" });
    const laptop = await world.add(BOB, { namespaces: [NS_V2] });
    calls.length = 0;
    await alice.manager.encrypt(BOB, { body: "to both" });
    const both = [phone.deviceId, laptop.deviceId].sort((a, b) => a - b).join(",");
    expect(calls[0]).toBe(`seen ${both}`);
    expect(calls.slice(1).sort()).toEqual(
      [`decide ${laptop.deviceId} encrypt`, `decide ${phone.deviceId} encrypt`].sort(),
    );
  });

  it("seen() gets each account's new devices once, together, before decide(); a throwing seen() is an error event", async () => {
    const calls: string[] = [];
    let fail = false;
    const decider: TrustDecider = {
      seen(devices) {
        calls.push(
          `seen ${devices[0]!.jid} ${devices
            .map((d) => d.deviceId)
            .sort()
            .join(",")}`,
        );
        if (fail) throw new Error("trust store down");
      },
      decide(device) {
        calls.push(`decide ${device.deviceId}`);
        return "trusted";
      },
    };
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2], trust: decider });
    const bobs = [await world.add(BOB, { namespaces: [NS_V2] }), await world.add(BOB, { namespaces: [NS_V2] })];
    const carol = await world.add("carol@example.com", { namespaces: [NS_V2] });
    await alice.manager.encrypt([BOB, "carol@example.com"], { body: "hi" }, { envelopeTo: "room@muc.example" });
    const bobIds = bobs
      .map((b) => b.deviceId)
      .sort()
      .join(",");
    expect(calls.filter((c) => c.startsWith("seen")).sort()).toEqual(
      [`seen ${BOB} ${bobIds}`, `seen carol@example.com ${carol.deviceId}`].sort(),
    );
    const lastSeen = Math.max(...calls.flatMap((c, i) => (c.startsWith("seen") ? [i] : [])));
    expect(calls.slice(0, lastSeen).some((c) => c.startsWith("decide"))).toBe(false);
    // Sessions exist now: seen() is not called again for these devices.
    calls.length = 0;
    await alice.manager.encrypt(BOB, { body: "again" });
    expect(calls.some((c) => c.startsWith("seen"))).toBe(false);
    const bob3 = await world.add(BOB, { namespaces: [NS_V2] });
    fail = true;
    calls.length = 0;
    const errors: unknown[] = [];
    alice.manager.on("error", (e) => errors.push(e));
    const r = await alice.manager.encrypt(BOB, { body: "to the new one too" });
    // The new one, with the devices we have sessions with (they are reported together).
    const allIds = [...bobs, bob3]
      .map((b) => b.deviceId)
      .sort()
      .join(",");
    expect(calls).toContain(`seen ${BOB} ${allIds}`);
    expect(r.devices.find((d) => d.deviceId === bob3.deviceId)!.status).toBe("encrypted");
    expect(errors.some((e) => isOmemoError(e, "IO_FAILED"))).toBe(true);
  });
});
