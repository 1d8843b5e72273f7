// The stanzas of delivery receipts (XEP-0184) and chat markers (XEP-0333) parley-chat sends, and how it
// reads them. How the account answers and emits them is in test/account.test.ts ("receipts and markers").
import { describe, expect, it } from "vitest";
import { parseXml, serializeXml } from "@parley/omemo";
import { displayedStanza, outgoingMarkers, readMessage, receiptStanza } from "../src/archive.js";

describe("receipts and markers", () => {
  it("an outgoing message asks for a receipt, is markable and carries its id as origin-id", () => {
    expect(outgoingMarkers("abc").map((e) => serializeXml(e))).toEqual([
      '<request xmlns="urn:xmpp:receipts"/>',
      '<markable xmlns="urn:xmpp:chat-markers:0"/>',
      '<origin-id xmlns="urn:xmpp:sid:0" id="abc"/>',
    ]);
  });

  it("a receipt names the message's id (XEP-0184 §5)", () => {
    expect(serializeXml(receiptStanza("bob@x/p", "m1", "r1"))).toBe(
      '<message to="bob@x/p" id="r1"><received xmlns="urn:xmpp:receipts" id="m1"/></message>',
    );
  });

  it("a displayed marker is a chat message stored in archives (so our other devices learn it)", () => {
    expect(serializeXml(displayedStanza("bob@x", "m1", "d1"))).toBe(
      '<message to="bob@x" type="chat" id="d1"><displayed xmlns="urn:xmpp:chat-markers:0" id="m1"/><store xmlns="urn:xmpp:hints"/></message>',
    );
  });

  it("reads a request, a receipt and a marker; a request without id is not answerable", () => {
    const own = "alice@x";
    expect(
      readMessage(parseXml('<message from="b@x/p" id="m"><request xmlns="urn:xmpp:receipts"/></message>'), own),
    ).toMatchObject({
      receiptRequested: true,
      stanzaAttrId: "m",
    });
    expect(
      readMessage(parseXml('<message from="b@x/p"><request xmlns="urn:xmpp:receipts"/></message>'), own).stanzaAttrId,
    ).toBeUndefined();
    expect(
      readMessage(parseXml('<message from="b@x/p"><received xmlns="urn:xmpp:receipts"/></message>'), own).receiptFor,
    ).toBeUndefined();
    expect(
      readMessage(parseXml('<message from="b@x/p"><displayed xmlns="urn:xmpp:chat-markers:0" id="m9"/></message>'), own)
        .displayedFor,
    ).toBe("m9");
    // Other namespaces are not receipts or markers.
    expect(
      readMessage(parseXml('<message from="b@x/p"><received xmlns="urn:xmpp:carbons:2" id="z"/></message>'), own)
        .receiptFor,
    ).toBeUndefined();
  });
});
