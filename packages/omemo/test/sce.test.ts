import { inspect } from "node:util";
import fc from "fast-check";
import type { Element } from "ltx";
import { describe, expect, it } from "vitest";
import {
  NS_SCE,
  createEnvelope,
  decodeAnyEncryptedMessage,
  decodeBase64,
  decodeEnvelope,
  encodeEnvelope,
  envelopeToString,
  parseXml,
  serializeXml,
  type Envelope,
} from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import { utf8Length } from "../src/xml.js";
import { PROPERTY_RUNS, child, errorCode, isXmlText, shape, vector, vectorElement } from "./helpers.js";

const stripHeader = (xml: string) => xml.replace(/^<!--[^]*?-->\n/, "");
/** Compares `time` by instant, not spelling (the XEP writes +01:00, we write UTC). */
const byInstant = (name: string, value: string) => (name === "stamp" ? String(Date.parse(value)) : value);
/** Affix JIDs are bare after decoding (v0.4.1 §4), whatever the example wrote. */
const bareAffix = (name: string, value: string) => (name === "jid" ? value.split("/")[0]! : value);
const payloadText = (stanza: Element) =>
  new TextDecoder().decode(decodeBase64(child(child(stanza, "encrypted"), "payload").getText(), "payload", 1 << 16));

describe("XEP-0420 v0.4.1 examples", () => {
  it("Example 1 (§4): the affixes, wrapped in an envelope", () => {
    const xml = `<envelope xmlns='${NS_SCE}'><content/>${stripHeader(vector("xep-0420-v0.4.1-ex01"))}</envelope>`;
    const envelope = decodeEnvelope(xml, { to: "missioncontrol@houston.nasa.gov", from: "opportunity@mars.planet" });
    expect(envelope.time?.getTime()).toBe(Date.UTC(2004, 0, 25, 5, 5, 0));
    expect(envelope.rpad).toBe("C1DHN9HK-9A25tSmwK4hU!Jji9%GKYK^syIlHJT9TnI4");
    // Re-encoded in canonical affix order; compare as sets of children.
    const byName = (e: ReturnType<typeof shape>) => ({
      ...e,
      children: [...e.children].sort((a, b) => (a.name < b.name ? -1 : 1)),
    });
    expect(byName(shape(encodeEnvelope(envelope), byInstant))).toEqual(byName(shape(parseXml(xml), byInstant)));
  });

  it("Example 2 (§5): its legacy header holds '...' instead of keys and an iv", () => {
    expect(errorCode(() => legacy.decodeEncryptedMessage(vectorElement("xep-0420-v0.4.1-ex02")))).toBe(
      "MALFORMED_STANZA",
    );
  });

  it.each(["03", "04"])("Example %s (§5): a plain iq is neither an envelope nor an OMEMO element", (n) => {
    const iq = vectorElement(`xep-0420-v0.4.1-ex${n}`);
    expect(errorCode(() => decodeEnvelope(iq, { to: "a@b.c", from: "a@b.c" }))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => decodeAnyEncryptedMessage(iq))).toBe("MALFORMED_STANZA");
  });

  it("Example 5 (§6.1): body and OOB in an envelope without affixes", () => {
    const element = vectorElement("xep-0420-v0.4.1-ex05");
    const envelope = decodeEnvelope(element, { to: "viewer@jabber.org", from: "narrator@jabber.org" });
    expect(envelope.content.map((c) => c.name)).toEqual(["body", "x"]);
    expect(shape(encodeEnvelope(envelope))).toEqual(shape(element));
  });

  it.each(["06", "10"])("Example %s (§6): the stub payload is a pre-0.4 <content> envelope, refused", (n) => {
    const stanza = vectorElement(`xep-0420-v0.4.1-ex${n}`);
    expect(errorCode(() => decodeAnyEncryptedMessage(child(stanza, "encrypted")))).toBe("UNSUPPORTED_NAMESPACE");
    const inner = parseXml(payloadText(stanza));
    expect(inner.attrs["xmlns"]).toBe("urn:xmpp:sce:0");
    expect(errorCode(() => decodeEnvelope(inner, { to: "a@b.c", from: "a@b.c" }))).toBe("MALFORMED_STANZA");
  });

  it("Example 8 (§6.2): the stub payload is English, not XML", () => {
    const text = payloadText(vectorElement("xep-0420-v0.4.1-ex08"));
    expect(errorCode(() => parseXml(text))).toBe("MALFORMED_STANZA");
  });

  it("Example 7 checked against Example 8's iq: the misspelt <to> is SCE_WRONG_RECIPIENT", () => {
    const iq = vectorElement("xep-0420-v0.4.1-ex08");
    const expected = { to: iq.attrs["to"] as string, from: iq.attrs["from"] as string };
    const envelope = vectorElement("xep-0420-v0.4.1-ex07");
    expect(errorCode(() => decodeEnvelope(envelope, expected))).toBe("SCE_WRONG_RECIPIENT");
    // As written (to its own misspelt domain) it decodes, with bare JIDs.
    const decoded = decodeEnvelope(envelope, { ...expected, to: "ladymacbeth@shakespear.lit" });
    expect([decoded.to, decoded.from]).toEqual(["ladymacbeth@shakespear.lit", "doctor@shakespeare.lit"]);
    const reordered = (s: ReturnType<typeof shape>) => ({
      ...s,
      children: [...s.children].sort((a, b) => (a.name < b.name ? -1 : 1)),
    });
    expect(reordered(shape(encodeEnvelope(decoded)))).toEqual(reordered(shape(envelope, bareAffix)));
  });

  it("Example 9 checked against Example 10's iq: the misspelt <from> is SCE_WRONG_SENDER", () => {
    const iq = vectorElement("xep-0420-v0.4.1-ex10");
    const expected = { to: iq.attrs["to"] as string, from: iq.attrs["from"] as string };
    expect(errorCode(() => decodeEnvelope(vectorElement("xep-0420-v0.4.1-ex09"), expected))).toBe("SCE_WRONG_SENDER");
  });
});

const xmlText = fc.string({ unit: "grapheme", maxLength: 40 }).filter(isXmlText);
const bare = fc
  .tuple(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.stringMatching(/^[a-z0-9-]{1,12}\.[a-z]{2,4}$/))
  .map(([l, d]) => `${l}@${d}`);
const body = xmlText.map((t) => parseXml(`<body xmlns='jabber:client'/>`).t(t));

const arbEnvelope: fc.Arbitrary<Envelope> = fc.record(
  {
    content: fc.array(body, { maxLength: 3 }),
    rpad: xmlText,
    time: fc.date({
      min: new Date("0001-01-01T00:00:00Z"),
      max: new Date("9999-12-31T23:59:59Z"),
      noInvalidDate: true,
    }),
    to: bare,
    from: bare,
  },
  { requiredKeys: ["content"] },
);

describe("XEP-0420 v0.4.1 §4 envelope codec", () => {
  it("decode(encode(x)) equals x for any envelope (content compared as XML)", () => {
    fc.assert(
      fc.property(arbEnvelope, (envelope) => {
        const decoded = decodeEnvelope(envelopeToString(envelope), {
          to: envelope.to ?? "any@where.example",
          from: envelope.from ?? "any@where.example",
        });
        const { content, ...affixes } = decoded;
        const { content: original, ...expectedAffixes } = envelope;
        expect(affixes).toEqual(expectedAffixes);
        expect(content.map(serializeXml)).toEqual(original.map(serializeXml));
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it.each([
    ["2004-01-25T06:05:00+01:00", Date.UTC(2004, 0, 25, 5, 5, 0)],
    ["2004-01-25T05:05:00Z", Date.UTC(2004, 0, 25, 5, 5, 0)],
    ["2004-01-25T05:05:00.123456Z", Date.UTC(2004, 0, 25, 5, 5, 0, 123)],
    ["2004-01-25T00:30:00-05:30", Date.UTC(2004, 0, 25, 6, 0, 0)],
    ["2000-02-29T12:00:00Z", Date.UTC(2000, 1, 29, 12)],
  ])("reads the XEP-0082 DateTime %s", (stamp, ms) => {
    const envelope = decodeEnvelope(`<envelope xmlns='${NS_SCE}'><content/><time stamp='${stamp}'/></envelope>`, {
      to: "a@b.c",
      from: "a@b.c",
    });
    expect(envelope.time?.getTime()).toBe(ms);
  });

  it.each([
    "2004-01-25",
    "2004-01-25T05:05:00",
    "2001-02-29T00:00:00Z",
    "2004-13-01T00:00:00Z",
    "2004-01-25T24:00:00Z",
    "yesterday",
  ])("rejects the stamp %s as MALFORMED_STANZA", (stamp) => {
    const xml = `<envelope xmlns='${NS_SCE}'><content/><time stamp='${stamp}'/></envelope>`;
    expect(errorCode(() => decodeEnvelope(xml, { to: "a@b.c", from: "a@b.c" }))).toBe("MALFORMED_STANZA");
  });

  it("drops server-processed elements from the content (§9), keeps origin-id", () => {
    const xml =
      `<envelope xmlns='${NS_SCE}'><content><body xmlns='jabber:client'>hi</body><store xmlns='urn:xmpp:hints'/>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' id='1' by='a@b.c'/><origin-id xmlns='urn:xmpp:sid:0' id='2'/>` +
      `<addresses xmlns='http://jabber.org/protocol/address'/><encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:omemo:2'/></content></envelope>`;
    const envelope = decodeEnvelope(xml, { to: "a@b.c", from: "a@b.c" });
    expect(envelope.content.map((c) => c.name)).toEqual(["body", "origin-id"]);
  });

  it("rejects a content element without its own namespace (§10: <body> must be jabber:client)", () => {
    const xml = `<envelope xmlns='${NS_SCE}'><content><body>hi</body></content></envelope>`;
    expect(errorCode(() => decodeEnvelope(xml, { to: "a@b.c", from: "a@b.c" }))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => encodeEnvelope({ content: [parseXml("<body>hi</body>")] }))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => encodeEnvelope({ content: [parseXml("<store xmlns='urn:xmpp:hints'/>")] }))).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("refuses an envelope in another namespace", () => {
    expect(
      errorCode(() =>
        decodeEnvelope("<envelope xmlns='urn:xmpp:sce:0'><content/></envelope>", { to: "a@b.c", from: "a@b.c" }),
      ),
    ).toBe("UNSUPPORTED_NAMESPACE");
  });
});

describe("XEP-0384 v0.8.3 §5.5.1 SCE profile, receiving", () => {
  const sent = (affixes: string) =>
    `<envelope xmlns='${NS_SCE}'><content><body xmlns='jabber:client'>secret words</body></content>${affixes}</envelope>`;
  const oneToOne = { to: "juliet@capulet.lit/balcony", from: "romeo@montague.lit/orchard" };

  it("compares affixes as bare JIDs, case-insensitively", () => {
    const envelope = decodeEnvelope(
      sent("<rpad>x</rpad><to jid='Juliet@Capulet.lit'/><from jid='romeo@montague.lit'/>"),
      oneToOne,
    );
    expect([envelope.to, envelope.from]).toEqual(["Juliet@Capulet.lit", "romeo@montague.lit"]);
  });

  it("a <to> that is not us is SCE_WRONG_RECIPIENT", () => {
    expect(errorCode(() => decodeEnvelope(sent("<to jid='nurse@capulet.lit'/>"), oneToOne))).toBe(
      "SCE_WRONG_RECIPIENT",
    );
  });

  it("a <from> that is not the sender is SCE_WRONG_SENDER", () => {
    expect(errorCode(() => decodeEnvelope(sent("<from jid='tybalt@capulet.lit'/>"), oneToOne))).toBe(
      "SCE_WRONG_SENDER",
    );
  });

  it("a group chat envelope without <to> is SCE_WRONG_RECIPIENT; a one-to-one one is fine", () => {
    const room = { to: "secret-room@conference.capulet.lit", from: "juliet@capulet.lit", groupchat: true };
    expect(errorCode(() => decodeEnvelope(sent("<rpad/>"), room))).toBe("SCE_WRONG_RECIPIENT");
    expect(decodeEnvelope(sent("<rpad/><to jid='secret-room@conference.capulet.lit'/>"), room).to).toBe(
      "secret-room@conference.capulet.lit",
    );
    expect(decodeEnvelope(sent("<rpad/>"), oneToOne).to).toBeUndefined();
  });

  it("accepts a missing <rpad> (it needs no verification, §4) and an rpad of any length", () => {
    expect(decodeEnvelope(sent(""), oneToOne).rpad).toBeUndefined();
    const long = "z".repeat(5000);
    expect(decodeEnvelope(sent(`<rpad>${long}</rpad>`), oneToOne).rpad).toBe(long);
  });

  it("rejects two <to> affixes rather than choosing one", () => {
    const xml = sent("<to jid='juliet@capulet.lit'/><to jid='nurse@capulet.lit'/>");
    expect(errorCode(() => decodeEnvelope(xml, oneToOne))).toBe("MALFORMED_STANZA");
  });

  it("never prints the decrypted content through util.inspect", () => {
    const envelope = decodeEnvelope(sent("<rpad>x</rpad>"), oneToOne);
    expect(inspect(envelope)).not.toContain("secret words");
    expect(inspect(envelope)).toContain("redacted");
  });
});

describe("XEP-0384 v0.8.3 §5.5.1 SCE profile, sending", () => {
  const content = () => [parseXml("<body xmlns='jabber:client'>Hello</body>")];

  it("writes rpad, time, to and from (bare)", () => {
    const time = new Date(Date.UTC(2026, 3, 1, 12, 0, 0));
    const envelope = createEnvelope({
      content: content(),
      from: "romeo@montague.lit/orchard",
      to: "juliet@capulet.lit",
      time,
    });
    expect(envelope.to).toBe("juliet@capulet.lit");
    expect(envelope.from).toBe("romeo@montague.lit");
    expect(envelope.time).toEqual(time);
    expect(envelope.rpad).toMatch(/^[A-Za-z0-9_-]{0,200}$/);
    const xml = envelopeToString(envelope);
    expect(xml).toContain('<time stamp="2026-04-01T12:00:00.000Z"/>');
    expect(decodeEnvelope(xml, { to: "juliet@capulet.lit", from: "romeo@montague.lit" }).rpad).toBe(envelope.rpad);
  });

  it("leaves <time> out when asked, and stamps a Date by default", () => {
    const without = createEnvelope({ content: content(), from: "a@b.c", to: "d@e.f", time: null });
    expect(without.time).toBeUndefined();
    expect(createEnvelope({ content: content(), from: "a@b.c", to: "d@e.f" }).time).toBeInstanceOf(Date);
  });

  it("draws the padding length uniformly from 0 … 200 by rejection sampling", () => {
    const draws: number[][] = [];
    const script = [[250], [201], [7], [0, 1, 2, 3, 4, 5, 66]];
    const randomBytes = (n: number) => {
      const next = script.shift()!;
      draws.push(next);
      expect(next).toHaveLength(n);
      return Uint8Array.from(next);
    };
    const envelope = createEnvelope({ content: content(), from: "a@b.c", to: "d@e.f", time: null, randomBytes });
    expect(envelope.rpad).toBe("ABCDEFC");
    expect(draws).toHaveLength(4);
  });

  it("covers the whole length range over many envelopes", () => {
    const lengths = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      lengths.add(createEnvelope({ content: [], from: "a@b.c", to: "d@e.f", time: null }).rpad!.length);
    }
    expect(Math.min(...lengths)).toBe(0);
    expect(Math.max(...lengths)).toBe(200);
  });

  it("pads to a minimum size first when asked (XEP-0420 v0.5.0)", () => {
    const envelope = createEnvelope({ content: content(), from: "a@b.c", to: "d@e.f", minLength: 1000 });
    const size = utf8Length(envelopeToString(envelope));
    expect(size).toBeGreaterThanOrEqual(1000);
    expect(size).toBeLessThanOrEqual(1200);
  });

  it("does not re-parent the caller's elements", () => {
    const message = parseXml("<message xmlns='jabber:client'><body>Hello</body></message>");
    const bodyElement = child(message, "body");
    const envelope = createEnvelope({ content: [bodyElement], from: "a@b.c", to: "d@e.f" });
    expect(bodyElement.parent).toBe(message);
    // The copy carries the namespace it inherited.
    expect(envelope.content[0]!.attrs["xmlns"]).toBe("jabber:client");
  });

  it("checks its arguments", () => {
    const bad: unknown[] = [
      { content: content(), from: "", to: "d@e.f" },
      { content: content(), from: "a@b.c", to: "d e@f" },
      { content: "hi", from: "a@b.c", to: "d@e.f" },
      { content: content(), from: "a@b.c", to: "d@e.f", minLength: -1 },
      { content: content(), from: "a@b.c", to: "d@e.f", randomBytes: () => new Uint8Array(0) },
    ];
    for (const options of bad) {
      expect(errorCode(() => createEnvelope(options as Parameters<typeof createEnvelope>[0]))).toBe("INVALID_ARGUMENT");
    }
  });
});
