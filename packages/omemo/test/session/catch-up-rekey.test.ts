// XEP-0384 v0.3.0 §5 and §8 (checklist L17): a legacy session built during a catch-up on a one-time
// prekey whose deletion was postponed is never sent in; a new session of ours replaces it, its key
// exchange carried by a key transport message, before any payload goes to that device.
import { describe, expect, it } from "vitest";
import { MemoryOmemoStore, NS_LEGACY, NS_V2, type OmemoError } from "../../src/index.js";
import { ALICE, BOB, CAROL, World, type Device } from "./world.js";

/** The key exchange flags of the keys `from`'s next queued message carries for `to`'s device. */
function queuedFrom(world: World, from: Device, to: Device) {
  return world.network.queue.filter((p) => p.to === to.client && p.kind === "message" && p.from === from.jid);
}

async function setUp(ns: typeof NS_LEGACY | typeof NS_V2 = NS_LEGACY) {
  const world = new World();
  const alice = await world.add(ALICE, { namespaces: [ns] });
  const bob = await world.add(BOB, { namespaces: [ns] });
  const sent: string[] = [];
  bob.manager.on("sent", (e) => sent.push(`${e.to} ${e.reason}`));
  const errors: OmemoError[] = [];
  bob.manager.on("error", (e) => errors.push(e));
  return { world, alice, bob, sent, errors };
}

describe("legacy catch-up: sessions on kept prekeys are replaced, never sent in (v0.3.0 §5, §8)", () => {
  it("nothing is sent during the catch-up, not even a heartbeat; at its end one key exchange of ours in a new session", async () => {
    const { world, alice, bob, sent } = await setUp();
    // 60 messages before Bob reads any: all carry Alice's key exchange, and the chain passes the
    // heartbeat mark (53), which outside this case makes Bob answer.
    for (let i = 0; i < 60; i++) await world.send(alice, BOB, `a${i}`);
    let sentDuring: string[] = [];
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client);
      sentDuring = [...sent];
      const info = await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY);
      expect(info).toMatchObject({ role: "responder", rekeyPending: true });
    });
    expect(sentDuring).toEqual([]);
    expect(bob.texts()).toHaveLength(60);
    expect(sent).toEqual([`${ALICE} catch-up-rekey`]);
    const info = await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY);
    expect(info).toMatchObject({ role: "initiator", rekeyPending: false, keyExchangePending: true });

    // Alice reads it as a key exchange that replaces her session.
    const [rekey] = queuedFrom(world, bob, alice);
    expect(rekey).toBeDefined();
    await world.network.deliverWhere((p) => p === rekey);
    const read = alice.received.at(-1)!;
    expect(read.error).toBeUndefined();
    expect(read.result).toMatchObject({ kind: "empty", keyExchange: true, newSession: true });

    // From here on both directions run in Bob's session.
    await world.send(alice, BOB, "after the rekey");
    await world.send(bob, ALICE, "reply");
    await world.network.flush();
    expect(bob.texts().at(-1)).toBe("after the rekey");
    expect(alice.texts()).toEqual(["reply"]);
    expect(bob.received.at(-1)!.result!.keyExchange).toBe(false);
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.keyExchangePending).toBe(false);
  });

  it("a message the app sends during the catch-up starts the new session itself: its key is a key exchange", async () => {
    const { world, alice, bob, sent } = await setUp();
    await world.send(alice, BOB, "first");
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client);
      const result = await world.send(bob, ALICE, "while catching up");
      expect(result.devices.find((d) => d.deviceId === alice.deviceId)).toMatchObject({
        status: "encrypted",
        keyExchange: true,
      });
    });
    // Already replaced: the catch-up's end has nothing left to do.
    expect(sent).toEqual([]);
    await world.network.flush();
    expect(alice.texts()).toEqual(["while catching up"]);
    expect(alice.errors()).toEqual([]);
  });

  it("messages Alice sent in the old session before she read the new one still decrypt, and are never answered in it", async () => {
    const { world, alice, bob, sent } = await setUp();
    await world.send(alice, BOB, "one");
    await bob.manager.catchUp(() => world.network.deliverWhere((p) => p.to === bob.client).then(() => undefined));
    expect(sent).toEqual([`${ALICE} catch-up-rekey`]);
    // Alice has not read Bob's rekey yet: her next messages are still in her old session, repeating its
    // key exchange (unanswered), 60 of them: past the heartbeat mark.
    for (let i = 0; i < 60; i++) await world.send(alice, BOB, i === 0 ? "two, in the old session" : `old ${i}`);
    await world.network.deliverWhere((p) => p.to === bob.client);
    expect(bob.texts().slice(0, 2)).toEqual(["one", "two, in the old session"]);
    expect(bob.texts()).toHaveLength(61);
    expect(bob.errors()).toEqual([]);
    // No completion, no heartbeat in the replaced session: only the rekey went out.
    expect(sent).toEqual([`${ALICE} catch-up-rekey`]);
    expect(bob.received.every((r) => r.result?.replied === undefined)).toBe(true);
    // Durable: after a restart the old session is still never answered in.
    await bob.restart();
    await world.send(alice, BOB, "after Bob restarted");
    await world.network.deliverWhere((p) => p.to === bob.client);
    expect(bob.texts().at(-1)).toBe("after Bob restarted");
    expect(bob.received.at(-1)!.result!.replied).toBeUndefined();
    // And Bob's session stays the new one.
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.role).toBe("initiator");
    await world.network.flush();
    await world.send(bob, ALICE, "b");
    await world.network.flush();
    expect(alice.texts()).toEqual(["b"]);
  });

  it("a bundle that cannot be fetched at the end: an error event, the mark stays, and the next message rekeys", async () => {
    const { world, alice, bob, sent, errors } = await setUp();
    await world.send(alice, BOB, "first");
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client);
      bob.failing.add("fetch");
    });
    expect(sent).toEqual([]);
    expect(errors.map((e) => e.code)).toContain("IO_FAILED");
    expect(queuedFrom(world, bob, alice)).toEqual([]);
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.rekeyPending).toBe(true);
    // The mark is durable: a restart keeps it.
    await bob.restart();
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.rekeyPending).toBe(true);
    // Still unreachable: the device fails, nothing goes out in the old session.
    const refused = await bob.manager.encrypt(ALICE, { body: "not yet" });
    expect(refused.devices.find((d) => d.deviceId === alice.deviceId)?.status).toBe("failed");
    expect(refused.undeliverable).toEqual([ALICE]);
    expect(queuedFrom(world, bob, alice)).toEqual([]);
    bob.failing.delete("fetch");
    // (A failure of our own connection is not remembered: the next message fetches again.)
    const result = await world.send(bob, ALICE, "now");
    expect(result.devices.find((d) => d.deviceId === alice.deviceId)).toMatchObject({
      status: "encrypted",
      keyExchange: true,
    });
    await world.network.flush();
    expect(alice.texts()).toEqual(["now"]);
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.rekeyPending).toBe(false);
  });

  it("a restart in the middle of the catch-up keeps the mark: the first message after it rekeys", async () => {
    const { world, alice, bob } = await setUp();
    await world.send(alice, BOB, "first");
    let crashed: MemoryOmemoStore | undefined;
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client);
      crashed = new MemoryOmemoStore(bob.store.snapshot());
    });
    // The old Bob's rekey (sent before the "crash") reaches Alice, who replaces its one-time prekey
    // (otherwise the restarted Bob could pick the same prekey from her bundle, 1 in 100: the race of
    // v0.8.3 §5 that no client can avoid).
    await world.network.flush();
    await bob.restart(crashed);
    expect((await bob.manager.sessionInfo(ALICE, alice.deviceId, NS_LEGACY))!.rekeyPending).toBe(true);
    const result = await world.send(bob, ALICE, "after the restart");
    expect(result.devices.find((d) => d.deviceId === alice.deviceId)).toMatchObject({ keyExchange: true });
    await world.network.flush();
    expect(alice.texts()).toContain("after the restart");
    expect(alice.errors()).toEqual([]);
  });

  it("two senders on one kept prekey: both sessions are replaced at the end, and both read Bob afterwards", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const carol = await world.add(CAROL, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    await bob.manager.catchUp(() => world.network.deliverWhere((p) => p.to === bob.client).then(() => undefined));
    for (const [jid, d] of [
      [ALICE, alice],
      [CAROL, carol],
    ] as const) {
      expect((await bob.manager.sessionInfo(jid, d.deviceId, NS_LEGACY))!.role).toBe("initiator");
    }
    await world.network.flush();
    await world.send(bob, ALICE, "to alice");
    await world.send(bob, CAROL, "to carol");
    await world.network.flush();
    expect(alice.texts()).toEqual(["to alice"]);
    expect(carol.texts()).toEqual(["to carol"]);
  });

  it("one message to several devices during the catch-up: each replaced session gets a key exchange", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const carol = await world.add(CAROL, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    const sent: string[] = [];
    bob.manager.on("sent", (e) => sent.push(`${e.to} ${e.reason}`));
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    await bob.manager.catchUp(async () => {
      await world.network.deliverWhere((p) => p.to === bob.client);
      const result = await bob.manager.encrypt([ALICE, CAROL], { body: "to both" });
      expect(result.devices.map((d) => [d.jid, d.status, d.status === "encrypted" && d.keyExchange])).toEqual([
        [ALICE, "encrypted", true],
        [CAROL, "encrypted", true],
      ]);
    });
    expect(sent).toEqual([]);
  });

  it("outside a catch-up, and in OMEMO 2, the session a key exchange built is answered in and kept", async () => {
    for (const [ns, catchUp] of [
      [NS_LEGACY, false],
      [NS_V2, true],
      [NS_V2, false],
    ] as const) {
      const { world, alice, bob, sent } = await setUp(ns);
      await world.send(alice, BOB, "first");
      const deliver = () => world.network.deliverWhere((p) => p.to === bob.client).then(() => undefined);
      await (catchUp ? bob.manager.catchUp(deliver) : deliver());
      expect(sent).toEqual([`${ALICE} key-exchange-completion`]);
      expect(await bob.manager.sessionInfo(ALICE, alice.deviceId, ns)).toMatchObject({
        role: "responder",
        rekeyPending: false,
      });
    }
  });
});
