// Every parser that reads outside input, fed arbitrary input: a typed OtrError or a result, never another throw.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DsaPrivateKey, importLibotrPrivateKeys, isOtrError, OtrSession } from "../src/index.js";
import { BOB_KEY, encryptedPair } from "./helpers.js";

function typedOrOk(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    return isOtrError(e);
  }
}

const sexpish = fc
  .array(
    fc.constantFrom(
      "(",
      ")",
      " ",
      '"',
      "#",
      "|",
      "privkeys",
      "account",
      "name",
      "dsa",
      "p",
      "x",
      "00FF",
      "3:",
      "\\",
      "a",
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(""));

describe("parsers under arbitrary input", () => {
  it("libotr key files", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), sexpish), (text) => {
        expect(typedOrOk(() => importLibotrPrivateKeys(text))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("exported keys", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 2 })), (text) => {
        expect(typedOrOk(() => DsaPrivateKey.import(text))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("session states, including mutated real ones: restored or refused, and a restored one only fails typed", () => {
    const { alice, bob } = encryptedPair();
    const wire = alice.send("probe")[0]!;
    const real = bob.exportState();
    const opts = { account: "b", contact: "a", privateKey: BOB_KEY };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json({ maxDepth: 3 }),
          fc
            .tuple(fc.nat(), fc.string({ maxLength: 3 }))
            .map(([at, s]) => real.slice(0, at % real.length) + s + real.slice((at % real.length) + 1)),
        ),
        (text) => {
          expect(
            typedOrOk(() => {
              const s = OtrSession.restore(text, opts);
              s.receive(wire); // never throws for wire input; a broken restored state must not make it throw either
              s.send("x");
              s.end();
            }),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
