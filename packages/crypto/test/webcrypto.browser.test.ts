// @parley/crypto/webcrypto in a real headless Chromium (BoringSSL's X25519 and Ed25519 behind
// crypto.subtle): the same agreement checks with the synchronous facade as on Node
// (test/webcrypto-agreement.ts), so every difference of the platform on edge cases is covered here too.
import { describe, expect, it } from "vitest";
import { defineAgreementTests } from "./webcrypto-agreement.js";

describe("@parley/crypto/webcrypto agrees with the sync facade (Chromium's WebCrypto)", () => {
  it("runs in a real browser", () => {
    expect(typeof window).toBe("object");
    expect(navigator.userAgent).toMatch(/Chrome\//);
  });
  defineAgreementTests();
});

describe("@parley/crypto/webcrypto in Chromium without WebCrypto (subtle: null)", () => {
  defineAgreementTests({ subtle: null }, false);
});
