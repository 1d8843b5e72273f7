// Regression tests for the security review of 2026-12-02 (findings M1-M4, L1-L8; the reviewer's own tests are in
// review.test.ts): the behaviour each fix guarantees.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DsaPublicKey } from "../src/dsa.js";
import { createNativeEngine, randomBits } from "../src/engine.js";
import { isInSubgroup, jacobi, MODP_P, MODP_Q } from "../src/group.js";
import { OtrConversation, OtrSession } from "../src/index.js";
import { armor, encodeDhKey } from "../src/wire.js";
import { ALICE_KEY, BOB_KEY, errors, pair, pump, texts } from "./helpers.js";

const e = createNativeEngine()!;
const p = MODP_P;

describe("M1: the subgroup check (Jacobi symbol)", () => {
  it("jacobi(v, p) = 1 exactly when v^q = 1 mod p, for random v and for ±g^a", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: p - 1n }), fc.boolean(), (v, negate) => {
        const w = negate ? p - v : v;
        const byPow = e.modPow(w, MODP_Q, p) === 1n;
        expect(isInSubgroup(w)).toBe(byPow);
        expect(jacobi(w, p)).toBe(byPow ? 1 : -1);
      }),
      { numRuns: 40 },
    );
    for (let i = 0; i < 5; i++) {
      const ga = e.modPow(2n, randomBits(e.randomBytes, 1536), p);
      expect(isInSubgroup(ga)).toBe(true);
      expect(isInSubgroup(p - ga)).toBe(false); // -1 is a non-residue: p = 3 mod 4
    }
    expect(isInSubgroup(2n)).toBe(true); // p = 7 mod 8
    expect(isInSubgroup(0n)).toBe(false);
    expect(isInSubgroup(p)).toBe(false);
  });

  it("jacobi agrees with the definition on small odd moduli (composites included)", () => {
    const legendre = (a: bigint, q: bigint): number => {
      const r = ((a % q) + q) % q;
      if (r === 0n) return 0;
      for (let x = 1n; x < q; x++) if ((x * x) % q === r) return 1;
      return -1;
    };
    const factor = (n: bigint): bigint[] => {
      const out: bigint[] = [];
      for (let d = 3n; n > 1n; d += 2n)
        while (n % d === 0n) {
          out.push(d);
          n /= d;
        }
      return out;
    };
    for (let n = 3n; n < 60n; n += 2n)
      for (let a = -5n; a < 70n; a++) {
        const expected = factor(n).reduce((acc, q) => acc * legendre(a, q), 1);
        expect(jacobi(a, n), `(${a}/${n})`).toBe(expected || 0); // -0 from the product: 0
      }
  });
});

/** Bob logged in twice; Alice holds one conversation (policy from `policy`) with both. */
function twoBobs(policy: { requireEncryption?: boolean } = {}) {
  const alice = new OtrConversation({
    account: "alice@x",
    contact: "bob@y",
    privateKey: ALICE_KEY,
    heartbeatIntervalMs: 0,
    policy,
  });
  const mk = () =>
    new OtrSession({ account: "bob@y", contact: "alice@x", privateKey: BOB_KEY, heartbeatIntervalMs: 0 });
  return { alice, bob1: mk(), bob2: mk() };
}

/** The server relays every message from Alice to all of Bob's clients; returns what each Bob read. */
function settle(alice: OtrConversation, bobs: OtrSession[], fromAlice: string[]) {
  const toBobs = [...fromAlice];
  const toAlice: string[] = [];
  const read = new Map<OtrSession, string[]>(bobs.map((b) => [b, []]));
  const aliceEvents: ReturnType<OtrConversation["receive"]>["events"][number][] = [];
  for (let guard = 0; (toBobs.length || toAlice.length) && guard < 300; guard++) {
    const m = toBobs.shift();
    if (m !== undefined)
      for (const b of bobs) {
        const r = b.receive(m);
        read.get(b)!.push(...texts(r.events));
        toAlice.push(...r.replies);
      }
    const n = toAlice.shift();
    if (n !== undefined) {
      const r = alice.receive(n);
      aliceEvents.push(...r.events);
      toBobs.push(...r.replies);
    }
  }
  return { read, aliceEvents };
}

describe("M2: conversation forks are fresh sessions", () => {
  it("texts queued under requireEncryption go out once, through the first instance that becomes encrypted", () => {
    const { alice, bob1, bob2 } = twoBobs({ requireEncryption: true });
    const query = alice.send("the secret plan");
    expect(alice.master.queuedTexts).toEqual(["the secret plan"]);
    const { read } = settle(alice, [bob1, bob2], query);
    expect(bob1.messageState).toBe("encrypted");
    expect(bob2.messageState).toBe("encrypted");
    const delivered = [...read.values()].flat().filter((t) => t === "the secret plan");
    expect(delivered).toHaveLength(1);
    expect(alice.master.queuedTexts).toEqual([]);
  });

  it("a fork shares no keys with the master: an instance's first message decrypts only at that instance", () => {
    const { alice, bob1, bob2 } = twoBobs();
    settle(alice, [bob1, bob2], alice.startAke());
    const s1 = alice.session(bob1.ourInstanceTag)!;
    const s2 = alice.session(bob2.ourInstanceTag)!;
    expect(s1.ssid!.bytes).not.toEqual(s2.ssid!.bytes);
    expect(alice.master.messageState).toBe("plaintext");
  });
});

describe("M3: plaintext judged on the current instance", () => {
  it("a whitespace-tagged plaintext while the current instance is encrypted warns and starts no AKE", () => {
    const { alice, bob1 } = twoBobs();
    settle(alice, [bob1], alice.startAke());
    expect(alice.current.messageState).toBe("encrypted");
    const plain = new OtrSession({
      account: "bob@y",
      contact: "alice@x",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
      policy: { sendWhitespaceTag: true },
    });
    const tagged = plain.send("hello"); // whitespace-tagged
    expect(tagged[0]).not.toBe("hello");
    const r = alice.receive(tagged[0]!);
    const msg = r.events.find((ev) => ev.type === "message");
    expect(msg && msg.type === "message" ? [msg.text, msg.warning] : undefined).toEqual(["hello", "unencrypted"]);
    expect(r.replies).toEqual([]);
    expect(alice.master.authState).toBe("none");
  });

  it("plaintext while every instance is in plaintext carries no warning (default policy)", () => {
    const { alice } = twoBobs();
    const r = alice.receive("hi there");
    const msg = r.events.find((ev) => ev.type === "message");
    expect(msg && msg.type === "message" ? msg.warning : "none").toBeUndefined();
  });
});

describe("L3: a rejected D-H Key does not adopt the master's AKE", () => {
  it("a D-H Key with g^y = 1 answering the master's D-H Commit leaves the instance's session as it was", () => {
    const { alice, bob1 } = twoBobs();
    settle(alice, [bob1], alice.startAke());
    const child = alice.session(bob1.ourInstanceTag)!;
    expect(child.authState).toBe("none");
    const generation = child.generation;
    alice.master.sendDhCommit(3);
    expect(alice.master.authState).toBe("awaiting-dhkey");
    for (const senderTag of [bob1.ourInstanceTag, 0x4d4d4d4d]) {
      const bad = armor(encodeDhKey({ version: 3, senderTag, receiverTag: alice.ourInstanceTag }, 1n));
      const r = alice.receive(bad);
      expect(errors(r.events)).toEqual(["INVALID_GROUP_ELEMENT"]);
      expect(r.replies).toEqual([]);
    }
    expect(child.authState).toBe("none");
    expect(child.generation).toBe(generation);
    expect(alice.session(0x4d4d4d4d)).toBeUndefined();
  });
});

describe("L4: end() abandons the AKE and the queued texts", () => {
  it("after end(), an AKE in flight does not complete and queued texts are dropped", () => {
    const { alice, bob } = pair({ policy: { requireEncryption: true } });
    expect(alice.send("queued")).toEqual(["?OTRv23?"]);
    const commit = alice.sendDhCommit(3);
    expect(alice.authState).toBe("awaiting-dhkey");
    expect(alice.queuedTexts).toEqual(["queued"]);
    alice.end();
    expect(alice.authState).toBe("none");
    expect(alice.queuedTexts).toEqual([]);
    const d = pump(bob, alice, bob.receive(commit[0]!).replies);
    expect(alice.messageState).toBe("plaintext");
    expect(bob.messageState).toBe("plaintext");
    expect(d.flatMap((x) => texts(x.events))).toEqual([]);
  });
});

describe("L8: DSA verify never throws", () => {
  it("a composite q (s not invertible) makes verify return false", () => {
    const key = new DsaPublicKey(p, 15n, 2n, 4n);
    const sig = new Uint8Array(40);
    sig[19] = 1; // r = 1
    sig[39] = 3; // s = 3, gcd(3, 15) = 3
    expect(key.verify(new Uint8Array(32), sig, e)).toBe(false);
  });
});
