import { describe, expect, it } from "vitest";
import { runCryptoDemo } from "../src/crypto-demo.js";

describe("demo sections tell the truth", () => {
  it("crypto: agreement, signatures, AEAD and redaction all succeed", () => {
    const lines = runCryptoDemo().join("\n");
    expect(lines).toContain("same secret");
    expect(lines).toContain("XEdDSA signature over a signed prekey: valid");
    expect(lines).toMatch(/libsignal variant \(sign bit [01] in byte 63\): valid/);
    expect(lines).toContain("rejected with DECRYPT_FAILED");
    expect(lines).toContain("private [redacted]");
    expect(lines).not.toMatch(/MISMATCH|INVALID|ACCEPTED/);
  });
});
