// The python-omemo interop harness proved on its own, before our implementation joins: two accounts of
// python-omemo devices (Debian's python3-omemo with python3-oldmemo / python3-twomemo) talk through the PEP
// relay, for each namespace. This pins down the python-omemo behaviour our session manager must match (key
// exchange repeated until answered, prekey consumed once and replaced, empty messages after a key exchange
// and after 53 messages, restarts, several devices, no automatic healing) and the XML it puts on the wire,
// which our codec will have to read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, type Element } from "ltx";
import { PepRelay } from "../interop/pep.js";
import {
  bundleAddress,
  DEVICE_LIST_NODE,
  ensurePythonOmemo,
  LEGACY_NS,
  OMEMO2_NS,
  PythonOmemoError,
  PythonOmemoPeer,
  type CreateOptions,
  type DecryptResult,
  type Effects,
  type EncryptResult,
  type OmemoNamespace,
  type OwnState,
  type SentMessage,
} from "../interop/python-omemo.js";

beforeAll(() => {
  ensurePythonOmemo();
});

const ALICE = "alice@example.org";
const BOB = "bob@example.net";
const CAROL = "carol@example.com";
const DAVE = "dave@example.com";
const ERIN = "erin@example.com";
const FRANK = "frank@example.com";
const GINA = "gina@example.com";
const STRANGER = "stranger@example.com";

// ---------------------------------------------------------------- XML as the XEPs describe it

function attr(el: Element, name: string): string | undefined {
  const value: unknown = el.attrs[name];
  return typeof value === "string" ? value : undefined;
}

function bytes(text: string): Uint8Array {
  expect(text.trim()).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
  return new Uint8Array(Buffer.from(text, "base64"));
}

function childNames(el: Element): string[] {
  return el.getChildElements().map((c) => c.name);
}

/** Parses an item python-omemo published and checks that it is namespaced like the XEP's examples. */
function root(xml: string, name: string, namespace: OmemoNamespace): Element {
  const el = parse(xml);
  expect(el.name).toBe(name);
  expect(attr(el, "xmlns")).toBe(namespace);
  return el;
}

function deviceListIds(xml: string, namespace: OmemoNamespace): number[] {
  const el = root(xml, namespace === LEGACY_NS ? "list" : "devices", namespace);
  expect(new Set(childNames(el))).toEqual(new Set(["device"]));
  return el.getChildElements().map((d) => Number(attr(d, "id")));
}

interface BundleShape {
  signedPreKeyId: number;
  identityKey: Uint8Array;
  preKeyIds: number[];
}

/** XEP-0384 v0.3 §4.3 (libsignal's 0x05-prefixed keys) or v0.8 §5.3.2 (raw 32-byte keys, Ed25519 identity). */
function bundleShape(xml: string, namespace: OmemoNamespace): BundleShape {
  const el = root(xml, "bundle", namespace);
  const legacy = namespace === LEGACY_NS;
  const names = legacy
    ? ["signedPreKeyPublic", "signedPreKeySignature", "identityKey", "prekeys"]
    : ["spk", "spks", "ik", "prekeys"];
  expect(childNames(el)).toEqual(names);
  const [spkName, sigName, ikName] = names as [string, string, string];
  const spk = el.getChild(spkName)!;
  const keyLength = legacy ? 33 : 32;
  const spkBytes = bytes(spk.getText());
  expect(spkBytes.length).toBe(keyLength);
  if (legacy) expect(spkBytes[0]).toBe(0x05);
  expect(bytes(el.getChildText(sigName) ?? "").length).toBe(64);
  const identityKey = bytes(el.getChildText(ikName) ?? "");
  expect(identityKey.length).toBe(keyLength);
  if (legacy) expect(identityKey[0]).toBe(0x05);
  const prekeys = el.getChild("prekeys")!.getChildElements();
  expect(new Set(prekeys.map((p) => p.name))).toEqual(new Set([legacy ? "preKeyPublic" : "pk"]));
  for (const p of prekeys) {
    const pk = bytes(p.getText());
    expect(pk.length).toBe(keyLength);
    if (legacy) expect(pk[0]).toBe(0x05);
  }
  const preKeyIds = prekeys.map((p) => Number(attr(p, legacy ? "preKeyId" : "id")));
  const signedPreKeyId = Number(attr(spk, legacy ? "signedPreKeyId" : "id"));
  for (const id of [signedPreKeyId, ...preKeyIds]) expect(Number.isInteger(id) && id >= 1).toBe(true);
  return { signedPreKeyId, identityKey, preKeyIds };
}

interface EncryptedShape {
  sid: number;
  keys: Array<{ jid: string | undefined; rid: number; kex: boolean }>;
  payload: boolean;
}

/** XEP-0384 v0.3 §4.5 (`<key rid prekey>` and `<iv>` in the header) or v0.8 §5.4.1 (`<keys jid>` groups, `kex`). */
function encryptedShape(xml: string, namespace: OmemoNamespace): EncryptedShape {
  const el = root(xml, "encrypted", namespace);
  const children = childNames(el);
  expect(children[0]).toBe("header");
  const payload = children.includes("payload");
  expect(children).toEqual(payload ? ["header", "payload"] : ["header"]);
  if (payload) expect(bytes(el.getChildText("payload") ?? "").length).toBeGreaterThan(0);
  const header = el.getChild("header")!;
  const sid = Number(attr(header, "sid"));
  const keys: EncryptedShape["keys"] = [];
  const readKey = (key: Element, jid: string | undefined, flag: string) => {
    expect(key.name).toBe("key");
    const value = attr(key, flag);
    // python-omemo writes the flag only when it is true (its parser takes any value as true).
    expect(value === undefined || value === "true").toBe(true);
    expect(Object.keys(key.attrs).filter((a) => a !== "rid" && a !== flag)).toEqual([]);
    keys.push({ jid, rid: Number(attr(key, "rid")), kex: value === "true" });
    expect(bytes(key.getText()).length).toBeGreaterThan(0);
  };
  if (namespace === LEGACY_NS) {
    const names = childNames(header);
    expect(names[names.length - 1]).toBe("iv");
    expect(names.filter((n) => n !== "key")).toEqual(["iv"]);
    expect(bytes(header.getChildText("iv") ?? "").length).toBe(12);
    for (const key of header.getChildren("key")) readKey(key, undefined, "prekey");
  } else {
    expect(new Set(childNames(header))).toEqual(new Set(["keys"]));
    for (const group of header.getChildElements()) {
      const jid = attr(group, "jid");
      expect(jid).toBeDefined();
      for (const key of group.getChildElements()) readKey(key, jid, "kex");
    }
  }
  return { sid, keys: keys.sort((a, b) => a.rid - b.rid), payload };
}

// ---------------------------------------------------------------- a small world of devices

interface Device {
  peer: PythonOmemoPeer;
  own: OwnState;
}

/** Devices, the PEP relay between them, and python-omemo's own messages waiting to be delivered. */
class World {
  readonly relay = new PepRelay();
  readonly devices: Device[] = [];

  async add(jid: string, options: CreateOptions = {}): Promise<Device & { created: Effects }> {
    const peer = PythonOmemoPeer.spawn(jid);
    await this.relay.join(peer);
    const created = await peer.create(options);
    await this.relay.publish(created.published, peer);
    const device = { peer, own: created };
    this.devices.push(device);
    return { ...device, created };
  }

  async encrypt(from: Device, to: string[], text: string, namespace: OmemoNamespace): Promise<EncryptResult & Effects> {
    const out = await from.peer.encrypt(to, text, namespace);
    await this.relay.publish(out.published, from.peer);
    return out;
  }

  /** Delivers an `<encrypted>` element to one device; what python-omemo publishes in reaction is relayed. */
  async decrypt(at: Device, xml: string, from: Device, namespace: OmemoNamespace): Promise<DecryptResult & Effects> {
    try {
      const out = await at.peer.decrypt(xml, from.own.jid, namespace);
      await this.relay.publish(out.published, at.peer);
      return out;
    } catch (e) {
      if (e instanceof PythonOmemoError) await this.relay.publish(e.effects.published, at.peer);
      throw e;
    }
  }

  /** Delivers a message python-omemo sent by itself to every device it has a key for. */
  async deliverSent(message: SentMessage): Promise<Array<DecryptResult & Effects>> {
    const sender = this.device(message.from, message.fromDeviceId);
    const out: Array<DecryptResult & Effects> = [];
    for (const key of message.keys) {
      out.push(await this.decrypt(this.device(key.jid, key.deviceId), message.xml, sender, message.namespace));
    }
    return out;
  }

  device(jid: string, deviceId: number): Device {
    const found = this.devices.find((d) => d.own.jid === jid && d.own.deviceId === deviceId);
    if (!found) throw new Error(`no device ${jid}/${deviceId}`);
    return found;
  }

  async close(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.peer.close()));
  }
}

async function expectPythonError(promise: Promise<unknown>, type: string): Promise<PythonOmemoError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PythonOmemoError);
  const pythonError = error as PythonOmemoError;
  expect(pythonError.type).toBe(type);
  return pythonError;
}

// ---------------------------------------------------------------- the conversations

describe.each([
  ["legacy OMEMO (python-oldmemo)", LEGACY_NS],
  ["OMEMO 2 (python-twomemo)", OMEMO2_NS],
] as const)("python-omemo harness, %s", (_label, ns) => {
  const other: OmemoNamespace = ns === LEGACY_NS ? OMEMO2_NS : LEGACY_NS;
  const world = new World();
  let alice: Device;
  let bob: Device;
  let bobCreated: Effects;

  beforeAll(async () => {
    alice = await world.add(ALICE);
    const b = await world.add(BOB);
    bob = b;
    bobCreated = b.created;
  });
  afterAll(async () => {
    await world.close();
  });

  it("create publishes a bundle per namespace, then a device list per namespace, as the XEPs show them", () => {
    const { own } = bob;
    expect(own.deviceId).toBeGreaterThanOrEqual(1);
    expect(own.deviceId).toBeLessThanOrEqual(2 ** 31 - 1);
    const order = bobCreated.published.map((p) => p.node);
    expect(order).toEqual([
      bundleAddress(LEGACY_NS, own.deviceId).node,
      bundleAddress(OMEMO2_NS, own.deviceId).node,
      DEVICE_LIST_NODE[LEGACY_NS],
      DEVICE_LIST_NODE[OMEMO2_NS],
    ]);
    for (const namespace of [LEGACY_NS, OMEMO2_NS] as const) {
      const list = bobCreated.published.find((p) => p.node === DEVICE_LIST_NODE[namespace])!;
      expect(list.itemId).toBe("current");
      expect(deviceListIds(list.xml!, namespace)).toEqual([own.deviceId]);
      const address = bundleAddress(namespace, own.deviceId);
      const bundle = bobCreated.published.find((p) => p.node === address.node)!;
      expect(bundle.itemId).toBe(address.itemId);
      const shape = bundleShape(bundle.xml!, namespace);
      expect(shape.preKeyIds.length).toBe(100);
      expect(new Set(shape.preKeyIds).size).toBe(100);
      expect(shape.preKeyIds).toEqual(expect.arrayContaining(own.bundles[namespace]!.preKeyIds));
      // One identity for both namespaces: Ed25519 in OMEMO 2, its Curve25519 form (0x05 ||) in legacy,
      // whose hex is the fingerprint python-omemo shows.
      if (namespace === OMEMO2_NS) expect(Buffer.from(shape.identityKey).toString("base64")).toBe(own.identityKey);
      else expect(Buffer.from(shape.identityKey.subarray(1)).toString("hex")).toBe(own.fingerprint);
    }
    // Bob's create saw Alice's device list (replayed by the relay) and Alice got Bob's.
    expect(world.relay.get(BOB, DEVICE_LIST_NODE[ns], "current")).toBe(
      bobCreated.published.find((p) => p.node === DEVICE_LIST_NODE[ns])!.xml,
    );
  });

  it("first message: key exchange repeated until answered, prekey consumed once and replaced, empty message back", async () => {
    const oldBundle = bundleShape(world.relay.get(BOB, ...addr(ns, bob))!, ns);
    const first = await world.encrypt(alice, [BOB], "hello bob", ns);
    expect(first.errors).toEqual([]);
    expect(first.keys).toEqual([{ jid: BOB, deviceId: bob.own.deviceId, kex: true }]);
    const shape = encryptedShape(first.xml!, ns);
    expect(shape).toEqual({
      sid: alice.own.deviceId,
      keys: [{ jid: ns === LEGACY_NS ? undefined : BOB, rid: bob.own.deviceId, kex: true }],
      payload: true,
    });
    const aliceSession = (await alice.peer.session(BOB, bob.own.deviceId, ns)).session!;
    expect(aliceSession).toMatchObject({ initiation: "active", confirmed: false });
    expect(oldBundle.preKeyIds).toContain(aliceSession.preKeyId);

    const got = await world.decrypt(bob, first.xml!, alice, ns);
    expect(got).toMatchObject({
      plaintext: "hello bob",
      senderDeviceId: alice.own.deviceId,
      keyExchange: true,
      newSession: true,
    });
    // The used prekey is gone from the republished bundle (of this namespace only), replaced by a fresh id.
    expect(got.published.map((p) => p.node)).toEqual([bundleAddress(ns, bob.own.deviceId).node]);
    const newBundle = bundleShape(got.published[0]!.xml!, ns);
    expect(newBundle.preKeyIds.length).toBe(100);
    expect(newBundle.preKeyIds).not.toContain(aliceSession.preKeyId);
    const added = newBundle.preKeyIds.filter((id) => !oldBundle.preKeyIds.includes(id));
    expect(added.length).toBe(1);
    expect(added[0]!).toBeGreaterThan(Math.max(...oldBundle.preKeyIds));
    expect(newBundle.signedPreKeyId).toBe(oldBundle.signedPreKeyId);
    expect((await bob.peer.info()).bundles[other]!.preKeyIds.length).toBe(100);
    // Session completion: an empty message right away.
    expect(got.sent.length).toBe(1);
    const completion = got.sent[0]!;
    expect(completion).toMatchObject({ to: ALICE, empty: true, namespace: ns, fromDeviceId: bob.own.deviceId });
    expect(completion.keys).toEqual([{ jid: ALICE, deviceId: alice.own.deviceId, kex: false }]);
    expect(encryptedShape(completion.xml, ns).payload).toBe(false);

    // Until Alice hears from Bob she repeats the key exchange; Bob decrypts it in the same session, the
    // prekey is not consumed again, and he answers with another empty message.
    const second = await world.encrypt(alice, [BOB], "still there?", ns);
    expect(second.keys).toEqual([{ jid: BOB, deviceId: bob.own.deviceId, kex: true }]);
    const got2 = await world.decrypt(bob, second.xml!, alice, ns);
    expect(got2).toMatchObject({ plaintext: "still there?", keyExchange: true, newSession: false });
    expect(got2.published).toEqual([]);
    expect(got2.sent.length).toBe(1);

    for (const message of [completion, got2.sent[0]!]) {
      const [heard] = await world.deliverSent(message);
      expect(heard).toMatchObject({ plaintext: null, keyExchange: false, newSession: false, sent: [] });
    }
    expect((await alice.peer.session(BOB, bob.own.deviceId, ns)).session!.confirmed).toBe(true);
    const third = await world.encrypt(alice, [BOB], "third", ns);
    expect(third.keys).toEqual([{ jid: BOB, deviceId: bob.own.deviceId, kex: false }]);
    expect(await world.decrypt(bob, third.xml!, alice, ns)).toMatchObject({ plaintext: "third", sent: [] });
  });

  it("replies and several messages both ways, none of them with a key exchange", async () => {
    for (let round = 0; round < 3; round++) {
      const reply = await world.encrypt(bob, [ALICE], `bob ${round}`, ns);
      expect(reply.keys).toEqual([{ jid: ALICE, deviceId: alice.own.deviceId, kex: false }]);
      expect(encryptedShape(reply.xml!, ns).sid).toBe(bob.own.deviceId);
      expect(await world.decrypt(alice, reply.xml!, bob, ns)).toMatchObject({
        plaintext: `bob ${round}`,
        keyExchange: false,
        newSession: false,
        sent: [],
      });
      for (const text of [`alice ${round}a`, `alice ${round}b`]) {
        const m = await world.encrypt(alice, [BOB], text, ns);
        expect(await world.decrypt(bob, m.xml!, alice, ns)).toMatchObject({ plaintext: text, sent: [] });
      }
    }
  });

  it("messages lost and reordered still decrypt; a replay is refused with DecryptionFailed", async () => {
    const texts = ["m0", "m1", "m2", "m3 (lost)", "m4"];
    const sent: string[] = [];
    for (const text of texts) sent.push((await world.encrypt(alice, [BOB], text, ns)).xml!);
    for (const i of [4, 0, 2, 1]) {
      expect((await world.decrypt(bob, sent[i]!, alice, ns)).plaintext).toBe(texts[i]);
    }
    await expectPythonError(world.decrypt(bob, sent[0]!, alice, ns), "DecryptionFailed");
    const reply = await world.encrypt(bob, [ALICE], "got them", ns);
    expect((await world.decrypt(alice, reply.xml!, bob, ns)).plaintext).toBe("got them");
  });

  it("a restart from storage changes nothing on the wire and the conversation goes on", async () => {
    const dump = await bob.peer.dump();
    expect(Object.keys(dump.storage).length).toBeGreaterThan(10);
    const restarted = await bob.peer.restore();
    expect(restarted.deviceId).toBe(bob.own.deviceId);
    expect(restarted.identityKey).toBe(bob.own.identityKey);
    expect(restarted.published).toEqual([]);
    expect(restarted.sent).toEqual([]);
    const m = await world.encrypt(alice, [BOB], "after your restart", ns);
    expect(m.keys[0]!.kex).toBe(false);
    expect((await world.decrypt(bob, m.xml!, alice, ns)).plaintext).toBe("after your restart");
    const reply = await world.encrypt(bob, [ALICE], "I am back", ns);
    expect((await world.decrypt(alice, reply.xml!, bob, ns)).plaintext).toBe("I am back");
  });

  it("on demand: an empty message, a device list refresh, a restart from an older snapshot", async () => {
    const empty = await bob.peer.sendEmpty(ALICE, alice.own.deviceId, ns);
    expect(empty.sent.length).toBe(1);
    expect(empty.sent[0]!).toMatchObject({ to: ALICE, empty: true });
    expect((await world.deliverSent(empty.sent[0]!))[0]!.plaintext).toBeNull();
    const refreshed = await bob.peer.refreshDeviceList(ALICE, ns);
    expect(refreshed.published).toEqual([]);
    expect((await bob.peer.devices(ALICE)).devices.map((d) => d.deviceId)).toEqual([alice.own.deviceId]);

    // A rollback (storage restored from a backup): a message read after the snapshot can be read again.
    const { storage } = await bob.peer.dump();
    const m1 = await world.encrypt(alice, [BOB], "before the rollback", ns);
    expect((await world.decrypt(bob, m1.xml!, alice, ns)).plaintext).toBe("before the rollback");
    await expectPythonError(world.decrypt(bob, m1.xml!, alice, ns), "DecryptionFailed");
    expect((await bob.peer.restore(storage)).published).toEqual([]);
    expect((await world.decrypt(bob, m1.xml!, alice, ns)).plaintext).toBe("before the rollback");
    const m2 = await world.encrypt(alice, [BOB], "after the rollback", ns);
    expect((await world.decrypt(bob, m2.xml!, alice, ns)).plaintext).toBe("after the rollback");
    const reply = await world.encrypt(bob, [ALICE], "rolled back", ns);
    expect((await world.decrypt(alice, reply.xml!, bob, ns)).plaintext).toBe("rolled back");
  });

  it("after more than 53 messages in one receiving chain the receiver sends an empty message (heartbeat)", async () => {
    // Bob's last message reached Alice, so her next message starts a new sending chain.
    const heartbeatsAt: number[] = [];
    const heartbeats: SentMessage[] = [];
    for (let i = 1; i <= 56; i++) {
      const m = await world.encrypt(alice, [BOB], `burst ${i}`, ns);
      const got = await world.decrypt(bob, m.xml!, alice, ns);
      expect(got.plaintext).toBe(`burst ${i}`);
      if (got.sent.length > 0) heartbeatsAt.push(i);
      heartbeats.push(...got.sent);
    }
    // receiving_chain_length > STALENESS_MAGIC_NUMBER (53): from the 54th message of the chain on, one per
    // message until Alice answers in a new chain.
    expect(heartbeatsAt).toEqual([54, 55, 56]);
    for (const h of heartbeats) {
      expect(h).toMatchObject({ to: ALICE, empty: true, fromDeviceId: bob.own.deviceId });
      expect(h.keys).toEqual([{ jid: ALICE, deviceId: alice.own.deviceId, kex: false }]);
      expect(encryptedShape(h.xml, ns).payload).toBe(false);
    }
    expect((await alice.peer.session(BOB, bob.own.deviceId, ns)).session!.receivingChainLength).toBeLessThan(53);
    const [heard] = await world.deliverSent(heartbeats[0]!);
    expect(heard!.plaintext).toBeNull();
    // The heartbeat carried a new ratchet key: Alice's next message starts a new chain, no more heartbeats.
    const m = await world.encrypt(alice, [BOB], "new chain", ns);
    const got = await world.decrypt(bob, m.xml!, alice, ns);
    expect(got.sent).toEqual([]);
    expect((await bob.peer.session(ALICE, alice.own.deviceId, ns)).session!.receivingChainLength).toBe(1);
    // The later heartbeats are from the same chain and still decrypt (skipped keys).
    for (const h of heartbeats.slice(1)) expect((await world.deliverSent(h))[0]!.plaintext).toBeNull();
  });

  it("a lost session: NoSession until the one who lost it sends (a new key exchange); replace_sessions by hand", async () => {
    const forgot = await bob.peer.forget(ALICE, alice.own.deviceId, ns);
    expect(forgot.removedKeys).toBeGreaterThan(0);
    expect((await bob.peer.session(ALICE, alice.own.deviceId, ns)).session).toBeNull();
    const lost = await world.encrypt(alice, [BOB], "you will not read this", ns);
    const failure = await expectPythonError(world.decrypt(bob, lost.xml!, alice, ns), "NoSession");
    // No automatic reaction: nothing sent, nothing published.
    expect(failure.effects.sent).toEqual([]);
    expect(failure.effects.published).toEqual([]);

    // Bob's next message builds a new session from Alice's bundle; Alice replaces hers and completes it.
    const fresh = await world.encrypt(bob, [ALICE], "I lost our session", ns);
    expect(fresh.keys).toEqual([{ jid: ALICE, deviceId: alice.own.deviceId, kex: true }]);
    const got = await world.decrypt(alice, fresh.xml!, bob, ns);
    expect(got).toMatchObject({ plaintext: "I lost our session", keyExchange: true, newSession: true });
    expect(got.warnings).toContain("omemo.core: Key exchange replaces existing session.");
    expect(got.published.map((p) => p.node)).toEqual([bundleAddress(ns, alice.own.deviceId).node]);
    expect(got.sent.length).toBe(1);
    await world.deliverSent(got.sent[0]!);
    const m = await world.encrypt(alice, [BOB], "healed", ns);
    expect(m.keys[0]!.kex).toBe(false);
    expect((await world.decrypt(bob, m.xml!, alice, ns)).plaintext).toBe("healed");

    // replace_sessions (called by an app, never by python-omemo): an empty message with a key exchange.
    const replaced = await alice.peer.replaceSessions(BOB, bob.own.deviceId);
    expect(replaced.failures).toEqual({});
    expect(replaced.sent.length).toBe(1);
    expect(replaced.sent[0]!).toMatchObject({ empty: true, to: BOB, namespace: ns });
    expect(replaced.sent[0]!.keys).toEqual([{ jid: BOB, deviceId: bob.own.deviceId, kex: true }]);
    const [notified] = await world.deliverSent(replaced.sent[0]!);
    expect(notified).toMatchObject({ plaintext: null, keyExchange: true, newSession: true });
    expect(notified!.sent.length).toBe(1);
    await world.deliverSent(notified!.sent[0]!);
    const after = await world.encrypt(alice, [BOB], "after replace_sessions", ns);
    expect(after.keys[0]!.kex).toBe(false);
    expect((await world.decrypt(bob, after.xml!, alice, ns)).plaintext).toBe("after replace_sessions");
  });

  it("python-omemo's parsers: a false kex flag still means a key exchange; device lists are schema-checked", async () => {
    // oldmemo.etree / twomemo.etree test the flag with bool(attribute value): any value, "false" and "0"
    // included, means a key exchange. Writers must leave the attribute out.
    const flag = ns === LEGACY_NS ? "prekey" : "kex";
    const m = await world.encrypt(alice, [BOB], "flag", ns);
    for (const value of ["false", "0"]) {
      const flagged = m.xml!.replace("<key ", `<key ${flag}="${value}" `);
      expect(flagged).not.toBe(m.xml);
      const failure = await expectPythonError(
        world.decrypt(bob, flagged, alice, ns),
        ns === LEGACY_NS ? "ValueError" : "EncodeError",
      );
      expect(failure.effects.sent).toEqual([]);
    }
    // A refused message changed nothing: the unflagged one still decrypts.
    expect((await world.decrypt(bob, m.xml!, alice, ns)).plaintext).toBe("flag");

    const node = DEVICE_LIST_NODE[ns];
    const put = (xml: string) => bob.peer.pepPut({ jid: STRANGER, node, itemId: "current", xml });
    const list = ns === LEGACY_NS ? "list" : "devices";
    // Both schemas require at least one <device/> and allow no unknown attributes or children.
    await expectPythonError(put(`<${list} xmlns="${ns}"/>`), "XMLSchemaChildrenValidationError");
    await expectPythonError(
      put(`<${list} xmlns="${ns}"><device id="7"/><x/></${list}>`),
      "XMLSchemaChildrenValidationError",
    );
    if (ns === LEGACY_NS) {
      await expectPythonError(
        put(`<list xmlns="${ns}"><device id="7" label="phone"/></list>`),
        "XMLSchemaValidationError",
      );
    } else {
      expect((await put(`<devices xmlns="${ns}"><device id="7" label="phone"/></devices>`)).deviceIds).toEqual([7]);
      // XEP-0384 v0.9's labelsig is unknown to python-twomemo 1.0.3: such a list is refused as a whole.
      await expectPythonError(
        put(`<devices xmlns="${ns}"><device id="7" label="phone" labelsig="AAAA"/></devices>`),
        "XMLSchemaValidationError",
      );
    }
    // Bundles: legacy is a strict sequence in the XEP's order, OMEMO 2 any order.
    const [bundleNode, bundleItem] = addr(ns, alice);
    const reordered = parse(world.relay.get(ALICE, bundleNode, bundleItem)!);
    reordered.children = [...reordered.getChildElements()].reverse();
    const putBundle = bob.peer.pepPut({
      jid: STRANGER,
      node: bundleNode,
      itemId: bundleItem,
      xml: reordered.toString(),
    });
    if (ns === LEGACY_NS) await expectPythonError(putBundle, "XMLSchemaChildrenValidationError");
    else expect((await putBundle).preKeyIds!.length).toBe(100);
    // The same list in prefixed form is fine: ElementTree is namespace-aware.
    expect((await put(`<p:${list} xmlns:p="${ns}"><p:device id="8"/></p:${list}>`)).deviceIds).toEqual([8]);
  });

  it("an update of its own account's device list that lacks it: python-omemo adds itself and republishes", async () => {
    const node = DEVICE_LIST_NODE[ns];
    const before = world.relay.get(BOB, node, "current")!;
    const foreign =
      ns === LEGACY_NS
        ? `<list xmlns="${ns}"><device id="4242"/></list>`
        : `<devices xmlns="${ns}"><device id="4242"/></devices>`;
    const answer = await bob.peer.pepPut({ jid: BOB, node, itemId: "current", xml: foreign });
    expect(answer.warnings).toContain("omemo.core: Own device id was not included in the online device list.");
    // Not a merge with what it knew: the list as received, plus itself.
    expect(answer.published.length).toBe(1);
    expect(deviceListIds(answer.published[0]!.xml!, ns)).toEqual([4242, bob.own.deviceId]);
    // Put things back as they were (python keeps 4242 as a known but inactive device once it is gone).
    await world.relay.publish([{ jid: BOB, node, itemId: "current", xml: before }]);
    const devices = (await bob.peer.devices(BOB)).devices.map((d) => d.deviceId);
    expect(devices).toEqual([bob.own.deviceId]); // 4242 has no bundle, so it is left out of the device information
  });

  it("history synchronization mode: the prekey is dropped at once, empty messages wait until it ends", async () => {
    const erin = await world.add(ERIN);
    const [node, itemId] = addr(ns, bob);
    const bundleBefore = world.relay.get(BOB, node, itemId)!;
    await bob.peer.historySync(true);
    const first = await world.encrypt(erin, [BOB], "while you catch up", ns);
    const got = await world.decrypt(bob, first.xml!, erin, ns);
    expect(got).toMatchObject({ plaintext: "while you catch up", keyExchange: true, newSession: true, sent: [] });
    const used = (await erin.peer.session(BOB, bob.own.deviceId, ns)).session!.preKeyId;
    // "Hidden" rather than deleted, but python-omemo 1.0.2 reloads its X3DH state from storage, which does
    // not keep hidden prekeys: the prekey is gone right away, and the bundle is refilled and republished.
    expect(got.published.map((p) => p.node)).toEqual([bundleAddress(ns, bob.own.deviceId).node]);
    expect(bundleShape(got.published[0]!.xml!, ns).preKeyIds).not.toContain(used);
    // Gina fetched the bundle before, and (to force it) only that prekey is left in her copy: her key
    // exchange with it fails although Bob is still catching up.
    const gina = await world.add(GINA);
    await gina.peer.pepPut({ jid: BOB, node, itemId, xml: onlyPreKey(bundleBefore, ns, used) });
    const collision = await world.encrypt(gina, [BOB], "same prekey", ns);
    expect((await gina.peer.session(BOB, bob.own.deviceId, ns)).session!.preKeyId).toBe(used);
    const failure = await expectPythonError(world.decrypt(bob, collision.xml!, gina, ns), "KeyExchangeFailed");
    expect(failure.pythonMessage).toBe(`No pre key with id ${used} known.`);
    const second = await world.encrypt(erin, [BOB], "again", ns);
    expect(second.keys[0]!.kex).toBe(true);
    expect(await world.decrypt(bob, second.xml!, erin, ns)).toMatchObject({ plaintext: "again", sent: [] });
    // One empty message per queued session when synchronization ends.
    const ended = await bob.peer.historySync(false);
    expect(ended.sent.length).toBe(1);
    expect(ended.sent[0]!).toMatchObject({ to: ERIN, empty: true });
    await world.deliverSent(ended.sent[0]!);
    expect((await erin.peer.session(BOB, bob.own.deviceId, ns)).session!.confirmed).toBe(true);
  });

  it("signed prekey rotation: new id, republished bundle; the previous signed prekey works for one more period", async () => {
    const [node, itemId] = addr(ns, bob);
    const stale = world.relay.get(BOB, node, itemId)!;
    const staleShape = bundleShape(stale, ns);
    const rotated = await bob.peer.rotateSignedPreKey(ns);
    await world.relay.publish(rotated.published, bob.peer);
    expect(rotated.published.map((p) => p.node)).toEqual([node]);
    const fresh = bundleShape(rotated.published[0]!.xml!, ns);
    expect(fresh.signedPreKeyId).toBe(staleShape.signedPreKeyId + 1);
    expect(fresh.preKeyIds.sort()).toEqual(staleShape.preKeyIds.sort());

    // Carol still has the bundle from before the rotation.
    const carol = await world.add(CAROL);
    await carol.peer.pepPut({ jid: BOB, node, itemId, xml: stale });
    const m = await world.encrypt(carol, [BOB], "with your old signed prekey", ns);
    expect((await carol.peer.session(BOB, bob.own.deviceId, ns)).session!.signedPreKeyId).toBe(
      staleShape.signedPreKeyId,
    );
    expect(await world.decrypt(bob, m.xml!, carol, ns)).toMatchObject({
      newSession: true,
      plaintext: "with your old signed prekey",
    });

    // Two rotations later it is gone: the key exchange fails and nothing is consumed or sent.
    for (let i = 0; i < 2; i++) await world.relay.publish((await bob.peer.rotateSignedPreKey(ns)).published, bob.peer);
    const dave = await world.add(DAVE);
    await dave.peer.pepPut({ jid: BOB, node, itemId, xml: stale });
    const late = await world.encrypt(dave, [BOB], "too late", ns);
    const failure = await expectPythonError(world.decrypt(bob, late.xml!, dave, ns), "KeyExchangeFailed");
    expect(failure.effects.published).toEqual([]);
    expect(failure.effects.sent).toEqual([]);
  });

  it("a sender python-omemo cannot see on PEP is refused (SenderNotFound) until its device list and bundle are there", async () => {
    const frank = PythonOmemoPeer.spawn(FRANK);
    try {
      for (const item of world.relay.items(ALICE)) await frank.pepPut(item);
      const created = await frank.create();
      const m = await frank.encrypt([ALICE], "do you know me?", ns);
      expect(m.keys).toEqual([{ jid: ALICE, deviceId: alice.own.deviceId, kex: true }]);
      const failure = await expectPythonError(alice.peer.decrypt(m.xml!, FRANK, ns), "SenderNotFound");
      expect(failure.effects.published).toEqual([]);
      await world.relay.publish(created.published);
      const got = await alice.peer.decrypt(m.xml!, FRANK, ns);
      expect(got).toMatchObject({ plaintext: "do you know me?", newSession: true, senderDeviceId: created.deviceId });
      await world.relay.publish(got.published, alice.peer);
    } finally {
      await frank.close();
    }
  });

  it("a second device for Bob: merged device list, fan-out to both, own-device copies, trust per device", async () => {
    const bob2 = await world.add(BOB);
    expect(bob2.own.deviceId).not.toBe(bob.own.deviceId);
    expect(bob2.own.identityKey).not.toBe(bob.own.identityKey);
    const list = bob2.created.published.find((p) => p.node === DEVICE_LIST_NODE[ns])!;
    expect(deviceListIds(list.xml!, ns).sort()).toEqual([bob.own.deviceId, bob2.own.deviceId].sort());
    const known = await alice.peer.devices(BOB);
    expect(known.devices.map((d) => d.deviceId).sort()).toEqual([bob.own.deviceId, bob2.own.deviceId].sort());

    const toBoth = await world.encrypt(alice, [BOB], "to both of you", ns);
    expect(toBoth.keys).toEqual(
      [
        { jid: BOB, deviceId: bob.own.deviceId, kex: false },
        { jid: BOB, deviceId: bob2.own.deviceId, kex: true },
      ].sort((a, b) => a.deviceId - b.deviceId),
    );
    const shape = encryptedShape(toBoth.xml!, ns);
    expect(shape.keys.map((k) => k.rid)).toEqual(toBoth.keys.map((k) => k.deviceId));
    for (const device of [bob, bob2]) {
      const got = await world.decrypt(device, toBoth.xml!, alice, ns);
      expect(got.plaintext).toBe("to both of you");
      for (const s of got.sent) await world.deliverSent(s);
    }

    // Bob's second device writes to Alice (in the session Alice started, so no key exchange) and to Bob's
    // first device (own devices get a copy; a new session, so a key exchange).
    const fromBob2 = await world.encrypt(bob2, [ALICE], "from my phone", ns);
    expect(fromBob2.keys).toEqual([
      { jid: ALICE, deviceId: alice.own.deviceId, kex: false },
      { jid: BOB, deviceId: bob.own.deviceId, kex: true },
    ]);
    if (ns === OMEMO2_NS) {
      expect(new Set(encryptedShape(fromBob2.xml!, ns).keys.map((k) => k.jid))).toEqual(new Set([ALICE, BOB]));
    }
    expect(await world.decrypt(alice, fromBob2.xml!, bob2, ns)).toMatchObject({
      plaintext: "from my phone",
      keyExchange: false,
      newSession: false,
      sent: [],
    });
    const copy = await world.decrypt(bob, fromBob2.xml!, bob2, ns);
    expect(copy).toMatchObject({ plaintext: "from my phone", keyExchange: true, newSession: true });
    expect(copy.sent.map((s) => s.to)).toEqual([BOB]);
    await world.deliverSent(copy.sent[0]!);

    // Distrust is per identity key: Alice stops encrypting to Bob's second device and refuses its messages.
    await alice.peer.trust(BOB, bob2.own.identityKey, "distrusted");
    const onlyFirst = await world.encrypt(alice, [BOB], "only your first device", ns);
    expect(onlyFirst.keys.map((k) => k.deviceId)).toEqual([bob.own.deviceId]);
    const refused = await world.encrypt(bob2, [ALICE], "am I trusted?", ns);
    await expectPythonError(world.decrypt(alice, refused.xml!, bob2, ns), "SenderDistrusted");
    await alice.peer.trust(BOB, bob2.own.identityKey, "trusted");
  });
});

/** The bundle with all one-time prekeys removed but one (a copy fetched earlier, narrowed for a test). */
function onlyPreKey(xml: string, namespace: OmemoNamespace, id: number): string {
  const el = parse(xml);
  const prekeys = el.getChild("prekeys")!;
  const idAttr = namespace === LEGACY_NS ? "preKeyId" : "id";
  prekeys.children = prekeys.getChildElements().filter((p) => attr(p, idAttr) === String(id));
  expect(prekeys.children.length).toBe(1);
  return el.toString();
}

function addr(namespace: OmemoNamespace, device: Device): [string, string] {
  const a = bundleAddress(namespace, device.own.deviceId);
  return [a.node, a.itemId];
}
