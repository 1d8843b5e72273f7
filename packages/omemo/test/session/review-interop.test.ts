// Regressions of a review of the session manager's interop and hostile-input handling: legacy PEP
// items under other ids than "current" (Dino), the number of <key> elements for our device that one
// stanza can make us try, and stanzas that carry an <encrypted> in each namespace.
import { defaultCrypto, type Crypto } from "@parley/crypto";
import type { Element } from "ltx";
import { describe, expect, it } from "vitest";
import { legacy, NS_LEGACY, NS_V2, parseXml, v2, type OmemoNamespace } from "../../src/index.js";
import { MAX_LEGACY_KEY_ATTEMPTS } from "../../src/session/consts.js";
import { fetchPayload } from "../../src/session/pep-items.js";
import { wrapMessage } from "../../src/session/stanza.js";
import { childElements, cloneElement, localName } from "../../src/xml.js";
import { ALICE, BOB, CAROL, type Device, World } from "./world.js";

const DAVE = "dave@example.com";
/** An item id a server assigns when a client publishes without one (Dino republishes under it). */
const SERVER_ITEM_ID = "6a0e7f2c-5d1b-4c8e-9f3a-2b7d1e0c4a58";

/** Moves `jid`'s item of `node` from item id "current" to `itemId`, as another client would publish it. */
function moveItem(world: World, jid: string, node: string, itemId: string): void {
  const payload = world.network.fetch(jid, node, "current")![0]!;
  world.network.put(jid, node, itemId, payload);
}

/** Our account's legacy device list as the server has it (its only item). */
function legacyListOnServer(world: World, jid: string): number[] {
  const items = world.network.fetch(jid, legacy.DEVICE_LIST_NODE)!;
  return [...legacy.decodeDeviceList(items[items.length - 1]!).ids];
}

describe.each([
  ["a transport that hands back payloads", false],
  ["a transport that hands back <item id> elements", true],
] as const)("XEP-0384 v0.3.0 §4.3 legacy items under other ids than current (%s)", (_label, fetchItems) => {
  it("a contact whose legacy device list and bundles use other item ids (Dino's 1, a server-assigned id) is encrypted to", async () => {
    const world = new World({ fetchItems });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    // Dino publishes its bundle as item "1" and its list under the id the server gave it.
    moveItem(world, BOB, legacy.DEVICE_LIST_NODE, SERVER_ITEM_ID);
    moveItem(world, BOB, legacy.bundleNode(bob.deviceId), "1");
    await world.network.flush();
    expect(world.network.fetch(BOB, legacy.bundleNode(bob.deviceId), "current")).toBeNull();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    expect(await alice.manager.devices(BOB, NS_LEGACY)).toEqual([bob.deviceId]);
    const r = await world.send(alice, BOB, "hello Dino");
    expect(r.devices).toEqual([expect.objectContaining({ jid: BOB, deviceId: bob.deviceId, status: "encrypted" })]);
    await world.network.flush();
    expect(bob.texts()).toEqual(["hello Dino"]);
  });

  it("a contact's list learnt from a notification under another item id stays active when fetched again", async () => {
    const world = new World({ fetchItems });
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    moveItem(world, BOB, legacy.DEVICE_LIST_NODE, SERVER_ITEM_ID);
    await world.network.flush();
    expect(await alice.manager.refreshDeviceList(BOB, NS_LEGACY)).toEqual([bob.deviceId]);
    expect(await alice.manager.deviceInfo(BOB, NS_LEGACY)).toEqual([{ id: bob.deviceId, active: true }]);
  });

  it("our own list and bundle under other item ids: a new device keeps our other devices and encrypts to them", async () => {
    const world = new World({ fetchItems });
    const dino = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    moveItem(world, ALICE, legacy.DEVICE_LIST_NODE, SERVER_ITEM_ID);
    moveItem(world, ALICE, legacy.bundleNode(dino.deviceId), "1");
    await world.network.flush();
    const ours = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    await ours.manager.publishOwnDevice();
    const lists = ours.published.filter((p) => p.node === legacy.DEVICE_LIST_NODE);
    expect(lists.length).toBeGreaterThan(0);
    // Every list we published names the other device: none replaced the node with us alone.
    for (const p of lists) expect(legacy.decodeDeviceList(p.payload).ids).toContain(dino.deviceId);
    expect(new Set(legacyListOnServer(world, ALICE))).toEqual(new Set([dino.deviceId, ours.deviceId]));
    await world.add(BOB, { namespaces: [NS_LEGACY] });
    const r = await world.send(ours, BOB, "to Bob and my other device");
    expect(r.devices).toContainEqual(
      expect.objectContaining({ jid: ALICE, deviceId: dino.deviceId, status: "encrypted" }),
    );
    await world.network.flush();
    expect(dino.texts()).toContain("to Bob and my other device");
  });
});

describe("which item of a legacy node is read", () => {
  it("with item ids, item current is read even when another item comes after it", async () => {
    const world = new World({ fetchItems: true });
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    world.network.put(BOB, legacy.DEVICE_LIST_NODE, "later", legacy.encodeDeviceList({ ids: [4242] }), {
      "pubsub#max_items": "max",
    });
    world.network.queue.length = 0;
    expect(await alice.manager.refreshDeviceList(BOB, NS_LEGACY)).toEqual([bob.deviceId]);
  });

  it("without item current, the last item is read", async () => {
    const world = new World({ fetchItems: true });
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    moveItem(world, BOB, legacy.DEVICE_LIST_NODE, "first");
    world.network.put(BOB, legacy.DEVICE_LIST_NODE, "second", legacy.encodeDeviceList({ ids: [bob.deviceId, 4242] }), {
      "pubsub#max_items": "max",
    });
    world.network.queue.length = 0;
    expect(new Set(await alice.manager.refreshDeviceList(BOB, NS_LEGACY))).toEqual(new Set([bob.deviceId, 4242]));
  });

  it("fetch answers: payloads, <item id> elements with or without their namespace, and what is not an answer", async () => {
    const answer = (value: unknown) => ({
      publish: () => Promise.resolve(),
      send: () => Promise.resolve(),
      fetch: () => Promise.resolve(value as Element[] | null),
    });
    const read = async (value: unknown, itemId?: string) =>
      (await fetchPayload(answer(value), BOB, "node", itemId, "fetching"))?.attrs["n"] as unknown;
    const list = (n: string) => parseXml(`<list xmlns='eu.siacs.conversations.axolotl' n='${n}'/>`);
    const item = (id: string, n: string, xmlns = " xmlns='http://jabber.org/protocol/pubsub'") => {
      const e = parseXml(`<item${xmlns} id='${id}'/>`);
      e.cnode(list(n));
      return e;
    };
    expect(await read(null)).toBeUndefined();
    expect(await read([])).toBeUndefined();
    expect(await read([list("a"), list("b")])).toBe("b");
    expect(await read([item("current", "a"), item("1", "b")])).toBe("a");
    expect(await read([item("x", "a", ""), item("y", "b", "")])).toBe("b");
    expect(await read([item("7", "a"), item("8", "b")], "7")).toBe("a");
    expect(await read([item("8", "b")], "7")).toBeUndefined();
    for (const bad of [undefined, {}, "x", [list("a"), "x"], [parseXml("<item id='current'/>")]]) {
      await expect(read(bad)).rejects.toMatchObject({ code: "IO_FAILED" });
    }
  });

  it("OMEMO 2 keeps its item ids; legacy fetches the whole node", async () => {
    const world = new World();
    const alice = await world.add(ALICE);
    const bob = await world.add(BOB);
    const fetches: Array<[string, string, string | undefined]> = [];
    const inner = alice.transport.fetch.bind(alice.transport);
    (alice.transport as { fetch: typeof inner }).fetch = (jid, node, itemId) => {
      fetches.push([jid, node, itemId]);
      return inner(jid, node, itemId);
    };
    await alice.manager.refreshDeviceList(BOB, NS_V2);
    await alice.manager.refreshDeviceList(BOB, NS_LEGACY);
    await alice.manager.encrypt(BOB, { body: "x" }, { namespaces: [NS_V2] });
    await alice.manager.encrypt(BOB, { body: "x" }, { namespaces: [NS_LEGACY] });
    expect(fetches).toEqual([
      [BOB, v2.DEVICES_NODE, "current"],
      [BOB, legacy.DEVICE_LIST_NODE, undefined],
      [BOB, v2.BUNDLES_NODE, String(bob.deviceId)],
      [BOB, legacy.bundleNode(bob.deviceId), undefined],
    ]);
  });
});

describe.each([
  ["legacy", NS_LEGACY, legacy.DEVICE_LIST_NODE],
  ["OMEMO 2", NS_V2, v2.DEVICES_NODE],
] as const)("our device list is unknown, not empty, when it cannot be read (%s)", (_label, ns, node) => {
  async function twoDevices(): Promise<{ world: World; phone: Device; laptop: Device }> {
    const world = new World();
    const phone = await world.add(ALICE, { namespaces: [ns] });
    const laptop = await world.add(ALICE, { namespaces: [ns] });
    laptop.published.length = 0;
    return { world, phone, laptop };
  }

  it("a failed list fetch publishes no list", async () => {
    const { world, phone, laptop } = await twoDevices();
    laptop.failing.add("fetch");
    await expect(laptop.manager.publishOwnDevice()).rejects.toMatchObject({ code: "IO_FAILED" });
    expect(laptop.published.filter((p) => p.node === node)).toEqual([]);
    expect(new Set(await phone.manager.devices(ALICE, ns))).toEqual(new Set([phone.deviceId, laptop.deviceId]));
    expect(world.network.fetch(ALICE, node)).toHaveLength(1);
  });

  it("an item without its payload, or an answer that is no array of elements, publishes no list", async () => {
    const { world, laptop } = await twoDevices();
    const before = world.network.fetch(ALICE, node)![0]!;
    const inner = laptop.transport.fetch.bind(laptop.transport);
    const answers: unknown[] = [
      [parseXml(`<item xmlns='http://jabber.org/protocol/pubsub' id='current'/>`)],
      {},
      ["<list/>"],
    ];
    for (const answer of answers) {
      (laptop.transport as { fetch: typeof inner }).fetch = (jid, n, itemId) =>
        n === node ? Promise.resolve(answer as Element[]) : inner(jid, n, itemId);
      await expect(laptop.manager.publishOwnDevice()).rejects.toMatchObject({ code: "IO_FAILED" });
    }
    expect(laptop.published.filter((p) => p.node === node)).toEqual([]);
    expect(world.network.fetch(ALICE, node)).toEqual([before]);
  });
});

// ---------------------------------------------------------------- keys for our device per stanza

/** A Crypto that counts X25519 agreements: each decryption attempt of a key exchange does several. */
function countingCrypto(): { crypto: Crypto; agreements: () => number; reset: () => void } {
  const base = defaultCrypto();
  let n = 0;
  const crypto = new Proxy(base, {
    get(target, property) {
      if (property === "x25519") {
        return (privateKey: Uint8Array, publicKey: Uint8Array) => {
          n++;
          return target.x25519(privateKey, publicKey);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    crypto,
    agreements: () => n,
    reset: () => {
      n = 0;
    },
  };
}

/** The `<key>` elements of an `<encrypted>` (legacy: in `<header>`; OMEMO 2: in `<header><keys>`). */
function keyElements(encrypted: Element): Element[] {
  const header = childElements(encrypted).find((c) => localName(c) === "header")!;
  return childElements(header).flatMap((c) =>
    localName(c) === "key"
      ? [c]
      : localName(c) === "keys"
        ? childElements(c).filter((k) => localName(k) === "key")
        : [],
  );
}

/** `encrypted` with its one `<key>` replaced by copies carrying each of `data` (same rid, same kex flag). */
function withKeys(encrypted: Element, data: readonly string[]): Element {
  const out = cloneElement(encrypted);
  const [key] = keyElements(out);
  const parent = key!.parent!;
  parent.children = parent.children.filter((c) => c !== key);
  for (const d of data) {
    const copy = cloneElement(key!);
    copy.children = [d];
    parent.cnode(copy);
  }
  return out;
}

function keyText(encrypted: Element): string {
  return keyElements(encrypted)[0]!.getText();
}

describe.each([
  ["legacy", NS_LEGACY, MAX_LEGACY_KEY_ATTEMPTS],
  ["OMEMO 2", NS_V2, 1],
] as const)("many keys for our device in one stanza (%s)", (_label, ns, cap) => {
  /** Bob counting his agreements, Alice untrusted by him (each key exchange is read, then refused), and `count` key exchanges of hers. */
  async function setup(count: number) {
    const world = new World();
    const counter = countingCrypto();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns], crypto: counter.crypto });
    bob.trust.set(alice.manager.fingerprint, "untrusted");
    const messages: Element[] = [];
    for (let i = 0; i < count; i++) {
      // A new session each time: a key exchange with a fresh base key, read in full before refused.
      const r = await alice.manager.encrypt(BOB, { body: "x" });
      messages.push(r.messages[0]!.encrypted);
      await alice.manager.deleteSession(BOB, bob.deviceId, ns);
    }
    const decrypt = async (encrypted: Element): Promise<{ code: unknown; agreements: number }> => {
      const stanza = wrapMessage(BOB, ns, encrypted);
      stanza.attrs["from"] = `${ALICE}/r0`;
      counter.reset();
      const code = await bob.manager.decrypt(stanza).then(
        () => "decrypted",
        (e: unknown) => (e as { code?: unknown }).code,
      );
      return { code, agreements: counter.agreements() };
    };
    return { bob, messages, decrypt };
  }

  it(`a stanza with 20 different keys for our device tries at most ${cap}, and changes nothing`, async () => {
    const { bob, messages, decrypt } = await setup(20);
    const one = await decrypt(messages[0]!);
    expect(one.code).toBe("UNTRUSTED_DEVICE");
    expect(one.agreements).toBeGreaterThan(0);
    const before = bob.store.snapshot();
    const many = await decrypt(withKeys(messages[0]!, messages.map(keyText)));
    expect(many.code).toBe("UNTRUSTED_DEVICE");
    expect(many.agreements).toBeGreaterThan(0);
    expect(many.agreements).toBeLessThanOrEqual(cap * one.agreements);
    expect(bob.store.snapshot()).toEqual(before);
  });

  it("identical copies of one key are tried once", async () => {
    const { messages, decrypt } = await setup(1);
    const one = await decrypt(messages[0]!);
    const copies = await decrypt(
      withKeys(
        messages[0]!,
        Array.from({ length: 50 }, () => keyText(messages[0]!)),
      ),
    );
    expect(copies).toEqual(one);
  });
});

describe("a second key for our device", () => {
  it("legacy: keys of other accounts' devices with our id (collisions) come first, ours is still read", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    const carol = await world.add(CAROL, { namespaces: [NS_LEGACY] });
    const dave = await world.add(DAVE, { namespaces: [NS_LEGACY] });
    const r = await alice.manager.encrypt([BOB, CAROL, DAVE], { body: "for the room" });
    const m = legacy.decodeEncryptedMessage(r.messages[0]!.encrypted);
    const keyOf = (rid: number) => m.keys.find((k) => k.rid === rid)!;
    // Carol's and Dave's devices had Bob's device id: their keys carry it, before Bob's.
    const collided = legacy.encodeEncryptedMessage({
      ...m,
      keys: [
        { ...keyOf(carol.deviceId), rid: bob.deviceId },
        { ...keyOf(dave.deviceId), rid: bob.deviceId },
        keyOf(bob.deviceId),
      ],
    });
    const stanza = wrapMessage(BOB, NS_LEGACY, collided);
    stanza.attrs["from"] = `${ALICE}/r0`;
    const result = await bob.manager.decrypt(stanza);
    expect(result.body).toBe("for the room");
  });

  it("OMEMO 2: only the first key for our JID and device is read", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    const r = await alice.manager.encrypt(BOB, { body: "once" });
    const encrypted = r.messages[0]!.encrypted;
    const junk = Buffer.from(new Uint8Array(48).fill(7)).toString("base64");
    const send = (e: Element) => {
      const stanza = wrapMessage(BOB, NS_V2, e);
      stanza.attrs["from"] = `${ALICE}/r0`;
      return bob.manager.decrypt(stanza);
    };
    await expect(send(withKeys(encrypted, [junk, keyText(encrypted)]))).rejects.toMatchObject({
      code: "DECRYPTION_FAILED",
    });
    expect((await send(withKeys(encrypted, [keyText(encrypted), junk]))).body).toBe("once");
  });
});

// ---------------------------------------------------------------- an <encrypted> in each namespace

describe("a stanza with an <encrypted> in each namespace", () => {
  /** Bob's phone speaks both (OMEMO 2 preferred), his laptop OMEMO 2 only; Alice prefers legacy. */
  async function setup() {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY, NS_V2] });
    const phone = await world.add(BOB);
    const laptop = await world.add(BOB, { namespaces: [NS_V2] });
    // One stanza with both: the phone's key in legacy (Alice's preference), the laptop's in OMEMO 2.
    const r = await alice.manager.encrypt(BOB, { body: "both" });
    const byNs = (ns: OmemoNamespace) => r.messages.find((m) => m.namespace === ns)!.encrypted;
    const stanza = wrapMessage(BOB, NS_V2, byNs(NS_V2));
    stanza.cnode(byNs(NS_LEGACY));
    stanza.attrs["from"] = `${ALICE}/r0`;
    return { phone, laptop, stanza };
  }

  it("falls back to the other namespace when the preferred one has no key for us", async () => {
    const { phone, stanza } = await setup();
    const result = await phone.manager.decrypt(stanza);
    expect(result.namespace).toBe(NS_LEGACY);
    expect(result.body).toBe("both");
  });

  it("reads the preferred namespace when it has a key for us; neither with a key is NO_KEY_FOR_US", async () => {
    const { laptop, stanza } = await setup();
    const result = await laptop.manager.decrypt(cloneElement(stanza));
    expect(result.namespace).toBe(NS_V2);
    expect(result.body).toBe("both");
    const world = new World();
    const stranger = await world.add(BOB);
    await expect(stranger.manager.decrypt(cloneElement(stanza))).rejects.toMatchObject({ code: "NO_KEY_FOR_US" });
  });
});
