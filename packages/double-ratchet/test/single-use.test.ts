// Sessions are single-use (README "Sessions are single-use"): in memory an operation spends the
// value it was given; across persistence a store compares and swaps on `generation`. Either way no
// message key leaves twice and no message decrypts twice.
import { createCrypto } from "@parley/crypto";
import fc from "fast-check";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  decrypt,
  deserializeSession,
  encrypt,
  isDoubleRatchetError,
  responderSessionFromAgreement,
  Session,
  serializeSession,
  withLimits,
  type RatchetProfile,
} from "../src/index.js";
import { stateOf } from "../src/state.js";
import { InMemorySessionStore } from "../examples/persist-before-send.js";
import {
  ALL_PROFILES,
  establish,
  expectCode,
  makeParty,
  profileLabel,
  recordingCrypto,
  sentHeader,
} from "./helpers.js";

const te = new TextEncoder();
const td = new TextDecoder();

for (const profile of ALL_PROFILES) {
  describe(`sessions are single-use (${profileLabel(profile)})`, () => {
    it("encrypting twice with one value is STALE_SESSION: no second message under the same key", () => {
      const { a } = establish(profile, "stale-encrypt");
      const first = encrypt(a, te.encode("one"));
      const stale = expectCode(() => encrypt(a, te.encode("two")), "STALE_SESSION");
      expect(stale.message).toMatch(/Use the session the last call returned/);
      expect(a.spent).toBe(true);
      // The successor works and moves on to the next counter.
      const second = encrypt(first.session, te.encode("two"));
      expect(second.session.sendingCounter).toBe(first.session.sendingCounter + 1);
    });

    it("decrypting a message again with the value kept from before is STALE_SESSION, not a replay", () => {
      const { a, b } = establish(profile, "stale-decrypt");
      const m = encrypt(a, te.encode("once"));
      const r = decrypt(b, m.message);
      expect(td.decode(r.plaintext)).toBe("once");
      expectCode(() => decrypt(b, m.message), "STALE_SESSION");
      // And on the successor it is a duplicate.
      expectCode(() => decrypt(r.session, m.message), "DUPLICATE_MESSAGE");
    });

    it("serializing a spent value is STALE_SESSION (persisting it would bring its used keys back)", () => {
      const { a } = establish(profile, "stale-serialize");
      const next = encrypt(a, te.encode("x")).session;
      expectCode(() => serializeSession(a), "STALE_SESSION");
      expect(deserializeSession(serializeSession(next)).generation).toBe(next.generation);
    });

    it("a failed operation spends nothing: the same value still works afterwards (commit on success)", () => {
      const { a, b } = establish(profile, "failed-op");
      // Bob's messages are never wrapped in the (unauthenticated) key exchange: every byte counts.
      const m = encrypt(b, te.encode("good"));
      const bad = m.message.slice();
      bad[bad.length - 1]! ^= 1;
      expect(() => decrypt(a, bad)).toThrow();
      expect(() => decrypt(a, new Uint8Array([1, 2, 3]))).toThrow();
      expect(a.spent).toBe(false);
      expect(td.decode(decrypt(a, m.message).plaintext)).toBe("good");
      // Refused for its state (a responder with no sending chain yet: INVALID_STATE), it is not spent either.
      const bob = makeParty(profile, createCrypto());
      const waiting = responderSessionFromAgreement(profile, {
        sharedSecret: new Uint8Array(32),
        associatedData: new Uint8Array([...bob.bundle.identityKey, ...bob.bundle.identityKey]),
        identityKey: bob.bundle.identityKey,
        theirIdentityKey: bob.bundle.identityKey,
        signedPreKey: bob.store.getSignedPreKey(1)!,
        ephemeralKey: bob.bundle.signedPreKey.publicKey,
        oneTimePreKeyId: undefined,
      });
      expectCode(() => encrypt(waiting, te.encode("too early")), "INVALID_STATE");
      expect(waiting.spent).toBe(false);
      expect(serializeSession(waiting).length).toBeGreaterThan(0);
    });

    it("generation grows by one per successful operation, survives serialization, and not on failure", () => {
      const { a, b } = establish(profile, "generation");
      expect(a.generation).toBe(1); // created (0), first message encrypted (1)
      expect(b.generation).toBe(1); // accepted: its first decryption
      const m = encrypt(a, te.encode("x"));
      expect(m.session.generation).toBe(2);
      expect(() => decrypt(b, new Uint8Array(64))).toThrow();
      expect(b.generation).toBe(1);
      const r = decrypt(b, m.message);
      expect(r.session.generation).toBe(2);
      expect(deserializeSession(serializeSession(r.session)).generation).toBe(2);
      expect(String(r.session)).toContain("generation 2");
      expect(inspect(b)).toContain("(spent)");
    });

    it("a Session cannot be constructed from outside: no way to forge one from arbitrary state", () => {
      const { a } = establish(profile, "construct");
      const Ctor = a.constructor as unknown as new (...args: unknown[]) => unknown;
      expectCode(() => new Ctor(Symbol("Session.construct"), stateOf(a), {}, 0), "INVALID_ARGUMENT");
      expect(a instanceof Session).toBe(true);
      // Its state is not reachable as a property either.
      expect(Object.getOwnPropertySymbols(a)).toEqual([]);
      expect(Object.keys(a)).toEqual([]);
    });

    it("racing two tasks on one stored session: the loser gets STALE_SESSION, no (ratchet key, counter) is sent twice", async () => {
      const { a } = establish(profile, "race");
      const store = new InMemorySessionStore();
      expect(await store.compareAndSwap("bob", undefined, a)).toBe(true);
      const sent = new Map<string, string>(); // (ratchet key, counter) -> plaintext
      const dropped: string[] = [];
      const losers: unknown[] = [];
      // Each task: load, encrypt, persist with compare-and-swap, and send only if that worked.
      const task = async (text: string) => {
        const session = await store.load("bob");
        const state = stateOf(session);
        const loaded = session.generation;
        const { session: next, message } = encrypt(session, te.encode(text));
        const header = sentHeader(profile, state, message);
        if (!(await store.compareAndSwap("bob", loaded, next))) {
          dropped.push(header);
          expectCode(() => encrypt(session, te.encode(text)), "STALE_SESSION");
          throw new Error(`lost the race: ${text}`);
        }
        expect(sent.has(header), `${header} sent twice`).toBe(false);
        sent.set(header, text);
      };
      for (let round = 0; round < 4; round++) {
        const results = await Promise.allSettled([0, 1, 2].map((i) => task(`round ${round} task ${i}`)));
        for (const r of results) if (r.status === "rejected") losers.push(r.reason);
        // Exactly one task per round stored its successor; the others lost.
        expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
      }
      expect(sent.size).toBe(4);
      expect(losers.length).toBe(8);
      // What the losers had to drop reused the key of a message that was sent: this is why the
      // session is persisted before the message leaves.
      for (const h of dropped) expect(sent.has(h), h).toBe(true);
    });
  });
}

/** One step of the single-use model: `stale` picks an old value of the side's sessions instead of the current one. */
type Op =
  | { kind: "encrypt"; side: 0 | 1; stale: boolean; pick: number }
  | { kind: "decrypt"; side: 0 | 1; stale: boolean; pick: number; message: number }
  | { kind: "serialize"; side: 0 | 1; stale: boolean; pick: number };

const side = fc.constantFrom<0 | 1>(0, 1);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("encrypt" as const), side, stale: fc.boolean(), pick: fc.nat() }),
  fc.record({ kind: fc.constant("decrypt" as const), side, stale: fc.boolean(), pick: fc.nat(), message: fc.nat() }),
  fc.record({ kind: fc.constant("serialize" as const), side, stale: fc.boolean(), pick: fc.nat() }),
);

/**
 * Both sides encrypt and decrypt in any order, with losses, reordering and replays, and call with
 * old values they kept. Every call on an old value is STALE_SESSION; no two messages leave with
 * the same (ratchet key, counter) or AES key and IV; no message decrypts twice.
 */
function runSingleUse(profile: RatchetProfile, ops: readonly Op[], seed: string) {
  const { crypto, encryptions } = recordingCrypto(seed);
  const start = establish(profile, seed, crypto);
  const held = [[start.a], [start.b]]; // every value each side ever had; the last is current
  const headers = new Set<string>();
  const messages: { to: 0 | 1; bytes: Uint8Array; text: string }[] = [];
  const decrypted = new Set<number>();
  for (const o of ops) {
    const values = held[o.side]!;
    const current = values[values.length - 1]!;
    const useOld = o.stale && values.length > 1;
    const session = useOld ? values[o.pick % (values.length - 1)]! : current;
    const generation = current.generation;
    if (useOld) {
      if (o.kind === "encrypt") expectCode(() => encrypt(session, te.encode("stale"), { crypto }), "STALE_SESSION");
      else if (o.kind === "serialize") expectCode(() => serializeSession(session), "STALE_SESSION");
      else if (messages.length > 0) {
        const m = messages[o.message % messages.length]!;
        expectCode(() => decrypt(session, m.bytes, { crypto }), "STALE_SESSION");
      }
      expect(current.spent).toBe(false);
      continue;
    }
    if (o.kind === "serialize") {
      expect(deserializeSession(serializeSession(current), { profile }).generation).toBe(generation);
      continue;
    }
    if (o.kind === "encrypt") {
      const text = `message ${messages.length} from ${o.side}`;
      const state = stateOf(current);
      const r = encrypt(current, te.encode(text), { crypto });
      const header = sentHeader(profile, state, r.message);
      expect(headers.has(header), `(ratchet key, counter) ${header} left twice`).toBe(false);
      headers.add(header);
      messages.push({ to: o.side === 0 ? 1 : 0, bytes: r.message, text });
      expect(r.session.generation).toBe(generation + 1);
      values.push(r.session);
      continue;
    }
    // Deliver any message addressed to this side: new ones decrypt once, repeats never.
    const mine = messages.map((m, id) => ({ m, id })).filter((x) => x.m.to === o.side);
    if (mine.length === 0) continue;
    const { m, id } = mine[o.message % mine.length]!;
    const before = serializeSession(current);
    try {
      const r = decrypt(current, m.bytes, { crypto });
      expect(decrypted.has(id), `message ${id} decrypted twice`).toBe(false);
      expect(td.decode(r.plaintext)).toBe(m.text);
      decrypted.add(id);
      expect(r.session.generation).toBe(generation + 1);
      values.push(r.session);
    } catch (e) {
      expect(isDoubleRatchetError(e, "DUPLICATE_MESSAGE"), String(e)).toBe(true);
      expect(decrypted.has(id)).toBe(true);
      expect(serializeSession(current)).toEqual(before);
    }
  }
  // No AES key and IV pair was used for two encryptions (the first message was encrypted in establish()).
  expect(new Set(encryptions).size).toBe(encryptions.length);
}

// Within the limits: enough old chains for any schedule of this length, so every new message decrypts.
const roomy = (p: RatchetProfile) => withLimits(p, { maxSkippedChains: 64 });

for (const profile of ALL_PROFILES) {
  describe(`single-use property (${profileLabel(profile)})`, () => {
    it("any sequence of operations, old values included: STALE_SESSION on old values, no (ratchet key, counter) twice, no message decrypted twice", () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), fc.string(), (ops, seed) => {
          runSingleUse(roomy(profile), ops, seed);
        }),
        { numRuns: 40 },
      );
    });
  });
}
