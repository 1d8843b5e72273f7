import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  NS_LEGACY,
  decodeItems,
  decodeItemsRequest,
  decodePublish,
  encodeBase64,
  encodeItem,
  encodeItemsRequest,
  encodePublish,
  parseXml,
  storeHint,
} from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import { PROPERTY_RUNS, child, counting, errorCode, shape, vector, vectorElement } from "./helpers.js";

/** Replaces XEP-0384 v0.3.0's BASE64ENCODED placeholders with base64 of the length each element needs. */
function substitute(xml: string): string {
  const lengths: Record<string, [number, number?]> = {
    signedPreKeyPublic: [33, 0x05],
    identityKey: [33, 0x05],
    preKeyPublic: [33, 0x05],
    signedPreKeySignature: [64],
    key: [40],
    iv: [12],
    payload: [20],
  };
  let seed = 0;
  return xml.replace(/<(\w+)([^>]*)>\s*BASE64ENCODED(?:\.\.\.)?\s*<\/\1>/g, (_m, tag: string, attrs: string) => {
    const [length, first] = lengths[tag]!;
    return `<${tag}${attrs}>${encodeBase64(counting(length, ++seed, first))}</${tag}>`;
  });
}

const deviceId = fc.integer({ min: 1, max: 0x7fffffff });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const legacyKey = bytes(32, 32).map((k) => Uint8Array.of(0x05, ...k));

const arbMessage: fc.Arbitrary<legacy.EncryptedMessage> = fc.record(
  {
    sid: deviceId,
    keys: fc.array(fc.record({ rid: deviceId, prekey: fc.boolean(), data: bytes(1, 300) }), {
      minLength: 1,
      maxLength: 12,
    }),
    iv: fc.oneof(bytes(12, 12), bytes(16, 16)),
    payload: bytes(0, 400),
  },
  { requiredKeys: ["sid", "keys", "iv"] },
);

const arbBundle: fc.Arbitrary<legacy.Bundle> = fc.record({
  signedPreKeyId: deviceId,
  signedPreKey: legacyKey,
  signedPreKeySignature: bytes(64, 64),
  identityKey: legacyKey,
  preKeys: fc.uniqueArray(fc.record({ id: deviceId, publicKey: legacyKey }), {
    minLength: 1,
    maxLength: 30,
    selector: (pk) => pk.id,
  }),
});

describe("XEP-0384 v0.3.0 examples, round-tripped", () => {
  it("Example 1 (§4.2): device list notification", () => {
    const items = decodeItems(vectorElement("xep-0384-v0.3.0-ex01"));
    expect(items.node).toBe(legacy.DEVICE_LIST_NODE);
    expect(items.items).toHaveLength(1);
    const item = items.items[0]!;
    expect(item.id).toBe("current");
    const list = legacy.decodeDeviceList(item.payload!);
    expect(list).toEqual({ ids: [12345, 4223] });
    const original = child(child(vectorElement("xep-0384-v0.3.0-ex01"), "event"), "items");
    expect(shape(encodeItem({ id: "current", payload: legacy.encodeDeviceList(list) }))).toEqual(
      shape(child(original, "item")),
    );
  });

  it("Example 2 (§4.3): publishing the device list", () => {
    const iq = vectorElement("xep-0384-v0.3.0-ex02");
    const publish = decodePublish(iq);
    expect(publish.node).toBe(legacy.DEVICE_LIST_NODE);
    expect(publish.options).toBeUndefined();
    const list = legacy.decodeDeviceList(publish.item.payload!);
    expect(list.ids).toEqual([12345, 4223, 31415]);
    const again = encodePublish({
      node: publish.node,
      item: { id: "current", payload: legacy.encodeDeviceList(list) },
    });
    expect(shape(again)).toEqual(shape(child(iq, "pubsub")));
    // What we publish ourselves adds the publish-options deployed clients use.
    const ours = decodePublish(encodePublish(legacy.publishDeviceList(list)));
    expect(ours.options).toEqual({ "pubsub#access_model": "open" });
  });

  it("Example 3 (§4.3): the verbatim bundle's placeholders are not base64", () => {
    const publish = decodePublish(vectorElement("xep-0384-v0.3.0-ex03"));
    expect(errorCode(() => legacy.decodeBundle(publish.item.payload!))).toBe("INVALID_BASE64");
  });

  it("Example 3 (§4.3): publishing a bundle, placeholders substituted", () => {
    const iq = parseXml(substitute(vector("xep-0384-v0.3.0-ex03")));
    const publish = decodePublish(iq);
    expect(publish.node).toBe("eu.siacs.conversations.axolotl.bundles:31415");
    expect(legacy.deviceIdOfBundleNode(publish.node)).toBe(31415);
    const bundle = legacy.decodeBundle(publish.item.payload!);
    expect(bundle.signedPreKeyId).toBe(1);
    expect(bundle.preKeys.map((pk) => pk.id)).toEqual([1, 2, 3]);
    expect(bundle.identityKey[0]).toBe(0x05);
    const again = encodePublish({ node: publish.node, item: { id: "current", payload: legacy.encodeBundle(bundle) } });
    expect(shape(again)).toEqual(shape(child(iq, "pubsub")));
    expect(shape(encodePublish(legacy.publishBundle(31415, bundle)))).toEqual(
      shape(encodePublish({ ...publish, options: legacy.BUNDLE_PUBLISH_OPTIONS })),
    );
  });

  it("Example 4 (§4.4): fetching a bundle", () => {
    const iq = vectorElement("xep-0384-v0.3.0-ex04");
    const request = decodeItemsRequest(iq);
    expect(request).toEqual(legacy.bundleRequest(31415));
    expect(shape(encodeItemsRequest(request))).toEqual(shape(child(iq, "pubsub")));
  });

  it("Example 5 (§4.5): the verbatim message's placeholders are not base64", () => {
    expect(errorCode(() => legacy.decodeEncryptedMessage(vectorElement("xep-0384-v0.3.0-ex05")))).toBe(
      "INVALID_BASE64",
    );
  });

  it("Example 5 (§4.5): sending a message, placeholders substituted", () => {
    const message = parseXml(substitute(vector("xep-0384-v0.3.0-ex05")));
    const decoded = legacy.decodeEncryptedMessage(message);
    expect(decoded.sid).toBe(27183);
    expect(decoded.keys.map((k) => [k.rid, k.prekey])).toEqual([
      [31415, false],
      [12321, true],
    ]);
    expect(decoded.iv).toHaveLength(12);
    expect(decoded.payload).toHaveLength(20);
    expect(legacy.isKeyTransport(decoded)).toBe(false);
    expect(shape(legacy.encodeEncryptedMessage(decoded))).toEqual(shape(child(message, "encrypted")));
    expect(shape(child(message, "store"))).toEqual(shape(storeHint()));
  });

  it("Example 6 (§4.6): a KeyTransportElement, placeholders substituted", () => {
    const encrypted = parseXml(substitute(vector("xep-0384-v0.3.0-ex06")));
    const decoded = legacy.decodeEncryptedMessage(encrypted);
    expect(legacy.isKeyTransport(decoded)).toBe(true);
    expect(decoded.payload).toBeUndefined();
    expect(shape(legacy.encodeEncryptedMessage(decoded))).toEqual(shape(encrypted));
  });
});

describe("XEP-0384 v0.3.0 §4.5 encrypted message codec", () => {
  it("decode(encode(x)) equals x for any message", () => {
    fc.assert(
      fc.property(arbMessage, (message) => {
        expect(legacy.decodeEncryptedMessage(legacy.encodeEncryptedMessage(message))).toEqual(message);
        expect(legacy.decodeEncryptedMessage(legacy.encryptedMessageToString(message))).toEqual(message);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it('emits prekey="true" only on key exchange keys, and keys before the iv', () => {
    const xml = legacy.encryptedMessageToString({
      sid: 1,
      keys: [
        { rid: 2, prekey: true, data: Uint8Array.of(1) },
        { rid: 3, prekey: false, data: Uint8Array.of(2) },
      ],
      iv: new Uint8Array(12),
    });
    expect(xml).toBe(
      '<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="1"><key rid="2" prekey="true">AQ==</key>' +
        '<key rid="3">Ag==</key><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>',
    );
  });

  const base = (key: string, iv = "AAAAAAAAAAAAAAAA") =>
    `<message xmlns='jabber:client'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='7'>${key}<iv>${iv}</iv></header></encrypted></message>`;

  it.each([
    ["true", true],
    ["1", true],
    [" true ", true],
    ["false", false],
    ["0", false],
  ])('accepts prekey="%s" (xs:boolean) as %s', (value, flag) => {
    const decoded = legacy.decodeEncryptedMessage(base(`<key rid='1' prekey='${value}'>AQ==</key>`));
    expect(decoded.keys[0]!.prekey).toBe(flag);
  });

  it("rejects a prekey attribute that is not an xs:boolean (python-oldmemo would read any text as true)", () => {
    expect(errorCode(() => legacy.decodeEncryptedMessage(base("<key rid='1' prekey='yes'>AQ==</key>")))).toBe(
      "MALFORMED_STANZA",
    );
  });

  it("accepts 12- and 16-byte IVs and nothing else", () => {
    const key = "<key rid='1'>AQ==</key>";
    expect(legacy.decodeEncryptedMessage(base(key, encodeBase64(new Uint8Array(12)))).iv).toHaveLength(12);
    expect(legacy.decodeEncryptedMessage(base(key, encodeBase64(new Uint8Array(16)))).iv).toHaveLength(16);
    expect(errorCode(() => legacy.decodeEncryptedMessage(base(key, encodeBase64(new Uint8Array(8)))))).toBe(
      "MALFORMED_STANZA",
    );
    expect(errorCode(() => legacy.decodeEncryptedMessage(base(key, encodeBase64(new Uint8Array(32)))))).toBe(
      "MALFORMED_STANZA",
    );
  });

  it("accepts whitespace anywhere in base64, as line-wrapping clients send it", () => {
    const decoded = legacy.decodeEncryptedMessage(
      base("<key rid='1'>\n  AQID\r\n  BAU=\n</key>", " AAAA\tAAAA\nAAAAAAAA "),
    );
    expect(decoded.keys[0]!.data).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
  });

  it("ignores unknown children and attributes, keeps repeated rids (ids of different accounts may collide)", () => {
    const decoded = legacy.decodeEncryptedMessage(
      base("<key rid='1' x='y'>AQ==</key><future xmlns='urn:example'/><key rid='1'>Ag==</key><other/>"),
    );
    expect(decoded.keys.map((k) => k.rid)).toEqual([1, 1]);
  });

  it("accepts a header without keys (the message is for nobody), as python-oldmemo's schema does", () => {
    expect(legacy.decodeEncryptedMessage(base("")).keys).toEqual([]);
  });

  it.each([
    ["no header", "<encrypted xmlns='eu.siacs.conversations.axolotl'/>"],
    [
      "two headers",
      `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>AAAAAAAAAAAAAAAA</iv></header><header sid='1'><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>`,
    ],
    [
      "no sid",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "sid 0",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='0'><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "sid 2^31",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='2147483648'><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "negative sid",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='-5'><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "no iv",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='1'>AQ==</key></header></encrypted>",
    ],
    [
      "key without rid",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key>AQ==</key><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "empty key",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='1'/><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>",
    ],
    [
      "two payloads",
      "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>AAAAAAAAAAAAAAAA</iv></header><payload/><payload/></encrypted>",
    ],
    ["a message without encrypted", "<message xmlns='jabber:client'><body>hi</body></message>"],
  ])("rejects %s as MALFORMED_STANZA", (_name, xml) => {
    expect(errorCode(() => legacy.decodeEncryptedMessage(xml))).toBe("MALFORMED_STANZA");
  });

  it("rejects the OMEMO 2 namespace as UNSUPPORTED_NAMESPACE", () => {
    expect(errorCode(() => legacy.decodeEncryptedMessage("<encrypted xmlns='urn:xmpp:omemo:2'/>"))).toBe(
      "UNSUPPORTED_NAMESPACE",
    );
  });

  it("refuses to encode what the XEP does not allow", () => {
    const ok: legacy.EncryptedMessage = {
      sid: 1,
      keys: [{ rid: 2, prekey: false, data: Uint8Array.of(1) }],
      iv: new Uint8Array(12),
    };
    expect(errorCode(() => legacy.encodeEncryptedMessage(ok))).toBe("no error");
    for (const bad of [
      { ...ok, sid: 0 },
      { ...ok, sid: 2 ** 31 },
      { ...ok, sid: 1.5 },
      { ...ok, keys: [] },
      { ...ok, keys: [{ rid: 2, prekey: false, data: new Uint8Array(0) }] },
      { ...ok, keys: [{ rid: 2, prekey: "true", data: Uint8Array.of(1) }] },
      { ...ok, iv: new Uint8Array(13) },
      { ...ok, payload: "text" },
    ]) {
      expect(errorCode(() => legacy.encodeEncryptedMessage(bad as unknown as legacy.EncryptedMessage))).toBe(
        "INVALID_ARGUMENT",
      );
    }
  });
});

describe("XEP-0384 v0.3.0 §4.2–4.3 device list codec", () => {
  it("decode(encode(x)) equals x for any list", () => {
    fc.assert(
      fc.property(fc.uniqueArray(deviceId, { minLength: 1, maxLength: 50 }), (ids) => {
        expect(legacy.decodeDeviceList(legacy.deviceListToString({ ids }))).toEqual({ ids });
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("keeps a repeated id once, accepts an empty list, rejects a bad id", () => {
    const ns = NS_LEGACY;
    expect(
      legacy.decodeDeviceList(`<list xmlns='${ns}'><device id='5'/><device id='3'/><device id='5'/></list>`).ids,
    ).toEqual([5, 3]);
    expect(legacy.decodeDeviceList(`<list xmlns='${ns}'/>`).ids).toEqual([]);
    expect(errorCode(() => legacy.decodeDeviceList(`<list xmlns='${ns}'><device id='x'/></list>`))).toBe(
      "MALFORMED_STANZA",
    );
    expect(errorCode(() => legacy.decodeDeviceList(`<list xmlns='${ns}'><device/></list>`))).toBe("MALFORMED_STANZA");
  });

  it("decodes the pubsub <item> that holds the list", () => {
    const item = `<item xmlns='http://jabber.org/protocol/pubsub' id='current'><list xmlns='${NS_LEGACY}'><device id='9'/></list></item>`;
    expect(legacy.decodeDeviceList(item).ids).toEqual([9]);
  });

  it("does not emit an empty list (the v0.3.0 schema, and python-oldmemo's parser, need one device)", () => {
    expect(errorCode(() => legacy.encodeDeviceList({ ids: [] }))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => legacy.encodeDeviceList({ ids: [4, 4] }))).toBe("INVALID_ARGUMENT");
  });
});

describe("XEP-0384 v0.3.0 §4.3 bundle codec", () => {
  it("decode(encode(x)) equals x for any bundle", () => {
    fc.assert(
      fc.property(arbBundle, (bundle) => {
        expect(legacy.decodeBundle(legacy.bundleToString(bundle))).toEqual(bundle);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("checks key lengths and the 0x05 type byte on both sides", () => {
    const [bundle] = fc.sample(arbBundle, { numRuns: 1, seed: 1 });
    const xml = legacy.bundleToString(bundle!);
    const unprefixed = xml.replace(/<identityKey>[^<]*</, `<identityKey>${encodeBase64(counting(33, 1, 0x06))}<`);
    expect(errorCode(() => legacy.decodeBundle(unprefixed))).toBe("MALFORMED_STANZA");
    const short = xml.replace(/<identityKey>[^<]*</, `<identityKey>${encodeBase64(counting(32, 1))}<`);
    expect(errorCode(() => legacy.decodeBundle(short))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => legacy.encodeBundle({ ...bundle!, identityKey: counting(33, 1, 0x06) }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(errorCode(() => legacy.encodeBundle({ ...bundle!, signedPreKeySignature: new Uint8Array(63) }))).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("rejects a bundle with repeated prekey ids or without signedPreKeyId", () => {
    const [bundle] = fc.sample(arbBundle, { numRuns: 1, seed: 2 });
    const xml = legacy.bundleToString({ ...bundle!, preKeys: [bundle!.preKeys[0]!] });
    const pkXml = /<preKeyPublic[^>]*>[^<]*<\/preKeyPublic>/.exec(xml)![0];
    const twice = xml.replace("</prekeys>", pkXml + "</prekeys>");
    expect(errorCode(() => legacy.decodeBundle(twice))).toBe("MALFORMED_STANZA");
    const noId = legacy.bundleToString(bundle!).replace(/ signedPreKeyId="[0-9]+"/, "");
    expect(errorCode(() => legacy.decodeBundle(noId))).toBe("MALFORMED_STANZA");
  });
});
