// XEP-0454 v0.1.0 §3 (the aesgcm URI scheme) and §5 (a strict parser).
import { inspect } from "node:util";
import { bytesToHex, hexToBytes } from "@parley/crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { media } from "../../src/index.js";
import { errorCode } from "../helpers.js";

const { aesgcmFragment, aesgcmUrl, parseAesgcmUrl } = media;

// §3's example, verbatim.
const EXAMPLE_HTTPS = "https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg";
const EXAMPLE_IV = "8c3d050e9386ec173861778f";
const EXAMPLE_KEY = "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587";
const EXAMPLE_URL =
  "aesgcm://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg#8c3d050e9386ec173861778f68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587";

describe("XEP-0454 §3: the aesgcm URI scheme", () => {
  it("§3 example: the https URL, key and IV give the example's aesgcm URL", () => {
    expect(aesgcmUrl(EXAMPLE_HTTPS, hexToBytes(EXAMPLE_KEY), hexToBytes(EXAMPLE_IV))).toBe(EXAMPLE_URL);
    expect(aesgcmFragment(hexToBytes(EXAMPLE_KEY), hexToBytes(EXAMPLE_IV))).toHaveLength(88);
  });

  it("§3 example: the aesgcm URL parses back to the https URL, key and IV", () => {
    const parsed = parseAesgcmUrl(EXAMPLE_URL);
    expect(parsed.httpsUrl).toBe(EXAMPLE_HTTPS);
    expect(bytesToHex(parsed.key)).toBe(EXAMPLE_KEY);
    expect(bytesToHex(parsed.iv)).toBe(EXAMPLE_IV);
  });

  it("§3: a 16-byte IV (96 hex digits, older clients) is accepted when parsing, never produced", () => {
    const iv16 = "00112233445566778899aabbccddeeff";
    const parsed = parseAesgcmUrl(`aesgcm://files.example/a.jpg#${iv16}${EXAMPLE_KEY}`);
    expect(bytesToHex(parsed.iv)).toBe(iv16);
    expect(bytesToHex(parsed.key)).toBe(EXAMPLE_KEY);
    expect(errorCode(() => aesgcmUrl("https://files.example/a.jpg", hexToBytes(EXAMPLE_KEY), hexToBytes(iv16)))).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("§3: uppercase hex and an uppercase scheme are read; the URL round-trips for any key, IV and path", () => {
    expect(bytesToHex(parseAesgcmUrl(EXAMPLE_URL.toUpperCase().replace("AESGCM", "aesgcm")).key)).toBe(EXAMPLE_KEY);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.webPath(),
        (key, iv, path) => {
          const https = `https://upload.example.org${path}`;
          fc.pre(!https.includes("#") && !/\s/.test(https));
          const parsed = parseAesgcmUrl(aesgcmUrl(https, key, iv));
          expect(parsed.httpsUrl).toBe(https);
          expect(bytesToHex(parsed.key)).toBe(bytesToHex(key));
          expect(bytesToHex(parsed.iv)).toBe(bytesToHex(iv));
        },
      ),
    );
  });

  it("§3: non-HTTPS URLs MUST not be converted", () => {
    const key = hexToBytes(EXAMPLE_KEY);
    const iv = hexToBytes(EXAMPLE_IV);
    for (const url of [
      "http://download.montague.tld/a.jpg",
      "ftp://download.montague.tld/a.jpg",
      "https://",
      "https://host/a.jpg#frag",
      "https://host/a b.jpg",
      "https://host/a.jpg\n",
      "download.montague.tld/a.jpg",
    ]) {
      expect(errorCode(() => aesgcmUrl(url, key, iv))).toBe("INVALID_ARGUMENT");
    }
    expect(errorCode(() => aesgcmUrl(EXAMPLE_HTTPS, key.subarray(1), iv))).toBe("INVALID_ARGUMENT");
  });
});

describe("XEP-0454 §5: the receiving parser is very strict", () => {
  it("rejects other schemes, a missing or doubled '#', wrong fragment lengths and non-hex digits", () => {
    const fragment = EXAMPLE_IV + EXAMPLE_KEY;
    for (const url of [
      EXAMPLE_HTTPS + "#" + fragment, // https, not aesgcm
      "aesgcm://download.montague.tld/a.jpg", // no fragment
      "aesgcm://download.montague.tld/a.jpg#", // empty fragment
      `aesgcm://download.montague.tld/a.jpg#${fragment.slice(2)}`, // 86 digits
      `aesgcm://download.montague.tld/a.jpg#${fragment}00`, // 90 digits
      `aesgcm://download.montague.tld/a.jpg#${fragment.slice(1)}g`, // non-hex
      `aesgcm://download.montague.tld/a#b.jpg#${fragment}`, // two '#'
      `aesgcm:///a.jpg#${fragment}`, // no host
      `aesgcm:///download.montague.tld/a.jpg#${fragment}`, // WHATWG would find a host after the third slash
      `aesgcm://\\download.montague.tld/a.jpg#${fragment}`, // WHATWG treats \\ as /
      `aesgcm://user@download.montague.tld/a.jpg#${fragment}`, // user info
      `aesgcm://download.montague.tld/a b.jpg#${fragment}`, // whitespace
      `aesgcm://download.montague.tld/a.jpg#${fragment}\n`, // trailing newline
      `aesgcm:download.montague.tld/a.jpg#${fragment}`, // no authority
    ]) {
      expect(errorCode(() => parseAesgcmUrl(url))).toBe("MEDIA_INVALID_URL");
    }
  });

  it("any string either parses to an https URL with a 32-byte key and a 12- or 16-byte IV, or is MEDIA_INVALID_URL", () => {
    const hexDigits = fc.string({ unit: fc.constantFrom(..."0123456789abcdefG".split("")), maxLength: 100 });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.string(), hexDigits).map(([p, h]) => `aesgcm://${p}#${h}`),
        ),
        (url) => {
          let parsed: ReturnType<typeof parseAesgcmUrl>;
          try {
            parsed = parseAesgcmUrl(url);
          } catch {
            expect(errorCode(() => parseAesgcmUrl(url))).toBe("MEDIA_INVALID_URL");
            return;
          }
          expect(parsed.httpsUrl.startsWith("https://")).toBe(true);
          expect(parsed.key).toHaveLength(32);
          expect([12, 16]).toContain(parsed.iv.length);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("the error never repeats the URL's key", () => {
    try {
      parseAesgcmUrl(`aesgcm:///a.jpg#${EXAMPLE_IV}${EXAMPLE_KEY}`);
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain(EXAMPLE_KEY);
      expect(JSON.stringify(error)).not.toContain(EXAMPLE_KEY);
    }
  });
});

describe("no secrets in inspect, toString or JSON", () => {
  it("parseAesgcmUrl's result and encryptFile's result print without key, IV or fragment", () => {
    const parsed = parseAesgcmUrl(EXAMPLE_URL);
    const encrypted = media.encryptFile(new Uint8Array(1));
    // Hex, and the decimal byte lists util.inspect prints for a Uint8Array.
    const secrets = [EXAMPLE_KEY, EXAMPLE_IV, bytesToHex(encrypted.key), encrypted.fragment];
    for (const bytes of [parsed.key, parsed.iv, encrypted.key, encrypted.iv]) {
      secrets.push(Array.from(bytes.subarray(0, 6)).join(", "));
    }
    const values: unknown[] = [parsed, encrypted];
    for (const value of values) {
      for (const text of [inspect(value), String(value), JSON.stringify(value), inspect({ nested: value })]) {
        for (const secret of secrets) expect(text).not.toContain(secret);
        expect(text).toContain("[redacted]");
      }
    }
    expect(inspect(parsed)).toContain(EXAMPLE_HTTPS);
    // The fields themselves stay readable.
    expect(bytesToHex(parsed.key)).toBe(EXAMPLE_KEY);
  });
});
