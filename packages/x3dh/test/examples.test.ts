import { describe, expect, it } from "vitest";
import { keyAgreementExample } from "../examples/key-agreement.js";
import { legacyOmemoX3dh, omemo2X3dh, signalX3dh } from "../src/index.js";

describe("README example (examples/key-agreement.ts)", () => {
  for (const profile of [omemo2X3dh, legacyOmemoX3dh, signalX3dh]) {
    it(`agrees on SK and uses one prekey (${profile.name})`, () => {
      expect(keyAgreementExample(profile)).toEqual({ same: true, preKeysLeft: 99 });
    });
  }
});
