import { describe, expect, it } from "vitest";
import { legacyOmemo, omemo2, signal, signalHeaderEncrypted } from "../src/index.js";
import { twoPartyExample } from "../examples/two-party.js";

describe("README example (examples/two-party.ts)", () => {
  for (const profile of [omemo2, legacyOmemo, signal, signalHeaderEncrypted]) {
    it(`runs with the ${profile.name}${profile.headerEncryption ? " (header encryption)" : ""} profile`, () => {
      expect(twoPartyExample(profile)).toEqual([
        "Bob read: Hi Bob! (key exchange: true)",
        "Alice read: Hi Alice!",
        "Bob read: Still there? (key exchange: false)",
      ]);
    });
  }
});
