import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, base64Encode } from "../src/bytes.js";
import { MAX_FRAGMENTS } from "../src/consts.js";
import { parseBinary } from "../src/wire.js";
import type { OtrSession } from "../src/index.js";
import { encryptedPair, errors, pair, texts } from "./helpers.js";

describe("properties", () => {
  it("any sequence of messages, each direction delivered in order and interleaved at will, reads exactly", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({
              op: fc.constant("send" as const),
              fromAlice: fc.boolean(),
              text: fc.string({ minLength: 1, maxLength: 30 }),
            }),
            fc.record({ op: fc.constant("deliver" as const), toAlice: fc.boolean() }),
          ),
          { maxLength: 30 },
        ),
        (ops) => {
          const { alice, bob } = encryptedPair();
          const queues = new Map<OtrSession, { wire: string; text: string }[]>([
            [alice, []],
            [bob, []],
          ]);
          const got = new Map<OtrSession, string[]>([
            [alice, []],
            [bob, []],
          ]);
          const sent = new Map<OtrSession, string[]>([
            [alice, []],
            [bob, []],
          ]);
          const deliverOne = (to: OtrSession) => {
            const item = queues.get(to)!.shift();
            if (!item) return;
            const r = to.receive(item.wire);
            expect(errors(r.events)).toEqual([]);
            got.get(to)!.push(...texts(r.events));
            expect(r.replies).toEqual([]); // heartbeats off, no protocol replies to plain data
          };
          for (const o of ops) {
            if (o.op === "send") {
              const [from, to] = o.fromAlice ? [alice, bob] : [bob, alice];
              for (const wire of from.send(o.text)) queues.get(to)!.push({ wire, text: o.text });
              sent.get(to)!.push(o.text);
            } else deliverOne(o.toAlice ? alice : bob);
          }
          while (queues.get(alice)!.length || queues.get(bob)!.length) {
            deliverOne(alice);
            deliverOne(bob);
          }
          expect(got.get(alice)).toEqual(sent.get(alice));
          expect(got.get(bob)).toEqual(sent.get(bob));
        },
      ),
      { numRuns: 25 },
    );
  });

  it("fragments in order reassemble into exactly the message; out of order only that message is lost, silently (v2 and v3)", () => {
    const v3 = encryptedPair({ maxFragmentSize: 100 });
    const v2 = encryptedPair({ maxFragmentSize: 100, policy: { allowV3: false } });
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 600 }), fc.boolean(), fc.nat(), (text, useV2, seed) => {
        const { alice, bob } = useV2 ? v2 : v3;
        const parts = alice.send(text);
        expect(parts.length).toBeLessThanOrEqual(MAX_FRAGMENTS);
        for (const p of parts) expect(p.length).toBeLessThanOrEqual(100);
        // A deterministic shuffle from the seed.
        const order = parts
          .map((p, i) => ({ p, i, k: (Math.imul(i + 1, 2654435761) ^ seed) >>> 0 }))
          .sort((a, b) => a.k - b.k);
        const inOrder = order.every(({ i }, at) => i === at);
        const events = order.flatMap(({ p }) => bob.receive(p).events);
        expect(errors(events)).toEqual([]);
        expect(texts(events)).toEqual(inOrder ? [text] : []);
        // Whatever happened to that message, the next one arrives.
        const next = alice.send(`after: ${text}`).flatMap((p) => bob.receive(p).events);
        expect(errors(next)).toEqual([]);
        expect(texts(next)).toEqual([`after: ${text}`]);
      }),
      { numRuns: 40 },
    );
  });

  it("truncated or mutated data messages: a typed error, never a delivered forgery, state unchanged", () => {
    const { alice, bob } = encryptedPair();
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.oneof(
          fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
          fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
          fc.record({ kind: fc.constant("append" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
        ),
        (text, mutation) => {
          const [wire] = alice.send(text);
          const bytes = base64Decode(wire!.slice(5, -1));
          const m = parseBinary(bytes);
          if (m.type !== 0x03) throw new Error("not data");
          // The MAC covers everything up to the encrypted message plus the MAC itself; the revealed old MAC
          // keys after it are public by design, so mutations target the authenticated part and the MAC.
          const covered = m.authenticated.length + 20;
          let mutated: Uint8Array;
          if (mutation.kind === "flip") {
            mutated = bytes.slice();
            mutated[mutation.at % covered]! ^= 1 << mutation.bit;
          } else if (mutation.kind === "truncate") mutated = bytes.slice(0, mutation.at % bytes.length);
          else mutated = Uint8Array.of(...bytes, ...mutation.extra);
          const before = bob.exportState();
          const r = bob.receive(`?OTR:${base64Encode(mutated)}.`);
          expect(texts(r.events)).toEqual([]);
          expect(r.events).toHaveLength(1);
          expect(r.events[0]!.type).toBe("error");
          expect(bob.exportState()).toBe(before);
          // The genuine message still reads afterwards.
          expect(texts(bob.receive(wire!).events)).toEqual([text]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("mutated AKE messages never complete the AKE with a key the sender does not hold", () => {
    fc.assert(
      fc.property(fc.nat(3), fc.nat(), fc.integer({ min: 0, max: 7 }), (which, at, bit) => {
        const { alice, bob } = pair();
        let count = 0;
        const tamper = (m: string): string => {
          if (!m.startsWith("?OTR:")) return m;
          if (count++ !== which) return m;
          const b = base64Decode(m.slice(5, -1));
          b[at % b.length]! ^= 1 << bit;
          return `?OTR:${base64Encode(b)}.`;
        };
        const queue: [OtrSession, string][] = [[bob, alice.startAke()[0]!]];
        for (let guard = 0; queue.length && guard < 20; guard++) {
          const [to, msg] = queue.shift()!;
          const r = to.receive(tamper(msg));
          for (const reply of r.replies) queue.push([to === alice ? bob : alice, reply]);
        }
        if (alice.messageState === "encrypted") expect(alice.theirFingerprint).toBe(bob.ourFingerprint);
        if (bob.messageState === "encrypted") expect(bob.theirFingerprint).toBe(alice.ourFingerprint);
        if (alice.messageState === "encrypted" && bob.messageState === "encrypted")
          expect(alice.ssid!.bytes).toEqual(bob.ssid!.bytes);
      }),
      { numRuns: 30 },
    );
  });
});
