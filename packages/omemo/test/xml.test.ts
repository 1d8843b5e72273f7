import fc from "fast-check";
import { Element, parse as ltxParse } from "ltx";
import { describe, expect, it } from "vitest";
import { MAX_STANZA_BYTES, MAX_XML_DEPTH, cloneElement, parseXml, serializeXml } from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import { toElement } from "../src/xml.js";
import { PROPERTY_RUNS, errorCode, isXmlText } from "./helpers.js";

/** What ltx.parse (3.1.2) does with a string: its serialization, or "throws: message". */
function ltx(xml: string): string {
  try {
    return ltxParse(xml).toString();
  } catch (error) {
    return `throws: ${(error as Error).message}`;
  }
}

/** What our parser does: the same serialization, or the error code. */
function ours(xml: string): string {
  const code = errorCode(() => parseXml(xml));
  return code === "no error" ? serializeXml(parseXml(xml)) : code;
}

describe("hostile XML: ltx.parse 3.1.2 compared with parseXml", () => {
  // Each row pins what ltx does (so a change in ltx shows up here) and what we do instead.
  it.each([
    [
      "DOCTYPE with an internal entity",
      '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
      "throws: Incomplete document",
      "MALFORMED_STANZA",
    ],
    ["plain DOCTYPE", "<!DOCTYPE a><a>t</a>", "throws: Incomplete document", "MALFORMED_STANZA"],
    [
      "billion laughs",
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
      "throws: Incomplete document",
      "MALFORMED_STANZA",
    ],
    [
      "external entity",
      '<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>',
      "throws: Incomplete document",
      "MALFORMED_STANZA",
    ],
    ["DOCTYPE after the root", "<a/><!DOCTYPE a>", "<a/>", "MALFORMED_STANZA"],
    ["undeclared entity", "<a>&x;</a>", "throws: Illegal XML entity &x;", "MALFORMED_STANZA"],
    ["entity in an attribute", "<a b='&x;'/>", "throws: Illegal XML entity &x;", "MALFORMED_STANZA"],
    [
      "processing instruction before the root",
      '<?xml version="1.0"?><?foo bar?><a>t</a>',
      "<a>t</a>",
      "MALFORMED_STANZA",
    ],
    ["processing instruction inside (ltx loses the text)", "<a><?foo bar?>t</a>", "<a/>", "MALFORMED_STANZA"],
    ["XML declaration", "<?xml version='1.0' encoding='UTF-8'?><a>t</a>", "<a>t</a>", "<a>t</a>"],
    [
      "CDATA",
      "<a><![CDATA[<b>&amp;</b>]]></a>",
      "<a>&lt;b&gt;&amp;amp;&lt;/b&gt;</a>",
      "<a>&lt;b&gt;&amp;amp;&lt;/b&gt;</a>",
    ],
    ["numeric character references", "<a b='&#65;'>&#65;&#x42;&#x1F600;</a>", '<a b="A">AB😀</a>', '<a b="A">AB😀</a>'],
    ["reference to NUL", "<a>&#0;</a>", "throws: Illegal XML character 0x0", "MALFORMED_STANZA"],
    ["reference to a surrogate", "<a>&#xD800;</a>", "throws: Illegal XML character 0xd800", "MALFORMED_STANZA"],
    ["reference beyond Unicode", "<a>&#x110000;</a>", "throws: Illegal XML character 0x110000", "MALFORMED_STANZA"],
    ["raw control character", "<a>\u0001</a>", "<a>\u0001</a>", "MALFORMED_STANZA"],
    ["unclosed tag", "<a><b>", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["mismatched end tag", "<a><b></a>", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["text after the root", "<a/>junk", "<a/>", "MALFORMED_STANZA"],
    ["second root", "<a/><b/>", "<a/>", "MALFORMED_STANZA"],
    ["text before the root", "junk<a/>", "<a/>", "MALFORMED_STANZA"],
    ["no XML at all", "hello world", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["empty string", "", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["unquoted attribute", "<a b=c/>", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["attribute without value", "<a b/>", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["duplicate attribute (ltx keeps the last)", "<a b='1' b='2'/>", '<a b="2"/>', "MALFORMED_STANZA"],
    ["'<' in an attribute", "<a b='<'/>", '<a b="&lt;"/>', "MALFORMED_STANZA"],
    ["raw '&'", "<a>a & b</a>", "<a>a &amp; b</a>", "MALFORMED_STANZA"],
    ["']]>' in text", "<a>]]></a>", "<a>]]&gt;</a>", "MALFORMED_STANZA"],
    ["comment", "<a><!-- x --></a>", "<a/>", "<a/>"],
    ["malformed comment", "<a><!- x --></a>", "<a/>", "MALFORMED_STANZA"],
    ["'--' inside a comment", "<a><!-- x -- y --></a>", "<a/>", "MALFORMED_STANZA"],
    ["name starting with a digit", "<1a/>", "<1a/>", "MALFORMED_STANZA"],
    ["space before the name", "< a/>", "throws: Incomplete document", "MALFORMED_STANZA"],
    ["no space between attributes", "<a b='1'c='2'/>", '<a b="1" c="2"/>', "MALFORMED_STANZA"],
    ["__proto__ attribute (ltx drops it)", "<a __proto__='x'/>", "<a/>", '<a __proto__="x"/>'],
  ])("%s", (_name, xml, ltxResult, ourResult) => {
    expect(ltx(xml)).toBe(ltxResult);
    expect(ours(xml)).toBe(ourResult);
  });

  it("normalizes line ends and attribute whitespace as XML 1.0 §2.11 and §3.3.3 require (ltx does neither)", () => {
    const xml = "<a b='x\r\ny\tz' c='&#10;'>l1\r\nl2\rl3</a>";
    expect(ltxParse(xml).attrs).toEqual({ b: "x\r\ny\tz", c: "\n" });
    const parsed = parseXml(xml);
    expect(parsed.attrs).toEqual({ b: "x y z", c: "\n" });
    expect(parsed.getText()).toBe("l1\nl2\nl3");
  });

  it("never expands an entity, however the declaration is spelled", () => {
    for (const xml of [
      "<!DOCTYPE a [<!ENTITY % p 'x'>]><a/>",
      "<?xml version='1.0'?>\n<!DOCTYPE a SYSTEM 'http://example.com/a.dtd'><a/>",
      "<a><!ENTITY x 'y'></a>",
      "<a><!DOCTYPE b></a>",
    ]) {
      expect(errorCode(() => parseXml(xml))).toBe("MALFORMED_STANZA");
    }
  });
});

describe("size limits before and during parsing", () => {
  it(`refuses strings over ${MAX_STANZA_BYTES} bytes, counted in UTF-8`, () => {
    const filler = (n: number) => `<a>${"x".repeat(n - 7)}</a>`;
    expect(errorCode(() => parseXml(filler(MAX_STANZA_BYTES)))).toBe("no error");
    expect(errorCode(() => parseXml(filler(MAX_STANZA_BYTES + 1)))).toBe("STANZA_TOO_LARGE");
    // Fewer UTF-16 units than the limit, more UTF-8 bytes.
    const wide = `<a>${"€".repeat(MAX_STANZA_BYTES / 2)}</a>`;
    expect(wide.length).toBeLessThan(MAX_STANZA_BYTES);
    expect(errorCode(() => parseXml(wide))).toBe("STANZA_TOO_LARGE");
  });

  it(`refuses nesting deeper than ${MAX_XML_DEPTH}`, () => {
    const nest = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);
    expect(errorCode(() => parseXml(nest(MAX_XML_DEPTH)))).toBe("no error");
    expect(errorCode(() => parseXml(nest(MAX_XML_DEPTH + 1)))).toBe("STANZA_TOO_LARGE");
    expect(errorCode(() => parseXml("<a>".repeat(100_000)))).toBe("STANZA_TOO_LARGE");
  });

  it("applies the same limits to an element handed in", () => {
    const big = new Element("a").t("x".repeat(MAX_STANZA_BYTES));
    expect(errorCode(() => toElement(big))).toBe("STANZA_TOO_LARGE");
    let deep = new Element("a");
    for (let i = 0; i < MAX_XML_DEPTH; i++) deep = new Element("a").cnode(deep).up();
    expect(errorCode(() => toElement(deep))).toBe("STANZA_TOO_LARGE");
    // A cyclic object graph terminates too.
    const cyclic = new Element("a");
    cyclic.children.push(cyclic);
    expect(errorCode(() => toElement(cyclic))).toBe("STANZA_TOO_LARGE");
    expect(errorCode(() => legacy.decodeEncryptedMessage({ name: 1 } as unknown as Element))).toBe("INVALID_ARGUMENT");
  });

  it("handles pathological but legal inputs near the limit (the test finishing is the check)", () => {
    const n = MAX_STANZA_BYTES / 8;
    for (const xml of [
      `<a>${"&#65;".repeat(n)}</a>`,
      `<a${" ".repeat(n)}b='1'/>`,
      `<a><!--${"-".repeat(1)}${" x".repeat(n)}--></a>`,
      `<a>${"<b/>".repeat(n)}</a>`,
      `<?xml${" ".repeat(n)}version='1.0'?><a/>`,
      `<a>${"&".repeat(n)}</a>`,
      `<a>${"&aaaa".repeat(n / 2)}</a>`,
    ]) {
      expect(["no error", "MALFORMED_STANZA"]).toContain(errorCode(() => parseXml(xml)));
    }
  });
});

describe("serializeXml", () => {
  const name = fc.constantFrom("a", "b", "x:y", "body", "_n.1-2");
  const text = fc.string({ unit: "grapheme", maxLength: 20 }).filter(isXmlText);
  const tree: fc.Arbitrary<Element> = fc.letrec<{ node: Element }>((tie) => ({
    node: fc
      .tuple(
        name,
        fc.dictionary(fc.constantFrom("id", "type", "xmlns", "c"), text, { maxKeys: 3 }),
        fc.array(fc.oneof({ depthSize: "small" }, text, tie("node")), { maxLength: 3 }),
      )
      .map(([n, attrs, children]) => {
        const e = new Element(n, attrs);
        for (const c of children) {
          if (typeof c === "string") {
            const last = e.children[e.children.length - 1];
            if (typeof last === "string") e.children[e.children.length - 1] = last + c;
            else if (c !== "") e.children.push(c);
          } else e.cnode(c);
        }
        return e;
      }),
  })).node;

  it("parseXml(serializeXml(t)) serializes the same, for any tree (tabs, line ends, CR, quotes included)", () => {
    fc.assert(
      fc.property(tree, (t) => {
        const xml = serializeXml(t);
        expect(serializeXml(parseXml(xml))).toBe(xml);
        expect(parseXml(xml).attrs).toEqual(t.attrs);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("refuses what XML cannot carry", () => {
    expect(errorCode(() => serializeXml(new Element("a b")))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => serializeXml(new Element("a", { "b c": "1" })))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => serializeXml(new Element("a").t("\u0000")))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => serializeXml(new Element("a").t("\ud800")))).toBe("INVALID_ARGUMENT");
    expect(errorCode(() => serializeXml(new Element("a", { b: {} })))).toBe("INVALID_ARGUMENT");
  });

  it("cloneElement copies deeply and makes an inherited namespace explicit", () => {
    const root = parseXml("<message xmlns='jabber:client'><body a='1'>hi<i/></body></message>");
    const copy = cloneElement(root.getChild("body")!);
    expect(serializeXml(copy)).toBe('<body a="1" xmlns="jabber:client">hi<i/></body>');
    expect(copy.parent).toBeNull();
  });
});
