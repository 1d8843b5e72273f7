// Reassembly of fragmented messages (spec, "Receiving Fragments"): fragment 1 starts a message, fragment K+1 of
// the same count is appended, anything else forgets what was stored. A lost or reordered fragment loses its own
// message only. And what fragments carry must come from the instance their header names.
import { describe, expect, it } from "vitest";
import { OtrSession } from "../src/index.js";
import { BOB_KEY, encryptedPair, errors, strayDhCommit, texts } from "./helpers.js";

/** Delivers each message's fragments to `to`; returns the texts read, the error codes and the replies. */
function receiveAll(to: OtrSession, fragments: readonly string[]) {
  const results = fragments.map((f) => to.receive(f));
  const events = results.flatMap((r) => r.events);
  return { texts: texts(events), errors: errors(events), replies: results.flatMap((r) => r.replies) };
}

describe("fragment reassembly (spec algorithm)", () => {
  // 300 characters of text make a data message of three 340-character fragments.
  const messages = (alice: OtrSession) => ["A", "B", "C", "D"].map((t) => alice.send(t.repeat(300)));

  it("the first fragment of a message lost: that message only is lost, the next ones (same count) arrive", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a, ...rest] = messages(alice);
    for (const m of rest) expect(m.length).toBe(a!.length);
    expect(a!.length).toBe(3);
    expect(receiveAll(bob, a!.slice(1))).toEqual({ texts: [], errors: [], replies: [] });
    expect(bob.reassembling).toBe(false); // fragments 2 and 3 without 1 are not kept
    for (const [i, m] of rest.entries()) {
      expect(receiveAll(bob, m)).toEqual({ texts: ["BCD"[i]!.repeat(300)], errors: [], replies: [] });
    }
  });

  it("a fragment out of order loses the partial message only, silently; the next message arrives", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a, b] = messages(alice);
    expect(receiveAll(bob, [a![0]!, a![2]!, a![1]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(bob.reassembling).toBe(false);
    expect(receiveAll(bob, b!)).toEqual({ texts: ["B".repeat(300)], errors: [], replies: [] });
  });

  it("a message's middle fragment lost: the next message's first fragment starts over and it arrives", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a, b, c] = messages(alice);
    expect(receiveAll(bob, [a![0]!, a![2]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(receiveAll(bob, [b![0]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(bob.reassembling).toBe(true);
    expect(receiveAll(bob, b!.slice(1))).toEqual({ texts: ["B".repeat(300)], errors: [], replies: [] });
    // A message whose last fragment is lost is forgotten when the next one starts.
    expect(receiveAll(bob, c!.slice(0, 2))).toEqual({ texts: [], errors: [], replies: [] });
    expect(receiveAll(bob, alice.send("E".repeat(300)))).toEqual({ texts: ["E".repeat(300)], errors: [], replies: [] });
  });

  it("a fragment duplicated in transit forgets the partial message (no mixing of pieces)", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a, b] = messages(alice);
    expect(receiveAll(bob, [a![0]!, a![1]!, a![1]!, a![2]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(receiveAll(bob, b!)).toEqual({ texts: ["B".repeat(300)], errors: [], replies: [] });
  });

  it("a fragment of another count, or of another sender instance, forgets the stored fragments", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a] = messages(alice);
    const longer = alice.send("L".repeat(600));
    expect(longer.length).toBeGreaterThan(3);
    bob.receive(a![0]!);
    expect(bob.reassembling).toBe(true);
    expect(receiveAll(bob, [longer[1]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(bob.reassembling).toBe(false);
  });

  it("a state saved mid-reassembly by the earlier any-order algorithm: a buffer with gaps is forgotten", () => {
    const { alice, bob } = encryptedPair({ maxFragmentSize: 340 });
    const [a, b] = messages(alice);
    bob.receive(a![0]!);
    const options = { account: "bob@example.net", contact: "alice@example.org", privateKey: BOB_KEY };
    // The earlier version stored pieces by number: [null, piece 2, null] with count 1.
    const saved = JSON.parse(bob.exportState()) as { s: { fragments: { pieces: (string | null)[] } } };
    const piece2 = /,([^,]+),$/.exec(a![1]!)![1]!;
    saved.s.fragments.pieces = [null, piece2, null];
    const restored = OtrSession.restore(JSON.stringify(saved), { ...options, heartbeatIntervalMs: 0 });
    // Fragment 2 would be "the next one" after a count of 1, but the stored pieces are not fragment 1.
    expect(receiveAll(restored, [a![1]!])).toEqual({ texts: [], errors: [], replies: [] });
    expect(restored.reassembling).toBe(false);
    expect(receiveAll(restored, b!)).toEqual({ texts: ["B".repeat(300)], errors: [], replies: [] });
  });
});

describe("what fragments carry", () => {
  const tagHex = (t: number) => t.toString(16).padStart(8, "0");
  const split = (inner: string, sender: number) => {
    const h = inner.length >> 1;
    return [
      `?OTR|${tagHex(sender)}|00000000,00001,00002,${inner.slice(0, h)},`,
      `?OTR|${tagHex(sender)}|00000000,00002,00002,${inner.slice(h)},`,
    ];
  };

  it("v3 fragments from instance T carrying a message from instance U: WRONG_INSTANCE, state unchanged", () => {
    const bob = new OtrSession({ account: "b", contact: "a", privateKey: BOB_KEY, heartbeatIntervalMs: 0 });
    const [f1, f2] = split(strayDhCommit(0x5555), 0x7777);
    expect(errors(bob.receive(f1!).events)).toEqual([]);
    const before = bob.exportState();
    const r = bob.receive(f2!);
    expect(errors(r.events)).toEqual(["WRONG_INSTANCE"]);
    expect(r.replies).toEqual([]);
    expect(bob.exportState()).toBe(before);
    expect(bob.theirInstanceTag).toBe(0);
    // The same message in fragments that name its own sender is answered (a D-H Key).
    const [g1, g2] = split(strayDhCommit(0x7777), 0x7777);
    bob.receive(g1!);
    expect(bob.receive(g2!).replies.length).toBe(1);
    expect(bob.theirInstanceTag).toBe(0x7777);
  });

  it("v3 fragments carrying plaintext or a Query are MALFORMED_MESSAGE, state unchanged", () => {
    const bob = new OtrSession({ account: "b", contact: "a", privateKey: BOB_KEY, heartbeatIntervalMs: 0 });
    for (const inner of ["hello in the clear", "?OTRv3?"]) {
      const [f1, f2] = split(inner, 0x7777);
      bob.receive(f1!);
      const before = bob.exportState();
      const r = bob.receive(f2!);
      expect(errors(r.events)).toEqual(["MALFORMED_MESSAGE"]);
      expect([r.replies, texts(r.events)]).toEqual([[], []]);
      expect(bob.exportState()).toBe(before);
    }
  });
});
