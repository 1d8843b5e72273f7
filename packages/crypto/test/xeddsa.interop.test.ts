import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, hexToBytes } from "../src/index.js";

// Debian's python3 (not a pyenv one on PATH) has python3-xeddsa.
const PYTHON = "/usr/bin/python3";
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

interface PeerResult {
  publicKey: string;
  verifiesOurXeddsa: boolean;
  verifiesOurLibsignal: boolean;
  verifiesTampered: boolean;
  theirXeddsa: string;
  theirLibsignal: string;
}

describe.each(["noble", "native"] as const)(
  "XEdDSA interop with python3-xeddsa / libxeddsa, both ways (%s provider)",
  (provider) => {
    const c = createCrypto({ provider });
    const cases = Array.from({ length: 64 }, (_, i) => {
      const kp = c.generateX25519KeyPair();
      const message = c.randomBytes(i * 5);
      const nonce = c.randomBytes(64);
      const ourXeddsa = c.xeddsaSign(kp.privateKey, message, nonce);
      const tampered = ourXeddsa.slice();
      tampered[i % 64]! ^= 1 << (i % 8);
      return { kp, message, nonce, ourXeddsa, ourLibsignal: c.libsignalSign(kp.privateKey, message, nonce), tampered };
    });
    const input = JSON.stringify({
      cases: cases.map((k) => ({
        privateKey: bytesToHex(k.kp.privateKey),
        message: bytesToHex(k.message),
        nonce: bytesToHex(k.nonce),
        ourXeddsa: bytesToHex(k.ourXeddsa),
        ourLibsignal: bytesToHex(k.ourLibsignal),
        tampered: bytesToHex(k.tampered),
      })),
    });
    const { results } = JSON.parse(
      execFileSync(PYTHON, [here("../interop/xeddsa_peer.py")], { input, encoding: "utf8" }),
    ) as { results: PeerResult[] };

    it("the peer derives the same X25519 public keys", () => {
      results.forEach((r, i) => {
        expect(r.publicKey).toBe(bytesToHex(cases[i]!.kp.publicKey));
      });
    });

    it("our XEdDSA and libsignal-variant signatures verify there; a tampered one does not", () => {
      for (const r of results) {
        expect(r.verifiesOurXeddsa).toBe(true);
        expect(r.verifiesOurLibsignal).toBe(true);
        expect(r.verifiesTampered).toBe(false);
      }
    });

    it("their signatures verify here, each with the matching verifier", () => {
      results.forEach((r, i) => {
        const { kp, message } = cases[i]!;
        expect(c.xeddsaVerify(kp.publicKey, message, hexToBytes(r.theirXeddsa))).toBe(true);
        expect(c.libsignalVerify(kp.publicKey, message, hexToBytes(r.theirLibsignal))).toBe(true);
        expect(bytesToHex(c.libsignalSign(kp.privateKey, message, cases[i]!.nonce))).toBe(r.theirLibsignal);
      });
    });
  },
);

describe("known-answer vectors are reproducible from the peers", () => {
  const out = mkdtempSync(join(tmpdir(), "parley-vectors-"));
  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it("vectors/generate.py run now writes exactly the checked-in files", () => {
    execFileSync(PYTHON, [here("../vectors/generate.py"), out], { encoding: "utf8" });
    const files = readdirSync(out).filter((f) => f.endsWith(".json"));
    // Everything in vectors/ but the Wycheproof files (copied from upstream, see wycheproof-filter.mjs).
    const checkedIn = readdirSync(here("../vectors")).filter(
      (f) => f.endsWith(".json") && !f.startsWith("wycheproof-"),
    );
    expect(files.sort()).toEqual(checkedIn.sort());
    for (const f of files) {
      expect(readFileSync(join(out, f), "utf8"), f).toBe(readFileSync(here(`../vectors/${f}`), "utf8"));
    }
  });
});
