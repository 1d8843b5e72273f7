import { describe, expect, it } from "vitest";
import {
  decodeItems,
  decodeItemsRequest,
  decodePublish,
  decodePublishOptions,
  encodeItemsRequest,
  encodePublish,
  encodePublishOptions,
  parseXml,
  serializeXml,
} from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import * as v2 from "../src/v2/index.js";
import { errorCode } from "./helpers.js";

describe("XEP-0060 §7.1.5 publish-options", () => {
  it("writes FORM_TYPE first, then the fields in order, and reads them back", () => {
    const pubsub = encodePublish({ node: "n", item: { id: "1" }, options: v2.BUNDLES_PUBLISH_OPTIONS });
    expect(serializeXml(pubsub)).toBe(
      '<pubsub xmlns="http://jabber.org/protocol/pubsub"><publish node="n"><item id="1"/></publish>' +
        '<publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden">' +
        "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
        '<field var="pubsub#max_items"><value>max</value></field>' +
        '<field var="pubsub#access_model"><value>open</value></field></x></publish-options></pubsub>',
    );
    const options = decodePublish(pubsub).options!;
    expect(Object.entries(options)).toEqual([
      ["pubsub#max_items", "max"],
      ["pubsub#access_model", "open"],
    ]);
  });

  it("rejects a form without the publish-options FORM_TYPE, a repeated field, a field with two values", () => {
    const form = (fields: string) =>
      `<publish-options xmlns='http://jabber.org/protocol/pubsub'><x xmlns='jabber:x:data' type='submit'>${fields}</x></publish-options>`;
    const formType =
      "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>";
    expect(decodePublishOptions(form(formType + "<field var='a'><value>1</value></field>"))).toEqual({ a: "1" });
    expect(errorCode(() => decodePublishOptions(form("<field var='a'><value>1</value></field>")))).toBe(
      "MALFORMED_STANZA",
    );
    expect(
      errorCode(() => decodePublishOptions(form(formType + "<field var='a'><value>1</value></field>".repeat(2)))),
    ).toBe("MALFORMED_STANZA");
    expect(
      errorCode(() => decodePublishOptions(form(formType + "<field var='a'><value>1</value><value>2</value></field>"))),
    ).toBe("MALFORMED_STANZA");
    expect(decodePublishOptions(form(formType + "<field var='__proto__'><value>x</value></field>"))["__proto__"]).toBe(
      "x",
    );
    expect(errorCode(() => encodePublishOptions({ FORM_TYPE: "x" }))).toBe("INVALID_ARGUMENT");
  });
});

describe("XEP-0060 §6.5 and §4.3 items from fetch results and notifications", () => {
  const payload = "<devices xmlns='urn:xmpp:omemo:2'><device id='1'/></devices>";

  it("reads the items of an iq result, a message event, a bare <items>", () => {
    const result = `<iq type='result' xmlns='jabber:client'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:omemo:2:devices'><item id='current'>${payload}</item></items></pubsub></iq>`;
    const event = `<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:omemo:2:bundles'><retract id='5'/><item id='6'/></items></event></message>`;
    const fromResult = decodeItems(result);
    expect(fromResult.node).toBe(v2.DEVICES_NODE);
    expect(v2.decodeDeviceList(fromResult.items[0]!.payload!).devices).toEqual([{ id: 1 }]);
    expect(decodeItems(event)).toEqual({ node: v2.BUNDLES_NODE, items: [{ id: "6" }], retracted: ["5"] });
    expect(decodeItems(parseXml(result).getChild("pubsub")!.getChild("items")!).items).toHaveLength(1);
  });

  it("rejects an item with two payloads, an <items> without node, foreign containers", () => {
    const items = (inner: string, node = " node='n'") =>
      `<items xmlns='http://jabber.org/protocol/pubsub#event'${node}>${inner}</items>`;
    expect(errorCode(() => decodeItems(items(`<item id='1'>${payload}${payload}</item>`)))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => decodeItems(items("", "")))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => decodeItems("<items xmlns='urn:example' node='n'/>"))).toBe("UNSUPPORTED_NAMESPACE");
    expect(errorCode(() => decodeItems("<presence/>"))).toBe("MALFORMED_STANZA");
  });

  it("round-trips item requests", () => {
    for (const request of [
      v2.bundleRequest(7),
      v2.deviceListRequest(),
      legacy.bundleRequest(7),
      legacy.deviceListRequest(),
    ]) {
      expect(decodeItemsRequest(encodeItemsRequest(request))).toEqual(request);
    }
  });
});

describe("PEP node names (XEP-0384 v0.3.0 §4.3, v0.8.3 §5.3.2)", () => {
  it("legacy: one bundle node per device", () => {
    expect(legacy.bundleNode(31415)).toBe("eu.siacs.conversations.axolotl.bundles:31415");
    expect(legacy.deviceIdOfBundleNode("eu.siacs.conversations.axolotl.bundles:2147483647")).toBe(2147483647);
    for (const node of [
      "eu.siacs.conversations.axolotl.bundles:0",
      "eu.siacs.conversations.axolotl.bundles:2147483648",
      "eu.siacs.conversations.axolotl.bundles:01",
      "eu.siacs.conversations.axolotl.bundles:",
      "eu.siacs.conversations.axolotl.devicelist",
    ]) {
      expect(legacy.deviceIdOfBundleNode(node)).toBeUndefined();
    }
    expect(errorCode(() => legacy.bundleNode(0))).toBe("INVALID_ARGUMENT");
  });

  it("OMEMO 2: one bundles node, item id = device id", () => {
    expect(v2.bundleItemId(31415)).toBe("31415");
    expect(v2.deviceIdOfBundleItem("31415")).toBe(31415);
    expect(v2.deviceIdOfBundleItem("current")).toBeUndefined();
    expect(v2.deviceIdOfBundleItem("4294967295")).toBeUndefined();
    const publish = decodePublish(encodePublish(v2.publishDeviceList({ devices: [{ id: 3 }] })));
    expect(publish).toMatchObject({
      node: v2.DEVICES_NODE,
      item: { id: "current" },
      options: { "pubsub#access_model": "open" },
    });
  });
});
