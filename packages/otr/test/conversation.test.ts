import { describe, expect, it } from "vitest";
import { MAX_INSTANCES } from "../src/consts.js";
import { OtrConversation, OtrSession } from "../src/index.js";
import { ALICE_KEY, BOB_KEY, errors, strayDhCommit, texts } from "./helpers.js";

/** Bob logged in twice (two instance tags); Alice holds one conversation with both. */
function setup() {
  const alice = new OtrConversation({
    account: "alice@x",
    contact: "bob@y",
    privateKey: ALICE_KEY,
    heartbeatIntervalMs: 0,
  });
  const bob1 = new OtrSession({ account: "bob@y", contact: "alice@x", privateKey: BOB_KEY, heartbeatIntervalMs: 0 });
  const bob2 = new OtrSession({ account: "bob@y", contact: "alice@x", privateKey: BOB_KEY, heartbeatIntervalMs: 0 });
  return { alice, bob1, bob2 };
}

/** The server relays every message from Alice to both of Bob's clients. */
function settle(
  alice: OtrConversation,
  bobs: OtrSession[],
  fromAlice: string[],
  fromBobs: [OtrSession, string][] = [],
) {
  const toBobs = [...fromAlice];
  const toAlice = [...fromBobs];
  const log = {
    alice: [] as ReturnType<OtrConversation["receive"]>[],
    bobs: new Map<OtrSession, ReturnType<OtrSession["receive"]>[]>(),
  };
  for (let guard = 0; (toBobs.length || toAlice.length) && guard < 200; guard++) {
    const m = toBobs.shift();
    if (m !== undefined)
      for (const b of bobs) {
        const r = b.receive(m);
        log.bobs.set(b, [...(log.bobs.get(b) ?? []), r]);
        for (const reply of r.replies) toAlice.push([b, reply]);
      }
    const n = toAlice.shift();
    if (n !== undefined) {
      const r = alice.receive(n[1]);
      log.alice.push(r);
      toBobs.push(...r.replies);
    }
  }
  return log;
}

describe("two instances of one account (instance tags)", () => {
  it("a query answered by both of Bob's clients gives Alice one encrypted session per instance", () => {
    const { alice, bob1, bob2 } = setup();
    settle(alice, [bob1, bob2], alice.startAke());
    expect(bob1.messageState).toBe("encrypted");
    expect(bob2.messageState).toBe("encrypted");
    expect(alice.instances.sort()).toEqual([bob1.ourInstanceTag, bob2.ourInstanceTag].sort());
    expect(alice.session(bob1.ourInstanceTag)!.messageState).toBe("encrypted");
    expect(alice.session(bob2.ourInstanceTag)!.messageState).toBe("encrypted");
    expect(bob1.theirInstanceTag).toBe(alice.ourInstanceTag);
  });

  it("a message to one instance is read by that instance only; the other reports WRONG_INSTANCE", () => {
    const { alice, bob1, bob2 } = setup();
    settle(alice, [bob1, bob2], alice.startAke());
    const wire = alice.send("for bob1 only", bob1.ourInstanceTag);
    const r1 = bob1.receive(wire[0]!);
    const r2 = bob2.receive(wire[0]!);
    expect(texts(r1.events)).toEqual(["for bob1 only"]);
    expect(texts(r2.events)).toEqual([]);
    expect(errors(r2.events)).toEqual(["WRONG_INSTANCE"]);
    expect(r2.replies).toEqual([]);
  });

  it("replies from each instance are routed to their own session", () => {
    const { alice, bob1, bob2 } = setup();
    settle(alice, [bob1, bob2], alice.startAke());
    const a = alice.receive(bob1.send("from 1")[0]!);
    const b = alice.receive(bob2.send("from 2")[0]!);
    expect([a.instanceTag, texts(a.events)]).toEqual([bob1.ourInstanceTag, ["from 1"]]);
    expect([b.instanceTag, texts(b.events)]).toEqual([bob2.ourInstanceTag, ["from 2"]]);
    // Default send goes to the instance that most recently became encrypted.
    const current = alice.current;
    expect([bob1.ourInstanceTag, bob2.ourInstanceTag]).toContain(current.theirInstanceTag);
  });

  it("after the contact ends, send() goes to the finished instance and refuses instead of sending in the clear", () => {
    const { alice, bob1 } = setup();
    settle(alice, [bob1], alice.startAke());
    settle(
      alice,
      [bob1],
      [],
      bob1.end().map((m) => [bob1, m] as [OtrSession, string]),
    );
    expect(alice.session(bob1.ourInstanceTag)!.messageState).toBe("finished");
    expect(() => alice.send("oops")).toThrow(/ended/);
  });

  it("an instance answering the master's D-H Commit with a D-H Key refreshes its existing session", () => {
    const { alice, bob1 } = setup();
    settle(alice, [bob1], alice.startAke());
    const before = alice.session(bob1.ourInstanceTag)!.ssid!.bytes;
    // Bob's query reaches Alice's master session, whose D-H Commit (receiver tag 0) Bob's instance answers.
    const log = settle(
      alice,
      [bob1],
      [],
      bob1.startAke().map((m) => [bob1, m] as [OtrSession, string]),
    );
    const child = alice.session(bob1.ourInstanceTag)!;
    expect(child.messageState).toBe("encrypted");
    expect(child.ssid!.bytes).not.toEqual(before);
    expect(child.ssid!.bytes).toEqual(bob1.ssid!.bytes);
    expect(log.alice.flatMap((r) => r.events)).toContainEqual(
      expect.objectContaining({ type: "state", reason: "refresh" }),
    );
  });

  it("a fragmented D-H Commit from an instance we do not know yet is reassembled", () => {
    const alice = new OtrConversation({
      account: "alice@x",
      contact: "bob@y",
      privateKey: ALICE_KEY,
      heartbeatIntervalMs: 0,
    });
    const bob = new OtrSession({
      account: "bob@y",
      contact: "alice@x",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
      maxFragmentSize: 80,
    });
    const commit = bob.sendDhCommit(3);
    expect(commit.length).toBeGreaterThan(1);
    settle(
      alice,
      [bob],
      [],
      commit.map((m) => [bob, m] as [OtrSession, string]),
    );
    expect(bob.messageState).toBe("encrypted");
    expect(alice.session(bob.ourInstanceTag)!.messageState).toBe("encrypted");
  });

  it("fragments under made-up instance tags cannot lock out a real instance", async () => {
    const { MAX_INSTANCES } = await import("../src/consts.js");
    const { alice, bob1 } = setup();
    for (let i = 0; i < MAX_INSTANCES + 5; i++) {
      const r = alice.receive(`?OTR|${(0x1000 + i).toString(16)}|0,1,2,?OTR:AAMC,`);
      expect(errors(r.events)).toEqual([]);
    }
    settle(
      alice,
      [bob1],
      [],
      bob1.sendDhCommit(3).map((m) => [bob1, m] as [OtrSession, string]),
    );
    expect(alice.session(bob1.ourInstanceTag)!.messageState).toBe("encrypted");
    expect(alice.instances.length).toBeLessThanOrEqual(MAX_INSTANCES);
  });

  it("plaintext and v2 go to the master session", () => {
    const { alice } = setup();
    const r = alice.receive("hello in the clear");
    expect(r.instanceTag).toBe(0);
    expect(texts(r.events)).toEqual(["hello in the clear"]);
    expect(alice.master.messageState).toBe("plaintext");
  });
});

describe("the instance table under made-up instance tags", () => {
  const tagHex = (t: number) => t.toString(16).padStart(8, "0");

  it("fragments naming instance T that carry a message from U are refused: T's session stays free for T", () => {
    const { alice, bob1 } = setup();
    const T = bob1.ourInstanceTag;
    const inner = strayDhCommit(0x5555);
    const h = inner.length >> 1;
    expect(errors(alice.receive(`?OTR|${tagHex(T)}|00000000,00001,00002,${inner.slice(0, h)},`).events)).toEqual([]);
    const r = alice.receive(`?OTR|${tagHex(T)}|00000000,00002,00002,${inner.slice(h)},`);
    expect(errors(r.events)).toEqual(["WRONG_INSTANCE"]);
    expect(r.replies).toEqual([]);
    expect(alice.session(T)?.theirInstanceTag ?? 0).toBe(0);
    expect(alice.session(0x5555)).toBeUndefined();
    // Bob's real instance T still gets through.
    settle(
      alice,
      [bob1],
      [],
      bob1.sendDhCommit(3).map((m) => [bob1, m] as [OtrSession, string]),
    );
    expect(alice.session(T)!.messageState).toBe("encrypted");
    expect(bob1.messageState).toBe("encrypted");
  });

  it("D-H Commits under made-up instance tags cannot lock out a real instance (least recently used goes)", () => {
    const { alice, bob1 } = setup();
    for (let i = 0; i < MAX_INSTANCES; i++) alice.receive(strayDhCommit(0x1000 + i));
    expect(alice.instances.length).toBe(MAX_INSTANCES);
    // 0x1000 is used again, so 0x1001 is now the least recently used.
    alice.receive(strayDhCommit(0x1000));
    settle(
      alice,
      [bob1],
      [],
      bob1.sendDhCommit(3).map((m) => [bob1, m] as [OtrSession, string]),
    );
    expect(alice.session(bob1.ourInstanceTag)!.messageState).toBe("encrypted");
    expect(alice.instances.length).toBe(MAX_INSTANCES);
    expect(alice.session(0x1000)).toBeDefined();
    expect(alice.session(0x1001)).toBeUndefined();
  });

  it("encrypted instances are never evicted: with every instance encrypted, a new one is refused", () => {
    const alice = new OtrConversation({
      account: "alice@x",
      contact: "bob@y",
      privateKey: ALICE_KEY,
      heartbeatIntervalMs: 0,
    });
    const bobs = Array.from(
      { length: MAX_INSTANCES },
      () => new OtrSession({ account: "bob@y", contact: "alice@x", privateKey: BOB_KEY, heartbeatIntervalMs: 0 }),
    );
    for (const bob of bobs)
      settle(
        alice,
        [bob],
        [],
        bob.sendDhCommit(3).map((m) => [bob, m] as [OtrSession, string]),
      );
    expect(alice.instances.length).toBe(MAX_INSTANCES);
    const r = alice.receive(strayDhCommit(0x4242));
    expect(errors(r.events)).toEqual(["WRONG_INSTANCE"]);
    expect(r.replies).toEqual([]);
    expect(alice.session(0x4242)).toBeUndefined();
    for (const bob of bobs) expect(alice.session(bob.ourInstanceTag)!.messageState).toBe("encrypted");
    // The contact ends one instance: finished sessions are kept too (sending to them must fail, not go out
    // in the clear).
    settle(
      alice,
      [bobs[0]!],
      [],
      bobs[0]!.end().map((m) => [bobs[0]!, m] as [OtrSession, string]),
    );
    expect(errors(alice.receive(strayDhCommit(0x4243)).events)).toEqual(["WRONG_INSTANCE"]);
    expect(alice.session(bobs[0]!.ourInstanceTag)!.messageState).toBe("finished");
  });
});
