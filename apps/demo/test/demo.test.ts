import { describe, expect, it } from "vitest";
import { runCryptoDemo } from "../src/crypto-demo.js";
import { runRatchetDemo } from "../src/ratchet-demo.js";
import { runStorageDemo } from "../src/storage-demo.js";
import { runTrustDemo } from "../src/trust-demo.js";

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

  it("trust: TOFU, untrusted second key with a warning, verified by URI, compromised key refused", async () => {
    const lines = await runTrustDemo();
    expect(lines[0]).toMatch(/phone key .*: tofu$/);
    expect(lines[1]).toBe("! app warning: romeo@montague.example has a new, unverified key");
    expect(lines[2]).toMatch(/laptop key: untrusted; encrypt to it\? no/);
    expect(lines[3]).toMatch(/^Romeo shows a QR code: xmpp:romeo@montague\.example\?omemo-sid-2002=/);
    expect(lines[4]).toBe("after scanning it: laptop key verified; encrypt to it? yes");
    expect(lines[5]).toMatch(/accept messages from it\? no/);
  });

  it("storage: nothing readable in the file, wrong passphrase refused, trust survives a restart, media deleted", async () => {
    const lines = (await runStorageDemo()).join("\n");
    expect(lines).toMatch(/files on disk; do they mention "romeo": no; his key: no/);
    expect(lines).toContain("wrong passphrase: refused with WRONG_PASSPHRASE");
    expect(lines).toContain("Romeo's key after the restart: tofu, encrypt to it? yes");
    expect(lines).toContain("his first batch (2 devices, written in one transaction): tofu, tofu");
    expect(lines).toContain("deleteAllMedia(): 0 items left, photo gone: yes");
    expect(lines).not.toMatch(/YES \(leak\)|ACCEPTED/);
  }, 60_000);

  it("ratchet: both OMEMO profiles survive loss, reordering, duplicates and tampering", () => {
    const lines = runRatchetDemo().join("\n");
    expect(lines).toContain("from a key exchange (first byte 0x33)");
    expect(lines.match(/delivered out of order, one lost: four, one, three/g)).toHaveLength(2);
    expect(lines.match(/a duplicate: refused with DUPLICATE_MESSAGE/g)).toHaveLength(2);
    expect(lines.match(/a tampered message: refused with BAD_MAC; session unchanged/g)).toHaveLength(2);
    expect(lines.match(/the lost message arrives late: "two"/g)).toHaveLength(2);
    expect(lines).not.toMatch(/ACCEPTED|CHANGED/);
  });
});
