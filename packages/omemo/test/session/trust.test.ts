// Trust is decided outside (XEP-0384 v0.8.3 §8): the manager asks before encrypting to a device and
// before accepting from one, and reports new and changed identities. @parley/trust's store answers
// through a five-line adapter.
import { createTrustStore, memoryTrustStorage } from "@parley/trust";
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
    const decider: TrustDecider = {
      async decide(device, purpose) {
        await trustStore.keySeen(ALICE, device.jid, "omemo", {
          fingerprint: device.fingerprint,
          deviceId: device.deviceId,
        });
        const d =
          purpose === "encrypt"
            ? await trustStore.shouldEncryptTo(ALICE, device.jid, "omemo", device.fingerprint)
            : await trustStore.shouldAcceptFrom(ALICE, device.jid, "omemo", device.fingerprint);
        // A key not allowed for sending waits for the user unless it is compromised.
        if (!d.allowed) return d.state === "compromised" || purpose === "decrypt" ? "untrusted" : "undecided";
        return d.trusted ? "trusted" : "undecided";
      },
    };
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
});
