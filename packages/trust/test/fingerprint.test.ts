import { readFileSync } from "node:fs";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fingerprintsEqual,
  formatFingerprint,
  isTrustError,
  normalizeFingerprint,
  omemo2FingerprintFromEd25519,
} from "../src/index.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const otrVectors = JSON.parse(readFileSync(new URL("../vectors/otr-human.json", import.meta.url), "utf8")) as {
  vectors: Array<{ hash: string; human: string }>;
};

describe("OTR fingerprint display (libotr otrl_privkey_hash_to_human)", () => {
  it.each(otrVectors.vectors)("$hash -> $human", ({ hash, human }) => {
    expect(formatFingerprint(hash, "otr")).toBe(human);
    expect(normalizeFingerprint(human, "otr")).toBe(hash);
  });
  it("rejects anything but 20 bytes", () => {
    expect(() => formatFingerprint("ab".repeat(19), "otr")).toThrow(
      expect.objectContaining({ code: "INVALID_FINGERPRINT" }),
    );
    expect(() => formatFingerprint("ab".repeat(32), "otr")).toThrow(
      expect.objectContaining({ code: "INVALID_FINGERPRINT" }),
    );
  });
});

describe("OMEMO fingerprint display (XEP-0384 v0.8 §8: lowercase hex, 8 groups of 8; legacy drops the 0x05 byte)", () => {
  it("shows a 33-byte libsignal key as its 32-byte Curve25519 form, grouped", () => {
    const key = Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 5 : i * 7));
    const shown = formatFingerprint(key, "omemo-legacy");
    expect(shown.split(" ")).toEqual(hex(key.subarray(1)).match(/.{8}/g));
    expect(shown).toMatch(/^([0-9a-f]{8} ){7}[0-9a-f]{8}$/);
    expect(formatFingerprint(key.subarray(1), "omemo2")).toBe(shown);
  });

  it("round-trips any 32-byte key through display and back", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom("omemo-legacy" as const, "omemo2" as const),
        (key, format) => {
          expect(normalizeFingerprint(formatFingerprint(key, format), format)).toBe(hex(key));
        },
      ),
    );
  });

  it("rejects a 33-byte key whose type byte is not 0x05, and odd lengths", () => {
    expect(() =>
      normalizeFingerprint(
        Uint8Array.from({ length: 33 }, () => 6),
        "omemo-legacy",
      ),
    ).toThrow(expect.objectContaining({ code: "INVALID_FINGERPRINT" }));
    expect(() => normalizeFingerprint("abc", "omemo2")).toThrow(
      expect.objectContaining({ code: "INVALID_FINGERPRINT" }),
    );
    expect(() => normalizeFingerprint("zz".repeat(32), "omemo2")).toThrow(
      expect.objectContaining({ code: "INVALID_FINGERPRINT" }),
    );
  });
});

describe("fingerprint comparison ignores grouping and case", () => {
  it("equal whatever the grouping, case or 0x05 prefix; unequal for a different key or invalid text", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(" ", ":", "-", "\n", ""),
        fc.integer({ min: 1, max: 16 }),
        (key, separator, size) => {
          const plain = hex(key);
          const regrouped = (plain.toUpperCase().match(new RegExp(`.{1,${size}}`, "g")) ?? []).join(separator);
          expect(fingerprintsEqual(plain, regrouped)).toBe(true);
          expect(fingerprintsEqual(`05${plain}`, regrouped, "omemo-legacy")).toBe(true);
          const other = key.slice();
          other[0] = other[0]! ^ 1;
          expect(fingerprintsEqual(other, regrouped)).toBe(false);
        },
      ),
    );
    expect(fingerprintsEqual("not hex", "not hex")).toBe(false);
  });
});

describe("OMEMO 2: Curve25519 form of an Ed25519 identity key (RFC 7748 §4.1 map)", () => {
  it("matches noble's toMontgomery, and X25519 of the converted secret", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (secret) => {
        const edPublic = ed25519.getPublicKey(secret);
        const ours = omemo2FingerprintFromEd25519(edPublic);
        expect(hex(ours)).toBe(hex(ed25519.utils.toMontgomery(edPublic)));
        expect(hex(ours)).toBe(hex(x25519.getPublicKey(ed25519.utils.toMontgomerySecret(secret))));
      }),
      { numRuns: 50 },
    );
  });
  it("rejects non-canonical y and the identity point", () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expect(() => omemo2FingerprintFromEd25519(identity)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    const big = new Uint8Array(32).fill(0xff);
    big[31] = 0x7f;
    expect(() => omemo2FingerprintFromEd25519(big)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => omemo2FingerprintFromEd25519(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
  it("errors are TrustErrors", () => {
    try {
      normalizeFingerprint("xyz", "otr");
      expect.unreachable();
    } catch (error) {
      expect(isTrustError(error, "INVALID_FINGERPRINT")).toBe(true);
    }
  });
});
