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
  const P = (1n << 255n) - 19n;
  /** An encoding whose y is `y` (not reduced), with the given sign bit. */
  const encodeY = (y: bigint, signBit = 0): Uint8Array => {
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = Number((y >> BigInt(8 * i)) & 0xffn);
    out[31]! |= signBit << 7;
    return out;
  };
  /** The TrustError code a call throws (anything else is returned as a string, so a test can tell). */
  const trustCode = (f: () => unknown): string => {
    try {
      f();
      return "no error";
    } catch (error) {
      return isTrustError(error) ? error.code : `not a TrustError: ${String(error)}`;
    }
  };

  it.each([
    ["off the curve (y = 2: no x satisfies the curve equation)", encodeY(2n)],
    ["off the curve (y = 7)", encodeY(7n)],
    ["non-canonical: y = p + 3 encodes the on-curve y = 3", encodeY(P + 3n)],
    ["non-canonical: y = p + 1 encodes the identity", encodeY(P + 1n)],
    ["non-canonical: x = 0 with the sign bit set (y = p − 1)", encodeY(P - 1n, 1)],
    ["the identity point (y = 1), which has no Curve25519 form", encodeY(1n)],
    ["31 bytes long", new Uint8Array(31)],
  ])("RFC 8032 §5.1.3: rejects a key %s with TrustError INVALID_ARGUMENT", (_label, key) => {
    expect(trustCode(() => omemo2FingerprintFromEd25519(key))).toBe("INVALID_ARGUMENT");
  });

  it("accepts the on-curve y = 3 and refuses the off-curve y = 2: the curve equation decides, not the arithmetic", () => {
    // (1 + y) / (1 − y) is a number for y = 2 like for any other y: only the on-curve check refuses it.
    expect(trustCode(() => omemo2FingerprintFromEd25519(encodeY(3n)))).toBe("no error");
    expect(trustCode(() => omemo2FingerprintFromEd25519(encodeY(2n)))).toBe("INVALID_ARGUMENT");
  });

  it("the error keeps @parley/crypto's as its cause and echoes no key bytes", () => {
    try {
      omemo2FingerprintFromEd25519(encodeY(2n));
      expect.unreachable();
    } catch (error) {
      expect(isTrustError(error, "INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).cause).toMatchObject({ name: "CryptoError", code: "INVALID_KEY" });
      expect((error as Error).message).not.toContain("02000000");
    }
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
