import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OmemoError, decodeBase64, encodeBase64, isOmemoError } from "../src/index.js";
import { encodeBase64Portable } from "../src/base64.js";
import { FUZZ_RUNS, PROPERTY_RUNS, errorCode } from "./helpers.js";

const text = (s: string) => new TextEncoder().encode(s);
const decode = (s: string, max = 1024) => decodeBase64(s, "<field>", max);

describe("RFC 4648 §10 base64 as the XEPs use it (xs:base64Binary)", () => {
  it.each([
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ])("%j <-> %s (RFC 4648 §10 test vectors)", (plain, encoded) => {
    expect(encodeBase64(text(plain))).toBe(encoded);
    expect(decode(encoded)).toEqual(text(plain));
  });

  it("decode(encode(b)) equals b and encode agrees with Node's Buffer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const encoded = encodeBase64(bytes);
        expect(encoded).toBe(Buffer.from(bytes).toString("base64"));
        // The encoder browsers use (no Buffer) gives the same string.
        expect(encodeBase64Portable(bytes)).toBe(encoded);
        // A view into a larger buffer encodes only its own bytes.
        const padded = new Uint8Array(bytes.length + 7);
        padded.set(bytes, 3);
        expect(encodeBase64(padded.subarray(3, 3 + bytes.length))).toBe(encoded);
        expect(decode(encoded)).toEqual(bytes);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("skips ASCII whitespace anywhere (Android wraps at 76 characters, XEP examples indent)", () => {
    expect(decode(" Zm9v\nYmFy\r\n")).toEqual(text("foobar"));
    expect(decode("Z m 9 v Y g = =")).toEqual(text("foob"));
    expect(decode("\tZm8=\f")).toEqual(text("fo"));
  });

  it.each([
    ["missing padding", "Zg"],
    ["missing one pad", "Zm8"],
    ["too much padding", "Zg==="],
    ["padding alone", "===="],
    ["data after padding", "Zg==Zg=="],
    ["URL-safe alphabet", "-_8="],
    ["a dot", "Zm9v."],
    ["non-ASCII", "Zm9v\u00e9"],
    ["non-ASCII whitespace", "Zm9v\u00a0"],
    ["non-zero bits before ==", "Zh=="],
    ["non-zero bits before =", "Zm9="],
    ["XEP placeholder", "BASE64ENCODED..."],
  ])("rejects %s as INVALID_BASE64", (_name, encoded) => {
    expect(errorCode(() => decode(encoded))).toBe("INVALID_BASE64");
  });

  it("enforces the field's byte limit before allocating (STANZA_TOO_LARGE), and names only the field", () => {
    expect(decode("AAAA", 3)).toHaveLength(3);
    expect(errorCode(() => decode("AAAAAA==", 3))).toBe("STANZA_TOO_LARGE");
    expect(errorCode(() => decode("A".repeat(1_000_000), 16))).toBe("STANZA_TOO_LARGE");
    const error = (() => {
      try {
        decode("c2VjcmV0!");
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(OmemoError);
    expect((error as OmemoError).message).not.toContain("c2VjcmV0");
    expect((error as OmemoError).message).toContain("<field>");
  });

  it("any string either decodes to what Buffer decodes or is an OmemoError", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."AZaz09+/= \n-_.é".split("")), maxLength: 24 }), (s) => {
        try {
          const bytes = decode(s);
          expect(encodeBase64(bytes)).toBe(s.replace(/\s/g, ""));
        } catch (error) {
          expect(isOmemoError(error)).toBe(true);
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
