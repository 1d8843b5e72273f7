// Bundle publications run outside the prekeys lock (manager.ts #publishBundle), so two of them can be
// on their way at once and land in either order. The server keeps the last one: when an older
// publication lands after a newer one, it puts a consumed one-time prekey back on the server, and the
// manager must publish the newest prekeys again. Here Bob's PEP publish is held by the test and
// released out of order, then in order.
import type { Element } from "ltx";
import { describe, expect, it } from "vitest";
import {
  legacy,
  MemoryOmemoStore,
  MemoryXmppNetwork,
  NS_LEGACY,
  NS_V2,
  SessionManager,
  v2,
  type MemoryClient,
  type OmemoNamespace,
  type OmemoTransport,
} from "../../src/index.js";
import { ALICE, BOB, CAROL } from "./world.js";

/** A bundle publication the server has not answered yet. */
interface HeldPublication {
  readonly payload: Element;
  /** Puts the item on the server now, then answers the manager's publish call. */
  land(): Promise<void>;
}

/**
 * An OmemoTransport whose bundle publications the test controls: while `holding`, each waits in
 * `held` until the test lands it. Everything else (device lists, fetches, sends) goes straight through.
 */
class ControllablePep {
  holding = false;
  readonly held: HeldPublication[] = [];
  /** Bundle payloads in the order they reached the server. */
  readonly landed: Element[] = [];
  readonly transport: OmemoTransport;

  constructor(inner: OmemoTransport) {
    const isBundle = (node: string): boolean =>
      node === v2.BUNDLES_NODE || legacy.deviceIdOfBundleNode(node) !== undefined;
    const land: OmemoTransport["publish"] = async (node, itemId, payload, options) => {
      await inner.publish(node, itemId, payload, options);
      this.landed.push(payload);
    };
    this.transport = {
      publish: (node, itemId, payload, options) => {
        if (!isBundle(node)) return inner.publish(node, itemId, payload, options);
        if (!this.holding) return land(node, itemId, payload, options);
        return new Promise<void>((resolve, reject) => {
          this.held.push({ payload, land: () => land(node, itemId, payload, options).then(resolve, reject) });
        });
      },
      fetch: (jid, node, itemId) => inner.fetch(jid, node, itemId),
      send: (to, message) => inner.send(to, message),
    };
  }
}

interface Account {
  readonly manager: SessionManager;
  readonly client: MemoryClient;
  readonly pep: ControllablePep;
}

async function account(network: MemoryXmppNetwork, jid: string, ns: OmemoNamespace): Promise<Account> {
  const client = network.connect(`${jid}/app`);
  const pep = new ControllablePep(client.transport);
  const manager = await SessionManager.create({
    jid,
    store: new MemoryOmemoStore(),
    transport: pep.transport,
    trust: { decide: () => "trusted" },
    namespaces: [ns],
  });
  // No message handler: the test takes messages from the queue and decrypts them itself.
  network.setHandlers(client, { pubsub: (from, node, items) => manager.handlePubsubEvent(from, node, items) });
  return { manager, client, pep };
}

/** Removes the queued messages for `client` from the network and returns them. */
function takeMessages(network: MemoryXmppNetwork, client: MemoryClient): Element[] {
  const out: Element[] = [];
  for (let i = 0; i < network.queue.length;) {
    const p = network.queue[i]!;
    if (p.to === client && p.kind === "message") {
      out.push(p.stanza);
      network.queue.splice(i, 1);
    } else i++;
  }
  return out;
}

/** Lets the in-memory work run until `condition` holds (or gives up and says what did not happen). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 0));
  if (!condition()) throw new Error(`did not happen: ${what}`);
}

describe.each([
  ["legacy", NS_LEGACY],
  ["OMEMO 2", NS_V2],
] as const)("XEP-0384 v0.8.3 §5.6 bundle publications landing out of order (%s)", (_label, ns) => {
  const codec = ns === NS_LEGACY ? legacy : v2;
  const preKeyIds = (payload: Element): number[] => codec.decodeBundle(payload).preKeys.map((k) => k.id);

  /**
   * Bob, with Alice and Carol each holding a key exchange built on a different one-time prekey of
   * his. Bob's decryptions then start two bundle publications, which the test holds.
   */
  async function twoKeyExchangesPublishing() {
    const network = new MemoryXmppNetwork();
    const bob = await account(network, BOB, ns);
    const alice = await account(network, ALICE, ns);
    const carol = await account(network, CAROL, ns);
    await network.flush();
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.manager.deviceId) : v2.BUNDLES_NODE;
    const itemId = ns === NS_LEGACY ? "current" : String(bob.manager.deviceId);
    const onServer = (): number[] => preKeyIds(network.fetch(BOB, node, itemId)![0]!);
    const real = codec.decodeBundle(network.fetch(BOB, node, itemId)![0]!);
    // Alice sees a bundle offering only the first prekey, Carol one offering only the second (prekeys
    // are not signed): their key exchanges consume two known, different prekeys.
    const [first, second] = real.preKeys;
    const messages: Element[] = [];
    for (const [sender, preKey] of [
      [alice, first!],
      [carol, second!],
    ] as const) {
      network.put(BOB, node, itemId, codec.encodeBundle({ ...real, preKeys: [preKey] }));
      await sender.manager.send(BOB, { body: `from ${sender.manager.jid}` }, { namespaces: [ns] });
      messages.push(...takeMessages(network, bob.client));
    }
    network.put(BOB, node, itemId, codec.encodeBundle(real));
    expect(messages).toHaveLength(2);
    const landedBefore = bob.pep.landed.length;

    bob.pep.holding = true;
    const fromAlice = bob.manager.decrypt(messages[0]!);
    await until(() => bob.pep.held.length === 1, "the publication after Alice's key exchange");
    const fromCarol = bob.manager.decrypt(messages[1]!);
    await until(() => bob.pep.held.length === 2, "the publication after Carol's key exchange");
    const [older, newer] = bob.pep.held as [HeldPublication, HeldPublication];
    // Whatever the manager publishes from now on reaches the server at once.
    bob.pep.holding = false;
    // The older publication was loaded after Alice's key exchange only: it still offers Carol's prekey.
    expect(preKeyIds(older.payload)).not.toContain(first!.id);
    expect(preKeyIds(older.payload)).toContain(second!.id);
    expect(preKeyIds(newer.payload)).not.toContain(first!.id);
    expect(preKeyIds(newer.payload)).not.toContain(second!.id);
    return { bob, older, newer, fromAlice, fromCarol, consumed: [first!.id, second!.id], onServer, landedBefore };
  }

  it("an older publication that lands after a newer one is followed by the newest again: no consumed prekey stays on the server", async () => {
    const s = await twoKeyExchangesPublishing();
    await s.newer.land();
    expect((await s.fromCarol).body).toBe(`from ${CAROL}`);
    await s.older.land();
    const a = await s.fromAlice;
    expect([a.body, a.keyExchange]).toEqual([`from ${ALICE}`, true]);
    const current = (await s.bob.manager.ownBundle(ns)).preKeys.map((k) => k.id);
    expect(current).not.toContain(s.consumed[0]);
    expect(current).not.toContain(s.consumed[1]);
    expect(s.onServer().filter((id) => s.consumed.includes(id))).toEqual([]);
    expect(s.onServer()).toEqual(current);
    // The stale bundle landed, then the newest was published once more after it.
    const landed = s.bob.pep.landed.slice(s.landedBefore);
    expect(landed).toHaveLength(3);
    expect(landed[1]).toBe(s.older.payload);
  });

  it("publications that land in order are not repeated", async () => {
    const s = await twoKeyExchangesPublishing();
    await s.older.land();
    expect((await s.fromAlice).body).toBe(`from ${ALICE}`);
    await s.newer.land();
    expect((await s.fromCarol).body).toBe(`from ${CAROL}`);
    const current = (await s.bob.manager.ownBundle(ns)).preKeys.map((k) => k.id);
    const landed = s.bob.pep.landed.slice(s.landedBefore);
    expect(landed).toHaveLength(2);
    expect(landed[0]).toBe(s.older.payload);
    expect(landed[1]).toBe(s.newer.payload);
    expect(s.onServer()).toEqual(current);
    expect(s.onServer().filter((id) => s.consumed.includes(id))).toEqual([]);
  });
});
