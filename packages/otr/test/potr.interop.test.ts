// @parley/otr against python-potr 1.0.2 (Debian python3-potr; OTR v2 only, the library of Gajim's old OTR
// plugin and other Python clients), through interop/potr_peer.py with its pycryptodome 3.11 shim. AKE started by
// either side, data messages both ways, v2 fragments, SMP (success, question, failure, abort), session end.
import { afterEach, describe, expect, it } from "vitest";
import { Network, PotrPeer, eventsOf, smpEvents, testKey } from "../interop/peers.js";
import { OursPeer } from "../interop/ours.js";
import { ake, conversation, deliver, endConversation, smp, smpResult } from "../interop/scenarios.js";

const US = "us@example.org";
const PY = "potr@example.net";

const open: PotrPeer[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

async function potr(options: { mms?: number } = {}) {
  const p = await PotrPeer.create({
    account: PY,
    key: testKey("bob"),
    ...(options.mms ? { maxMessageSize: options.mms } : {}),
  });
  open.push(p);
  return p;
}

function ours(options: { mms?: number; engine?: "native" | "bigint" } = {}) {
  return new OursPeer({
    account: US,
    key: testKey("alice"),
    instanceTag: 0x5ec0_0001,
    ...(options.mms ? { maxFragmentSize: options.mms } : {}),
    ...(options.engine ? { engine: options.engine } : {}),
  });
}

describe("@parley/otr <-> python-potr (OTR v2)", () => {
  it("the keys: potr computes the same fingerprints as libotr and we do", async () => {
    const py = await potr();
    const us = ours();
    expect(py.fingerprintHuman).toBe(testKey("bob").fingerprint);
    expect(us.fingerprintHuman).toBe(testKey("alice").fingerprint);
  });

  it("AKE started by us (we offer v2 and v3, potr answers v2), messages both ways, end by us", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, us, py, 2);
    await conversation(net, us, py, 4);
    await endConversation(net, us, py);
  });

  it("AKE started by potr, messages both ways, end by potr, then a new AKE", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, py, us, 2);
    await conversation(net, py, us, 4);
    await endConversation(net, py, us);
    await ake(net, us, py, 2);
    await deliver(net, py, us, "private again");
  });

  it("fragments both ways (v2 format ?OTR,k,n,piece,)", async () => {
    const py = await potr({ mms: 140 });
    const us = ours({ mms: 140 });
    const net = new Network().add(us, py);
    await ake(net, py, us, 2);
    expect(net.log.some((d) => d.message.startsWith("?OTR,"))).toBe(true);
    for (const [from, to] of [
      [us, py],
      [py, us],
    ] as const) {
      const wire = await deliver(net, from, to, `${"long message ".repeat(50)}from ${from.account}`);
      expect(wire.length).toBeGreaterThan(4);
      wire.forEach((w, i) => {
        expect(w.length).toBeLessThanOrEqual(140);
        expect(w).toMatch(new RegExp(`^\\?OTR,0*${i + 1},0*${wire.length},[^,]*,$`));
      });
    }
  });

  it("SMP: started by us (verified), by potr with a question, by us with a question (verified)", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, us, py, 2);
    const a = await smp(net, us, py, { initiator: "potr secret", responder: "potr secret" });
    expect(smpResult(a.initiator)).toBe("success");
    expect(smpResult(a.responder)).toBe("success");
    expect((await py.state(US))?.trust).toBe("smp");
    const b = await smp(net, py, us, { initiator: "ja", responder: "ja", question: "Sind wir's? ✓" });
    expect(b.question).toBe("Sind wir's? ✓");
    expect(smpResult(b.initiator)).toBe("success");
    expect(smpResult(b.responder)).toBe("success");
    const c = await smp(net, us, py, { initiator: "frage", responder: "frage", question: "Und du?" });
    expect(c.question).toBe("Und du?");
    expect(smpResult(c.initiator)).toBe("success");
    expect(smpResult(c.responder)).toBe("success");
    await deliver(net, us, py, "after SMP");
  });

  it("SMP with different secrets fails, either side starting", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, py, us, 2);
    // potr answers SMP3 with an abort instead of SMP4 when the secrets differ: we learn nothing more than
    // "not verified" (aborted), potr reports the failure.
    const a = await smp(net, us, py, { initiator: "one", responder: "two" });
    expect(smpResult(a.responder)).toBe("failure");
    expect(smpResult(a.initiator)).toBe("abort");
    expect((await py.state(US))?.trust).toBe("");
    // potr starts: we answer SMP3 with SMP4 and both sides see the failure (potr then also sends an abort).
    const b = await smp(net, py, us, { initiator: "one", responder: "two", question: "number?" });
    expect(smpResult(b.initiator)).toBe("failure");
    expect(smpResult(b.responder)).toBe("failure");
    expect(us.rawLog.filter((e) => e.type === "smp-result" && e.result === "verified")).toEqual([]);
    const c = await smp(net, us, py, { initiator: "equal", responder: "equal" });
    expect(smpResult(c.initiator)).toBe("success");
  });

  it("SMP aborted by either side", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, us, py, 2);
    const start = await py.smpStart(US, "x");
    net.post(PY, start.outgoing);
    expect(smpEvents(await net.flush(), us)).toEqual(["ask_for_secret"]);
    const abort = await us.smpAbort(PY);
    net.post(US, abort.outgoing);
    expect(smpEvents(await net.flush(), py)).toEqual(["abort"]);
    const mine = await us.smpStart(PY, "y");
    net.post(US, mine.outgoing);
    expect(smpEvents(await net.flush(), py)).toEqual(["ask_for_secret"]);
    const abort2 = await py.smpAbort(US);
    net.post(PY, abort2.outgoing);
    expect(smpEvents(await net.flush(), us)).toEqual(["abort"]);
    const ok = await smp(net, py, us, { initiator: "z", responder: "z" });
    expect(smpResult(ok.initiator)).toBe("success");
  });

  it("heartbeat: potr's empty message after 60 s is not shown; the session goes on", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, us, py, 2);
    await py.clock(61);
    const sent = await us.send(PY, "anyone there?");
    net.post(US, sent.outgoing);
    const done = await net.flush();
    expect(done.filter((d) => d.to === us).map((d) => d.result.delivered)).toEqual([null]);
    expect(eventsOf(done, "msg_event", us).map((e) => e.event)).toEqual(["log_heartbeat_rcvd"]);
    await deliver(net, us, py, "yes");
  });

  it("heartbeat: ours after 60 s is taken by potr without showing anything", async () => {
    const py = await potr();
    const us = ours();
    const net = new Network().add(us, py);
    await ake(net, py, us, 2);
    await deliver(net, us, py, "recent");
    await us.clock(61);
    const sent = await py.send(US, "hello after a minute");
    net.post(PY, sent.outgoing);
    const done = await net.flush();
    expect(done.map((d) => [d.to.account, d.result.delivered])).toEqual([
      [US, "hello after a minute"],
      [PY, null],
    ]);
    await deliver(net, py, us, "and on");
  });

  it("the BigInt engine (browsers) interoperates too", async () => {
    const py = await potr();
    const us = ours({ engine: "bigint" });
    const net = new Network().add(us, py);
    await ake(net, py, us, 2);
    await conversation(net, us, py, 2);
    const r = await smp(net, py, us, { initiator: "b", responder: "b" });
    expect(smpResult(r.responder)).toBe("success");
  });
});
