// The stanza decoders decode <key> and <payload> content with decodeBase64Content: a one-pass decoder
// for canonical unwrapped base64 that hands anything else to the strict decodeBase64. It must accept
// and refuse exactly what decodeBase64 does, with the same bytes and the same errors.
import fc from "fast-check";
import { Element } from "ltx";
import { describe, expect, it } from "vitest";
import { encodeBase64, decodeBase64 } from "../src/base64.js";
import { MAX_KEY_ELEMENT_BYTES } from "../src/consts.js";
import { isOmemoError, parseXml, serializeXml } from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import { decodeBase64Content } from "../src/message.js";
import * as v2 from "../src/v2/index.js";
import { PROPERTY_RUNS, counting, errorCode } from "./helpers.js";

/** `{ok, bytes}` or `{error: code + message}` of a call, for comparing two decoders. */
function outcome(fn: () => Uint8Array): { bytes: number[] } | { error: string } {
  try {
    return { bytes: [...fn()] };
  } catch (error) {
    if (isOmemoError(error)) return { error: `${error.code}: ${error.message}` };
    throw error;
  }
}

const keyElement = (text: string) => new Element("key", { rid: "1" }).t(text);

const base64Char = fc.constantFrom(
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".split(""),
  "=",
  " ",
  "\n",
  "-",
  "_",
  "é",
);

describe("decodeBase64Content", () => {
  it("accepts and refuses exactly what decodeBase64 does, with the same bytes and error", () => {
    const texts = fc.oneof(
      // Valid base64 of any length up to past the limit, sometimes wrapped or with a changed character.
      fc
        .tuple(
          fc.uint8Array({ minLength: 0, maxLength: MAX_KEY_ELEMENT_BYTES + 4 }),
          fc.nat(),
          fc.option(base64Char),
          fc.boolean(),
        )
        .map(([bytes, at, replacement, wrap]) => {
          let text = encodeBase64(bytes);
          if (replacement !== null && text.length > 0) {
            const i = at % text.length;
            text = text.slice(0, i) + replacement + text.slice(i + 1);
          }
          return wrap ? text.replace(/(.{76})/g, "$1\n") : text;
        }),
      // Short arbitrary strings over the alphabet, padding, whitespace and foreign characters.
      fc.array(base64Char, { maxLength: 12 }).map((cs) => cs.join("")),
    );
    fc.assert(
      fc.property(texts, fc.constantFrom(MAX_KEY_ELEMENT_BYTES, 1, 2, 3, 100), (text, maxBytes) => {
        const fast = outcome(() => decodeBase64Content(keyElement(text), "<key>", maxBytes));
        const strict = outcome(() => decodeBase64(text, "<key> content", maxBytes));
        expect(fast).toEqual(strict);
      }),
      { numRuns: PROPERTY_RUNS * 4 },
    );
  });

  it.each([
    ["one byte", "AA=="],
    ["two bytes", "AAA="],
    ["three bytes", "////"],
    ["a character above 127", "AAA\u0100"],
    ["a symbol whose 7 low bits are a symbol", "AAA\u00c1"],
    ["padding inside", "AA=A"],
    ["three padding characters", "A==="],
    ["only padding", "===="],
  ])("%s: as decodeBase64", (_what, text) => {
    expect(outcome(() => decodeBase64Content(keyElement(text), "<key>", 10))).toEqual(
      outcome(() => decodeBase64(text, "<key> content", 10)),
    );
  });
});

function v2Stanza(keyTexts: readonly string[]): string {
  const message = v2.encodeEncryptedMessage({
    sid: 9,
    keys: [
      { jid: "bob@example.net", keys: keyTexts.map((_, i) => ({ rid: i + 1, kex: false, data: counting(40, i) })) },
    ],
    payload: counting(30, 7),
  });
  let xml = serializeXml(message);
  keyTexts.forEach((text, i) => {
    xml = xml.replace(encodeBase64(counting(40, i)), text);
  });
  return xml;
}

function legacyStanza(keyTexts: readonly string[]): string {
  const message = legacy.encodeEncryptedMessage({
    sid: 9,
    keys: keyTexts.map((_, i) => ({ rid: i + 1, prekey: false, data: counting(40, i) })),
    iv: counting(12, 5),
    payload: counting(30, 7),
  });
  let xml = serializeXml(message);
  keyTexts.forEach((text, i) => {
    xml = xml.replace(encodeBase64(counting(40, i)), text);
  });
  return xml;
}

describe.each([
  ["OMEMO 2", v2Stanza, (xml: string) => v2.decodeEncryptedMessage(parseXml(xml)).keys.flatMap((g) => g.keys)],
  ["legacy", legacyStanza, (xml: string) => legacy.decodeEncryptedMessage(parseXml(xml)).keys],
] as const)("%s decodeEncryptedMessage with the one-pass base64 decoder", (_name, stanza, decodeKeys) => {
  const good = [0, 1, 2, 3, 4].map((i) => encodeBase64(counting(40, i)));

  it("gives every key its bytes", () => {
    const keys = decodeKeys(stanza(good));
    expect(keys.map((k) => k.rid)).toEqual([1, 2, 3, 4, 5]);
    for (const [i, k] of keys.entries()) expect(k.data).toEqual(counting(40, i));
  });

  it("accepts wrapped base64 (the strict decoder's case) beside unwrapped keys", () => {
    const wrapped = [...good];
    wrapped[2] = `\n  ${good[2]!.slice(0, 20)}\n  ${good[2]!.slice(20)}\n`;
    expect(decodeKeys(stanza(wrapped))[2]!.data).toEqual(counting(40, 2));
  });

  it.each([
    ["a character outside the alphabet", "AAAA-AAA", "INVALID_BASE64"],
    ["non-canonical trailing bits", "AB==", "INVALID_BASE64"],
    ["wrong padding", "AAA", "INVALID_BASE64"],
    ["nothing", "", "MALFORMED_STANZA"],
    ["too many bytes", encodeBase64(new Uint8Array(MAX_KEY_ELEMENT_BYTES + 1)), "STANZA_TOO_LARGE"],
  ])("a <key> for another device with %s still fails the whole stanza", (_what, text, code) => {
    const texts = [...good];
    texts[4] = text; // the receiver (rid 1) never reads it
    expect(errorCode(() => decodeKeys(stanza(texts)))).toBe(code);
  });
});
