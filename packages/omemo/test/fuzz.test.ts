import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { Element } from "ltx";
import { describe, expect, it } from "vitest";
import {
  decodeAnyEncryptedMessage,
  decodeEnvelope,
  decodeItems,
  decodeItemsRequest,
  decodePublish,
  decodePublishOptions,
  encodePublish,
  envelopeToString,
  isOmemoError,
  parseXml,
  serializeXml,
  type XmlInput,
} from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import * as v2 from "../src/v2/index.js";
import { FUZZ_RUNS, counting } from "./helpers.js";

/** Every decoder; each must return or throw an OmemoError, whatever it is given. */
const decoders: [string, (input: XmlInput) => unknown][] = [
  ["parseXml", (i) => (typeof i === "string" ? parseXml(i) : serializeXml(i))],
  ["legacy.decodeEncryptedMessage", legacy.decodeEncryptedMessage],
  ["legacy.decodeDeviceList", legacy.decodeDeviceList],
  ["legacy.decodeBundle", legacy.decodeBundle],
  ["v2.decodeEncryptedMessage", v2.decodeEncryptedMessage],
  ["v2.decodeEncryptedMessage (keysFor)", (i) => v2.decodeEncryptedMessage(i, { keysFor: (_j, rid) => rid % 2 === 1 })],
  [
    "legacy.decodeEncryptedMessage (keysFor)",
    (i) => legacy.decodeEncryptedMessage(i, { keysFor: (_j, rid) => rid < 9 }),
  ],
  ["v2.decodeDeviceList", v2.decodeDeviceList],
  ["v2.decodeBundle", v2.decodeBundle],
  ["v2.decodeOptOut", (i) => v2.decodeOptOut(typeof i === "string" ? parseXml(i) : i)],
  [
    "decodeEnvelope",
    (i) => decodeEnvelope(i, { to: "juliet@capulet.lit", from: "romeo@montague.lit", groupchat: false }),
  ],
  ["decodeAnyEncryptedMessage", decodeAnyEncryptedMessage],
  ["decodeItems", decodeItems],
  ["decodeItemsRequest", decodeItemsRequest],
  ["decodePublish", decodePublish],
  ["decodePublishOptions", decodePublishOptions],
];

function everyDecoderIsTyped(input: XmlInput): void {
  for (const [name, decode] of decoders) {
    try {
      decode(input);
    } catch (error) {
      if (!isOmemoError(error)) throw new Error(`${name} threw something other than an OmemoError`, { cause: error });
    }
  }
}

/** Valid stanzas of every kind, to mutate. */
function seeds(): string[] {
  const key = (first: number) => counting(33, first, 0x05);
  const bundle = {
    signedPreKeyId: 1,
    signedPreKey: key(1),
    signedPreKeySignature: counting(64, 2),
    identityKey: key(3),
    preKeys: [{ id: 1, publicKey: key(4) }],
  };
  const v2bundle = {
    ...bundle,
    signedPreKey: counting(32, 1),
    identityKey: counting(32, 3),
    preKeys: [{ id: 1, publicKey: counting(32, 4) }],
  };
  const out = [
    legacy.encryptedMessageToString({
      sid: 1,
      keys: [{ rid: 2, prekey: true, data: counting(40, 5) }],
      iv: counting(12, 6),
      payload: counting(20, 7),
    }),
    v2.encryptedMessageToString({
      sid: 1,
      keys: [{ jid: "a@b.c", keys: [{ rid: 2, kex: true, data: counting(40, 5) }] }],
      payload: counting(20, 7),
    }),
    legacy.deviceListToString({ ids: [1, 2, 3] }),
    v2.deviceListToString({ devices: [{ id: 1, label: "phone", labelsig: counting(64, 8) }, { id: 2 }] }),
    legacy.bundleToString(bundle),
    v2.bundleToString(v2bundle),
    serializeXml(encodePublish(v2.publishBundle(5, v2bundle))),
    serializeXml(encodePublish(legacy.publishDeviceList({ ids: [9] }))),
    envelopeToString(
      v2.createEnvelope({
        content: [parseXml("<body xmlns='jabber:client'>hi</body>")],
        from: "romeo@montague.lit",
        to: "juliet@capulet.lit",
      }),
    ),
  ];
  const dir = new URL("./vectors/", import.meta.url);
  // The XEP examples too, some of which are not well-formed as published.
  for (const file of readdirSync(dir)) if (file.endsWith(".xml")) out.push(readFileSync(new URL(file, dir), "utf8"));
  return out;
}

const TOKENS = [
  "<",
  ">",
  "/>",
  "</",
  "=",
  "'",
  '"',
  "&",
  "&amp;",
  "&#",
  "&#x",
  ";",
  "&lt;",
  "<!DOCTYPE a [",
  "<!ENTITY x 'y'>",
  "]>",
  "<![CDATA[",
  "]]>",
  "<!--",
  "-->",
  "<?",
  "?>",
  " ",
  "\n",
  "encrypted",
  "header",
  "key",
  "keys",
  "iv",
  "payload",
  "envelope",
  "content",
  "rpad",
  "time",
  "to",
  "from",
  "list",
  "devices",
  "device",
  "bundle",
  "prekeys",
  "spk",
  "pk",
  "pubsub",
  "items",
  "item",
  "publish",
  "publish-options",
  "x",
  "field",
  "value",
  "message",
  "iq",
  "sid",
  "rid",
  "jid",
  "id",
  "kex",
  "prekey",
  "label",
  "labelsig",
  "node",
  "var",
  "stamp",
  "xmlns",
  "eu.siacs.conversations.axolotl",
  "urn:xmpp:omemo:2",
  "urn:xmpp:sce:1",
  "http://jabber.org/protocol/pubsub",
  "jabber:x:data",
  "1",
  "0",
  "2147483648",
  "-1",
  "true",
  "AAAA",
  "AQ==",
  "=",
  "a@b.c",
  "juliet@capulet.lit",
  "\u0000",
  "\ud800",
  "😀",
];

const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => t.join(""));

type Mutation = (s: string) => string;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.nat({ max: 20 })).map(
    ([at, n]): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)) + s.slice((at % (s.length + 1)) + n),
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...TOKENS)).map(
    ([at, t]): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)) + t + s.slice(at % (s.length + 1)),
  ),
  fc.tuple(fc.nat(), fc.string({ unit: "binary", minLength: 1, maxLength: 3 })).map(
    ([at, c]): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)) + c + s.slice((at % (s.length + 1)) + 1),
  ),
  fc.tuple(fc.nat(), fc.nat({ max: 200 })).map(([at, n]): Mutation => (s) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + s.slice(i, i + n) + s.slice(i);
  }),
  fc.nat().map(
    (at): Mutation =>
      (s) =>
        s.slice(0, at % (s.length + 1)),
  ),
);

describe("every decoder throws only OmemoError, on anything", () => {
  const corpus = seeds();

  it("the seeds decode (so mutations start from valid stanzas)", () => {
    expect(corpus.length).toBeGreaterThan(40);
    for (const seed of corpus.slice(0, 9)) expect(() => parseXml(seed)).not.toThrow();
  });

  it("random strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => {
        everyDecoderIsTyped(s);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it("XML-shaped token soup", () => {
    fc.assert(
      fc.property(tokenSoup, (s) => {
        everyDecoderIsTyped(s);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it("mutated valid stanzas", () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, mutations) => {
        everyDecoderIsTyped(mutations.reduce((s, m) => m(s), seed));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it("mutated element trees (attributes and children changed after parsing)", () => {
    const edit = fc.record({
      pick: fc.nat(),
      kind: fc.constantFrom("attr", "remove", "rename", "add", "text", "junk"),
      name: fc.constantFrom(
        "id",
        "sid",
        "rid",
        "jid",
        "kex",
        "prekey",
        "xmlns",
        "node",
        "stamp",
        "label",
        "constructor",
        "__proto__",
      ),
      value: fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom("0", "1", "true", "urn:xmpp:omemo:2", "2147483648", ""),
      ),
    });
    fc.assert(
      fc.property(fc.constantFrom(...corpus), fc.array(edit, { minLength: 1, maxLength: 5 }), (seed, edits) => {
        let root: Element;
        try {
          root = parseXml(seed);
        } catch {
          return; // a published example that is not well-formed: covered by the string fuzzers
        }
        const nodes: Element[] = [];
        const walk = (e: Element) => {
          nodes.push(e);
          for (const c of e.children) if (typeof c !== "string") walk(c);
        };
        walk(root);
        for (const { pick, kind, name, value } of edits) {
          const node = nodes[pick % nodes.length]!;
          if (kind === "attr") (node.attrs as Record<string, unknown>)[name] = value;
          else if (kind === "remove") node.children.splice(pick % (node.children.length + 1), 1);
          else if (kind === "rename") node.name = value === "" ? name : value;
          else if (kind === "add") node.cnode(new Element(name, { id: value }));
          else if (kind === "text") node.children.push(value);
          else (node.children as unknown[]).push(kind === "junk" && pick % 2 === 0 ? 42 : null);
        }
        everyDecoderIsTyped(root);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
