// Our SessionManager against Debian's python-omemo (python3-omemo 1.0.2 with python3-oldmemo /
// python3-twomemo 1.0.3) in a separate process, for each namespace and in both directions. What
// crosses between them is the XML each side writes: our bundles and device lists go through
// python-omemo's parsers and XML schemas (oldmemo.etree / twomemo.etree), its `<encrypted>` elements
// through ours. Our manager joins the PEP relay of interop/pep.ts as a PepMember.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Element } from "ltx";
import { PepRelay, type PepMember } from "../interop/pep.js";
import {
  bundleAddress,
  DEVICE_LIST_NODE,
  ensurePythonOmemo,
  LEGACY_NS,
  OMEMO2_NS,
  PythonOmemoPeer,
  type CreateOptions,
  type DecryptResult as PyDecryptResult,
  type Effects,
  type OmemoNamespace,
  type OwnState,
  type PepItem,
  type SentMessage,
} from "../interop/python-omemo.js";
import {
  createEnvelope,
  decodeEnvelope,
  envelopeToString,
  isOmemoError,
  memoryOmemoStore,
  parseXml,
  serializeXml,
  SessionManager,
  type DecryptResult,
  type EncryptResult,
  type MemoryOmemoStore,
  type OmemoTransport,
} from "../src/index.js";

beforeAll(() => {
  ensurePythonOmemo();
});

const ALICE = "alice@example.org"; // ours
const BOB = "bob@example.net"; // python
const CAROL = "carol@example.com"; // python
const DAVE = "dave@example.com"; // ours, two devices

// ---------------------------------------------------------------- our device as a relay member

class OurDevice implements PepMember {
  readonly jid: string;
  readonly resource: string;
  readonly #relay: PepRelay;
  store: MemoryOmemoStore = memoryOmemoStore();
  manager!: SessionManager;
  /** What our manager published and has not been relayed yet. */
  #published: PepItem[] = [];
  /** Messages our manager sent by itself (empty messages), for the test to deliver. */
  outbox: Array<{ to: string; message: Element }> = [];
  #started = false;

  constructor(relay: PepRelay, jid: string, resource: string) {
    this.#relay = relay;
    this.jid = jid;
    this.resource = resource;
  }

  readonly transport: OmemoTransport = {
    publish: (node, itemId, payload) => {
      this.#published.push({ jid: this.jid, node, itemId, xml: serializeXml(payload) });
      return Promise.resolve();
    },
    fetch: (jid, node, itemId) => {
      if (itemId === undefined) {
        // The whole node (legacy device lists and bundles), as <item id> elements in publication order.
        const items = this.#relay.items(jid, node).filter((item) => item.xml !== null);
        return Promise.resolve(
          items.length === 0
            ? null
            : items.map((item) => {
                const wrapper = parseXml(`<item xmlns='http://jabber.org/protocol/pubsub'/>`);
                wrapper.attrs["id"] = item.itemId;
                wrapper.cnode(parseXml(item.xml!));
                return wrapper;
              }),
        );
      }
      const xml = this.#relay.get(jid, node, itemId);
      return Promise.resolve(xml === undefined ? null : [parseXml(xml)]);
    },
    send: (to, message) => {
      this.outbox.push({ to, message });
      return Promise.resolve();
    },
    retract: (node, itemId) => {
      this.#published.push({ jid: this.jid, node, itemId, xml: null });
      return Promise.resolve();
    },
  };

  async start(namespaces: OmemoNamespace[]): Promise<void> {
    this.manager = await SessionManager.create({
      jid: this.jid,
      store: this.store,
      transport: this.transport,
      trust: { decide: () => "trusted" },
      namespaces,
    });
    this.#started = true;
    await this.relayPublished();
  }

  /** Relays what our manager published (python devices see it as PEP notifications). */
  async relayPublished(): Promise<PepItem[]> {
    const items = this.#published;
    this.#published = [];
    await this.#relay.publish(items, this);
    return items;
  }

  async pepPut(item: PepItem): Promise<{ published: PepItem[] }> {
    // Items replayed by join() before our manager exists: create() fetches what it needs itself.
    if (!this.#started) return { published: [] };
    if (item.xml !== null) {
      await this.manager.handlePubsubEvent(item.jid, item.node, [{ id: item.itemId, payload: parseXml(item.xml) }]);
    }
    const published = this.#published;
    this.#published = [];
    return { published };
  }

  /** Decrypts an `<encrypted>` python-omemo wrote, as the `<message>` a server would deliver. */
  async decrypt(xml: string, from: string): Promise<DecryptResult> {
    const stanza = parseXml(`<message xmlns='jabber:client' from='${from}/py' to='${this.jid}/${this.resource}'/>`);
    stanza.cnode(parseXml(xml));
    const result = await this.manager.decrypt(stanza);
    await this.relayPublished();
    return result;
  }

  takeOutbox(): Array<{ to: string; message: Element }> {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }
}

/** python-omemo devices and ours around one relay. */
class World {
  readonly relay = new PepRelay();
  readonly python: Array<{ peer: PythonOmemoPeer; own: OwnState }> = [];

  async addPython(jid: string, options: CreateOptions = {}): Promise<{ peer: PythonOmemoPeer; own: OwnState }> {
    const peer = PythonOmemoPeer.spawn(jid);
    await this.relay.join(peer);
    const own = await peer.create(options);
    await this.relay.publish(own.published, peer);
    const device = { peer, own };
    this.python.push(device);
    return device;
  }

  async addOurs(jid: string, resource: string, namespaces: OmemoNamespace[]): Promise<OurDevice> {
    const device = new OurDevice(this.relay, jid, resource);
    await this.relay.join(device);
    await device.start(namespaces);
    return device;
  }

  /** python-omemo decrypts one of our `<encrypted>` elements; what it publishes in reaction is relayed. */
  async pyDecrypt(
    at: { peer: PythonOmemoPeer },
    encrypted: Element,
    from: string,
    ns: OmemoNamespace,
  ): Promise<PyDecryptResult & Effects> {
    const out = await at.peer.decrypt(serializeXml(encrypted), from, ns);
    await this.relay.publish(out.published, at.peer);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.python.map((d) => d.peer.close()));
  }
}

function encryptedOf(result: EncryptResult, ns: OmemoNamespace): Element {
  const m = result.messages.find((x) => x.namespace === ns);
  expect(m).toBeDefined();
  return m!.encrypted;
}

/** The OMEMO 2 plaintext python-omemo is given: an SCE envelope, which python encrypts as opaque bytes. */
function pyPlaintext(ns: OmemoNamespace, body: string, from: string, to: string): string {
  if (ns === LEGACY_NS) return body;
  return envelopeToString(
    createEnvelope({ content: [parseXml(`<body xmlns='jabber:client'>${body}</body>`)], from, to }),
  );
}

/** What python-omemo decrypted from us: the body text (legacy) or the envelope's body (OMEMO 2). */
function pyBody(ns: OmemoNamespace, got: PyDecryptResult, from: string, to: string): string | undefined {
  if (got.plaintext === null) return undefined;
  if (ns === LEGACY_NS) return got.plaintext;
  const envelope = decodeEnvelope(got.plaintext, { to, from });
  return envelope.content.find((e) => e.name === "body")?.getText();
}

function bundleIds(xml: string, ns: OmemoNamespace): number[] {
  const bundle = parseXml(xml);
  const prekeys = bundle.getChild("prekeys")!.getChildElements();
  return prekeys.map((p) => Number(p.attrs[ns === LEGACY_NS ? "preKeyId" : "id"]));
}

// ---------------------------------------------------------------- the conversations

describe.each([
  ["legacy OMEMO (python-oldmemo)", LEGACY_NS],
  ["OMEMO 2 (python-twomemo)", OMEMO2_NS],
] as const)("SessionManager with python-omemo, %s", (_label, ns) => {
  const world = new World();
  let alice: OurDevice;
  let bob: { peer: PythonOmemoPeer; own: OwnState };
  let carol: { peer: PythonOmemoPeer; own: OwnState };

  beforeAll(async () => {
    bob = await world.addPython(BOB, { namespaces: [ns] });
    alice = await world.addOurs(ALICE, "phone", [ns]);
    carol = await world.addPython(CAROL, { namespaces: [ns] });
  });
  afterAll(async () => {
    await world.close();
  });

  function ourBundleXml(): string | undefined {
    const address = bundleAddress(ns, alice.manager.deviceId);
    return world.relay.get(ALICE, address.node, address.itemId);
  }

  it("python-omemo reads our device list and bundle with its own parser and schema (XEP-0384 §4.3 / §5.3)", async () => {
    const list = world.relay.get(ALICE, DEVICE_LIST_NODE[ns], "current");
    expect(list).toBeDefined();
    const put = await bob.peer.pepPut({ jid: ALICE, node: DEVICE_LIST_NODE[ns], itemId: "current", xml: list! });
    expect(put.deviceIds).toEqual([alice.manager.deviceId]);
    const address = bundleAddress(ns, alice.manager.deviceId);
    const bundle = await bob.peer.pepPut({
      jid: ALICE,
      ...address,
      xml: world.relay.get(ALICE, address.node, address.itemId)!,
    });
    expect(bundle.preKeyIds!.length).toBe(100);
    // python-oldmemo rebuilds our Ed25519 key from the Curve25519 key and the sign bit in the
    // signature: it must be the key we hold, in both namespaces.
    expect(bundle.identityKey).toBe(Buffer.from(alice.manager.identityKey).toString("base64"));
    const devices = (await bob.peer.devices(ALICE)).devices;
    expect(devices.map((d) => [d.deviceId, d.fingerprint])).toEqual([
      [alice.manager.deviceId, alice.manager.fingerprint],
    ]);
  });

  it("ours first: python decrypts our key exchange, consumes its prekey, and its empty message completes our session", async () => {
    const first = await alice.manager.encrypt(BOB, { body: "hello bob" });
    expect(first.devices).toMatchObject([
      { jid: BOB, deviceId: bob.own.deviceId, status: "encrypted", keyExchange: true },
    ]);
    const got = await world.pyDecrypt(bob, encryptedOf(first, ns), ALICE, ns);
    expect(got).toMatchObject({ senderDeviceId: alice.manager.deviceId, keyExchange: true, newSession: true });
    expect(pyBody(ns, got, ALICE, BOB)).toBe("hello bob");
    expect(got.published.map((p) => p.node)).toEqual([bundleAddress(ns, bob.own.deviceId).node]);
    expect(got.sent).toHaveLength(1);
    expect((await alice.manager.sessionInfo(BOB, bob.own.deviceId, ns))!.keyExchangePending).toBe(true);
    const completion = await alice.decrypt(got.sent[0]!.xml, BOB);
    expect(completion).toMatchObject({ kind: "empty", keyExchange: false, newSession: false, replied: undefined });
    expect((await alice.manager.sessionInfo(BOB, bob.own.deviceId, ns))!.keyExchangePending).toBe(false);
    const second = await alice.manager.encrypt(BOB, { body: "second" });
    expect(second.devices[0]!.keyExchange).toBe(false);
    const got2 = await world.pyDecrypt(bob, encryptedOf(second, ns), ALICE, ns);
    expect(pyBody(ns, got2, ALICE, BOB)).toBe("second");
    expect(got2).toMatchObject({ keyExchange: false, sent: [], published: [] });
  });

  it("theirs first: we accept python's key exchange, replace our prekey, republish, and answer with an empty message", async () => {
    const address = bundleAddress(ns, alice.manager.deviceId);
    const before = bundleIds(world.relay.get(ALICE, address.node, address.itemId)!, ns);
    const m = await carol.peer.encrypt([ALICE], pyPlaintext(ns, "hi from carol", CAROL, ALICE), ns);
    expect(m.errors).toEqual([]);
    expect(m.keys).toEqual([{ jid: ALICE, deviceId: alice.manager.deviceId, kex: true }]);
    const used = (await carol.peer.session(ALICE, alice.manager.deviceId, ns)).session!.preKeyId;
    const got = await alice.decrypt(m.xml!, CAROL);
    expect(got).toMatchObject({
      kind: "message",
      body: "hi from carol",
      keyExchange: true,
      newSession: true,
      replied: "key-exchange-completion",
    });
    expect(got.fingerprint).toBe(carol.own.fingerprint);
    // The prekey is gone from our republished bundle, replaced by a fresh id above all earlier ones;
    // python-omemo's parser reads the new bundle.
    const after = bundleIds(world.relay.get(ALICE, address.node, address.itemId)!, ns);
    expect(after).toHaveLength(100);
    expect(before).toContain(used);
    expect(after).not.toContain(used);
    const added = after.filter((id) => !before.includes(id));
    expect(added).toHaveLength(1);
    expect(added[0]!).toBeGreaterThan(Math.max(...before));
    const seen = await carol.peer.pepPut({
      jid: ALICE,
      ...address,
      xml: world.relay.get(ALICE, address.node, address.itemId)!,
    });
    expect(seen.preKeyIds).toEqual([...after].sort((a, b) => a - b));
    // Our empty message confirms python's session: its next message carries no key exchange.
    const [reply] = alice.takeOutbox();
    expect(reply!.to).toBe(CAROL);
    const heard = await world.pyDecrypt(carol, reply!.message.getChild("encrypted", ns)!, ALICE, ns);
    expect(heard).toMatchObject({ plaintext: null, keyExchange: false, newSession: false });
    expect((await carol.peer.session(ALICE, alice.manager.deviceId, ns)).session!.confirmed).toBe(true);
    const next = await carol.peer.encrypt([ALICE], pyPlaintext(ns, "now without kex", CAROL, ALICE), ns);
    expect(next.keys[0]!.kex).toBe(false);
    expect(await alice.decrypt(next.xml!, CAROL)).toMatchObject({
      body: "now without kex",
      keyExchange: false,
      replied: undefined,
    });
  });

  it("a replayed key exchange is DUPLICATE_MESSAGE and consumes nothing; python's repeated key exchange is read in its session", async () => {
    const fresh = await world.addPython(`erin-${ns === LEGACY_NS ? "l" : "2"}@example.com`, { namespaces: [ns] });
    const jid = fresh.own.jid;
    const first = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "one", jid, ALICE), ns);
    const second = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "two", jid, ALICE), ns);
    expect(second.keys[0]!.kex).toBe(true);
    expect((await alice.decrypt(first.xml!, jid)).body).toBe("one");
    const bundleAfterFirst = ourBundleXml();
    expect(await alice.decrypt(second.xml!, jid)).toMatchObject({ body: "two", keyExchange: true, newSession: false });
    const replay = await alice.manager
      .decrypt(parseXml(`<message from='${jid}/py' to='${ALICE}'>${first.xml!}</message>`))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isOmemoError(replay, "DUPLICATE_MESSAGE")).toBe(true);
    // Nothing was consumed or republished for the repeat or the replay.
    expect(ourBundleXml()).toBe(bundleAfterFirst);
    // One empty message for the session, none for the repeat (a MAM catch-up sends one, not N), and
    // that one is enough: python-omemo reads it and stops repeating its key exchange.
    const replies = alice.takeOutbox();
    expect(replies.map((r) => r.to)).toEqual([jid]);
    const heard = await world.pyDecrypt(fresh, replies[0]!.message.getChild("encrypted", ns)!, ALICE, ns);
    expect(heard).toMatchObject({ plaintext: null, keyExchange: false, newSession: false });
    const third = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "three", jid, ALICE), ns);
    expect(third.keys[0]!.kex).toBe(false);
    expect(await alice.decrypt(third.xml!, jid)).toMatchObject({ body: "three", keyExchange: false });
  });

  it("a catch-up: python's key exchanges read with the prekey kept; legacy answers with a new session of ours (v0.3.0 §5), OMEMO 2 in python's", async () => {
    const fresh = await world.addPython(`frank-${ns === LEGACY_NS ? "l" : "2"}@example.com`, { namespaces: [ns] });
    const jid = fresh.own.jid;
    const first = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "archived one", jid, ALICE), ns);
    const second = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "archived two", jid, ALICE), ns);
    expect(second.keys[0]!.kex).toBe(true);
    const reasons: string[] = [];
    const off = alice.manager.on("sent", (e) => reasons.push(e.reason));
    const read = await alice.manager.catchUp(async () => [
      await alice.decrypt(first.xml!, jid),
      await alice.decrypt(second.xml!, jid),
    ]);
    off();
    expect(read.map((r) => r.body)).toEqual(["archived one", "archived two"]);
    const outbox = alice.takeOutbox();
    expect(outbox.map((o) => o.to)).toEqual([jid]);
    const answer = await world.pyDecrypt(fresh, outbox[0]!.message.getChild("encrypted", ns)!, ALICE, ns);
    expect(answer.plaintext).toBeNull();
    if (ns === LEGACY_NS) {
      expect(reasons).toEqual(["catch-up-rekey"]);
      // Our key exchange, in a session python did not have: it replaces python's.
      expect(answer).toMatchObject({ keyExchange: true, newSession: true });
      expect(answer.warnings).toContain("omemo.core: Key exchange replaces existing session.");
      expect((await alice.manager.sessionInfo(jid, fresh.own.deviceId, ns))!.role).toBe("initiator");
      // python's own empty message completes our session.
      expect(answer.sent).toHaveLength(1);
      expect(await alice.decrypt(answer.sent[0]!.xml, jid)).toMatchObject({ kind: "empty", keyExchange: false });
    } else {
      expect(reasons).toEqual(["key-exchange-completion"]);
      expect(answer).toMatchObject({ keyExchange: false, newSession: false });
    }
    // Both directions go on, without key exchanges.
    const after = await fresh.peer.encrypt([ALICE], pyPlaintext(ns, "after the catch-up", jid, ALICE), ns);
    expect(after.keys[0]!.kex).toBe(false);
    expect(await alice.decrypt(after.xml!, jid)).toMatchObject({ body: "after the catch-up", keyExchange: false });
    const ours = await alice.manager.encrypt(jid, { body: "ours after it" });
    expect(ours.devices[0]).toMatchObject({ status: "encrypted", keyExchange: false });
    expect(pyBody(ns, await world.pyDecrypt(fresh, encryptedOf(ours, ns), ALICE, ns), ALICE, jid)).toBe(
      "ours after it",
    );
  });

  it("replies both ways, with loss and reordering", async () => {
    for (let round = 0; round < 3; round++) {
      const ours = await alice.manager.encrypt(BOB, { body: `alice ${round}` });
      expect(pyBody(ns, await world.pyDecrypt(bob, encryptedOf(ours, ns), ALICE, ns), ALICE, BOB)).toBe(
        `alice ${round}`,
      );
      const theirs = await bob.peer.encrypt([ALICE], pyPlaintext(ns, `bob ${round}`, BOB, ALICE), ns);
      expect((await alice.decrypt(theirs.xml!, BOB)).body).toBe(`bob ${round}`);
    }
    const texts = ["m0", "m1", "m2", "m3 (lost)", "m4"];
    const sent: string[] = [];
    for (const text of texts) sent.push((await bob.peer.encrypt([ALICE], pyPlaintext(ns, text, BOB, ALICE), ns)).xml!);
    for (const i of [4, 0, 2, 1]) expect((await alice.decrypt(sent[i]!, BOB)).body).toBe(texts[i]);
    const dup = await alice.decrypt(sent[0]!, BOB).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(dup, "DUPLICATE_MESSAGE")).toBe(true);
    const ours: Element[] = [];
    for (const text of texts) ours.push(encryptedOf(await alice.manager.encrypt(BOB, { body: text }), ns));
    for (const i of [3, 1, 0, 4]) {
      expect(pyBody(ns, await world.pyDecrypt(bob, ours[i]!, ALICE, ns), ALICE, BOB)).toBe(texts[i]);
    }
  });

  it("python's heartbeat after 53 messages from us decrypts here; ours after 53 from python decrypts there", async () => {
    // Bob's last message reached us, so our next one opens a new chain.
    const theirs = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "reset", BOB, ALICE), ns);
    await alice.decrypt(theirs.xml!, BOB);
    const heartbeats: SentMessage[] = [];
    for (let i = 1; i <= 54; i++) {
      const ours = await alice.manager.encrypt(BOB, { body: `burst ${i}` });
      const got = await world.pyDecrypt(bob, encryptedOf(ours, ns), ALICE, ns);
      heartbeats.push(...got.sent);
    }
    expect(heartbeats).toHaveLength(1);
    expect(await alice.decrypt(heartbeats[0]!.xml, BOB)).toMatchObject({ kind: "empty", keyExchange: false });
    // And the other way. python's heartbeat opened its current chain; our message makes its next one
    // start afresh, and we answer the 54th message of that chain (counter 53, v0.8.3 §6) once.
    const ack = await alice.manager.encrypt(BOB, { body: "ack" });
    await world.pyDecrypt(bob, encryptedOf(ack, ns), ALICE, ns);
    const replies: string[] = [];
    for (let i = 1; i <= 56; i++) {
      const m = await bob.peer.encrypt([ALICE], pyPlaintext(ns, `py burst ${i}`, BOB, ALICE), ns);
      const got = await alice.decrypt(m.xml!, BOB);
      if (got.replied !== undefined) replies.push(`${i} ${got.replied}`);
    }
    expect(replies).toEqual(["54 heartbeat"]);
    const [hb] = alice.takeOutbox();
    const heard = await world.pyDecrypt(bob, hb!.message.getChild("encrypted", ns)!, ALICE, ns);
    expect(heard).toMatchObject({ plaintext: null, keyExchange: false });
    // python's next message starts a new chain: no further heartbeat.
    const after = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "new chain", BOB, ALICE), ns);
    expect(await alice.decrypt(after.xml!, BOB)).toMatchObject({ body: "new chain", replied: undefined });
  });

  it("several devices on both sides: our two devices and python's two devices each read every message", async () => {
    const dave1 = await world.addOurs(DAVE, "laptop", [ns]);
    const dave2 = await world.addOurs(DAVE, "phone", [ns]);
    const bob2 = await world.addPython(BOB, { namespaces: [ns] });
    // Both of our devices are in Dave's list; python's second device is in Bob's.
    expect(new Set(await dave1.manager.devices(DAVE, ns))).toEqual(
      new Set([dave1.manager.deviceId, dave2.manager.deviceId]),
    );
    const toBob = await dave1.manager.encrypt(BOB, { body: "to all of bob" });
    expect(new Set(toBob.devices.map((d) => `${d.jid} ${d.deviceId} ${d.status}`))).toEqual(
      new Set([
        `${BOB} ${bob.own.deviceId} encrypted`,
        `${BOB} ${bob2.own.deviceId} encrypted`,
        `${DAVE} ${dave2.manager.deviceId} encrypted`,
      ]),
    );
    const encrypted = encryptedOf(toBob, ns);
    for (const device of [bob, bob2]) {
      expect(pyBody(ns, await world.pyDecrypt(device, encrypted, DAVE, ns), DAVE, BOB)).toBe("to all of bob");
    }
    // Our other device reads it as a carbon.
    const carbon = parseXml(`<message from='${DAVE}/laptop' to='${BOB}'/>`);
    carbon.cnode(parseXml(serializeXml(encrypted)));
    expect((await dave2.manager.decrypt(carbon)).body).toBe("to all of bob");
    // python encrypts to both of our devices.
    const fromBob = await bob2.peer.encrypt([DAVE], pyPlaintext(ns, "to all of dave", BOB, DAVE), ns);
    const forDave = fromBob.keys.filter((k) => k.jid === DAVE).map((k) => k.deviceId);
    expect(new Set(forDave)).toEqual(new Set([dave1.manager.deviceId, dave2.manager.deviceId]));
    for (const d of [dave1, dave2]) expect((await d.decrypt(fromBob.xml!, BOB)).body).toBe("to all of dave");
  });

  it("a session healed after either side lost it: the one who lost it sends a new key exchange, the other replaces its session", async () => {
    // python forgets its session with us: its next message is a new key exchange, which replaces ours.
    await bob.peer.forget(ALICE, alice.manager.deviceId, ns);
    const before = await alice.manager.sessionInfo(BOB, bob.own.deviceId, ns);
    const healed = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "I lost our session", BOB, ALICE), ns);
    expect(healed.keys.filter((k) => k.jid === ALICE)).toEqual([
      { jid: ALICE, deviceId: alice.manager.deviceId, kex: true },
    ]);
    expect(await alice.decrypt(healed.xml!, BOB)).toMatchObject({ body: "I lost our session", newSession: true });
    const after = (await alice.manager.sessionInfo(BOB, bob.own.deviceId, ns))!;
    expect(after.role).toBe("responder");
    expect(after.revision).toBeGreaterThan(before!.revision);
    const [completion] = alice.takeOutbox();
    await world.pyDecrypt(bob, completion!.message.getChild("encrypted", ns)!, ALICE, ns);
    const ours = await alice.manager.encrypt(BOB, { body: "healed" });
    expect(ours.devices.find((d) => d.deviceId === bob.own.deviceId)!.keyExchange).toBe(false);
    expect(pyBody(ns, await world.pyDecrypt(bob, encryptedOf(ours, ns), ALICE, ns), ALICE, BOB)).toBe("healed");
    // We forget ours (XEP-0384 v0.8.3 §6: a way to replace broken sessions): our next message is a key
    // exchange, which python takes as a replacement.
    await alice.manager.deleteSession(BOB, bob.own.deviceId, ns);
    const replaced = await alice.manager.encrypt(BOB, { body: "I replaced our session" });
    expect(replaced.devices.find((d) => d.deviceId === bob.own.deviceId)!.keyExchange).toBe(true);
    const got = await world.pyDecrypt(bob, encryptedOf(replaced, ns), ALICE, ns);
    expect(got).toMatchObject({ keyExchange: true, newSession: true });
    expect(pyBody(ns, got, ALICE, BOB)).toBe("I replaced our session");
    expect(got.warnings).toContain("omemo.core: Key exchange replaces existing session.");
    expect(await alice.decrypt(got.sent[0]!.xml, BOB)).toMatchObject({ kind: "empty" });
  });

  it("we heal: a normal message from python after we lost our session gets one empty key exchange back, which python accepts", async () => {
    await alice.manager.deleteSession(BOB, bob.own.deviceId, ns);
    const lost = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "you lost this one", BOB, ALICE), ns);
    expect(lost.keys.find((k) => k.jid === ALICE)!.kex).toBe(false);
    const error = await alice.decrypt(lost.xml!, BOB).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "NO_SESSION")).toBe(true);
    const [healing] = alice.takeOutbox();
    expect(healing!.to).toBe(BOB);
    const got = await world.pyDecrypt(bob, healing!.message.getChild("encrypted", ns)!, ALICE, ns);
    expect(got).toMatchObject({ plaintext: null, keyExchange: true, newSession: true });
    expect(got.warnings).toContain("omemo.core: Key exchange replaces existing session.");
    // python answers the key exchange with an empty message; then its messages use the new session.
    expect(await alice.decrypt(got.sent[0]!.xml, BOB)).toMatchObject({ kind: "empty", keyExchange: false });
    expect((await alice.manager.sessionInfo(BOB, bob.own.deviceId, ns))!.keyExchangePending).toBe(false);
    const next = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "healed by you", BOB, ALICE), ns);
    expect(next.keys.find((k) => k.jid === ALICE)!.kex).toBe(false);
    expect((await alice.decrypt(next.xml!, BOB)).body).toBe("healed by you");
  });

  it("python's replace_sessions: its empty key exchange replaces our session and the conversation goes on", async () => {
    const replaced = await bob.peer.replaceSessions(ALICE, alice.manager.deviceId);
    expect(replaced.failures).toEqual({});
    expect(replaced.sent).toHaveLength(1);
    const got = await alice.decrypt(replaced.sent[0]!.xml, BOB);
    expect(got).toMatchObject({
      kind: "empty",
      keyExchange: true,
      newSession: true,
      replied: "key-exchange-completion",
    });
    const [completion] = alice.takeOutbox();
    await world.pyDecrypt(bob, completion!.message.getChild("encrypted", ns)!, ALICE, ns);
    const next = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "after replace_sessions", BOB, ALICE), ns);
    expect(next.keys[0]!.kex).toBe(false);
    expect((await alice.decrypt(next.xml!, BOB)).body).toBe("after replace_sessions");
  });

  it("key transport: python reads the key material we send without a payload (v0.3.0 §4.6, v0.8.3 §5.5.3)", async () => {
    const material = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const sent = await alice.manager.encryptKeyTransport(BOB, { keyMaterial: material });
    const got = await world.pyDecrypt(bob, encryptedOf(sent, ns), ALICE, ns);
    expect(got.plaintext).toBeNull();
    expect(Buffer.from(got.keyMaterial, "base64")).toEqual(Buffer.from(material));
    // Our default empty message is what python sends: 16 random bytes (legacy) or 32 zero bytes.
    const empty = await alice.manager.encryptKeyTransport(BOB);
    const heard = await world.pyDecrypt(bob, encryptedOf(empty, ns), ALICE, ns);
    expect(heard.plaintext).toBeNull();
    const km = Buffer.from(heard.keyMaterial, "base64");
    if (ns === OMEMO2_NS) expect(km).toEqual(Buffer.alloc(32));
    else expect(km.length).toBe(16);
  });

  it("signed prekey rotation: a key exchange made with our previous signed prekey still works, one two rotations old fails", async () => {
    const late = await world.addPython(`frank-${ns === LEGACY_NS ? "l" : "2"}@example.com`, { namespaces: [ns] });
    const frank = late.own.jid;
    const early = await late.peer.encrypt([ALICE], pyPlaintext(ns, "made before your rotation", frank, ALICE), ns);
    const signedBefore = (await alice.manager.ownBundle(ns)).signedPreKeyId;
    expect(await alice.manager.rotateSignedPreKeys()).toEqual([]);
    expect(await alice.manager.rotateSignedPreKeys({ force: true })).toEqual([ns]);
    const published = await alice.relayPublished();
    expect(published.map((p) => p.node)).toEqual([bundleAddress(ns, alice.manager.deviceId).node]);
    const seen = await late.peer.pepPut(published[0]!);
    expect(seen.signedPreKeyId).toBe(signedBefore + 1);
    expect((await alice.decrypt(early.xml!, frank)).body).toBe("made before your rotation");
    alice.takeOutbox();
    // A key exchange with the signed prekey of two rotations ago: its private key is gone.
    const stale = await world.addPython(`gina-${ns === LEGACY_NS ? "l" : "2"}@example.com`, { namespaces: [ns] });
    const gina = stale.own.jid;
    const old = await stale.peer.encrypt([ALICE], pyPlaintext(ns, "too late", gina, ALICE), ns);
    await alice.manager.rotateSignedPreKeys({ force: true });
    await alice.manager.rotateSignedPreKeys({ force: true });
    await alice.relayPublished();
    const refused = await alice.decrypt(old.xml!, gina).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(refused, "KEY_EXCHANGE_FAILED")).toBe(true);
    // python builds its next session on the newest bundle it was notified of, and that works.
    await stale.peer.forget(ALICE, alice.manager.deviceId, ns);
    const fresh = await stale.peer.encrypt([ALICE], pyPlaintext(ns, "with your new bundle", gina, ALICE), ns);
    expect((await alice.decrypt(fresh.xml!, gina)).body).toBe("with your new bundle");
    alice.takeOutbox();
  });

  it("unpublishOwnDevice: python-omemo reads our list without the device, then no list, and stops encrypting to it", async () => {
    const jid = `gina-${ns === LEGACY_NS ? "l" : "2"}@example.org`;
    const phone = await world.addOurs(jid, "phone", [ns]);
    const laptop = await world.addOurs(jid, "laptop", [ns]);
    await phone.relayPublished();
    const active = async (): Promise<number[]> =>
      (await bob.peer.devices(jid)).devices
        .filter((d) => d.active[ns] === true)
        .map((d) => d.deviceId)
        .sort((a, b) => a - b);
    const both = [phone.manager.deviceId, laptop.manager.deviceId].sort((a, b) => a - b);
    await bob.peer.refreshDeviceList(jid, ns);
    expect(await active()).toEqual(both);

    await phone.manager.unpublishOwnDevice();
    const relayed = await phone.relayPublished();
    // Our list without the phone (through python's parser and schema), and the phone's bundle retracted.
    expect(relayed.map((i) => [i.node, i.xml === null])).toEqual([
      [DEVICE_LIST_NODE[ns], false],
      [bundleAddress(ns, phone.manager.deviceId).node, true],
    ]);
    expect(await active()).toEqual([laptop.manager.deviceId]);
    const m = await bob.peer.encrypt([jid], pyPlaintext(ns, "to the laptop only", BOB, jid), ns);
    expect(m.keys.filter((k) => k.jid === jid).map((k) => k.deviceId)).toEqual([laptop.manager.deviceId]);

    // The last device: the list itself is retracted (neither schema has an empty list).
    await laptop.manager.unpublishOwnDevice();
    expect((await laptop.relayPublished()).every((i) => i.xml === null)).toBe(true);
    expect(world.relay.get(jid, DEVICE_LIST_NODE[ns], "current")).toBeUndefined();
    await bob.peer.refreshDeviceList(jid, ns);
    expect(await active()).toEqual([]);
  });

  it("a restart of our manager from its store goes on with python without a new key exchange", async () => {
    const restarted = new OurDevice(world.relay, ALICE, "phone");
    restarted.store = alice.store;
    await restarted.start([ns]);
    expect(restarted.manager.deviceId).toBe(alice.manager.deviceId);
    const m = await restarted.manager.encrypt(BOB, { body: "after my restart" });
    expect(m.devices.find((d) => d.deviceId === bob.own.deviceId)!.keyExchange).toBe(false);
    expect(pyBody(ns, await world.pyDecrypt(bob, encryptedOf(m, ns), ALICE, ns), ALICE, BOB)).toBe("after my restart");
    const reply = await bob.peer.encrypt([ALICE], pyPlaintext(ns, "welcome back", BOB, ALICE), ns);
    expect((await restarted.decrypt(reply.xml!, BOB)).body).toBe("welcome back");
  });
});

describe("SessionManager with python-omemo, both namespaces on one account", () => {
  const world = new World();
  afterAll(async () => {
    await world.close();
  });

  it("one identity, one device id, both device lists and bundles; each device gets its preferred namespace", async () => {
    const bob = await world.addPython(BOB); // both backends, legacy first
    const alice = await world.addOurs(ALICE, "desktop", [OMEMO2_NS, LEGACY_NS]);
    for (const ns of [LEGACY_NS, OMEMO2_NS] as const) {
      const put = await bob.peer.pepPut({
        jid: ALICE,
        node: DEVICE_LIST_NODE[ns],
        itemId: "current",
        xml: world.relay.get(ALICE, DEVICE_LIST_NODE[ns], "current")!,
      });
      expect(put.deviceIds).toEqual([alice.manager.deviceId]);
    }
    const info = (await bob.peer.devices(ALICE)).devices;
    expect(info).toHaveLength(1);
    expect(new Set(info[0]!.namespaces)).toEqual(new Set([LEGACY_NS, OMEMO2_NS]));
    expect(info[0]!.fingerprint).toBe(alice.manager.fingerprint);
    // Bob's device speaks both: OMEMO 2 first in our preference.
    const m = await alice.manager.encrypt(BOB, { body: "in OMEMO 2" });
    expect(m.messages.map((x) => x.namespace)).toEqual([OMEMO2_NS]);
    expect(pyBody(OMEMO2_NS, await world.pyDecrypt(bob, encryptedOf(m, OMEMO2_NS), ALICE, OMEMO2_NS), ALICE, BOB)).toBe(
      "in OMEMO 2",
    );
    // Restricted to legacy, the same device gets a legacy message in another session.
    const l = await alice.manager.encrypt(BOB, { body: "in legacy" }, { namespaces: [LEGACY_NS] });
    expect(pyBody(LEGACY_NS, await world.pyDecrypt(bob, encryptedOf(l, LEGACY_NS), ALICE, LEGACY_NS), ALICE, BOB)).toBe(
      "in legacy",
    );
    // python answers in each namespace; we read both.
    for (const ns of [LEGACY_NS, OMEMO2_NS] as const) {
      const reply = await bob.peer.encrypt([ALICE], pyPlaintext(ns, `reply ${ns}`, BOB, ALICE), ns);
      expect(await alice.decrypt(reply.xml!, BOB)).toMatchObject({ namespace: ns, body: `reply ${ns}` });
    }
  });
});
