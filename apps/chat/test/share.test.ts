// src/share.ts: fingerprint URIs as deployed XMPP clients write and read them, and their QR codes for the
// terminal. The "known examples" are built exactly as each client's code builds them (source named in each
// test); the keys in them are made up.
import fc from "fast-check";
import { NS_LEGACY, NS_V2, type OmemoNamespace } from "@parley/omemo";
import QRCode from "qrcode";
import { describe, expect, it } from "vitest";
import {
  fingerprintUri,
  isShareError,
  MAX_SHARE_FINGERPRINTS,
  MAX_SHARE_URI_LENGTH,
  parseFingerprintUri,
  renderQr,
  ShareError,
  type ShareErrorCode,
} from "../src/share.js";

const A = "aa11bb22cc33dd44ee55ff6600778899aabbccddeeff00112233445566778899";
const B = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
const OTR = "8fbb10d4a2b73fae935ff3aeba5effe29a98966f";

function codeOf(f: () => unknown): ShareErrorCode | "no error" | "other error" {
  try {
    f();
    return "no error";
  } catch (e) {
    return isShareError(e) ? e.code : "other error";
  }
}

describe("fingerprintUri", () => {
  it("writes Conversations' format: omemo-sid-<id>=<64 lowercase hex> joined by ';', OTR last", () => {
    expect(
      fingerprintUri("juliet@example.com", {
        omemo: [
          { deviceId: 1234, fingerprint: A.toUpperCase(), namespace: NS_LEGACY },
          { deviceId: 99, fingerprint: `05${B}` },
        ],
        otr: OTR.toUpperCase(),
      }),
    ).toBe(`xmpp:juliet@example.com?omemo-sid-1234=${A};omemo-sid-99=${B};otr-fingerprint=${OTR}`);
  });

  it("takes key bytes: 32, or 33 with libsignal's 0x05 type byte", () => {
    const key = Uint8Array.from(A.match(/../g)!.map((h) => parseInt(h, 16)));
    const typed = Uint8Array.of(0x05, ...key);
    expect(fingerprintUri("a@b", { omemo: [{ deviceId: 1, fingerprint: key, namespace: NS_LEGACY }] })).toBe(
      `xmpp:a@b?omemo-sid-1=${A}`,
    );
    expect(fingerprintUri("a@b", { omemo: [{ deviceId: 1, fingerprint: typed, namespace: NS_LEGACY }] })).toBe(
      `xmpp:a@b?omemo-sid-1=${A}`,
    );
  });

  it("writes OMEMO 2 devices as omemo2-sid-<id> (Moxxy's form), the same id allowed in both namespaces", () => {
    expect(
      fingerprintUri("romeo@example.net", {
        omemo: [
          { deviceId: 5, fingerprint: A, namespace: NS_LEGACY },
          { deviceId: 5, fingerprint: B, namespace: NS_V2 },
        ],
      }),
    ).toBe(`xmpp:romeo@example.net?omemo-sid-5=${A};omemo2-sid-5=${B}`);
  });

  it("a JID alone, and a JID percent-encoded where RFC 5122 needs it", () => {
    expect(fingerprintUri("example.com")).toBe("xmpp:example.com");
    expect(fingerprintUri("jürgen?x#y@example.com", { otr: OTR })).toBe(
      `xmpp:j%C3%BCrgen%3Fx%23y@example.com?otr-fingerprint=${OTR}`,
    );
  });

  it("refuses what it cannot write, with a typed error", () => {
    const fp = (deviceId: number, fingerprint: string | Uint8Array = A) => ({
      omemo: [{ deviceId, fingerprint, namespace: NS_LEGACY as OmemoNamespace }],
    });
    const cases: [() => unknown, ShareErrorCode][] = [
      [() => fingerprintUri(""), "INVALID_JID"],
      [() => fingerprintUri("juliet@example.com/balcony"), "INVALID_JID"],
      [() => fingerprintUri("a@b@c"), "INVALID_JID"],
      [() => fingerprintUri("juliet smith@example.com"), "INVALID_JID"],
      [() => fingerprintUri("juliet\u202e@example.com"), "INVALID_JID"],
      [() => fingerprintUri("\ud800@example.com"), "INVALID_JID"],
      [() => fingerprintUri("a@b", fp(0)), "INVALID_DEVICE_ID"],
      [() => fingerprintUri("a@b", fp(-1)), "INVALID_DEVICE_ID"],
      [() => fingerprintUri("a@b", fp(1.5)), "INVALID_DEVICE_ID"],
      [() => fingerprintUri("a@b", fp(2 ** 32)), "INVALID_DEVICE_ID"],
      [() => fingerprintUri("a@b", fp(1, A.slice(2))), "INVALID_FINGERPRINT"],
      [() => fingerprintUri("a@b", fp(1, `${A}00`)), "INVALID_FINGERPRINT"],
      [() => fingerprintUri("a@b", fp(1, A.replace("a", "g"))), "INVALID_FINGERPRINT"],
      [() => fingerprintUri("a@b", fp(1, new Uint8Array(31))), "INVALID_FINGERPRINT"],
      [() => fingerprintUri("a@b", { otr: A }), "INVALID_FINGERPRINT"],
      [
        () => fingerprintUri("a@b", { omemo: [{ deviceId: 1, fingerprint: A, namespace: "urn:x" as never }] }),
        "INVALID_ARGUMENT",
      ],
      [
        () =>
          fingerprintUri("a@b", {
            omemo: [
              { deviceId: 1, fingerprint: A, namespace: NS_LEGACY },
              { deviceId: 1, fingerprint: B, namespace: NS_LEGACY },
            ],
          }),
        "INVALID_ARGUMENT",
      ],
      [
        () =>
          fingerprintUri("a@b", {
            omemo: Array.from({ length: MAX_SHARE_FINGERPRINTS + 1 }, (_, i) => ({
              deviceId: i + 1,
              fingerprint: A,
              namespace: NS_LEGACY,
            })),
          }),
        "INVALID_ARGUMENT",
      ],
      [() => fingerprintUri("a@b", null as never), "INVALID_ARGUMENT"],
    ];
    expect(cases.map(([f]) => codeOf(f))).toEqual(cases.map(([, code]) => code));
    expect(() => fingerprintUri("")).toThrow(ShareError);
  });
});

describe("parseFingerprintUri: URIs as deployed clients write them", () => {
  it("Conversations: Account.getShareableUri(), own device and verified own devices, ';'-joined", () => {
    // XmppUri.getFingerprintUri("xmpp:" + bare, fingerprints, ';') with OMEMO_URI_PARAM = "omemo-sid-" and
    // AxolotlService.getOwnFingerprint().substring(2) (lowercase hex, the 0x05 byte dropped).
    expect(parseFingerprintUri(`xmpp:juliet@example.com?omemo-sid-1522580533=${A};omemo-sid-1157939698=${B}`)).toEqual({
      jid: "juliet@example.com",
      omemo: [
        { deviceId: 1522580533, fingerprintHex: A, namespace: NS_LEGACY },
        { deviceId: 1157939698, fingerprintHex: B, namespace: NS_LEGACY },
      ],
    });
  });

  it("Dino: plugins/omemo encryption_preferences_entry.vala, GLib.Uri.join with the JID escaped as a path segment", () => {
    // `omemo-sid-$(sid)=$(fingerprint)`, fingerprint_from_base64 (lowercase, type byte dropped); GLib escapes
    // characters outside RFC 3986 pchar, e.g. a non-ASCII localpart.
    expect(parseFingerprintUri(`xmpp:j%C3%BCrgen@example.org?omemo-sid-42=${A}`)).toEqual({
      jid: "jürgen@example.org",
      omemo: [{ deviceId: 42, fingerprintHex: A, namespace: NS_LEGACY }],
    });
  });

  it("Monal: OmemoQrCodeView.swift, trusted devices of a contact as omemo-sid-%@=%@ after '?' then ';'", () => {
    expect(parseFingerprintUri(`xmpp:romeo@example.net?omemo-sid-7=${A};omemo-sid-2147483647=${B}`).omemo).toEqual([
      { deviceId: 7, fingerprintHex: A, namespace: NS_LEGACY },
      { deviceId: 2147483647, fingerprintHex: B, namespace: NS_LEGACY },
    ]);
  });

  it("Gajim's OMEMO plugin (uppercase on screen) and clients that keep the 0x05 byte: read as canonical", () => {
    expect(parseFingerprintUri(`xmpp:me@example.com?omemo-sid-1234=${A.toUpperCase()}`).omemo).toEqual([
      { deviceId: 1234, fingerprintHex: A, namespace: NS_LEGACY },
    ]);
    expect(parseFingerprintUri(`xmpp:me@example.com?omemo-sid-1234=05${A}`).omemo[0]!.fingerprintHex).toBe(A);
  });

  it("Moxxy: own_devices.dart writes xmpp:$jid?omemo2-sid-$deviceId=$fingerprint for OMEMO 2", () => {
    expect(parseFingerprintUri(`xmpp:user@moxxy.example?omemo2-sid-3735928559=${B}`)).toEqual({
      jid: "user@moxxy.example",
      omemo: [{ deviceId: 3735928559, fingerprintHex: B, namespace: NS_V2 }],
    });
  });

  it("ChatSecure: XMPPURITests.m testSubscribeWithOTR, `?subscribe;otr-fingerprint=<40 uppercase hex>`", () => {
    expect(parseFingerprintUri(`xmpp:romeo@montague.net?subscribe;otr-fingerprint=${OTR.toUpperCase()}`)).toEqual({
      jid: "romeo@montague.net",
      omemo: [],
      otr: OTR,
    });
  });

  it("old Conversations (OTR era): Account.getShareableUri() wrote `?otr-fingerprint=` alone", () => {
    expect(parseFingerprintUri(`xmpp:juliet@example.com?otr-fingerprint=${OTR}`).otr).toBe(OTR);
  });

  it("tolerates '&', percent-encoded values, grouping, actions, other parameters, a fragment and case", () => {
    const grouped = A.match(/.{8}/g)!.join(" ");
    expect(
      parseFingerprintUri(
        `  XMPP:Juliet@Example.com?message;body=hi%20there&OMEMO-SID-12=${encodeURIComponent(grouped)};preauth=abc;` +
          `omemo=${B};omemo-pq-sid-9=${B};omemo-sid-12=${A}#frag  `,
      ),
    ).toEqual({ jid: "Juliet@Example.com", omemo: [{ deviceId: 12, fingerprintHex: A, namespace: NS_LEGACY }] });
  });

  it("a JID without fingerprints, an authority, a resource (dropped: fingerprints belong to the account)", () => {
    expect(parseFingerprintUri("xmpp:juliet@example.com")).toEqual({ jid: "juliet@example.com", omemo: [] });
    expect(parseFingerprintUri("xmpp:juliet@example.com?")).toEqual({ jid: "juliet@example.com", omemo: [] });
    expect(parseFingerprintUri("xmpp://guest@example.com/support@example.com").jid).toBe("support@example.com");
    expect(parseFingerprintUri(`xmpp:juliet@example.com/balcony?otr-fingerprint=${OTR}`)).toEqual({
      jid: "juliet@example.com",
      omemo: [],
      otr: OTR,
    });
  });
});

describe("parseFingerprintUri: malformed input is a ShareError", () => {
  const cases: [string, unknown, ShareErrorCode][] = [
    ["not a string", 42, "INVALID_URI"],
    ["empty", "", "INVALID_URI"],
    ["another scheme", `https://example.com/?omemo-sid-1=${A}`, "INVALID_URI"],
    ["Conversations' invite link (https, not xmpp:)", `https://conversations.im/i/a@b?omemo-sid-1=${A}`, "INVALID_URI"],
    ["a bare JID without the scheme", "juliet@example.com", "INVALID_URI"],
    ["xmpp without ':'", "xmpp//juliet@example.com", "INVALID_URI"],
    ["too long", `xmpp:a@b?x=${"0".repeat(MAX_SHARE_URI_LENGTH)}`, "TOO_LONG"],
    ["no JID", `xmpp:?omemo-sid-1=${A}`, "INVALID_JID"],
    ["two '@'", "xmpp:a@b@c", "INVALID_JID"],
    ["empty localpart", "xmpp:@example.com", "INVALID_JID"],
    ["a space in the JID", "xmpp:juliet%20smith@example.com", "INVALID_JID"],
    ["a bidi override in the JID", "xmpp:juliet%E2%80%AE@example.com", "INVALID_JID"],
    ["bad percent-encoding in the JID", "xmpp:juliet%zz@example.com", "INVALID_JID"],
    ["device id not a number", `xmpp:a@b?omemo-sid-abc=${A}`, "INVALID_DEVICE_ID"],
    ["device id empty", `xmpp:a@b?omemo-sid-=${A}`, "INVALID_DEVICE_ID"],
    ["device id negative", `xmpp:a@b?omemo-sid--3=${A}`, "INVALID_DEVICE_ID"],
    ["device id 0", `xmpp:a@b?omemo-sid-0=${A}`, "INVALID_DEVICE_ID"],
    ["device id too large", `xmpp:a@b?omemo-sid-4294967296=${A}`, "INVALID_DEVICE_ID"],
    ["device id with a sign", `xmpp:a@b?omemo2-sid-+5=${A}`, "INVALID_DEVICE_ID"],
    ["no fingerprint value", "xmpp:a@b?omemo-sid-1", "INVALID_FINGERPRINT"],
    ["empty fingerprint", "xmpp:a@b?omemo-sid-1=", "INVALID_FINGERPRINT"],
    ["non-hex fingerprint", `xmpp:a@b?omemo-sid-1=${A.slice(0, 63)}x`, "INVALID_FINGERPRINT"],
    ["63 hex digits", `xmpp:a@b?omemo-sid-1=${A.slice(0, 63)}`, "INVALID_FINGERPRINT"],
    ["62 hex digits", `xmpp:a@b?omemo-sid-1=${A.slice(0, 62)}`, "INVALID_FINGERPRINT"],
    ["66 hex digits not starting with 05", `xmpp:a@b?omemo-sid-1=06${A}`, "INVALID_FINGERPRINT"],
    ["an OTR fingerprint as OMEMO", `xmpp:a@b?omemo-sid-1=${OTR}`, "INVALID_FINGERPRINT"],
    ["an OMEMO fingerprint as OTR", `xmpp:a@b?otr-fingerprint=${A}`, "INVALID_FINGERPRINT"],
    ["OTR with no value", "xmpp:a@b?otr-fingerprint=", "INVALID_FINGERPRINT"],
    ["bad percent-encoding in a value", "xmpp:a@b?omemo-sid-1=%G0", "INVALID_URI"],
    ["one device, two fingerprints", `xmpp:a@b?omemo-sid-1=${A};omemo-sid-1=${B}`, "INVALID_URI"],
    ["two OTR fingerprints", `xmpp:a@b?otr-fingerprint=${OTR};otr-fingerprint=${"1".repeat(40)}`, "INVALID_URI"],
    [
      "more fingerprints than allowed",
      `xmpp:a@b?${Array.from({ length: MAX_SHARE_FINGERPRINTS + 1 }, (_, i) => `omemo-sid-${i + 1}=${A}`).join(";")}`,
      "INVALID_URI",
    ],
  ];
  it.each(cases)("%s", (_, input, code) => {
    expect(codeOf(() => parseFingerprintUri(input as string))).toBe(code);
  });

  it("the error names no fingerprint and does not echo the input", () => {
    try {
      parseFingerprintUri(`xmpp:a@b?omemo-sid-1=${A};omemo-sid-1=${B}`);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ShareError);
      expect((e as Error).name).toBe("ShareError");
      expect((e as Error).message).not.toContain(A);
      expect((e as Error).message).not.toContain(B);
    }
  });

  it("a duplicate device with the same fingerprint counts once", () => {
    expect(parseFingerprintUri(`xmpp:a@b?omemo-sid-1=${A};omemo-sid-1=${A.toUpperCase()}`).omemo).toHaveLength(1);
  });
});

// --- round trip ---

/** The code points of `s` (every character used here is one code point, one terminal column). */
function chars(s: string): string[] {
  return Array.from(s);
}
const columns = (line: string): number => chars(line).length;

const hexDigit = fc.constantFrom(...chars("0123456789abcdef"));
const hex = (n: number) => fc.string({ unit: hexDigit, minLength: n, maxLength: n });
const localChar = fc.constantFrom(
  ...chars("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+!$()*,;=~?#%äöüßéřжд日本語😀"),
);
const domainLabel = fc.string({
  unit: fc.constantFrom(...chars("abcdefghijklmnopqrstuvwxyz0123456789-ü")),
  minLength: 1,
  maxLength: 12,
});
const jidArb = fc
  .tuple(
    fc.option(fc.string({ unit: localChar, minLength: 1, maxLength: 20 }), { nil: undefined }),
    fc.array(domainLabel, { minLength: 1, maxLength: 3 }),
  )
  .map(([local, labels]) => (local === undefined ? labels.join(".") : `${local}@${labels.join(".")}`));
const deviceArb = fc.record({
  deviceId: fc.integer({ min: 1, max: 0xffffffff }),
  fingerprint: hex(64),
  namespace: fc.constantFrom<OmemoNamespace>(NS_LEGACY, NS_V2),
});

describe("round trip", () => {
  it("any bare JID and devices -> fingerprintUri -> parseFingerprintUri gives them back", () => {
    fc.assert(
      fc.property(
        jidArb,
        fc.uniqueArray(deviceArb, { maxLength: 8, selector: (d) => `${d.namespace} ${d.deviceId}` }),
        fc.option(hex(40), { nil: undefined }),
        fc.boolean(),
        (jid, devices, otr, upper) => {
          const uri = fingerprintUri(jid, {
            omemo: devices.map((d) => ({ ...d, fingerprint: upper ? d.fingerprint.toUpperCase() : d.fingerprint })),
            ...(otr === undefined ? {} : { otr }),
          });
          expect(uri).toMatch(/^xmpp:[^\s?#]+(\?[^\s#]*)?$/);
          expect(parseFingerprintUri(uri)).toEqual({
            jid,
            omemo: devices.map((d) => ({
              deviceId: d.deviceId,
              fingerprintHex: d.fingerprint,
              namespace: d.namespace,
            })),
            ...(otr === undefined ? {} : { otr }),
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a ShareError on arbitrary text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ maxLength: 200 }).map((s) => `xmpp:${s}`),
          fc.string({ unit: fc.constantFrom(...chars("xmp:@/?#;&=%-0123456789abcdefomsidtr")), maxLength: 120 }),
        ),
        (input) => {
          try {
            parseFingerprintUri(input);
          } catch (e) {
            expect(e).toBeInstanceOf(ShareError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

// --- QR codes ---

/** The module matrix drawn by renderQr's output (half blocks: two rows per line), without the quiet zone. */
function modulesOf(qr: string, margin: number, background: "dark" | "light"): boolean[][] {
  const lines = qr.split("\n");
  const rows: boolean[][] = [];
  for (const line of lines) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const ch of line) {
      // A block character (or its half) is drawn in the text colour: light on a dark terminal.
      const topInk = ch === "█" || ch === "▀";
      const bottomInk = ch === "█" || ch === "▄";
      top.push(background === "dark" ? !topInk : topInk);
      bottom.push(background === "dark" ? !bottomInk : bottomInk);
    }
    rows.push(top, bottom);
  }
  return rows.slice(margin, rows.length - margin).map((r) => r.slice(margin, r.length - margin));
}

describe("renderQr", () => {
  const uri = fingerprintUri("juliet@example.com", {
    omemo: [
      { deviceId: 1522580533, fingerprint: A, namespace: NS_LEGACY },
      { deviceId: 1157939698, fingerprint: B, namespace: NS_LEGACY },
    ],
    otr: OTR,
  });

  it("draws only block characters, in equal lines that fit 80 columns", async () => {
    const qr = await renderQr(uri);
    expect(qr.length).toBeGreaterThan(0);
    expect(qr).toMatch(/^[ █▀▄\n]+$/u);
    const widths = new Set(qr.split("\n").map((l) => columns(l)));
    expect(widths.size).toBe(1);
    expect([...widths][0]).toBeLessThanOrEqual(80);
  });

  it("draws exactly the QR code of the text (level M, 4-module quiet zone) on a dark or light terminal", async () => {
    const expected = QRCode.create(uri, { errorCorrectionLevel: "M" }).modules;
    const want = Array.from({ length: expected.size }, (_, y) =>
      Array.from({ length: expected.size }, (_, x) => Boolean(expected.get(y, x))),
    );
    for (const background of ["dark", "light"] as const) {
      const qr = await renderQr(uri, { background });
      const got = modulesOf(qr, 4, background);
      // The last half-line below an odd-sized code belongs to the quiet zone.
      expect(got.slice(0, expected.size)).toEqual(want);
      // The quiet zone is light: blocks on a dark terminal, blank on a light one.
      const firstLine = qr.split("\n")[0]!;
      expect(firstLine).toMatch(background === "dark" ? /^█+$/u : /^ +$/);
    }
  });

  it("shrinks the quiet zone, then the error correction, to fit; else QR_TOO_LARGE", async () => {
    const many = fingerprintUri("juliet@example.com", {
      omemo: Array.from({ length: 5 }, (_, i) => ({ deviceId: 1000 + i, fingerprint: A, namespace: NS_LEGACY })),
      otr: OTR,
    });
    const qr = await renderQr(many);
    expect(Math.max(...qr.split("\n").map((l) => columns(l)))).toBeLessThanOrEqual(80);
    const narrow = await renderQr(uri, { maxColumns: 60 });
    expect(columns(narrow.split("\n")[0]!)).toBeLessThanOrEqual(60);
    await expect(renderQr(uri, { maxColumns: 30 })).rejects.toMatchObject({ name: "ShareError", code: "QR_TOO_LARGE" });
    await expect(renderQr("x".repeat(3000))).rejects.toMatchObject({ code: "QR_TOO_LARGE" });
    await expect(renderQr("")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(renderQr(uri, { maxColumns: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
