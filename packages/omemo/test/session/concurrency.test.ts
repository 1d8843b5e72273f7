// One lock per peer address (load, encrypt or decrypt, save) and one per namespace's prekeys;
// compare-and-swap on the stored revision against other writers of the same store (docs/
// ARCHITECTURE.md "Single-use sessions"). Many concurrent calls: no corruption, no lost update, no
// message key used twice.
import { inspectMessage, legacyOmemo, omemo2 } from "@parley/double-ratchet";
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  legacy,
  MemoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  SessionManager,
  v2,
  type OmemoKeyValue,
  type OmemoNamespace,
  type OmemoStore,
  type OmemoStoreTransaction,
} from "../../src/index.js";
import { ALICE, BOB, World } from "./world.js";

function keyData(encrypted: import("ltx").Element, ns: OmemoNamespace): string[] {
  if (ns === NS_LEGACY)
    return legacy.decodeEncryptedMessage(encrypted).keys.map((k) => Buffer.from(k.data).toString("hex"));
  return v2
    .decodeEncryptedMessage(encrypted)
    .keys.flatMap((g) => g.keys.map((k) => Buffer.from(k.data).toString("hex")));
}

describe.each([NS_LEGACY, NS_V2] as const)("%s: concurrent calls", (ns) => {
  it("50 concurrent encrypts to one device: 50 distinct ratchet messages, all decrypt once, the session counts 50", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(alice, BOB, "start");
    await world.network.flush();
    const before = (await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => alice.manager.encrypt(BOB, { body: `c${i}` })),
    );
    const after = (await alice.manager.sessionInfo(BOB, bob.deviceId, ns))!;
    expect(after.generation - before.generation).toBe(50);
    expect(after.revision - before.revision).toBe(50);
    const data = results.flatMap((r) => keyData(r.messages[0]!.encrypted, ns));
    expect(new Set(data).size).toBe(50);
    // Bob decrypts them all concurrently, in reverse order.
    const stanzas = results.map((r) => {
      const s = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
      s.cnode(r.messages[0]!.encrypted);
      return s;
    });
    const got = await Promise.all([...stanzas].reverse().map((s) => bob.manager.decrypt(s)));
    expect(new Set(got.map((g) => g.body))).toEqual(new Set(Array.from({ length: 50 }, (_, i) => `c${i}`)));
    // The same stanza twice at once: exactly one read, one DUPLICATE_MESSAGE.
    const extra = await alice.manager.encrypt(BOB, { body: "twice" });
    const s = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
    s.cnode(extra.messages[0]!.encrypted);
    const twice = await Promise.allSettled([bob.manager.decrypt(s), bob.manager.decrypt(parseXml(serializeXml(s)))]);
    expect(twice.filter((t) => t.status === "fulfilled")).toHaveLength(1);
    const rejected = twice.find((t) => t.status === "rejected");
    expect(isOmemoError(rejected?.reason, "DUPLICATE_MESSAGE")).toBe(true);
  });

  it("encrypts and decrypts on one session at once, both ways, lose nothing", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [ns] });
    const bob = await world.add(BOB, { namespaces: [ns] });
    await world.send(alice, BOB, "start");
    await world.network.flush();
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      work.push(world.send(alice, BOB, `a${i}`), world.send(bob, ALICE, `b${i}`), world.network.deliver());
    }
    await Promise.all(work);
    await world.network.flush();
    expect(new Set(bob.texts())).toEqual(new Set(["start", ...Array.from({ length: 20 }, (_, i) => `a${i}`)]));
    expect(new Set(alice.texts())).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `b${i}`)));
    expect(bob.texts()).toHaveLength(21);
    expect(alice.texts()).toHaveLength(20);
  });

  it("12 first messages from 12 accounts at once: each one-time prekey consumed exactly once, fresh ids, the last bundle current", async () => {
    const world = new World();
    const bob = await world.add(BOB, { namespaces: [ns] });
    const senders = await Promise.all(
      Array.from({ length: 12 }, (_, i) => world.add(`s${i}@example.com`, { namespaces: [ns] })),
    );
    await world.network.flush();
    const before = (await bob.manager.ownBundle(ns)).preKeys.map((k) => k.id);
    for (const s of senders) await world.send(s, BOB, `from ${s.jid}`);
    const toBob = world.network.queue.splice(0).filter((p) => p.to === bob.client);
    // All senders fetched the same bundle: two may have picked the same prekey (the race of v0.8.3 §6,
    // which the later one loses). Which prekey each used is in its key exchange.
    const profile = ns === NS_LEGACY ? legacyOmemo : omemo2;
    const used = toBob.map((p) => {
      const key = keyData(p.stanza.getChild("encrypted", ns)!, ns)[0]!;
      return inspectMessage(profile, Buffer.from(key, "hex"), "keyExchange").keyExchange!.oneTimePreKeyId!;
    });
    const settled = await Promise.allSettled(toBob.map((p) => bob.manager.decrypt(p.stanza)));
    const distinct = new Set(used);
    expect(settled.filter((x) => x.status === "fulfilled")).toHaveLength(distinct.size);
    for (const x of settled) {
      if (x.status === "rejected") expect(isOmemoError(x.reason, "KEY_EXCHANGE_FAILED")).toBe(true);
    }
    const after = (await bob.manager.ownBundle(ns)).preKeys.map((k) => k.id);
    expect(after).toHaveLength(100);
    expect(new Set(before.filter((id) => !after.includes(id)))).toEqual(distinct);
    const fresh = after.filter((id) => !before.includes(id));
    expect(fresh).toHaveLength(distinct.size);
    expect(Math.min(...fresh)).toBeGreaterThan(Math.max(...before));
    // The last published bundle is the current one.
    const node = ns === NS_LEGACY ? legacy.bundleNode(bob.deviceId) : v2.BUNDLES_NODE;
    const last = [...bob.published].reverse().find((p) => p.node === node)!;
    const published = ns === NS_LEGACY ? legacy.decodeBundle(last.payload) : v2.decodeBundle(last.payload);
    expect(published.preKeys.map((k) => k.id)).toEqual(after);
  });
});

/** A store whose session reads wait until `n` of them have arrived: two tabs that load the same record. */
function gated(store: OmemoStore, n: number, prefix = "session/"): OmemoStore & { arm(): void } {
  let waiting: Array<() => void> = [];
  let armed = false;
  const gate = async (key: string): Promise<void> => {
    if (!armed || !key.startsWith(prefix)) return;
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === n) {
        armed = false;
        for (const w of waiting) w();
        waiting = [];
      }
    });
  };
  const wrap = (kv: OmemoKeyValue): OmemoKeyValue => ({
    get: async (key) => {
      await gate(key);
      return kv.get(key);
    },
    put: (key, value) => kv.put(key, value),
    delete: (key) => kv.delete(key),
    scan: (options) => kv.scan(options),
  });
  return {
    arm: () => {
      armed = true;
    },
    namespace: (name) => wrap(store.namespace(name)),
    transaction: (body) => store.transaction((tx: OmemoStoreTransaction) => body(tx)),
  };
}

describe("compare-and-swap across managers sharing one store (two tabs)", () => {
  it("two tabs encrypt on the same session at once: one wins, the other gets CONCURRENT_UPDATE and no message", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "start");
    await world.network.flush();
    const shared = gated(alice.store, 2);
    const tab = (): Promise<SessionManager> =>
      SessionManager.create({
        jid: ALICE,
        store: shared,
        transport: alice.transport,
        trust: { decide: () => "trusted" },
        namespaces: [NS_V2],
      });
    const [tab1, tab2] = [await tab(), await tab()];
    expect(tab1.deviceId).toBe(alice.deviceId);
    const before = (await tab1.sessionInfo(BOB, bob.deviceId, NS_V2))!;
    shared.arm();
    const [r1, r2] = await Promise.all([tab1.encrypt(BOB, { body: "tab 1" }), tab2.encrypt(BOB, { body: "tab 2" })]);
    const outcomes = [r1, r2].map((r) => r.devices.find((d) => d.deviceId === bob.deviceId)!);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["encrypted", "failed"]);
    const lost = outcomes.find((o) => o.status === "failed")!;
    expect(isOmemoError(lost.error, "CONCURRENT_UPDATE")).toBe(true);
    const winner = [r1, r2].find((r) => r.messages.length === 1)!;
    expect([r1, r2].filter((r) => r.messages.length === 1)).toHaveLength(1);
    const after = (await tab1.sessionInfo(BOB, bob.deviceId, NS_V2))!;
    expect(after.revision).toBe(before.revision + 1);
    const s = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
    s.cnode(winner.messages[0]!.encrypted);
    expect((await bob.manager.decrypt(s)).body).toMatch(/^tab [12]$/);
    // Retrying the loser now works and reads fine.
    const retry = await tab2.encrypt(BOB, { body: "tab 2 again" });
    const s2 = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
    s2.cnode(retry.messages[0]!.encrypted);
    expect((await bob.manager.decrypt(s2)).body).toBe("tab 2 again");
  });

  it("two tabs decrypt the same message at once: one reads it, the other fails with nothing stored twice", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_LEGACY] });
    const bob = await world.add(BOB, { namespaces: [NS_LEGACY] });
    await world.send(alice, BOB, "start");
    await world.network.flush();
    await world.send(alice, BOB, "raced");
    const stanza = world.network.queue.splice(0).find((p) => p.to === bob.client)!.stanza;
    const shared = gated(bob.store, 2);
    const tab = (): Promise<SessionManager> =>
      SessionManager.create({
        jid: BOB,
        store: shared,
        transport: bob.transport,
        trust: { decide: () => "trusted" },
        namespaces: [NS_LEGACY],
      });
    const [tab1, tab2] = [await tab(), await tab()];
    shared.arm();
    const settled = await Promise.allSettled([
      tab1.decrypt(parseXml(serializeXml(stanza))),
      tab2.decrypt(parseXml(serializeXml(stanza))),
    ]);
    expect(settled.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const failed = settled.find((x) => x.status === "rejected")!;
    expect(isOmemoError(failed.reason, "CONCURRENT_UPDATE")).toBe(true);
    // Read once: a third attempt is a duplicate.
    const third = await tab1.decrypt(parseXml(serializeXml(stanza))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(third, "DUPLICATE_MESSAGE")).toBe(true);
  });

  it("two tabs accept key exchanges from two senders at once: one wins, no consumed prekey comes back", async () => {
    const world = new World();
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const carol = await world.add("carol@example.com", { namespaces: [NS_V2] });
    await world.send(alice, BOB, "from alice");
    await world.send(carol, BOB, "from carol");
    const stanzas = world.network.queue
      .splice(0)
      .filter((p) => p.to === bob.client)
      .map((p) => p.stanza);
    const before = (await bob.manager.ownBundle(NS_V2)).preKeys.map((k) => k.id);
    const shared = gated(bob.store, 2, "prekeys/");
    const tab = (): Promise<SessionManager> =>
      SessionManager.create({
        jid: BOB,
        store: shared,
        transport: bob.transport,
        trust: { decide: () => "trusted" },
        namespaces: [NS_V2],
      });
    const [tab1, tab2] = [await tab(), await tab()];
    shared.arm();
    const settled = await Promise.allSettled([tab1.decrypt(stanzas[0]!), tab2.decrypt(stanzas[1]!)]);
    expect(settled.filter((x) => x.status === "fulfilled")).toHaveLength(1);
    const failed = settled.find((x) => x.status === "rejected");
    expect(isOmemoError(failed?.reason, "CONCURRENT_UPDATE")).toBe(true);
    const after = (await tab1.ownBundle(NS_V2)).preKeys.map((k) => k.id);
    expect(before.filter((id) => !after.includes(id))).toHaveLength(1);
    // The loser's message still decrypts on a retry, consuming its own prekey.
    const loser = settled[0].status === "rejected" ? 0 : 1;
    expect((await tab1.decrypt(stanzas[loser]!)).newSession).toBe(true);
    const last = (await tab1.ownBundle(NS_V2)).preKeys.map((k) => k.id);
    expect(before.filter((id) => !last.includes(id))).toHaveLength(2);
    expect(last).toHaveLength(100);
  });

  it("the in-memory store applies a transaction's writes together or not at all", async () => {
    const store = new MemoryOmemoStore();
    const kv = store.namespace("x");
    await kv.put("a", Uint8Array.of(1));
    await store
      .transaction(async (tx) => {
        await tx.namespace("x").put("a", Uint8Array.of(2));
        await tx.namespace("x").put("b", Uint8Array.of(3));
        expect(await tx.namespace("x").get("a")).toEqual(Uint8Array.of(2));
        throw new Error("abort");
      })
      .catch(() => undefined);
    expect(await kv.get("a")).toEqual(Uint8Array.of(1));
    expect(await kv.get("b")).toBeUndefined();
    await store.transaction(async (tx) => {
      await tx.namespace("x").put("b", Uint8Array.of(3));
      await tx.namespace("x").delete("a");
    });
    expect((await kv.scan()).map((e) => e.key)).toEqual(["b"]);
  });
  it("a tab that loaded a session before another deleted and rebuilt it cannot store its stale successor (no ABA on the revision)", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "start");
    const first = (await alice.manager.sessionInfo(BOB, bob.deviceId, NS_V2))!;
    await world.network.flush();
    const stale = (await alice.manager.sessionInfo(BOB, bob.deviceId, NS_V2))!;
    const writes = stale.revision - first.revision + 1;
    expect(writes).toBeGreaterThan(1);
    // Tab 1 reads the session record now and gets it back only when released.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let loaded!: (value: Uint8Array | undefined) => void;
    const read = new Promise<Uint8Array | undefined>((resolve) => (loaded = resolve));
    let hold = false;
    const slow: OmemoStore = {
      namespace: (name) => {
        const kv = alice.store.namespace(name);
        return {
          get: async (key) => {
            const value = await kv.get(key);
            if (hold && key.startsWith("session/")) {
              hold = false;
              loaded(value);
              await held;
            }
            return value;
          },
          put: (key, value) => kv.put(key, value),
          delete: (key) => kv.delete(key),
          scan: (options) => kv.scan(options),
        };
      },
      transaction: (body) => alice.store.transaction(body),
    };
    const tab1 = await SessionManager.create({
      jid: ALICE,
      store: slow,
      transport: alice.transport,
      trust: { decide: () => "trusted" },
      namespaces: [NS_V2],
    });
    hold = true;
    const pending = tab1.encrypt(BOB, { body: "from a stale copy" });
    // Tab 1 holds the stale record (with its revision) before the other tab touches it.
    expect(await read).toBeDefined();
    // Meanwhile the other tab deletes the session and writes a new one as often as the old one was
    // written: with revisions restarting at 1 the new record would carry the stale copy's revision.
    await alice.manager.deleteSession(BOB, bob.deviceId, NS_V2);
    const fresh: string[] = [];
    for (let i = 0; i < writes; i++) {
      const r = await alice.manager.encrypt(BOB, { body: `new ${i}` });
      fresh.push(serializeXml(r.messages[0]!.encrypted));
    }
    const rebuilt = (await alice.manager.sessionInfo(BOB, bob.deviceId, NS_V2))!;
    release();
    const outcome = (await pending).devices.find((d) => d.deviceId === bob.deviceId)!;
    expect(outcome.status).toBe("failed");
    expect(isOmemoError(outcome.status === "failed" ? outcome.error : undefined, "CONCURRENT_UPDATE")).toBe(true);
    // The rebuilt session is the one stored, and Bob reads the messages sent in it.
    expect(await alice.manager.sessionInfo(BOB, bob.deviceId, NS_V2)).toEqual(rebuilt);
    for (const [i, xml] of fresh.entries()) {
      const s = parseXml(`<message from='${ALICE}/x' to='${BOB}'/>`);
      s.cnode(parseXml(xml));
      expect((await bob.manager.decrypt(s)).body).toBe(`new ${i}`);
    }
  });
});
