// The pure message-layer parts of parley-chat's account (src/archive.ts): carbons and archive results
// accepted only from our own account (forgeries dropped), what a message carries (ids, stanza-id by our
// server only, delay, receipts, markers), OTR bodies, the MAM query and its <fin>, and the bounded id set.
import { describe, expect, it } from "vitest";
import { NS_V2, parseXml, serializeXml } from "@parley/omemo";
import {
  hasPayload,
  isOtrBody,
  mamQuery,
  MAX_ID_CHARS,
  parseFin,
  parseStamp,
  readMessage,
  RecentIds,
  senderDevice,
  unwrapMessage,
} from "../src/archive.js";

const OWN = "alice@example.org";
const inner = (
  attrs = 'from="bob@example.org/phone" to="alice@example.org/desk" type="chat"',
  body = "<body>hi</body>",
) =>
  `<forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="2026-12-01T10:00:00Z"/><message xmlns="jabber:client" ${attrs}>${body}</message></forwarded>`;
const carbon = (from: string | undefined, kind: "sent" | "received", content = inner()) =>
  parseXml(
    `<message${from === undefined ? "" : ` from="${from}"`} to="alice@example.org/laptop"><${kind} xmlns="urn:xmpp:carbons:2">${content}</${kind}></message>`,
  );
const result = (from: string | undefined, queryid = "q1", id = "A1", content = inner()) =>
  parseXml(
    `<message${from === undefined ? "" : ` from="${from}"`} to="alice@example.org/laptop"><result xmlns="urn:xmpp:mam:2" queryid="${queryid}" id="${id}">${content}</result></message>`,
  );

describe("carbons (XEP-0280)", () => {
  it("accepts sent and received carbons from our bare JID", () => {
    const sent = unwrapMessage(carbon("alice@example.org", "sent"), OWN);
    expect(sent.kind).toBe("carbon");
    if (sent.kind !== "carbon") return;
    expect(sent.direction).toBe("sent");
    expect(sent.message.attrs["from"]).toBe("bob@example.org/phone");
    expect(unwrapMessage(carbon("Alice@Example.org", "received"), OWN)).toMatchObject({
      kind: "carbon",
      direction: "received",
    });
  });

  it("drops a forged carbon: from another account, from our full JID, from the server, or with no from", () => {
    for (const from of ["mallory@example.org", "alice@example.org/other", "example.org", undefined]) {
      expect(unwrapMessage(carbon(from, "sent"), OWN)).toEqual({ kind: "drop", reason: "forged" });
      expect(unwrapMessage(carbon(from, "received"), OWN)).toEqual({ kind: "drop", reason: "forged" });
    }
  });

  it("drops a carbon of a <private/> message (§7) and a malformed one", () => {
    const priv = inner(undefined, '<body>x</body><private xmlns="urn:xmpp:carbons:2"/>');
    expect(unwrapMessage(carbon(OWN, "received", priv), OWN)).toEqual({ kind: "drop", reason: "private" });
    expect(unwrapMessage(carbon(OWN, "sent", "<forwarded xmlns='urn:xmpp:forward:0'/>"), OWN)).toEqual({
      kind: "drop",
      reason: "malformed",
    });
    expect(unwrapMessage(carbon(OWN, "sent", "<message/>"), OWN)).toEqual({ kind: "drop", reason: "malformed" });
  });

  it("a message without carbon or result is plain", () => {
    const m = parseXml('<message from="bob@example.org/p"><body>x</body></message>');
    expect(unwrapMessage(m, OWN)).toEqual({ kind: "plain", message: m });
  });
});

describe("archive results (XEP-0313)", () => {
  it("accepts results from our bare JID or with no from, with the forwarded delay", () => {
    for (const from of [OWN, undefined]) {
      const u = unwrapMessage(result(from), OWN);
      expect(u).toMatchObject({ kind: "archive", queryId: "q1", archiveId: "A1" });
      if (u.kind === "archive") expect(u.delay?.toISOString()).toBe("2026-12-01T10:00:00.000Z");
    }
  });

  it("drops forged results (from anyone else) and malformed ones", () => {
    for (const from of ["mallory@example.org", "alice@example.org/desk", "example.org"])
      expect(unwrapMessage(result(from), OWN)).toEqual({ kind: "drop", reason: "forged" });
    expect(unwrapMessage(result(OWN, ""), OWN)).toEqual({ kind: "drop", reason: "malformed" });
    expect(unwrapMessage(result(OWN, "q1", "x".repeat(MAX_ID_CHARS + 1)), OWN)).toEqual({
      kind: "drop",
      reason: "malformed",
    });
    expect(unwrapMessage(result(OWN, "q1", "A1", "<forwarded xmlns='urn:xmpp:forward:0'/>"), OWN)).toEqual({
      kind: "drop",
      reason: "malformed",
    });
  });
});

describe("readMessage", () => {
  it("reads ids (origin-id first), our server's stanza-id only, delay, receipts and markers", () => {
    const m = parseXml(`<message from="bob@example.org/p" to="alice@example.org" type="chat" id="attr-id">
      <origin-id xmlns="urn:xmpp:sid:0" id="origin"/>
      <stanza-id xmlns="urn:xmpp:sid:0" by="mallory@example.org" id="forged"/>
      <stanza-id xmlns="urn:xmpp:sid:0" by="alice@example.org" id="S1"/>
      <delay xmlns="urn:xmpp:delay" stamp="2026-12-01T10:00:00.123+01:00"/>
      <request xmlns="urn:xmpp:receipts"/>
      <body>hello</body></message>`);
    const info = readMessage(m, OWN);
    expect(info).toMatchObject({
      type: "chat",
      stanzaAttrId: "attr-id",
      id: "origin",
      stanzaId: "S1",
      body: "hello",
      receiptRequested: true,
      receiptFor: undefined,
      displayedFor: undefined,
      invitation: false,
      encrypted: undefined,
    });
    expect(info.from?.bare).toBe("bob@example.org");
    expect(info.delay?.toISOString()).toBe("2026-12-01T09:00:00.123Z");
  });

  it("ignores a stanza-id by someone else, over-long ids, and reads receipts, markers and invitations", () => {
    const info = readMessage(
      parseXml(
        `<message from="bob@x/p" id="${"i".repeat(MAX_ID_CHARS + 1)}"><stanza-id xmlns="urn:xmpp:sid:0" by="bob@x" id="S"/><received xmlns="urn:xmpp:receipts" id="r1"/><displayed xmlns="urn:xmpp:chat-markers:0" id="d1"/></message>`,
      ),
      OWN,
    );
    expect(info).toMatchObject({
      type: "normal",
      id: undefined,
      stanzaId: undefined,
      receiptFor: "r1",
      displayedFor: "d1",
    });
    expect(
      readMessage(
        parseXml('<message from="r@muc/x"><x xmlns="jabber:x:conference" jid="r@muc"/><body>join</body></message>'),
        OWN,
      ).invitation,
    ).toBe(true);
  });

  it("finds the OMEMO element, its sender device and payload", () => {
    const info = readMessage(
      parseXml(
        `<message from="bob@x/p"><encrypted xmlns="${NS_V2}"><header sid="42"/><payload>AA==</payload></encrypted></message>`,
      ),
      OWN,
    );
    expect(info.encrypted).toBeDefined();
    expect(senderDevice(info.encrypted!)).toBe(42);
    expect(hasPayload(info.encrypted!)).toBe(true);
    expect(hasPayload(parseXml(`<encrypted xmlns="${NS_V2}"><header sid="1"/></encrypted>`))).toBe(false);
  });

  it("parses XEP-0082 stamps only", () => {
    expect(parseStamp("2026-12-01T10:00:00Z")?.getTime()).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseStamp("yesterday")).toBeUndefined();
    expect(parseStamp("2026-12-01")).toBeUndefined();
    expect(parseStamp("2026-13-45T99:00:00Z")).toBeUndefined();
    expect(parseStamp(undefined)).toBeUndefined();
  });

  it("knows OTR bodies: messages and the whitespace tag", () => {
    expect(isOtrBody("?OTR:AAMDxyz")).toBe(true);
    expect(isOtrBody("?OTRv23?")).toBe(true);
    expect(isOtrBody("hi \t  \t\t\t\t \t \t \t    \t\t  \t ")).toBe(true);
    expect(isOtrBody("hello")).toBe(false);
  });
});

describe("MAM queries", () => {
  it("pages after an id, or asks for the last page", () => {
    expect(serializeXml(mamQuery("q", { max: 50, after: "A9" }))).toBe(
      '<iq type="set"><query xmlns="urn:xmpp:mam:2" queryid="q"><set xmlns="http://jabber.org/protocol/rsm"><max>50</max><after>A9</after></set></query></iq>',
    );
    expect(serializeXml(mamQuery("q", { max: 1, last: true }))).toContain("<max>1</max><before/>");
    expect(serializeXml(mamQuery("q", { max: 5 }))).not.toContain("<after>");
  });

  it("reads the fin", () => {
    expect(
      parseFin(
        parseXml(
          '<iq type="result"><fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"><first>A</first><last>B</last></set></fin></iq>',
        ),
      ),
    ).toEqual({ complete: true, first: "A", last: "B" });
    expect(parseFin(parseXml('<iq type="result"/>'))).toEqual({ complete: false, first: undefined, last: undefined });
  });
});

describe("RecentIds", () => {
  it("forgets the oldest beyond its bound", () => {
    const ids = new RecentIds(3);
    for (const id of ["a", "b", "c"]) ids.add(id);
    ids.add("a"); // refreshed
    ids.add("d");
    expect(["a", "b", "c", "d"].map((i) => ids.has(i))).toEqual([true, false, true, true]);
  });
});
