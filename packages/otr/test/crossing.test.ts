// Both sides start OTR at once. With instance tags, a conversation's master sends a D-H Commit to every instance
// while the instance's own session answers the contact's D-H Commit: two AKEs cross. The spec's collision rule
// (the larger hash of g^x wins) must settle it on both sides alike, within a bounded number of messages, whatever
// the interleaving of the two directions (each delivered in order, as IM networks do); and a pair left stuck by
// lost messages must recover when either side starts again.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MODP_P } from "../src/group.js";
import { OtrConversation, OtrSession } from "../src/index.js";
import { armor, encodeDhKey } from "../src/wire.js";
import { ALICE_KEY, BOB_KEY, commitHash, errors } from "./helpers.js";

type Endpoint = OtrConversation | OtrSession;

const conversation = (account: string) =>
  new OtrConversation({
    account,
    contact: account === "alice" ? "bob" : "alice",
    privateKey: account === "alice" ? ALICE_KEY : BOB_KEY,
    heartbeatIntervalMs: 0,
  });
const session = (account: string, instanceTag?: number) =>
  new OtrSession({
    account,
    contact: account === "alice" ? "bob" : "alice",
    privateKey: account === "alice" ? ALICE_KEY : BOB_KEY,
    heartbeatIntervalMs: 0,
    ...(instanceTag === undefined ? {} : { instanceTag }),
  });
const current = (e: Endpoint): OtrSession => (e instanceof OtrConversation ? e.current : e);

/** Two directions, each in order. */
class Link {
  readonly toA: string[] = [];
  readonly toB: string[] = [];
  /** Every message delivered, with its direction. */
  readonly log: { toA: boolean; message: string }[] = [];
  delivered = 0;
  constructor(
    readonly a: Endpoint,
    readonly b: Endpoint,
  ) {}
  /** Delivers until both directions are empty; `toA(i)` picks the direction of the i-th delivery when both wait. */
  run(toA: (i: number) => boolean = (i) => i % 2 === 0, limit = 60) {
    for (let i = 0; this.toA.length > 0 || this.toB.length > 0; i++) {
      if (++this.delivered > limit) throw new Error(`still busy after ${limit} messages`);
      const a = this.toA.length > 0 && (this.toB.length === 0 || toA(i));
      const message = (a ? this.toA : this.toB).shift()!;
      this.log.push({ toA: a, message });
      const r = (a ? this.a : this.b).receive(message);
      expect(errors(r.events)).toEqual([]);
      (a ? this.toB : this.toA).push(...r.replies);
    }
  }
  /** Whether the first D-H Commit Alice sent hashes larger than Bob's first (which one the collision rule keeps). */
  aliceCommitWins(): boolean {
    const first = (toA: boolean) => this.log.find((d) => d.toA === toA && d.message.startsWith("?OTR:AAMC"))!.message;
    return commitHash(first(false)) > commitHash(first(true));
  }
}

/** Both ends encrypted with each other, one session id, and a message reads both ways. */
function expectOneSession(a: Endpoint, b: Endpoint): void {
  const sa = current(a);
  const sb = current(b);
  expect([sa.messageState, sb.messageState]).toEqual(["encrypted", "encrypted"]);
  expect(sa.ssid!.bytes).toEqual(sb.ssid!.bytes);
  const read = (from: OtrSession, to: Endpoint, text: string) =>
    from.send(text).flatMap((m) => to.receive(m).events.flatMap((e) => (e.type === "message" ? [e.text] : [])));
  expect(read(sa, b, "from a")).toEqual(["from a"]);
  expect(read(sb, a, "from b")).toEqual(["from b"]);
}

describe("both sides start OTR at once", () => {
  it("crossing Query messages between two conversations end in one encrypted session (either hash order)", () => {
    const orders = new Set<boolean>();
    for (let i = 0; i < 40 && orders.size < 2; i++) {
      const alice = conversation("alice");
      const bob = conversation("bob");
      const link = new Link(alice, bob);
      link.toB.push(...alice.startAke());
      link.toA.push(...bob.startAke());
      link.run((n) => n % 2 === 0, 16);
      expectOneSession(alice, bob);
      orders.add(link.aliceCommitWins());
    }
    expect(orders.size).toBe(2);
  });

  it("a conversation and a plain session sending D-H Commits at once end in one encrypted session", () => {
    const orders = new Set<boolean>();
    for (let i = 0; i < 40 && orders.size < 2; i++) {
      const alice = conversation("alice");
      const bob = session("bob");
      const link = new Link(alice, bob);
      link.toB.push(...alice.master.sendDhCommit(3));
      link.toA.push(...bob.sendDhCommit(3));
      link.run((n) => n % 2 === 0, 16);
      expectOneSession(alice, bob);
      orders.add(link.aliceCommitWins());
    }
    expect(orders.size).toBe(2);
  });

  it("any interleaving of the two directions, either side starting first or both at once, ends in one session", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat({ max: 8 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        (bobIsConversation, bobStartsAt, picks) => {
          const alice = conversation("alice");
          const bob = bobIsConversation ? conversation("bob") : session("bob");
          const link = new Link(alice, bob);
          link.toB.push(...alice.startAke());
          play(link, new Map([[bobStartsAt, [bob]]]), picks, 40);
          expectOneSession(alice, bob);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/**
 * Delivers `link`'s messages one at a time (`picks` choose the direction when both wait), the endpoints in
 * `starts` starting OTR at those steps; `drops` (if any) lose messages. At most `limit` deliveries.
 */
function play(
  link: Link,
  starts: ReadonlyMap<number, readonly Endpoint[]>,
  picks: readonly boolean[],
  limit: number,
  drops: readonly boolean[] = [],
): void {
  const last = Math.max(0, ...starts.keys());
  for (let step = 0; step <= last || link.toA.length > 0 || link.toB.length > 0; step++) {
    expect(step).toBeLessThan(limit);
    for (const who of starts.get(step) ?? []) (who === link.a ? link.toB : link.toA).push(...who.startAke());
    if (link.toA.length === 0 && link.toB.length === 0) continue;
    const toA = link.toA.length > 0 && (link.toB.length === 0 || picks[step % picks.length]!);
    const message = (toA ? link.toA : link.toB).shift()!;
    if (drops.length > 0 && drops[step % drops.length]) continue;
    const r = (toA ? link.a : link.b).receive(message);
    // Restarts while an AKE is in flight can leave AKE messages for keys already replaced: those are refused
    // (typed errors), which is why the stuck pairs below need one more start.
    if (drops.length === 0 && starts.size <= 1) expect(errors(r.events)).toEqual([]);
    (toA ? link.toB : link.toA).push(...r.replies);
  }
}

describe("a pair left stuck by lost messages", () => {
  it("recovers when the plain session starts again, whichever D-H Commit hashes larger", () => {
    // Bob's D-H Commit is answered by Alice's instance session (AWAITING_REVEALSIG); Bob's Reveal Signature is lost.
    // Bob's new Query makes Alice's master send a D-H Commit; Bob answers it. Alice's instance session must not
    // keep waiting for the lost Reveal Signature (the contact restarted): the master's new D-H Commit is the AKE.
    let masterLost = false;
    for (let i = 0; i < 40 && !masterLost; i++) {
      const alice = conversation("alice");
      const bob = session("bob");
      const commit = bob.sendDhCommit(3);
      const dhKey = alice.receive(commit[0]!).replies;
      expect(bob.receive(dhKey[0]!).replies.length).toBe(1); // the Reveal Signature, lost
      const masterCommit = alice.receive(bob.startAke()[0]!).replies;
      expect(masterCommit.length).toBe(1);
      // The case the hash comparison alone would leave stuck: Alice's master's D-H Commit loses.
      masterLost = commitHash(masterCommit[0]!) < commitHash(commit[0]!);
      const link = new Link(alice, bob);
      link.toB.push(...masterCommit);
      link.run(undefined, 12);
      expectOneSession(alice, bob);
    }
    expect(masterLost).toBe(true);
  });

  it("lost AKE messages, or a start again while the AKE is in flight, then one more start: one session", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.option(fc.nat({ max: 8 }), { nil: undefined }),
        fc.option(fc.record({ at: fc.nat({ max: 12 }), alice: fc.boolean() }), { nil: undefined }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 32 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 32 }),
        fc.boolean(),
        (bobIsConversation, bobStartsAt, again, picks, drops, aliceRetries) => {
          const alice = conversation("alice");
          const bob = bobIsConversation ? conversation("bob") : session("bob");
          const link = new Link(alice, bob);
          const starts = new Map<number, Endpoint[]>([[0, [alice]]]);
          const at = (step: number, who: Endpoint) => starts.set(step, [...(starts.get(step) ?? []), who]);
          if (bobStartsAt !== undefined) at(bobStartsAt, bob);
          if (again) at(again.at, again.alice ? alice : bob);
          // About one message in five is lost.
          play(
            link,
            starts,
            picks,
            60,
            drops.map((d) => d === 0),
          );
          // Quiet now, maybe stuck: one side starts again, nothing is lost.
          play(link, new Map([[0, [aliceRetries ? alice : bob]]]), picks, 30);
          expectOneSession(alice, bob);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("crossing with a peer that takes its master's AKE over anyway (libotr)", () => {
  it("an instance that took the master's AKE over still accepts the peer's Reveal Signature", () => {
    // libotr's instance context copies its master's AKE on any D-H Key unless it is in AWAITING_DHKEY, so after a
    // crossing it sends a Reveal Signature even when our D-H Commit won. Bob's instance T is played by two plain
    // sessions with the same instance tag: bobMaster (its D-H Commit) and bobChild (answering Alice's).
    for (let i = 0; i < 40; i++) {
      const alice = conversation("alice");
      const T = 0x7000_0001;
      const bobMaster = session("bob", T);
      const bobChild = session("bob", T);
      const aliceCommit = alice.receive("?OTRv3?").replies;
      const bobCommit = bobMaster.sendDhCommit(3);
      if (commitHash(aliceCommit[0]!) < commitHash(bobCommit[0]!)) continue; // need Alice's commit to win
      const aliceDhKey = alice.receive(bobCommit[0]!).replies; // Alice's instance session: AWAITING_REVEALSIG
      const bobDhKey = bobChild.receive(aliceCommit[0]!).replies;
      const aliceReveal = alice.receive(bobDhKey[0]!).replies; // Alice's commit wins: she takes the master's over
      expect(aliceReveal.length).toBe(1);
      expect(alice.session(T)!.authState).toBe("awaiting-sig");
      const bobReveal = bobMaster.receive(aliceDhKey[0]!).replies; // libotr's side sends its Reveal Signature
      const before = alice.session(T)!.exportState();
      const aliceSig = alice.receive(bobReveal[0]!);
      expect(errors(aliceSig.events)).toEqual([]);
      expect(alice.session(T)!.exportState()).not.toBe(before);
      expect(alice.session(T)!.messageState).toBe("encrypted");
      bobMaster.receive(aliceSig.replies[0]!);
      expectOneSession(alice, bobMaster);
      return;
    }
    throw new Error("Alice's D-H Commit never won");
  });

  it("a D-H Key with g^y out of range at a crossing is refused and leaves the instance unchanged", () => {
    const alice = conversation("alice");
    const bob = session("bob");
    alice.receive("?OTRv3?");
    alice.receive(bob.sendDhCommit(3)[0]!);
    const child = alice.session(bob.ourInstanceTag)!;
    expect(child.authState).toBe("awaiting-revealsig");
    const before = child.exportState();
    for (const gy of [1n, MODP_P - 1n]) {
      const r = alice.receive(
        armor(encodeDhKey({ version: 3, senderTag: bob.ourInstanceTag, receiverTag: alice.ourInstanceTag }, gy)),
      );
      expect(errors(r.events)).toEqual(["INVALID_GROUP_ELEMENT"]);
      expect(r.replies).toEqual([]);
      expect(child.exportState()).toBe(before);
    }
  });
});
