import { describe, expect, it } from "vitest";
import { legacyOmemo, omemo2, signal, signalHeaderEncrypted } from "../src/index.js";
import { twoPartyExample } from "../examples/two-party.js";
import { persistBeforeSendExample } from "../examples/persist-before-send.js";

const PROFILES = [omemo2, legacyOmemo, signal, signalHeaderEncrypted];
const label = (p: (typeof PROFILES)[number]) => `${p.name}${p.headerEncryption ? " (header encryption)" : ""}`;

describe("README example (examples/two-party.ts)", () => {
  for (const profile of PROFILES) {
    it(`runs with the ${label(profile)} profile`, () => {
      expect(twoPartyExample(profile)).toEqual([
        "Bob read: Hi Bob! (key exchange: true)",
        "Alice read: Hi Alice!",
        "Bob read: Still there? (key exchange: false)",
      ]);
    });
  }
});

describe('README "Sessions are single-use" (examples/persist-before-send.ts)', () => {
  for (const profile of PROFILES) {
    it(`runs with the ${label(profile)} profile`, async () => {
      expect(await persistBeforeSendExample(profile)).toEqual([
        "reusing a session: STALE_SESSION",
        "the task that lost the race: STALE_SESSION",
        "Bob read: one, two",
      ]);
    });
  }
});
