import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createNativeEngine } from "../src/engine.js";
import { isOtrError } from "../src/errors.js";
import { MODP_P, MODP_Q } from "../src/group.js";
import { encodeMpis, smpCheck1, smpStep1, smpStep2, smpStep3, smpStep4, smpStep5, type SmpState } from "../src/smp.js";
import { TLV_SMP1, TLV_SMP2 } from "../src/wire.js";
import { encryptedPair, errors, eventsFor, pump } from "./helpers.js";

const engine = createNativeEngine()!;

function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (isOtrError(e)) return e.code;
    throw e;
  }
}

/** One honest run of the pure steps, keeping every message and state. */
function run(x = 42n, y = 42n) {
  const s1 = smpStep1(engine, x);
  const c1 = smpCheck1(engine, s1.mpis);
  const s2 = smpStep2(engine, y, c1.g2a, c1.g3a);
  const s3 = smpStep3(engine, s1.state, s2.mpis);
  const s4 = smpStep4(engine, s2.state, s3.mpis);
  const ok = smpStep5(engine, s3.state, s4.mpis);
  return { s1, s2, s3, s4, ok };
}

const BAD_ELEMENTS = [0n, 1n, MODP_P - 1n, MODP_P, MODP_P + 5n];
const BAD_EXPONENTS = [0n, MODP_Q, MODP_Q + 1n];

function replaced(mpis: readonly bigint[], i: number, v: bigint): bigint[] {
  const out = [...mpis];
  out[i] = v;
  return out;
}

describe("SMP steps", () => {
  it("equal secrets verify on both sides; different secrets fail on both", () => {
    const same = run(7n, 7n);
    expect(same.s4.verified).toBe(true);
    expect(same.ok).toBe(true);
    const diff = run(7n, 8n);
    expect(diff.s4.verified).toBe(false);
    expect(diff.ok).toBe(false);
  });

  const h = run();
  // Positions of group elements and of D exponents in each message (spec order).
  const checks: {
    name: string;
    mpis: bigint[];
    elements: number[];
    exponents: number[];
    step: (m: bigint[]) => unknown;
  }[] = [
    { name: "message 1", mpis: h.s1.mpis, elements: [0, 3], exponents: [2, 5], step: (m) => smpCheck1(engine, m) },
    {
      name: "message 2",
      mpis: h.s2.mpis,
      elements: [0, 3, 6, 7],
      exponents: [2, 5, 9, 10],
      step: (m) => smpStep3(engine, h.s1.state, m),
    },
    {
      name: "message 3",
      mpis: h.s3.mpis,
      elements: [0, 1, 5],
      exponents: [3, 4, 7],
      step: (m) => smpStep4(engine, h.s2.state, m),
    },
    { name: "message 4", mpis: h.s4.mpis, elements: [0], exponents: [2], step: (m) => smpStep5(engine, h.s3.state, m) },
  ];

  for (const c of checks) {
    it(`${c.name}: every group element outside 2..p-2 and every exponent outside 1..q-1 is rejected`, () => {
      expect(code(() => c.step(c.mpis))).toBe("ok");
      for (const i of c.elements)
        for (const v of BAD_ELEMENTS)
          expect(
            code(() => c.step(replaced(c.mpis, i, v))),
            `element ${i} = ${v}`,
          ).toBe("INVALID_GROUP_ELEMENT");
      for (const i of c.exponents)
        for (const v of BAD_EXPONENTS)
          expect(
            code(() => c.step(replaced(c.mpis, i, v))),
            `exponent ${i} = ${v}`,
          ).toBe("INVALID_GROUP_ELEMENT");
    });

    it(`${c.name}: every group element outside the order-q subgroup (p - v: in range, a non-residue) is rejected`, () => {
      for (const i of c.elements)
        expect(
          code(() => c.step(replaced(c.mpis, i, MODP_P - c.mpis[i]!))),
          `element ${i} negated`,
        ).toBe("INVALID_GROUP_ELEMENT");
    });

    it(`${c.name}: a wrong proof value fails the zero-knowledge check`, () => {
      for (let i = 0; i < c.mpis.length; i++) {
        if (c.elements.includes(i) || c.exponents.includes(i)) {
          const v = c.mpis[i]!;
          const other = c.elements.includes(i) ? (v * 4n) % MODP_P : (v + 1n) % MODP_Q || 1n;
          expect(
            code(() => c.step(replaced(c.mpis, i, other))),
            `mpi ${i}`,
          ).toBe("SMP_CHECK_FAILED");
        } else {
          expect(
            code(() => c.step(replaced(c.mpis, i, c.mpis[i]! + 1n))),
            `hash ${i}`,
          ).toBe("SMP_CHECK_FAILED");
        }
      }
    });
  }

  it("a step run on the wrong state is refused", () => {
    const empty: SmpState = { expect: 1 };
    expect(code(() => smpStep3(engine, empty, h.s2.mpis))).toBe("SMP_CHECK_FAILED");
    expect(code(() => smpStep5(engine, empty, h.s4.mpis))).toBe("SMP_CHECK_FAILED");
  });
});

describe("SMP in sessions", () => {
  it("equal secrets always verify, different never (property, both directions)", () => {
    const { alice, bob } = encryptedPair();
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        fc.boolean(),
        fc.option(
          fc.string({ minLength: 1, maxLength: 20 }).filter((q) => !q.includes("\0")),
          { nil: undefined },
        ),
        (a, b, aliceStarts, question) => {
          const [init, resp] = aliceStarts ? [alice, bob] : [bob, alice];
          const d1 = pump(init, resp, init.smp.start(a, question));
          const request = eventsFor(d1, resp).find((e) => e.type === "smp-request");
          expect(request).toEqual(question === undefined ? { type: "smp-request" } : { type: "smp-request", question });
          const d2 = pump(resp, init, resp.smp.respond(b));
          const results = [...eventsFor(d2, init), ...eventsFor(d2, resp)].filter((e) => e.type === "smp-result");
          const expected = a === b ? "verified" : "failed";
          expect(results.map((r) => (r.type === "smp-result" ? [r.result, r.initiator] : null)).sort()).toEqual(
            [
              [expected, false],
              [expected, true],
            ].sort(),
          );
        },
      ),
      { numRuns: 6 },
    );
  });

  it("the result is about the other side's fingerprint", () => {
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.smp.start("s"));
    const d = pump(bob, alice, bob.smp.respond("s"));
    const ra = eventsFor(d, alice).find((e) => e.type === "smp-result");
    const rb = eventsFor(d, bob).find((e) => e.type === "smp-result");
    expect(ra).toMatchObject({ result: "verified", fingerprint: bob.ourFingerprint });
    expect(rb).toMatchObject({ result: "verified", fingerprint: alice.ourFingerprint });
  });

  it("abort by either side resets both, and a new run then works", () => {
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.smp.start("s"));
    const d = pump(bob, alice, bob.smp.abort());
    expect(eventsFor(d, alice)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "aborted" }));
    expect(alice.smpState.expect).toBe(1);
    expect(bob.smpState).toEqual({ expect: 1, awaitingSecret: false });
    pump(alice, bob, alice.smp.start("t"));
    const d2 = pump(bob, alice, bob.smp.respond("t"));
    expect(eventsFor(d2, alice)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "verified" }));
  });

  it("restarting a run sends the abort in a Data Message of its own, then SMP 1 (libotr reads abort last)", () => {
    const { alice, bob } = encryptedPair();
    const first = alice.smp.start("first");
    expect(first.length).toBe(1); // nothing to abort: one message
    // Bob received the first request and has not answered; Alice starts again.
    pump(alice, bob, first);
    expect(bob.smpState.awaitingSecret).toBe(true);
    const restart = alice.smp.start("second", "Where did we meet?");
    expect(restart.length).toBe(2);
    const abort = bob.receive(restart[0]!);
    expect(abort.events.map((e) => e.type)).toEqual(["smp-result"]);
    expect(abort.events[0]).toMatchObject({ result: "aborted" });
    expect(bob.smpState).toEqual({ expect: 1, awaitingSecret: false });
    const request = bob.receive(restart[1]!);
    expect(request.events).toEqual([{ type: "smp-request", question: "Where did we meet?" }]);
    const d = pump(bob, alice, bob.smp.respond("second"));
    expect(eventsFor(d, alice)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "verified" }));
  });

  it("an out-of-order SMP message aborts with an SMP abort TLV", () => {
    const { alice, bob } = encryptedPair();
    const h = run();
    const d = pump(alice, bob, alice.send("", { tlvs: [{ type: TLV_SMP2, value: encodeMpis(h.s2.mpis) }] }));
    expect(errors(eventsFor(d, bob))).toEqual(["SMP_CHECK_FAILED"]);
    expect(eventsFor(d, bob)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "aborted" }));
  });

  it("an SMP message 1 with g2a = 1 (or p-1) is refused: abort, typed error, no request", () => {
    for (const bad of [1n, MODP_P - 1n]) {
      const { alice, bob } = encryptedPair();
      const h = run();
      const d = pump(
        alice,
        bob,
        alice.send("", { tlvs: [{ type: TLV_SMP1, value: encodeMpis(replaced(h.s1.mpis, 0, bad)) }] }),
      );
      expect(errors(eventsFor(d, bob))).toEqual(["INVALID_GROUP_ELEMENT"]);
      expect(eventsFor(d, bob).some((e) => e.type === "smp-request")).toBe(false);
      expect(bob.smpState.awaitingSecret).toBe(false);
    }
  });

  it("SMP needs an encrypted session; respond needs a request", () => {
    const { alice, bob } = encryptedPair();
    expect(code(() => bob.smp.respond("x"))).toBe("INVALID_STATE");
    pump(alice, bob, alice.end());
    expect(code(() => alice.smp.start("x"))).toBe("INVALID_STATE");
  });
});
