import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import fc from "fast-check";
import { formatFingerprint } from "@parley/trust";
import { describe, expect, it } from "vitest";
import {
  createBigintEngine,
  createNativeEngine,
  DsaPrivateKey,
  exportLibotrPrivateKeys,
  generateDsaKey,
  importLibotrPrivateKeys,
  isOtrError,
} from "../src/index.js";
import { bigintToFixed, bytesToBigint } from "../src/bytes.js";
import { ALICE_KEY, BOB_KEY } from "./helpers.js";

const native = createNativeEngine()!;
const bigint = createBigintEngine();
const libotrFile = readFileSync(new URL("./vectors/libotr-privkeys.txt", import.meta.url), "utf8");
const libotrFps = readFileSync(new URL("./vectors/libotr-privkeys-fingerprints.txt", import.meta.url), "utf8")
  .trim()
  .split("\n");

describe("DSA", () => {
  it("signs and verifies on both engines; any other value or a mutated signature fails", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(39),
        fc.integer({ min: 1, max: 255 }),
        (value, at, flip) => {
          const sig = ALICE_KEY.sign(value, native);
          expect(sig).toHaveLength(40);
          expect(ALICE_KEY.publicKey.verify(value, sig, native)).toBe(true);
          expect(ALICE_KEY.publicKey.verify(value, sig, bigint)).toBe(true);
          const bad = sig.slice();
          bad[at]! ^= flip;
          expect(ALICE_KEY.publicKey.verify(value, bad, native)).toBe(false);
          const other = value.slice();
          other[0]! ^= 1;
          expect(ALICE_KEY.publicKey.verify(other, sig, native)).toBe(false);
          expect(BOB_KEY.publicKey.verify(value, sig, native)).toBe(false);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("rejects r or s of 0 or >= q (s + q would verify without the range check), and the wrong length", () => {
    const value = new Uint8Array(32).fill(7);
    const { q } = ALICE_KEY.publicKey;
    const enc = (a: bigint, b: bigint) => Uint8Array.of(...bigintToFixed(a, 20), ...bigintToFixed(b, 20));
    let sig = ALICE_KEY.sign(value, native);
    // A signature whose s + q still fits in 20 bytes (about one in four).
    for (let i = 0; i < 200 && bytesToBigint(sig.subarray(20)) + q >= 1n << 160n; i++)
      sig = ALICE_KEY.sign(value, native);
    const r = bytesToBigint(sig.subarray(0, 20));
    const s = bytesToBigint(sig.subarray(20));
    expect(s + q).toBeLessThan(1n << 160n);
    expect(ALICE_KEY.publicKey.verify(value, enc(r, s), native)).toBe(true);
    expect(ALICE_KEY.publicKey.verify(value, enc(r, s + q), native)).toBe(false);
    expect(ALICE_KEY.publicKey.verify(value, enc(0n, s), native)).toBe(false);
    expect(ALICE_KEY.publicKey.verify(value, enc(r, 0n), native)).toBe(false);
    expect(ALICE_KEY.publicKey.verify(value, sig.subarray(0, 39), native)).toBe(false);
  });

  it("signs the value modulo q (not truncated): value and value + q verify alike", () => {
    const { q } = ALICE_KEY.publicKey;
    const v = 12345678901234567890n;
    const sig = ALICE_KEY.sign(bigintToFixed(v, 32), native);
    expect(ALICE_KEY.publicKey.verify(bigintToFixed(v + q, 32), sig, native)).toBe(true);
  });

  it("export/import round-trips and never prints the secret", () => {
    const text = ALICE_KEY.export();
    const back = DsaPrivateKey.import(text);
    expect(back.fingerprintHex()).toBe(ALICE_KEY.fingerprintHex());
    const x = (JSON.parse(text) as { x: string }).x;
    for (const shown of [
      inspect(ALICE_KEY),
      String(ALICE_KEY),
      JSON.stringify(ALICE_KEY),
      JSON.stringify({ k: ALICE_KEY }),
    ]) {
      expect(shown).not.toContain(x);
      expect(shown).toContain(ALICE_KEY.fingerprintHex());
    }
    for (const bad of ["", "{}", "nope", JSON.stringify({ ...JSON.parse(text), x: "5" })]) {
      expect(() => DsaPrivateKey.import(bad)).toThrow();
      try {
        DsaPrivateKey.import(bad);
      } catch (e) {
        expect(isOtrError(e, "INVALID_KEY")).toBe(true);
      }
    }
  });

  it("generates valid 1024/160 keys (native)", () => {
    const k = generateDsaKey();
    const { p, q } = k.publicKey;
    expect(p.toString(2)).toHaveLength(1024);
    expect(q.toString(2)).toHaveLength(160);
    const v = new Uint8Array(32).fill(3);
    expect(k.publicKey.verify(v, k.sign(v, native), bigint)).toBe(true);
  });
});

describe("libotr private key files", () => {
  it("reads a file written by libotr 4.1.1 (otrl_privkey_generate); fingerprints match libotr's", () => {
    const keys = importLibotrPrivateKeys(libotrFile);
    expect(keys.map((k) => [k.account, k.protocol])).toEqual([
      ["alice@example.org", "prpl-jabber"],
      ['bob "the" builder', "prpl-irc"],
    ]);
    expect(keys.map((k) => formatFingerprint(k.key.fingerprintHex(), "otr"))).toEqual(libotrFps);
  });

  it("writes a file it reads back identically", () => {
    const keys = importLibotrPrivateKeys(libotrFile);
    const again = importLibotrPrivateKeys(exportLibotrPrivateKeys(keys));
    expect(again.map((k) => [k.account, k.protocol, k.key.export()])).toEqual(
      keys.map((k) => [k.account, k.protocol, k.key.export()]),
    );
  });

  it("rejects malformed files with INVALID_KEY", () => {
    for (const bad of [
      "",
      "(privkeys",
      "(foo)",
      "(privkeys (account (name a)))",
      libotrFile.replace(/\(x #[0-9A-F]+#\)/, "(x #05#)"),
      "(".repeat(50),
    ]) {
      try {
        importLibotrPrivateKeys(bad);
        expect.unreachable();
      } catch (e) {
        expect(isOtrError(e, "INVALID_KEY")).toBe(true);
      }
    }
  });
});
