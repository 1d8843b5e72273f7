import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildXmppUri,
  createTrustStore,
  formatShareText,
  isTrustError,
  memoryTrustStorage,
  MAX_URI_FINGERPRINTS,
  parseShareUri,
  parseXmppUri,
  qrPayload,
} from "../src/index.js";
import type { SharedFingerprint, TrustErrorCode } from "../src/index.js";

const A = "a364484c7c74a0d427b89d8a5613de8c2fc0179ea493392242348b0e597d9b06";
const B = "44afeb6e69c09ccb0db769cba844a8eab246066e54147eabb65590d3ad90e411";
const OTR = "07771c1ab53e3e891f6643bbea44acd382f1e7f9";

describe("RFC 5122 xmpp: URIs with fingerprints, as written in the wild", () => {
  it("Conversations: several omemo-sid-<id>=<64 hex> separated by ';'", () => {
    const uri = parseXmppUri(`xmpp:hitalin@cock.li?omemo-sid-1522580533=${A};omemo-sid-1157939698=${B}`);
    expect(uri).toEqual({
      jid: "hitalin@cock.li",
      bareJid: "hitalin@cock.li",
      params: {},
      fingerprints: [
        { protocol: "omemo", deviceId: 1522580533, fingerprint: A },
        { protocol: "omemo", deviceId: 1157939698, fingerprint: B },
      ],
    });
  });

  it("Dino, Gajim, xmppc: one omemo-sid; Gajim-style uppercase hex is read as lowercase", () => {
    expect(parseXmppUri(`xmpp:me@example.com?omemo-sid-1234=${A.toUpperCase()}`).fingerprints).toEqual([
      { protocol: "omemo", deviceId: 1234, fingerprint: A },
    ]);
  });

  it("UWPX and others: the 33-byte key with its 0x05 type byte", () => {
    expect(parseXmppUri(`xmpp:me@example.com?omemo-sid-7=05${A}`).fingerprints).toEqual([
      { protocol: "omemo", deviceId: 7, fingerprint: A },
    ]);
  });

  it("actions mixed with fingerprint parameters: ?message, ?roster;name=..., ?message;body=...", () => {
    const message = parseXmppUri(`xmpp:romeo@montague.net?message;omemo-sid-1=${A}`);
    expect(message.action).toBe("message");
    expect(message.fingerprints).toHaveLength(1);
    const roster = parseXmppUri(`xmpp:romeo@montague.net?roster;name=Romeo%20Montague;group=Friends;omemo-sid-2=${B}`);
    expect(roster).toMatchObject({ action: "roster", params: { name: "Romeo Montague", group: "Friends" } });
    expect(roster.fingerprints).toEqual([{ protocol: "omemo", deviceId: 2, fingerprint: B }]);
    const body = parseXmppUri("xmpp:romeo@montague.net?message;body=Here%27s%20a%20test%20message");
    expect(body).toMatchObject({ action: "message", params: { body: "Here's a test message" }, fingerprints: [] });
  });

  it("percent-encoding in the JID (RFC 5122 §2.8 examples, and UTF-8)", () => {
    expect(parseXmppUri("xmpp:nasty!%23$%25()*+,-.;=%3F%5B%5C%5D%5E_%60%7B%7C%7D~node@example.com").jid).toBe(
      "nasty!#$%()*+,-.;=?[\\]^_`{|}~node@example.com",
    );
    expect(parseXmppUri(`xmpp:%C3%A9lise@example.com?omemo-sid-9=${A}`).bareJid).toBe("élise@example.com");
  });

  it("authority form, resource, '&' separators, fragment, trailing ';', XMPP: in capitals, spaces around a scanned code", () => {
    const auth = parseXmppUri(`xmpp://guest@example.com/support@example.com?message;omemo-sid-5=${A}`);
    expect(auth).toMatchObject({ jid: "support@example.com", authority: "guest@example.com", action: "message" });
    const lone = parseXmppUri("xmpp://support@example.com");
    expect(lone).toMatchObject({ jid: "support@example.com", authority: "support@example.com" });
    const resource = parseXmppUri(`xmpp:bob@example.net/phone?omemo-sid-1=${A}`);
    expect(resource).toMatchObject({ jid: "bob@example.net/phone", bareJid: "bob@example.net" });
    const amp = parseXmppUri(
      `xmpp:bob@example.net?omemo-sid-1=${A}&omemo-sid-2=${B}&otr-fingerprint=${OTR.toUpperCase()}`,
    );
    expect(amp.fingerprints).toEqual([
      { protocol: "omemo", deviceId: 1, fingerprint: A },
      { protocol: "omemo", deviceId: 2, fingerprint: B },
      { protocol: "otr", fingerprint: OTR },
    ]);
    expect(parseXmppUri(`  XMPP:bob@example.net?omemo-sid-1=${A};#frag\n`).fingerprints).toHaveLength(1);
    expect(parseXmppUri("xmpp:example.net").jid).toBe("example.net");
  });

  it("parameter names like __proto__ are plain keys (no prototype pollution), first occurrence wins", () => {
    const uri = parseXmppUri("xmpp:b@x?message;__proto__=x;constructor=y;name=first;name=second");
    expect(Object.getPrototypeOf(uri.params)).toBe(Object.prototype);
    expect(Object.keys(uri.params)).toEqual(["__proto__", "constructor", "name"]);
    expect(uri.params["name"]).toBe("first");
    expect(({} as Record<string, unknown>)["x"]).toBeUndefined();
  });

  it("Moxxy's OMEMO 2 form omemo2-sid-<id>, beside legacy devices in the URI's order, one id in both namespaces kept apart", () => {
    expect(parseXmppUri(`xmpp:moxxy@example.org?omemo2-sid-1234=${A.toUpperCase()}`).fingerprints).toEqual([
      { protocol: "omemo2", deviceId: 1234, fingerprint: A },
    ]);
    expect(parseXmppUri(`xmpp:b@x?omemo2-sid-7=${A}&omemo-sid-7=${B};otr-fingerprint=${OTR}`).fingerprints).toEqual([
      { protocol: "omemo2", deviceId: 7, fingerprint: A },
      { protocol: "omemo", deviceId: 7, fingerprint: B },
      { protocol: "otr", fingerprint: OTR },
    ]);
    const code = (uri: string): TrustErrorCode | undefined => {
      try {
        parseXmppUri(uri);
        return undefined;
      } catch (e) {
        return isTrustError(e) ? e.code : undefined;
      }
    };
    expect(code(`xmpp:b@x?omemo2-sid-7=${A};omemo2-sid-7=${B}`)).toBe("INVALID_URI");
    expect(code(`xmpp:b@x?omemo2-sid-x=${A}`)).toBe("INVALID_DEVICE_ID");
    expect(code("xmpp:b@x?omemo2-sid-7=")).toBe("MISSING_FINGERPRINT");
    expect(code(`xmpp:b@x?omemo2-sid-7=${OTR}`)).toBe("INVALID_FINGERPRINT");
  });

  it("applyUri stores OMEMO 2 devices under the omemo protocol as legacy ones (or the one the app names)", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const uri = `xmpp:bob@example.net?omemo2-sid-3=${A};omemo-sid-4=${B}`;
    const records = await store.applyUri("me@example.com", uri);
    expect(records.map((r) => [r.protocol, r.fingerprint, r.state])).toEqual([
      ["omemo", A, "verified"],
      ["omemo", B, "verified"],
    ]);
    const named = await store.applyUri("me@example.com", uri, { omemo2Protocol: "omemo2" });
    expect(named.map((r) => r.protocol)).toEqual(["omemo2", "omemo"]);
  });

  it("a parameter repeated with the same fingerprint is one fingerprint", () => {
    expect(parseXmppUri(`xmpp:b@x?omemo-sid-1=${A};omemo-sid-1=${A.toUpperCase()}`).fingerprints).toHaveLength(1);
  });
});

describe("Conversations invite links (https://conversations.im/i/...) carry the same parameters with '&'", () => {
  it("reads /i/<user@host> and /i/<user>/<host>, and xmpp: URIs too", () => {
    expect(parseShareUri(`https://conversations.im/i/bob@example.net?omemo-sid-1=${A}&omemo-sid-2=${B}`)).toEqual({
      jid: "bob@example.net",
      bareJid: "bob@example.net",
      params: {},
      fingerprints: [
        { protocol: "omemo", deviceId: 1, fingerprint: A },
        { protocol: "omemo", deviceId: 2, fingerprint: B },
      ],
    });
    expect(parseShareUri("https://Conversations.im/i/bob/example.net").jid).toBe("bob@example.net");
    expect(parseShareUri(`xmpp:bob@example.net?omemo-sid-1=${A}`).fingerprints).toHaveLength(1);
    expect(parseShareUri("https://invite.example/i/bob@example.net", { inviteHosts: ["invite.example"] }).jid).toBe(
      "bob@example.net",
    );
  });
  it.each([
    "https://evil.example/i/bob@example.net",
    "https://conversations.im/j/room@conference.example.net",
    "https://conversations.im/i/",
    "https://conversations.im/i/a/b/c",
    "http://conversations.im/i/bob@example.net",
  ])("refuses %s", (uri) => {
    expect(() => parseShareUri(uri)).toThrow(expect.objectContaining({ code: "INVALID_URI" }));
  });
  it("still checks every fingerprint parameter", () => {
    expect(() => parseShareUri("https://conversations.im/i/bob@example.net?omemo-sid-x=" + A)).toThrow(
      expect.objectContaining({ code: "INVALID_DEVICE_ID" }),
    );
  });
});

describe("malformed URIs are rejected with a typed error", () => {
  const cases: Array<[string, TrustErrorCode]> = [
    ["https://conversations.im/i/bob@example.net", "INVALID_URI"],
    ["mailto:bob@example.net", "INVALID_URI"],
    ["", "INVALID_URI"],
    ["xmpp:", "INVALID_URI"],
    [`xmpp:?omemo-sid-1=${A}`, "INVALID_URI"],
    ["xmpp:@example.com", "INVALID_URI"],
    ["xmpp:bob@", "INVALID_URI"],
    ["xmpp:bob@example.net/", "INVALID_URI"],
    ["xmpp:bob smith@example.net", "INVALID_URI"],
    ["xmpp:bob%20smith@example.net", "INVALID_URI"],
    ["xmpp:bob%zz@example.net", "INVALID_URI"],
    [`xmpp:bob@example.net?omemo-sid-1=${A};omemo-sid-1=${B}`, "INVALID_URI"],
    [`xmpp:bob@example.net?otr-fingerprint=${OTR};otr-fingerprint=${"00".repeat(20)}`, "INVALID_URI"],
    [`xmpp:bob@example.net?omemo-sid-1=${A};name=%E0%A4%A`, "INVALID_URI"],
    [`xmpp:bob@example.net?omemo-sid-abc=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid--5=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-0=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-4294967296=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-1.5=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-0x10=${A}`, "INVALID_DEVICE_ID"],
    [`xmpp:bob@example.net?omemo-sid-%2B5=${A}`, "INVALID_DEVICE_ID"],
    ["xmpp:bob@example.net?omemo-sid-123", "MISSING_FINGERPRINT"],
    ["xmpp:bob@example.net?omemo-sid-123=", "MISSING_FINGERPRINT"],
    ["xmpp:bob@example.net?message;omemo-sid-123=;omemo-sid-4=" + A, "MISSING_FINGERPRINT"],
    ["xmpp:bob@example.net?otr-fingerprint", "MISSING_FINGERPRINT"],
    [`xmpp:bob@example.net?omemo-sid-1=${A.slice(0, 62)}`, "INVALID_FINGERPRINT"],
    [`xmpp:bob@example.net?omemo-sid-1=${A.slice(0, 63)}`, "INVALID_FINGERPRINT"],
    [`xmpp:bob@example.net?omemo-sid-1=${A}00`, "INVALID_FINGERPRINT"],
    [`xmpp:bob@example.net?omemo-sid-1=06${A}`, "INVALID_FINGERPRINT"],
    [`xmpp:bob@example.net?omemo-sid-1=${A.slice(0, 63)}g`, "INVALID_FINGERPRINT"],
    [`xmpp:bob@example.net?otr-fingerprint=${A}`, "INVALID_FINGERPRINT"],
  ];
  it.each(cases)("%s -> %s", (uri, code) => {
    expect(() => parseXmppUri(uri)).toThrow(expect.objectContaining({ name: "TrustError", code }));
  });

  // RFC 5122 §2.2: the path splits into localpart, domain and resource before percent-decoding, so an encoded
  // '/' or '@' is a character of a part, and RFC 7622 §3.3.1 forbids it (and ':') in a localpart.
  // Controls and format characters (bidi overrides, NUL) cannot be shown faithfully to a user comparing JIDs.
  const malformedJids: Array<[string, RegExp]> = [
    [`xmpp:alice%2Fx@example.com?omemo-sid-1=${A}`, /localpart contains '\/'/],
    [`xmpp:alice%40x@example.com?omemo-sid-1=${A}`, /localpart contains '@'/],
    [`xmpp:alice%3Ax@example.com?omemo-sid-1=${A}`, /localpart contains ':'/],
    [`xmpp:alice@bob@example.com?omemo-sid-1=${A}`, /more than one '@'/],
    [`xmpp:alice@example.com%2Fevil?omemo-sid-1=${A}`, /domain contains '\/'/],
    [`xmpp:alice@%40example.com?omemo-sid-1=${A}`, /domain contains '@'/],
    [`xmpp:@example.com/phone?omemo-sid-1=${A}`, /empty localpart/],
    [`xmpp:alice@/phone?omemo-sid-1=${A}`, /empty domain/],
    [`xmpp:alice%E2%80%AE@example.com?omemo-sid-1=${A}`, /control or format character U\+202E/],
    [`xmpp:alice@example.com/phone%E2%80%AEenoh?omemo-sid-1=${A}`, /resource .*U\+202E/],
    [`xmpp:alice@example.com/phone%00?omemo-sid-1=${A}`, /resource .*U\+0000/],
    [`xmpp:alice%00@example.com?omemo-sid-1=${A}`, /U\+0000/],
    [`xmpp:alice@exa%E2%80%8Bmple.com?omemo-sid-1=${A}`, /domain .*U\+200B/],
    [`xmpp://me%2Fx@example.org/alice@example.com?omemo-sid-1=${A}`, /localpart contains '\/'/],
    [`https://conversations.im/i/a%2Fb/evil.com?omemo-sid-1=${A}`, /localpart contains '\/'/],
    [`https://conversations.im/i/alice%2Fx@example.com?omemo-sid-1=${A}`, /localpart contains '\/'/],
    [`https://conversations.im/i/a%40b/evil.com?omemo-sid-1=${A}`, /localpart contains '@'/],
    [`https://conversations.im/i/alice/evil%2Fcom?omemo-sid-1=${A}`, /domain contains '\/'/],
  ];
  it.each(malformedJids)("%s is refused: %s", (uri, message) => {
    expect(() => parseShareUri(uri)).toThrow(expect.objectContaining({ name: "TrustError", code: "INVALID_URI" }));
    expect(() => parseShareUri(uri)).toThrow(message);
  });

  it("still reads an encoded character that is allowed where it stands, and '/' or '@' inside a resource", () => {
    expect(parseXmppUri("xmpp:d%3Fn@x/a/b@c")).toMatchObject({ jid: "d?n@x/a/b@c", bareJid: "d?n@x" });
    expect(parseXmppUri("xmpp:x.example/res")).toMatchObject({ jid: "x.example/res", bareJid: "x.example" });
    expect(parseShareUri("https://conversations.im/i/%C3%A9lise/example.org").bareJid).toBe("élise@example.org");
  });

  it("buildXmppUri and formatShareText refuse the same JIDs", () => {
    for (const jid of ["a:b@x", "a@b@x", "a\u202e@x", "a@x/\u0000", "@x", "a@"])
      for (const build of [() => buildXmppUri({ jid }), () => formatShareText(jid, [])])
        expect(build).toThrow(expect.objectContaining({ code: "INVALID_URI" }));
  });

  it("checks parseShareUri's options first: INVALID_ARGUMENT, not a TypeError", () => {
    const link = "https://conversations.im/i/bob@example.net";
    for (const options of [{ inviteHosts: "x" }, { inviteHosts: [1] }, { inviteHosts: [""] }, null, "x"])
      // @ts-expect-error a JavaScript caller may pass anything
      expect(() => parseShareUri(link, options)).toThrow(
        expect.objectContaining({ name: "TrustError", code: "INVALID_ARGUMENT" }),
      );
  });

  it("rejects oversized URIs and more fingerprints than one account can have", () => {
    expect(() => parseXmppUri(`xmpp:b@x?body=${"a".repeat(5000)}`)).toThrow(
      expect.objectContaining({ code: "INVALID_URI" }),
    );
    const many = Array.from({ length: MAX_URI_FINGERPRINTS + 1 }, (_, i) => `omemo-sid-${i + 1}=${A}`).join(";");
    expect(() => parseXmppUri(`xmpp:b@x?${many}`)).toThrow(expect.objectContaining({ code: "INVALID_URI" }));
  });

  it("parseXmppUri and parseShareUri never throw anything but a TrustError, whatever the input", () => {
    const piece = fc.constantFrom(
      "xmpp:",
      "xmpp://",
      "b@x",
      "/",
      "?",
      ";",
      "&",
      "=",
      "#",
      "%",
      "%4",
      "%C3",
      "omemo-sid-",
      "1",
      "otr-fingerprint",
      A,
      "05",
      "message",
      "https://conversations.im/i/",
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(piece).map((p) => p.join("")),
        ),
        (input) => {
          for (const parse of [parseXmppUri, parseShareUri])
            try {
              const parsed = parse(input);
              for (const f of parsed.fingerprints)
                expect(f.fingerprint).toMatch(f.protocol === "omemo" ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{40}$/);
            } catch (error) {
              expect(isTrustError(error)).toBe(true);
            }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

const hexString = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF".split("")), minLength: length, maxLength: length });

describe("building sharing strings", () => {
  const localpart = fc
    .string({ minLength: 1, maxLength: 12, unit: "grapheme" })
    // a localpart cannot contain ':' or controls and format characters (RFC 7622 §3.3.1), so the generator leaves them out
    .filter((s) => !/[\s"&'<>@/:\p{Cc}\p{Cf}]/u.test(s));
  const shared: fc.Arbitrary<SharedFingerprint> = fc.oneof(
    fc.record({
      protocol: fc.constant("omemo" as const),
      deviceId: fc.integer({ min: 1, max: 0xffffffff }),
      fingerprint: hexString(64),
    }),
    fc.record({
      protocol: fc.constant("omemo2" as const),
      deviceId: fc.integer({ min: 1, max: 0xffffffff }),
      fingerprint: hexString(64),
    }),
    fc.record({ protocol: fc.constant("otr" as const), fingerprint: hexString(40) }),
  );

  it("buildXmppUri and parseXmppUri round-trip (distinct device ids, one OTR key)", () => {
    fc.assert(
      fc.property(
        localpart,
        fc.option(fc.constantFrom("message", "roster"), { nil: undefined }),
        fc.uniqueArray(shared, {
          maxLength: 6,
          selector: (s) => (s.protocol === "otr" ? "otr" : `${s.protocol}/${s.deviceId}`),
        }),
        fc.dictionary(fc.constantFrom("name", "body", "group"), fc.string({ maxLength: 10 })),
        (local, action, fingerprints, params) => {
          const jid = `${local}@example.org`;
          const uri = buildXmppUri({ jid, ...(action === undefined ? {} : { action }), params, fingerprints });
          const parsed = parseXmppUri(uri);
          expect(parsed.jid).toBe(jid);
          expect(parsed.action).toBe(action);
          expect(parsed.params).toEqual(params);
          const sorted = (list: readonly SharedFingerprint[]) =>
            [...list].map((f) => JSON.stringify({ ...f, fingerprint: f.fingerprint.toLowerCase() })).sort();
          expect(sorted(parsed.fingerprints)).toEqual(sorted(fingerprints));
        },
      ),
    );
  });

  it("writes Conversations' exact form", () => {
    expect(
      buildXmppUri({
        jid: "hitalin@cock.li",
        fingerprints: [
          { protocol: "omemo", deviceId: 1522580533, fingerprint: `05${A.toUpperCase()}` },
          { protocol: "omemo", deviceId: 1157939698, fingerprint: B },
        ],
      }),
    ).toBe(`xmpp:hitalin@cock.li?omemo-sid-1522580533=${A};omemo-sid-1157939698=${B}`);
    expect(buildXmppUri({ jid: "d?n@x" })).toBe("xmpp:d%3Fn@x");
  });

  it("refuses reserved parameter names, bad device ids and bad fingerprints", () => {
    expect(() => buildXmppUri({ jid: "b@x", params: { "omemo-sid-1": A } })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() =>
      buildXmppUri({ jid: "b@x", fingerprints: [{ protocol: "omemo", deviceId: 0, fingerprint: A }] }),
    ).toThrow(expect.objectContaining({ code: "INVALID_DEVICE_ID" }));
    expect(() => buildXmppUri({ jid: "b@x", fingerprints: [{ protocol: "otr", fingerprint: A }] })).toThrow(
      expect.objectContaining({ code: "INVALID_FINGERPRINT" }),
    );
    expect(() => buildXmppUri({ jid: "" })).toThrow(expect.objectContaining({ code: "INVALID_URI" }));
    expect(() => buildXmppUri({ jid: "b@x", params: { "OMEMO2-sid-1": A } })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    const twice: SharedFingerprint[] = [
      { protocol: "omemo2", deviceId: 5, fingerprint: A },
      { protocol: "omemo2", deviceId: 5, fingerprint: B },
    ];
    expect(() => buildXmppUri({ jid: "b@x", fingerprints: twice })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(
      buildXmppUri({
        jid: "b@x",
        fingerprints: [
          { protocol: "omemo2", deviceId: 5, fingerprint: A },
          { protocol: "omemo", deviceId: 5, fingerprint: B },
        ],
      }),
    ).toBe(`xmpp:b@x?omemo2-sid-5=${A};omemo-sid-5=${B}`);
  });

  it("plain text: one line per key, grouped as people compare them", () => {
    expect(
      formatShareText("bob@example.net", [
        { protocol: "omemo", deviceId: 42, fingerprint: A },
        { protocol: "omemo2", deviceId: 43, fingerprint: B },
        { protocol: "otr", fingerprint: OTR },
      ]),
    ).toBe(
      [
        "XMPP: bob@example.net",
        "OMEMO device 42: a364484c 7c74a0d4 27b89d8a 5613de8c 2fc0179e a4933922 42348b0e 597d9b06",
        "OMEMO 2 device 43: 44afeb6e 69c09ccb 0db769cb a844a8ea b246066e 54147eab b65590d3 ad90e411",
        "OTR: 07771C1A B53E3E89 1F6643BB EA44ACD3 82F1E7F9",
      ].join("\n"),
    );
  });

  it("QR payload: the URI as UTF-8 bytes, refused when it would not fit a QR code at level M", () => {
    const payload = qrPayload({
      jid: "élise@example.com",
      fingerprints: [{ protocol: "omemo", deviceId: 1, fingerprint: A }],
    });
    expect(payload.text).toBe(`xmpp:%C3%A9lise@example.com?omemo-sid-1=${A}`);
    expect(new TextDecoder().decode(payload.bytes)).toBe(payload.text);
    expect(parseXmppUri(payload.text).bareJid).toBe("élise@example.com");
    const many = Array.from({ length: 40 }, (_, i): SharedFingerprint => ({
      protocol: "omemo",
      deviceId: 1_000_000_000 + i,
      fingerprint: A,
    }));
    expect(() => qrPayload({ jid: "b@x", fingerprints: many })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
