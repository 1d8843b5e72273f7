// The interop harness proved on its own, before our implementation takes part: libotr 4.1.1 talks to libotr
// (v3 and v2, two instances of one account) and to python-potr (v2) through interop/peers.ts. If these fail, the
// harness is wrong, not @parley/otr.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibotrPeer, Network, PeerProcess, PotrPeer, eventsOf, smpEvents, testKey } from "../interop/peers.js";
import { ake, conversation, deliver, endConversation, expectSecure, smp, smpResult } from "../interop/scenarios.js";
import { libotrAke, libotrDataOneWay, libotrPingPong, libotrSmp } from "../bench/libotr-peer.js";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";

describe("harness: libotr <-> libotr", () => {
  let proc: PeerProcess;
  beforeAll(() => {
    proc = PeerProcess.libotr();
  });
  afterAll(() => {
    proc.close();
  });

  /** alice and bob as two parties of one libotr process (bob is alice's sibling: alice.close() ends both). */
  async function pair() {
    const alice = await LibotrPeer.create({ account: ALICE, key: testKey("alice") });
    const bob = await alice.sibling({ account: BOB, key: testKey("bob") });
    return { alice, bob, net: new Network().add(alice, bob) };
  }

  it("reports its versions", async () => {
    const v = await proc.call<{ libotr: string; libgcrypt: string }>("version");
    expect(v.libotr).toBe("4.1.1");
  });

  it("v3: AKE started by either side, messages both ways, SMP, end", async () => {
    for (const aliceStarts of [true, false]) {
      const { alice, bob, net } = await pair();
      expect(alice.fingerprintHuman).toBe(testKey("alice").fingerprint);
      await ake(net, aliceStarts ? alice : bob, aliceStarts ? bob : alice, 3);
      const sa = await alice.state(BOB);
      expect(sa?.theirInstance).toBe(bob.instag);
      expect(sa?.ourInstance).toBe(alice.instag);
      await conversation(net, alice, bob);
      const ok = await smp(net, alice, bob, { initiator: "our secret", responder: "our secret" });
      expect(smpResult(ok.initiator)).toBe("success");
      expect(smpResult(ok.responder)).toBe("success");
      expect((await alice.state(BOB))?.trust).toBe("smp");
      expect((await bob.state(ALICE))?.trust).toBe("smp");
      await endConversation(net, aliceStarts ? bob : alice, aliceStarts ? alice : bob);
      alice.close(); // bob is a sibling in the same process
    }
  });

  it("v2 when one side allows only v2", async () => {
    const alice = await LibotrPeer.create({ account: ALICE, key: testKey("alice"), policy: { allowV3: false } });
    const bob = await alice.sibling({ account: BOB, key: testKey("bob") });
    const net = new Network().add(alice, bob);
    const start = await bob.startAke(ALICE);
    expect(start.query).toMatch(/^\?OTRv23\?/);
    net.post(BOB, start.outgoing);
    await net.flush();
    await expectSecure(alice, bob, 2);
    expect((await bob.state(ALICE))?.theirInstance).toBe(0);
    await conversation(net, alice, bob, 2);
    alice.close();
  });

  it("fragments: v3 and v2 messages over the size limit are split and reassembled", async () => {
    for (const v3 of [true, false]) {
      const alice = await LibotrPeer.create({
        account: ALICE,
        key: testKey("alice"),
        policy: { allowV3: v3 },
        maxMessageSize: 180,
      });
      const bob = await alice.sibling({ account: BOB, key: testKey("bob"), maxMessageSize: 180 });
      const net = new Network().add(alice, bob);
      await ake(net, alice, bob, v3 ? 3 : 2); // the AKE messages themselves are fragmented too
      const long = "x".repeat(700) + " the end";
      const wire = await deliver(net, alice, bob, long);
      expect(wire.length).toBeGreaterThan(3);
      const n = wire.length;
      wire.forEach((w, i) => {
        expect(w.length).toBeLessThanOrEqual(180);
        const k = String(i + 1).padStart(5, "0");
        const total = String(n).padStart(5, "0");
        if (v3) expect(w).toMatch(new RegExp(`^\\?OTR\\|[0-9a-f]{8}\\|[0-9a-f]{8},${k},${total},[^,]*,$`));
        else expect(w).toMatch(new RegExp(`^\\?OTR,${k},${total},[^,]*,$`));
      });
      await deliver(net, bob, alice, "short reply");
      await deliver(net, bob, alice, "y".repeat(400));
      alice.close();
    }
  });

  it("SMP: with a question, with different secrets (failure), and aborted", async () => {
    const { alice, bob, net } = await pair();
    await ake(net, alice, bob, 3);
    const q = await smp(net, bob, alice, { initiator: "blue", responder: "blue", question: "favourite colour?" });
    expect(q.question).toBe("favourite colour?");
    expect(smpResult(q.initiator)).toBe("success");
    expect(smpResult(q.responder)).toBe("success");
    // libotr marks the fingerprint verified only on the side that asked (the answerer learns nothing new).
    expect((await bob.state(ALICE))?.trust).toBe("smp");

    const bad = await smp(net, alice, bob, { initiator: "one", responder: "two" });
    expect(smpResult(bad.initiator)).toBe("failure");
    expect(smpResult(bad.responder)).toBe("failure");
    expect((await alice.state(BOB))?.trust).toBe("");

    const start = await alice.smpStart(BOB, "never finished");
    net.post(ALICE, start.outgoing);
    const asked = await net.flush();
    expect(smpEvents(asked, bob)).toEqual(["ask_for_secret"]);
    const abort = await bob.smpAbort(ALICE);
    net.post(BOB, abort.outgoing);
    const aborted = await net.flush();
    expect(smpEvents(aborted, alice)).toEqual(["abort"]);
    // Still usable afterwards.
    const again = await smp(net, alice, bob, { initiator: "again", responder: "again" });
    expect(smpResult(again.initiator)).toBe("success");
    alice.close();
  });

  it("clock: a heartbeat only after 60 s without sending", async () => {
    const { alice, bob, net } = await pair();
    await ake(net, alice, bob, 3);
    await deliver(net, alice, bob, "no heartbeat for this one");
    expect(eventsOf(net.log, "msg_event").filter((e) => e.event === "log_heartbeat_sent")).toEqual([]);
    await bob.clock(61);
    const sent = await alice.send(BOB, "bob has not sent anything for 61 s");
    net.post(ALICE, sent.outgoing);
    const done = await net.flush();
    expect(eventsOf(done, "msg_event", bob).map((e) => e.event)).toContain("log_heartbeat_sent");
    expect(eventsOf(done, "msg_event", alice).map((e) => e.event)).toContain("log_heartbeat_rcvd");
    alice.close();
  });

  it("two instances of one account (instance tags): each has its own session", async () => {
    const bob = await LibotrPeer.create({ account: BOB, key: testKey("bob"), instag: 0x0b0b0b0b });
    const alice1 = await bob.sibling({ account: ALICE, key: testKey("alice"), instag: 0x0a0a0001 });
    const alice2 = await bob.sibling({ account: ALICE, key: testKey("carol"), instag: 0x0a0a0002 });
    const net = new Network().add(bob, alice1, alice2);
    // Bob's query reaches both instances; both answer, and bob ends up with two private sessions.
    const start = await bob.startAke(ALICE);
    net.post(BOB, start.outgoing);
    const done = await net.flush();
    expect(
      eventsOf(done, "gone_secure", bob)
        .map((e) => e.instance)
        .sort(),
    ).toEqual([0x0a0a0001, 0x0a0a0002]);
    const children = (await bob.contexts()).filter((c) => !c.master && c.msgstate === "encrypted");
    expect(children.map((c) => c.theirInstance).sort()).toEqual([0x0a0a0001, 0x0a0a0002]);
    expect(new Set(children.map((c) => c.sessionId)).size).toBe(2);
    // A message to one instance is read by it alone; the other drops it as meant for someone else.
    for (const [target, other] of [
      [alice1, alice2],
      [alice2, alice1],
    ] as const) {
      const sent = await bob.send(ALICE, `for ${target.instag.toString(16)} only`, { instance: target.instag });
      expect(sent.instance).toBe(target.instag);
      net.post(BOB, sent.outgoing);
      const got = await net.flush();
      expect(got.filter((d) => d.to === target).map((d) => d.result.delivered)).toEqual([
        `for ${target.instag.toString(16)} only`,
      ]);
      expect(got.filter((d) => d.to === other).map((d) => d.result.delivered)).toEqual([null]);
      expect(eventsOf(got, "msg_event", other).map((e) => e.event)).toContain("rcvdmsg_for_other_instance");
    }
    // Each instance's replies come from its own context.
    for (const a of [alice1, alice2]) {
      const reply = await a.send(BOB, "reply");
      net.post(ALICE, reply.outgoing);
      const got = await net.flush();
      expect(got.map((d) => d.result.delivered)).toEqual(["reply"]);
    }
    bob.close();
  });
});

describe("harness: the libotr bench loops (bench/libotr-peer.ts) run the protocol they claim to time", () => {
  it.each([3, 2] as const)("v%i: AKE, one-way data, ping-pong, SMP", async (version) => {
    // Message counts, not times: 5 messages per AKE (query, D-H Commit, D-H Key, Reveal Signature, Signature);
    // every data message decrypted by the other side (the harness fails the op otherwise); 4 per SMP run.
    const a = await libotrAke({ n: 2, version });
    expect([a.n, a.deliveries, a.version, a.libotr]).toEqual([2, 10, version, "4.1.1"]);
    const d = await libotrDataOneWay({ n: 5, size: 300, version });
    expect([d.n, d.deliveries, d.size]).toEqual([5, 5, 300]);
    const p = await libotrPingPong({ n: 6, version });
    expect([p.n, p.deliveries]).toEqual([6, 6]);
    const s = await libotrSmp({ n: 1, version });
    expect([s.n, s.deliveries]).toEqual([1, 4]);
    for (const r of [a, d, p, s]) expect(r.usPerOp).toBeGreaterThan(0);
  });
});

describe("harness: libotr <-> python-potr (v2)", () => {
  let lib: LibotrPeer;
  let py: PotrPeer;
  afterAll(() => {
    lib.close();
    py.close();
  });

  it("reports its versions", async () => {
    py = await PotrPeer.create({ account: BOB, key: testKey("bob") });
    const v = await py.process.call<{ potr: string; pycryptodome: string }>("version");
    expect(v.pycryptodome).toBe("3.11.0");
    expect(py.fingerprintHuman).toBe(testKey("bob").fingerprint);
    await py.remove();
  });

  async function pair(options: { mms?: number } = {}) {
    lib = await LibotrPeer.create({
      account: ALICE,
      key: testKey("alice"),
      ...(options.mms ? { maxMessageSize: options.mms } : {}),
    });
    py = await PotrPeer.create({
      account: BOB,
      key: testKey("bob"),
      ...(options.mms ? { maxMessageSize: options.mms } : {}),
    });
    return { lib, py, net: new Network().add(lib, py) };
  }
  function close() {
    lib.close();
    py.close();
  }

  it("AKE started by either side, messages both ways, end from either side", async () => {
    for (const libStarts of [true, false]) {
      const { lib, py, net } = await pair();
      await ake(net, libStarts ? lib : py, libStarts ? py : lib, 2);
      await conversation(net, lib, py);
      await endConversation(net, libStarts ? py : lib, libStarts ? lib : py);
      close();
    }
  });

  it("fragments both ways (v2 fragment format)", async () => {
    const { lib, py, net } = await pair({ mms: 200 });
    await ake(net, py, lib, 2);
    for (const [from, to] of [
      [lib, py],
      [py, lib],
    ] as const) {
      const wire = await deliver(net, from, to, `${"z".repeat(900)} from ${from.account}`);
      expect(wire.length).toBeGreaterThan(4);
      for (const w of wire) expect(w).toMatch(/^\?OTR,\d+,\d+,[^,]*,$/);
    }
    close();
  });

  it("SMP both ways: success, with a question, failure, abort", async () => {
    const { lib, py, net } = await pair();
    await ake(net, lib, py, 2);

    const a = await smp(net, lib, py, { initiator: "shared", responder: "shared" });
    expect(smpResult(a.initiator)).toBe("success");
    expect(smpResult(a.responder)).toBe("success");
    expect((await py.state(ALICE))?.trust).toBe("smp");
    expect((await lib.state(BOB))?.trust).toBe("smp");

    const b = await smp(net, py, lib, { initiator: "shared", responder: "shared", question: "where did we meet?" });
    expect(b.question).toBe("where did we meet?");
    expect(smpResult(b.initiator)).toBe("success");
    expect(smpResult(b.responder)).toBe("success");

    // libotr initiates, potr's secret differs: potr (answering SMP3) sees the failure and, unlike libotr,
    // aborts instead of sending SMP4, so libotr ends with "abort".
    const c = await smp(net, lib, py, { initiator: "right", responder: "wrong" });
    expect(smpResult(c.responder)).toBe("failure");
    expect(smpResult(c.initiator)).toBe("abort");
    expect((await py.state(ALICE))?.trust).toBe("");

    // potr initiates, libotr's secret differs: libotr sends SMP4 and both see the failure; potr then sends an
    // abort on top, which libotr reports too.
    const d = await smp(net, py, lib, { initiator: "right", responder: "wrong" });
    expect(smpResult(d.initiator)).toBe("failure");
    expect(smpResult(d.responder)).toBe("failure");
    expect(d.responder.at(-1)).toBe("abort");

    const start = await py.smpStart(ALICE, "unanswered");
    net.post(BOB, start.outgoing);
    await net.flush();
    const abort = await lib.smpAbort(BOB);
    net.post(ALICE, abort.outgoing);
    expect(smpEvents(await net.flush(), py)).toEqual(["abort"]);

    await deliver(net, py, lib, "still private after all that");
    close();
  });
});
