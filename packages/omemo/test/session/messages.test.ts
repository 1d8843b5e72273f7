// Sending and receiving between our own managers over the in-memory network, in each namespace
// (XEP-0384 v0.3.0 §4.5–4.6, v0.8.3 §4.3–4.5, §5.5–5.6, §6): the first message through a key
// exchange, replies, several devices per account, the empty message after a key exchange, the
// prekey replaced and republished, duplicates rejected with nothing changed, heartbeats, restarts.
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  legacy,
  NS_LEGACY,
  NS_V2,
  ONE_TIME_PRE_KEYS,
  parseXml,
  serializeXml,
  v2,
  type OmemoErrorCode,
  type OmemoNamespace,
} from "../../src/index.js";
import { ALICE, BOB, CAROL, World, type Device } from "./world.js";

function bundleIds(world: World, device: Device, ns: OmemoNamespace): number[] {
  const payload =
    ns === NS_LEGACY
      ? world.network.fetch(device.jid, legacy.bundleNode(device.deviceId), "current")![0]!
      : world.network.fetch(device.jid, v2.BUNDLES_NODE, String(device.deviceId))![0]!;
  const bundle = ns === NS_LEGACY ? legacy.decodeBundle(payload) : v2.decodeBundle(payload);
  return bundle.preKeys.map((k) => k.id);
}

async function rejects(promise: Promise<unknown>, code: OmemoErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOmemoError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

/** The key exchange ids in the only `<key>` of a stanza for one device. */
function keyFlags(stanza: { stanza: import("ltx").Element }, ns: OmemoNamespace): boolean[] {
  const encrypted = stanza.stanza.getChild("encrypted", ns)!;
  if (ns === NS_LEGACY) return legacy.decodeEncryptedMessage(encrypted).keys.map((k) => k.prekey);
  return v2.decodeEncryptedMessage(encrypted).keys.flatMap((g) => g.keys.map((k) => k.kex));
}

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("%s: XEP-0384 §5.5/§5.6 sending and receiving", (_label, ns) => {
  async function pair(): Promise<{ world: World; alice: Device; bob: Device }> {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    return { world, alice, bob };
  }

  it("the first message is a key exchange; the receiver consumes the prekey once, replaces it with a new id, republishes and answers with an empty message", async () => {
    const { world, alice, bob } = await pair();
    const before = bundleIds(world, bob, ns);
    const sent = await world.send(alice, BOB, "hello");
    expect(sent.devices).toEqual([
      { jid: BOB, deviceId: bob.deviceId, namespace: ns, status: "encrypted", keyExchange: true },
    ]);
    bob.published.length = 0;
    await world.network.deliver();
    expect(bob.received[0]!.result).toMatchObject({
      kind: "message",
      body: "hello",
      from: ALICE,
      deviceId: alice.deviceId,
      keyExchange: true,
      newSession: true,
      replied: "key-exchange-completion",
      trust: "trusted",
      fingerprint: alice.manager.fingerprint,
    });
    const after = bundleIds(world, bob, ns);
    expect(after).toHaveLength(ONE_TIME_PRE_KEYS);
    const removed = before.filter((id) => !after.includes(id));
    const added = after.filter((id) => !before.includes(id));
    expect(removed).toHaveLength(1);
    expect(added).toHaveLength(1);
    expect(added[0]!).toBeGreaterThan(Math.max(...before));
    expect(bob.published.map((p) => p.node)).toEqual([
      ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE,
    ]);
    // Until the empty message arrives, Alice repeats the key exchange (v0.8.3 §4.3).
    expect((await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!.keyExchangePending).toBe(true);
    const completion = world.network.queue.find((p) => p.to === alice.client && p.kind === "message")!;
    expect(keyFlags(completion, ns)).toEqual([false]);
    expect(completion.stanza.getChild("encrypted", ns)!.getChild("payload")).toBeUndefined();
    await world.network.flush();
    expect(alice.received.map((r) => r.result?.kind)).toEqual(["empty"]);
    expect((await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!.keyExchangePending).toBe(false);
    const second = await world.send(alice, BOB, "second");
    expect(second.devices[0]!.keyExchange).toBe(false);
    await world.network.flush();
    expect(bob.texts()).toEqual(["hello", "second"]);
    expect(bob.received[1]!.result).toMatchObject({ keyExchange: false, newSession: false, replied: undefined });
  });

  it("a repeated key exchange (no answer yet) is read in the same session and consumes nothing more", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "one");
    await world.send(alice, BOB, "two");
    const before = bundleIds(world, bob, ns);
    await world.network.deliver(1);
    const afterFirst = bundleIds(world, bob, ns);
    expect(afterFirst).not.toEqual(before);
    await world.network.deliver(1);
    expect(bundleIds(world, bob, ns)).toEqual(afterFirst);
    expect(bob.received.map((r) => [r.result?.body, r.result?.newSession])).toEqual([
      ["one", true],
      ["two", false],
    ]);
  });

  it("replies and long exchanges both ways, with lost and reordered messages", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    for (let round = 0; round < 3; round++) {
      await world.send(bob, ALICE, `bob ${round}`);
      await world.send(alice, BOB, `alice ${round}`);
    }
    await world.network.flush();
    expect(alice.texts()).toEqual(["bob 0", "bob 1", "bob 2"]);
    expect(bob.texts()).toEqual(["hi", "alice 0", "alice 1", "alice 2"]);
    for (const text of ["a", "b", "c", "d"]) await world.send(alice, BOB, text);
    const queued = world.network.queue.splice(0);
    world.network.queue.push(queued[3]!, queued[0]!, queued[2]!); // "b" is lost
    await world.network.flush();
    expect(bob.texts().slice(4)).toEqual(["d", "a", "c"]);
  });

  it("a stanza whose elements are of another ltx class (xmpp.js's @xmpp/xml, or any look-alike) is read too", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "from another ltx");
    const { stanza } = world.network.queue.splice(0)[0]!;
    // The same tree as plain objects of another class: name, attrs and children, no ltx prototype.
    class Foreign {
      constructor(
        readonly name: string,
        readonly attrs: Record<string, string>,
        readonly children: (Foreign | string)[],
      ) {}
    }
    const foreign = (e: typeof stanza): Foreign =>
      new Foreign(
        e.name,
        { ...(e.attrs as Record<string, string>) },
        e.children.map((c) => (typeof c === "string" ? c : foreign(c))),
      );
    const result = await bob.manager.decrypt(foreign(stanza) as unknown as typeof stanza);
    expect(result.body).toBe("from another ltx");
    await expect(bob.manager.decrypt({ name: "message" } as unknown as typeof stanza)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("duplicates (MAM, carbons, a replayed key exchange) are DUPLICATE_MESSAGE and change no stored byte", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "kex");
    const kex = world.network.queue[0]!.stanza;
    await world.network.flush();
    await world.send(alice, BOB, "normal");
    const normal = world.network.queue[0]!.stanza;
    await world.network.flush();
    const snapshot = bob.store.snapshot();
    const published = bob.published.length;
    for (const stanza of [normal, kex, normal]) {
      await rejects(bob.manager.decrypt(parseXml(serializeXml(stanza))), "DUPLICATE_MESSAGE");
    }
    expect(bob.store.snapshot()).toEqual(snapshot);
    expect(bob.published.length).toBe(published);
    expect(world.network.queue).toEqual([]);
    // After the session was replaced (Alice lost hers), the old key exchange is still a duplicate.
    await alice.manager.deleteSession(BOB, bob.deviceId, ns);
    await world.send(alice, BOB, "new session");
    await world.network.flush();
    expect(bob.received.at(-1)!.result).toMatchObject({ body: "new session", newSession: true });
    const afterReplace = bob.store.snapshot();
    await rejects(bob.manager.decrypt(parseXml(serializeXml(kex))), "DUPLICATE_MESSAGE");
    expect(bob.store.snapshot()).toEqual(afterReplace);
  });

  it("several devices per account: every trusted device of the recipient and our own other devices get the message", async () => {
    const world = new World();
    const alice1 = await world.add(ALICE, { namespaces: [ns] });
    const alice2 = await world.add(ALICE, { namespaces: [ns] });
    const bob1 = await world.add(BOB, { namespaces: [ns] });
    const bob2 = await world.add(BOB, { namespaces: [ns] });
    const sent = await world.send(alice1, BOB, "to everyone");
    expect(new Set(sent.devices.map((d) => `${d.jid}/${d.deviceId}/${d.status}`))).toEqual(
      new Set([
        `${BOB}/${bob1.deviceId}/encrypted`,
        `${BOB}/${bob2.deviceId}/encrypted`,
        `${ALICE}/${alice2.deviceId}/encrypted`,
      ]),
    );
    expect(sent.messages).toHaveLength(1);
    if (ns === NS_V2) {
      const groups = v2.decodeEncryptedMessage(sent.messages[0]!.encrypted).keys.map((g) => g.jid);
      expect(new Set(groups)).toEqual(new Set([BOB, ALICE]));
    }
    await world.network.flush();
    for (const d of [bob1, bob2, alice2]) expect(d.texts()).toEqual(["to everyone"]);
    expect(alice1.texts()).toEqual([]);
    // The answer reaches both of Alice's devices; Bob's other device reads it as a carbon.
    await world.send(bob2, ALICE, "answer");
    await world.network.flush();
    for (const d of [alice1, alice2, bob1]) expect(d.texts().at(-1)).toBe("answer");
    // The only failures: empty messages for one device reach the others of the account (bare JID).
    for (const d of world.devices) for (const e of d.errors()) expect(isOmemoError(e, "NO_KEY_FOR_US")).toBe(true);
  });

  it("a restart from the store at any point goes on: sessions, prekeys and device lists survive", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "before");
    await world.network.deliver(1);
    await bob.restart();
    await alice.restart();
    await world.network.flush();
    await world.send(bob, ALICE, "after both restarted");
    await world.send(alice, BOB, "and again");
    await world.network.flush();
    expect(alice.texts()).toEqual(["after both restarted"]);
    expect(bob.texts()).toEqual(["before", "and again"]);
    expect(bob.received.at(-1)!.result!.keyExchange).toBe(false);
  });

  it("§6 heartbeat: after more than 53 messages of one chain the receiver sends one empty message, and the next chain starts afresh", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "start");
    await world.network.flush();
    await world.send(bob, ALICE, "reply");
    await world.network.flush();
    const replies: string[] = [];
    for (let i = 1; i <= 57; i++) {
      await world.send(alice, BOB, `m${i}`);
      // Bob's heartbeat waits: Alice goes on in the same chain, as if it were still in flight.
      await world.network.deliverWhere((p) => p.to === bob.client);
      const r = bob.received.at(-1)!.result!;
      expect(r.body).toBe(`m${i}`);
      if (r.replied !== undefined) replies.push(`${i} ${r.replied}`);
    }
    expect(replies).toEqual(["54 heartbeat"]);
    await world.network.flush();
    expect(alice.received.at(-1)!.result).toMatchObject({ kind: "empty", keyExchange: false });
    await world.send(alice, BOB, "new chain");
    await world.network.flush();
    expect(bob.received.at(-1)!.result).toMatchObject({ body: "new chain", replied: undefined });
  });

  it("key transport and empty messages: no payload, the key material arrives as sent", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    const material = new Uint8Array(32).fill(7);
    const r = await alice.manager.encryptKeyTransport(BOB, { keyMaterial: material });
    expect(r.messages[0]!.encrypted.getChild("payload")).toBeUndefined();
    const stanza = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
    stanza.cnode(r.messages[0]!.encrypted);
    const got = await bob.manager.decrypt(stanza);
    expect(got).toMatchObject({ kind: "empty", body: undefined });
    expect(got.keyMaterial).toEqual(material);
    const empty = await alice.manager.encryptKeyTransport(BOB);
    const stanza2 = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
    stanza2.cnode(empty.messages[0]!.encrypted);
    const got2 = await bob.manager.decrypt(stanza2);
    if (ns === NS_V2) expect(got2.keyMaterial).toEqual(new Uint8Array(32));
    else expect(got2.keyMaterial).toHaveLength(16);
  });

  it("errors change nothing: NO_KEY_FOR_US, NO_SESSION, a tampered payload, key or header", async () => {
    const { world, alice, bob } = await pair();
    const carol = await world.add(CAROL, { namespaces: [ns] });
    await world.send(alice, BOB, "for bob");
    const forBob = world.network.queue.splice(0)[0]!.stanza;
    const snapshot = carol.store.snapshot();
    await rejects(carol.manager.decrypt(parseXml(serializeXml(forBob))), "NO_KEY_FOR_US");
    expect(carol.store.snapshot()).toEqual(snapshot);
    // A payload with a flipped byte: the whole message fails and Bob's prekey is not consumed.
    const tampered = parseXml(serializeXml(forBob));
    const payload = tampered.getChild("encrypted", ns)!.getChild("payload")!;
    const bytes = Buffer.from(payload.getText(), "base64");
    bytes[0]! ^= 1;
    payload.children = [bytes.toString("base64")];
    const bobBefore = bob.store.snapshot();
    await rejects(bob.manager.decrypt(tampered), "DECRYPTION_FAILED");
    expect(bob.store.snapshot()).toEqual(bobBefore);
    // The real one still decrypts afterwards.
    const ok = await bob.manager.decrypt(parseXml(serializeXml(forBob)));
    expect(ok.body).toBe("for bob");
    world.network.queue.length = 0;
  });

  it("§6 a normal message from a device without a session: NO_SESSION, one healing key exchange, then the sender's messages decrypt", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    await world.send(bob, ALICE, "answer");
    await world.network.flush();
    // Bob lost his session (a restore from an old backup).
    await bob.manager.deleteSession(ALICE, alice.deviceId, ns);
    const sent: string[] = [];
    bob.manager.on("sent", (e) => sent.push(`${e.deviceId} ${e.reason}`));
    // The first starts a new session from Alice's bundle; the second, sent in the session Bob lost,
    // fails in the new one and triggers nothing more.
    for (const [text, code] of [
      ["lost 1", "NO_SESSION"],
      ["lost 2", "DECRYPTION_FAILED"],
    ] as const) {
      await world.send(alice, BOB, text);
      const at = world.network.queue.findIndex((p) => p.to === bob.client);
      const normal = world.network.queue.splice(at, 1)[0]!.stanza;
      expect(keyFlags({ stanza: normal }, ns)).toEqual([false]);
      await rejects(bob.manager.decrypt(normal), code);
    }
    // One healing key exchange, in an empty message.
    expect(sent).toEqual([`${alice.deviceId} session-healing`]);
    const healing = world.network.queue.filter((p) => p.to === alice.client);
    expect(healing).toHaveLength(1);
    expect(keyFlags(healing[0]!, ns)).toEqual([true]);
    await world.network.flush();
    expect(alice.received.at(-1)!.result).toMatchObject({ kind: "empty", newSession: true, keyExchange: true });
    await world.send(alice, BOB, "healed");
    await world.network.flush();
    expect(bob.texts().at(-1)).toBe("healed");
    // Without healing, NO_SESSION changes nothing at all.
    const quiet = await world.add(CAROL, { namespaces: [ns], heal: false });
    await world.send(alice, CAROL, "x");
    await world.network.flush();
    await quiet.manager.deleteSession(ALICE, alice.deviceId, ns);
    await world.send(alice, CAROL, "y");
    const toCarol = world.network.queue.splice(0).find((p) => p.to === quiet.client)!.stanza;
    const before = quiet.store.snapshot();
    await rejects(quiet.manager.decrypt(toCarol), "NO_SESSION");
    expect(quiet.store.snapshot()).toEqual(before);
    expect(world.network.queue).toEqual([]);
  });

  it("replaceSession: a new key exchange in an empty message; the peer replaces its session and both go on", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "hi");
    await world.network.flush();
    const before = (await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!;
    await alice.manager.replaceSession(BOB, bob.deviceId, ns);
    const after = (await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!;
    expect(after).toMatchObject({ role: "initiator", keyExchangePending: true, generation: 1 });
    expect(after.revision).toBe(before.revision + 1);
    await world.network.flush();
    expect(bob.received.at(-1)!.result).toMatchObject({ kind: "empty", newSession: true });
    await world.send(bob, ALICE, "after replacement");
    await world.send(alice, BOB, "me too");
    await world.network.flush();
    expect(alice.texts().at(-1)).toBe("after replacement");
    expect(bob.texts().at(-1)).toBe("me too");
  });

  it("two devices that start sessions with each other at the same moment still read every message (replaced sessions are kept)", async () => {
    const { world, alice, bob } = await pair();
    await world.send(alice, BOB, "from alice, first");
    await world.send(bob, ALICE, "from bob, first");
    await world.network.flush();
    for (let i = 0; i < 3; i++) {
      await world.send(alice, BOB, `a${i}`);
      await world.send(bob, ALICE, `b${i}`);
      await world.network.flush();
    }
    expect(bob.texts()).toEqual(["from alice, first", "a0", "a1", "a2"]);
    expect(alice.texts()).toEqual(["from bob, first", "b0", "b1", "b2"]);
    for (const d of [alice, bob]) expect(d.errors()).toEqual([]);
  });
});

describe("OMEMO 2 specifics", () => {
  it("the payload is an SCE envelope with rpad, time, to and from; a redirected stanza fails the <to> check (XEP-0420 §4)", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "envelope");
    const stanza = world.network.queue[0]!.stanza;
    await world.network.flush();
    const envelope = bob.received[0]!.result!.envelope!;
    expect(envelope.to).toBe(BOB);
    expect(envelope.from).toBe(ALICE);
    expect(envelope.rpad).toBeDefined();
    // <time> is the manager's clock (the world's, injected as `now`), not the system's.
    expect(envelope.time?.getTime()).toBe(world.clock);
    // A server that redirects Alice's next message to Carol (who Alice also encrypted to) is caught.
    const carol = await world.add(CAROL, { namespaces: [NS_V2] });
    const both = await alice.manager.encrypt([BOB, CAROL], { body: "to both" }, { envelopeTo: BOB });
    const redirected = parseXml(`<message from='${ALICE}/x' to='${CAROL}'/>`);
    redirected.cnode(both.messages[0]!.encrypted);
    const before = carol.store.snapshot();
    await rejects(carol.manager.decrypt(redirected), "SCE_WRONG_RECIPIENT");
    expect(carol.store.snapshot()).toEqual(before);
    expect(stanza.getChild("store", "urn:xmpp:hints")).toBeDefined();
  });

  it("a group chat: encrypted to the real JIDs of the occupants, the envelope names the room", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    const carol = await world.add(CAROL, { namespaces: [NS_V2] });
    const room = "room@muc.example.org";
    const r = await alice.manager.encrypt([BOB, CAROL], { body: "hello room" }, { envelopeTo: room });
    expect(new Set(r.devices.map((d) => d.jid))).toEqual(new Set([BOB, CAROL]));
    for (const d of [bob, carol]) {
      const stanza = parseXml(`<message from='${room}/alice' to='${d.jid}' type='groupchat'/>`);
      stanza.cnode(parseXml(serializeXml(r.messages[0]!.encrypted)));
      const got = await d.manager.decrypt(stanza, { from: ALICE, to: room, groupchat: true });
      expect(got.body).toBe("hello room");
    }
    await rejects(alice.manager.encrypt([BOB, CAROL], { body: "no room" }), "INVALID_ARGUMENT");
  });
});

describe("both namespaces on one account", () => {
  it("a device that speaks both gets OMEMO 2; a legacy-only device gets legacy; one identity for both", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const bobNew = await world.add(BOB);
    const bobOld = await world.add(BOB, { namespaces: [NS_LEGACY] });
    const r = await world.send(alice, BOB, "mixed");
    expect(new Set(r.devices.map((d) => `${d.deviceId} ${d.namespace}`))).toEqual(
      new Set([`${bobNew.deviceId} ${NS_V2}`, `${bobOld.deviceId} ${NS_LEGACY}`]),
    );
    expect(r.messages.map((m) => m.namespace)).toEqual([NS_V2, NS_LEGACY]);
    await world.network.flush();
    expect(bobNew.texts()).toEqual(["mixed"]);
    expect(bobOld.texts()).toEqual(["mixed"]);
    // bobNew saw the legacy stanza too: not for it.
    expect(bobNew.errors().every((e) => isOmemoError(e, "NO_KEY_FOR_US"))).toBe(true);
    const fingerprints = [bobNew, bobOld].map((d) => d.received.find((x) => x.result)!.result!.fingerprint);
    expect(fingerprints).toEqual([alice.manager.fingerprint, alice.manager.fingerprint]);
  });
});

describe("a group chat with an occupant whose device list cannot be fetched", () => {
  it("the others get the message; that occupant is undeliverable; alone, the failure is thrown", async () => {
    const world = new World();
    const DAVE = "dave@example.net";
    // Dave first: alice learns of his device list only by fetching it (no notification reaches her).
    await world.add(DAVE, { namespaces: [NS_V2] });
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    const carol = await world.add(CAROL, { namespaces: [NS_V2] });
    const fetch = alice.transport.fetch.bind(alice.transport);
    alice.transport.fetch = (jid: string, node: string, itemId?: string) =>
      jid === DAVE ? Promise.reject(new Error("remote-server-timeout")) : fetch(jid, node, itemId);
    const room = "room@muc.example.org";
    const r = await alice.manager.encrypt([BOB, CAROL, DAVE], { body: "hello room" }, { envelopeTo: room });
    expect(r.undeliverable).toEqual([DAVE]);
    expect(r.devices.some((d) => d.jid === DAVE)).toBe(false); // not even tried: his list is unknown
    expect(new Set(r.devices.filter((d) => d.status === "encrypted").map((d) => d.jid))).toEqual(new Set([BOB, CAROL]));
    for (const d of [bob, carol]) {
      const stanza = parseXml(`<message from='${room}/alice' to='${d.jid}' type='groupchat'/>`);
      stanza.cnode(parseXml(serializeXml(r.messages[0]!.encrypted)));
      expect((await d.manager.decrypt(stanza, { from: ALICE, to: room, groupchat: true })).body).toBe("hello room");
    }
    await rejects(alice.manager.encrypt(DAVE, { body: "just dave" }), "IO_FAILED");
  });
});
