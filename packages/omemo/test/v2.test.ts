import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  NS_V2,
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
import * as v2 from "../src/v2/index.js";
import { PROPERTY_RUNS, child, counting, errorCode, isPrintable, shape, vector, vectorElement } from "./helpers.js";

/** Replaces b64/encoded/data in bundle fields (and labelsig) with base64 of the length each needs. */
function substitute(xml: string): string {
  let seed = 0;
  const next = (length: number) => encodeBase64(counting(length, ++seed));
  return xml
    .replace(
      /<(spk|ik|pk)([^>]*)>b64\/encoded\/data<\/\1>/g,
      (_m, tag: string, attrs: string) => `<${tag}${attrs}>${next(32)}</${tag}>`,
    )
    .replace(/<spks>b64\/encoded\/data<\/spks>/g, () => `<spks>${next(64)}</spks>`)
    .replace(/labelsig='b64\/encoded\/data'/g, () => `labelsig='${next(64)}'`)
    .replace(/base64\/encoded\/message\/key\/encrypted\/envelope\/element/g, () => next(20));
}

/** Closes <items> the way the XEP meant to (§6 of docs/omemo-versions.md). */
const fixItems = (xml: string) => xml.replace(/\n(\s*)<items>\n(\s*)<\/pubsub>/, "\n$1</items>\n$2</pubsub>");

const deviceId = fc.integer({ min: 1, max: 0x7fffffff });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const bareJid = fc
  .tuple(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.stringMatching(/^[a-z0-9-]{1,12}\.[a-z]{2,4}$/))
  .map(([local, domain]) => `${local}@${domain}`);
/** Labels: any text a UI could show, within the limits (no controls, only XML characters). */
const label = fc.string({ unit: "grapheme", minLength: 1, maxLength: 53 }).filter(isPrintable);

const arbMessage: fc.Arbitrary<v2.EncryptedMessage> = fc.record(
  {
    sid: deviceId,
    keys: fc.uniqueArray(
      fc.record({
        jid: bareJid,
        keys: fc.uniqueArray(fc.record({ rid: deviceId, kex: fc.boolean(), data: bytes(1, 300) }), {
          minLength: 1,
          maxLength: 5,
          selector: (k) => k.rid,
        }),
      }),
      { minLength: 1, maxLength: 5, selector: (g) => g.jid },
    ),
    payload: bytes(0, 400),
  },
  { requiredKeys: ["sid", "keys"] },
);

const arbDevice: fc.Arbitrary<v2.Device> = fc.oneof(
  fc.record({ id: deviceId }),
  fc.record({ id: deviceId, label }),
  fc.record({ id: deviceId, label, labelsig: bytes(64, 64) }),
);

const arbBundle: fc.Arbitrary<v2.Bundle> = fc.record({
  signedPreKeyId: deviceId,
  signedPreKey: bytes(32, 32),
  signedPreKeySignature: bytes(64, 64),
  identityKey: bytes(32, 32),
  preKeys: fc.uniqueArray(fc.record({ id: deviceId, publicKey: bytes(32, 32) }), {
    minLength: 1,
    maxLength: 30,
    selector: (pk) => pk.id,
  }),
});

describe.each(["v0.8.3", "v0.9.1"] as const)("XEP-0384 %s examples, round-tripped", (version) => {
  const name = (n: string) => `xep-0384-${version}-ex${n}`;

  it("Example 1 (§5.2): device list notification", () => {
    const message = vectorElement(name("01"));
    const items = decodeItems(message);
    expect(items.node).toBe(v2.DEVICES_NODE);
    const list = v2.decodeDeviceList(items.items[0]!.payload!);
    if (version === "v0.8.3") {
      expect(list).toEqual({ devices: [{ id: 12345 }, { id: 4223, label: "Gajim on Ubuntu Linux" }] });
    } else {
      // The example's labelsig is 12 bytes, not a signature: the label is dropped with it.
      expect(list).toEqual({ devices: [{ id: 12345 }, { id: 4223 }] });
      const fixed = v2.decodeDeviceList(decodeItems(substitute(vector(name("01")))).items[0]!.payload!);
      expect(fixed.devices[1]!.label).toBe("Gajim on Ubuntu Linux");
      expect(fixed.devices[1]!.labelsig).toHaveLength(64);
    }
    const original = version === "v0.8.3" ? message : parseXml(substitute(vector(name("01"))));
    const item = child(child(child(original, "event"), "items"), "item");
    const decoded = v2.decodeDeviceList(item);
    expect(shape(encodeItem({ id: "current", payload: v2.encodeDeviceList(decoded) }))).toEqual(shape(item));
  });

  it("Example 2 (§5.3.1): publishing the device list with an open access model", () => {
    const iq = version === "v0.8.3" ? vectorElement(name("02")) : parseXml(substitute(vector(name("02"))));
    const publish = decodePublish(iq);
    expect(publish.options).toEqual(v2.DEVICES_PUBLISH_OPTIONS);
    const list = v2.decodeDeviceList(publish.item.payload!);
    expect(list.devices.map((d) => [d.id, d.label])).toEqual([
      [12345, "Dino on Lenovo Thinkpad T495"],
      [4223, undefined],
      [31415, "Conversations on Pixel 3"],
    ]);
    expect(shape(encodePublish(v2.publishDeviceList(list)))).toEqual(shape(child(iq, "pubsub")));
  });

  it("Example 3 (§5.3.2): the verbatim bundle's 12-byte placeholder keys are rejected", () => {
    const publish = decodePublish(vectorElement(name("03")));
    expect(errorCode(() => v2.decodeBundle(publish.item.payload!))).toBe("MALFORMED_STANZA");
  });

  it("Example 3 (§5.3.2): publishing a bundle, keys substituted", () => {
    const iq = parseXml(substitute(vector(name("03"))));
    const publish = decodePublish(iq);
    expect(publish.node).toBe(v2.BUNDLES_NODE);
    expect(v2.deviceIdOfBundleItem(publish.item.id!)).toBe(31415);
    expect(publish.options).toEqual({ "pubsub#max_items": "max" });
    const bundle = v2.decodeBundle(publish.item.payload!);
    if (version === "v0.8.3") {
      // Ids 0 are accepted (xs:unsignedInt) but never emitted (§5.3.2: 1 … 2^31 − 1).
      expect([bundle.signedPreKeyId, ...bundle.preKeys.map((pk) => pk.id)]).toEqual([0, 0, 1, 99]);
      expect(errorCode(() => v2.encodeBundle(bundle))).toBe("INVALID_ARGUMENT");
    } else {
      expect([bundle.signedPreKeyId, ...bundle.preKeys.map((pk) => pk.id)]).toEqual([1, 1, 2, 100]);
      const again = encodePublish({ ...publish, item: { id: "31415", payload: v2.encodeBundle(bundle) } });
      expect(shape(again)).toEqual(shape(child(iq, "pubsub")));
    }
  });

  it("Example 4 (§5.3.2): publish-options for the bundles node", () => {
    const iq = vectorElement(name("04"));
    const publish = decodePublish(iq);
    expect(publish.options).toEqual(v2.BUNDLES_PUBLISH_OPTIONS);
    // The example's bundle is only a comment: a publish round trip, but not a bundle.
    expect(errorCode(() => v2.decodeBundle(publish.item.payload!))).toBe("MALFORMED_STANZA");
    expect(shape(encodePublish(publish))).toEqual(shape(child(iq, "pubsub")));
    const ours = decodePublish(
      encodePublish(v2.publishBundle(31415, fc.sample(arbBundle, { numRuns: 1, seed: 5 })[0]!)),
    );
    expect(ours.options).toEqual(publish.options);
  });

  it("Example 5 (§5.4): the verbatim fetch is not well-formed (<items> for </items>)", () => {
    expect(errorCode(() => vectorElement(name("05")))).toBe("MALFORMED_STANZA");
  });

  it("Example 5 (§5.4): fetching a bundle, <items> closed", () => {
    const iq = parseXml(fixItems(vector(name("05"))));
    const request = decodeItemsRequest(iq);
    expect(request).toEqual(v2.bundleRequest(31415));
    expect(shape(encodeItemsRequest(request))).toEqual(shape(child(iq, "pubsub")));
  });

  it("Example 6 (§5.5.1): the plaintext envelope", () => {
    const envelope = vectorElement(name("06"));
    const decoded = v2.decodeEnvelope(envelope, { to: "juliet@capulet.lit", from: "romeo@montague.lit" });
    expect(decoded.rpad).toBe("...");
    expect(decoded.from).toBe("romeo@montague.lit");
    expect(decoded.content).toHaveLength(1);
    expect(decoded.content[0]!.getText()).toBe("\n     Hello World!\n    ");
    expect(shape(v2.encodeEnvelope(decoded))).toEqual(shape(envelope));
    expect(errorCode(() => v2.decodeEnvelope(envelope, { to: "juliet@capulet.lit", from: "tybalt@capulet.lit" }))).toBe(
      "SCE_WRONG_SENDER",
    );
  });

  it("Example 7 (§5.5.3): the verbatim payload placeholder is not base64", () => {
    expect(errorCode(() => v2.decodeEncryptedMessage(vectorElement(name("07"))))).toBe("INVALID_BASE64");
  });

  it("Example 7 (§5.5.3): sending a message, payload substituted", () => {
    const message = parseXml(substitute(vector(name("07"))));
    const decoded = v2.decodeEncryptedMessage(message);
    expect(decoded.sid).toBe(27183);
    expect(decoded.keys.map((g) => [g.jid, g.keys.map((k) => [k.rid, k.kex])])).toEqual([
      ["juliet@capulet.lit", [[31415, false]]],
      [
        "romeo@montague.lit",
        [
          [1337, false],
          [12321, true],
        ],
      ],
    ]);
    expect(decoded.payload).toHaveLength(20);
    expect(shape(v2.encodeEncryptedMessage(decoded))).toEqual(shape(child(message, "encrypted")));
    expect(shape(child(message, "store"))).toEqual(shape(storeHint()));
  });

  it("Example 8 (§5.7): opt-out, an envelope without rpad", () => {
    const envelope = vectorElement(name("08"));
    const decoded = v2.decodeEnvelope(envelope, { to: "juliet@capulet.lit", from: "romeo@montague.lit" });
    expect(decoded.rpad).toBeUndefined();
    const optOut = decoded.content.find(v2.isOptOut)!;
    expect(v2.decodeOptOut(optOut).reason?.replace(/\s+/g, " ").trim()).toBe(
      "Sorry, but for compliance reasons I need a permanent, server-side, record of our conversation.",
    );
    expect(shape(v2.encodeEnvelope({ content: [v2.encodeOptOut(v2.decodeOptOut(optOut))] }))).toEqual(shape(envelope));
  });

  it.each(["a", "b"])("Example 9%s (§5.8.2): fetching a member's device list", (part) => {
    const iq = vectorElement(name(`09${part}`));
    const request = decodeItemsRequest(iq);
    expect(request).toEqual(v2.deviceListRequest());
    expect(shape(encodeItemsRequest(request))).toEqual(shape(child(iq, "pubsub")));
  });

  it.each([
    ["a", 123],
    ["b", 456],
  ])("Example 10%s (§5.8.2): fetching a member's bundle, verbatim rejected, fixed round-tripped", (part, id) => {
    expect(errorCode(() => vectorElement(name(`10${part}`)))).toBe("MALFORMED_STANZA");
    const iq = parseXml(fixItems(vector(name(`10${part}`))));
    expect(decodeItemsRequest(iq)).toEqual(v2.bundleRequest(id));
    expect(shape(encodeItemsRequest(v2.bundleRequest(id)))).toEqual(shape(child(iq, "pubsub")));
  });

  it("Example 11 (§5.8.3): a group chat message, verbatim rejected, payload substituted", () => {
    expect(errorCode(() => v2.decodeEncryptedMessage(vectorElement(name("11"))))).toBe("INVALID_BASE64");
    const message = parseXml(substitute(vector(name("11"))));
    const decoded = v2.decodeEncryptedMessage(message);
    expect(decoded.keys.map((g) => g.jid)).toEqual(["juliet@capulet.lit", "romeo@montague.lit", "mercutio@verona.lit"]);
    expect(shape(v2.encodeEncryptedMessage(decoded))).toEqual(shape(child(message, "encrypted")));
  });
});

describe("XEP-0384 v0.8.3 §5.5.3 encrypted message codec", () => {
  it("decode(encode(x)) equals x for any message", () => {
    fc.assert(
      fc.property(arbMessage, (message) => {
        expect(v2.decodeEncryptedMessage(v2.encodeEncryptedMessage(message))).toEqual(message);
        expect(v2.decodeEncryptedMessage(v2.encryptedMessageToString(message))).toEqual(message);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  const wrap = (keys: string) =>
    `<encrypted xmlns='urn:xmpp:omemo:2'><header sid='9'><keys jid='a@b.c'>${keys}</keys></header></encrypted>`;

  it.each([
    ["true", true],
    ["1", true],
    ["false", false],
    ["0", false],
  ])('accepts kex="%s" as %s; absent means false (§11 default)', (value, flag) => {
    expect(v2.decodeEncryptedMessage(wrap(`<key rid='1' kex='${value}'>AQ==</key>`)).keys[0]!.keys[0]!.kex).toBe(flag);
    expect(v2.decodeEncryptedMessage(wrap("<key rid='1'>AQ==</key>")).keys[0]!.keys[0]!.kex).toBe(false);
  });

  it("an empty message has no payload", () => {
    const decoded = v2.decodeEncryptedMessage(wrap("<key rid='1'>AQ==</key>"));
    expect(v2.isEmptyMessage(decoded)).toBe(true);
  });

  it("rejects a <keys> without a JID and the legacy namespace", () => {
    expect(
      errorCode(() =>
        v2.decodeEncryptedMessage(
          "<encrypted xmlns='urn:xmpp:omemo:2'><header sid='9'><keys><key rid='1'>AQ==</key></keys></header></encrypted>",
        ),
      ),
    ).toBe("MALFORMED_STANZA");
    expect(errorCode(() => v2.decodeEncryptedMessage(wrap("<key rid='1'>AQ==</key>").replace("a@b.c", "")))).toBe(
      "MALFORMED_STANZA",
    );
    expect(errorCode(() => v2.decodeEncryptedMessage("<encrypted xmlns='eu.siacs.conversations.axolotl'/>"))).toBe(
      "UNSUPPORTED_NAMESPACE",
    );
  });

  it("emits bare JIDs only, one group per JID and one key per device", () => {
    const key = { rid: 1, kex: false, data: Uint8Array.of(1) };
    const bad: unknown[] = [
      { sid: 1, keys: [{ jid: "a@b.c/res", keys: [key] }] },
      {
        sid: 1,
        keys: [
          { jid: "a@b.c", keys: [key] },
          { jid: "A@b.c", keys: [key] },
        ],
      },
      { sid: 1, keys: [{ jid: "a@b.c", keys: [key, key] }] },
      { sid: 1, keys: [{ jid: "a@b.c", keys: [] }] },
      { sid: 1, keys: [{ jid: "a@b.c", keys: [{ ...key, kex: 1 }] }] },
    ];
    for (const message of bad) {
      expect(errorCode(() => v2.encodeEncryptedMessage(message as v2.EncryptedMessage))).toBe("INVALID_ARGUMENT");
    }
  });
});

describe("XEP-0384 v0.9.1 §5.3.1 device list codec", () => {
  it("decode(encode(x)) equals x for any list, labels and labelsigs included", () => {
    fc.assert(
      fc.property(fc.uniqueArray(arbDevice, { maxLength: 20, selector: (d) => d.id }), (devices) => {
        expect(v2.decodeDeviceList(v2.deviceListToString({ devices }))).toEqual({ devices });
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("keeps a label without labelsig (v0.8.3 peers send them); the v0.9 rule is the session manager's", () => {
    const list = v2.decodeDeviceList(`<devices xmlns='${NS_V2}'><device id='1' label='phone'/></devices>`);
    expect(list.devices).toEqual([{ id: 1, label: "phone" }]);
  });

  it("drops a label that cannot be signed or is too long, keeping the device", () => {
    const long = "x".repeat(257);
    const sig = encodeBase64(new Uint8Array(64));
    const list = v2.decodeDeviceList(
      `<devices xmlns='${NS_V2}'><device id='1' label='a' labelsig='!!'/><device id='2' label='${long}'/>` +
        `<device id='3' labelsig='${sig}'/><device id='4' label='ok' labelsig='${sig}'/><device id='4'/></devices>`,
    );
    expect(list.devices.map((d) => [d.id, d.label, d.labelsig?.length])).toEqual([
      [1, undefined, undefined],
      [2, undefined, undefined],
      [3, undefined, undefined],
      [4, "ok", 64],
    ]);
  });

  it("accepts and emits an empty list (v0.9.1 §11)", () => {
    expect(v2.decodeDeviceList(v2.deviceListToString({ devices: [] }))).toEqual({ devices: [] });
  });

  it("refuses labels with control characters and a labelsig without label", () => {
    expect(errorCode(() => v2.encodeDeviceList({ devices: [{ id: 1, label: "a\nb" }] }))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => v2.encodeDeviceList({ devices: [{ id: 1, labelsig: new Uint8Array(64) }] }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(errorCode(() => v2.encodeDeviceList({ devices: [{ id: 1, label: "" }] }))).toBe("INVALID_ARGUMENT");
  });
});

describe("XEP-0384 v0.8.3 §5.3.2 bundle codec", () => {
  it("decode(encode(x)) equals x for any bundle", () => {
    fc.assert(
      fc.property(arbBundle, (bundle) => {
        expect(v2.decodeBundle(v2.bundleToString(bundle))).toEqual(bundle);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("keys are 32 bytes and signatures 64, on both sides", () => {
    const [bundle] = fc.sample(arbBundle, { numRuns: 1, seed: 3 });
    expect(errorCode(() => v2.encodeBundle({ ...bundle!, identityKey: new Uint8Array(33) }))).toBe("INVALID_ARGUMENT");
    const xml = v2
      .bundleToString(bundle!)
      .replace(/<ik>[^<]*</, `<ik>${encodeBase64(Uint8Array.of(5, ...new Uint8Array(32)))}<`);
    expect(errorCode(() => v2.decodeBundle(xml))).toBe("MALFORMED_STANZA");
  });

  it("rejects a bundle without prekeys (X3DH in OMEMO 2 needs one, §4.2)", () => {
    const [bundle] = fc.sample(arbBundle, { numRuns: 1, seed: 4 });
    const xml = v2.bundleToString(bundle!).replace(/<prekeys>.*<\/prekeys>/, "<prekeys/>");
    expect(errorCode(() => v2.decodeBundle(xml))).toBe("MALFORMED_STANZA");
    expect(errorCode(() => v2.encodeBundle({ ...bundle!, preKeys: [] }))).toBe("INVALID_ARGUMENT");
  });
});
