import { describe, expect, it } from "vitest";
import { keyAgreementExample } from "../examples/key-agreement.js";
import { legacyOmemo, omemo2, signal } from "../src/index.js";

describe("README example (examples/key-agreement.ts)", () => {
  for (const profile of [omemo2, legacyOmemo, signal]) {
    it(`agrees on SK and uses one prekey (${profile.name})`, () => {
      expect(keyAgreementExample(profile)).toEqual({ same: true, preKeysLeft: 99 });
    });
  }
});
