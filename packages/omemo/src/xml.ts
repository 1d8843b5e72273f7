// ltx's main module also loads its SAX parser, which imports Node's `events`: the Element class alone
// keeps browsers (and bundlers without Node polyfills) happy. The type stays ltx's own.
import type { Element as LtxElement } from "ltx";
import ElementClass from "ltx/src/Element.js";
/** ltx's Element class (from its own module, without the parser) and type. */
export const Element = ElementClass as unknown as typeof LtxElement;
export type Element = LtxElement;
import { MAX_STANZA_BYTES, MAX_XML_DEPTH } from "./consts.js";
import { OmemoError } from "./errors.js";

/**
 * XML in and out, with ltx's `Element` as the tree type (what @xmpp/client hands out).
 *
 * Strings are parsed by the strict parser below, not by `ltx.parse`: ltx's SAX parser is built for
 * speed on a stream a server already checked, and on a hostile string it silently accepts junk after
 * the root element, duplicate attributes, a raw `&`, names like `<1a>`, drops text after a processing
 * instruction and swallows the rest of the document after `<!DOCTYPE` (see test/xml.test.ts, which
 * pins each of these). Ours is a well-formedness checker for the XML that XMPP allows (RFC 6120 §11.1):
 * no DTD (so no entity can ever be declared or expanded), no processing instructions, only the five
 * predefined entities and character references; comments are skipped, CDATA is text.
 */

/** An XML string or an ltx element (an @xmpp/xml element is one). */
export type XmlInput = Element | string;

/** XML 1.0 (fifth edition) §2.3 NameStartChar, by code point. */
function isNameStartChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    c === 0x3a ||
    c === 0x5f ||
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    (c >= 0x200c && c <= 0x200d) ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0xeffff)
  );
}

/** XML 1.0 (fifth edition) §2.3 NameChar, by code point. */
function isNameChar(c: number): boolean {
  return (
    isNameStartChar(c) ||
    c === 0x2d ||
    c === 0x2e ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0xb7 ||
    (c >= 0x300 && c <= 0x36f) ||
    (c >= 0x203f && c <= 0x2040)
  );
}

/** Where the Name starting at `pos` ends (`pos` itself if there is none). */
function nameEnd(s: string, pos: number): number {
  let i = pos;
  while (i < s.length) {
    const c = s.codePointAt(i)!;
    if (!(i === pos ? isNameStartChar(c) : isNameChar(c))) break;
    i += c > 0xffff ? 2 : 1;
  }
  return i;
}

/** C0 and C1 control characters (and DEL). */
export function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** Anything outside XML 1.0 §2.2 Char, including lone surrogates (the `u` flag makes them unmatched halves). */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const REFERENCE_AT = /&(?:#([0-9]+)|#x([0-9a-fA-F]+)|([^;&<\s]*));/y;
const XML_DECL_AT =
  /<\?xml\s+version\s*=\s*(["'])1\.[0-9]+\1(?:\s+encoding\s*=\s*(["'])[A-Za-z][A-Za-z0-9._-]*\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>/y;
const PREDEFINED: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function malformed(what: string, offset?: number): OmemoError {
  return new OmemoError("MALFORMED_STANZA", offset === undefined ? `XML: ${what}` : `XML: ${what} at offset ${offset}`);
}

/** UTF-8 length of a string without encoding it (lone surrogates count 3, as TextEncoder's U+FFFD would). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair is 2 code units and 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

function checkStringSize(xml: string): void {
  // Every UTF-16 code unit is one to three UTF-8 bytes, so the cheap tests first.
  if (xml.length > MAX_STANZA_BYTES || (xml.length * 3 > MAX_STANZA_BYTES && utf8Length(xml) > MAX_STANZA_BYTES)) {
    throw new OmemoError("STANZA_TOO_LARGE", `XML is larger than ${MAX_STANZA_BYTES} bytes`);
  }
}

function setAttr(attrs: Record<string, string>, name: string, value: string): void {
  // A plain assignment to "__proto__" would hit Object.prototype's setter and vanish.
  if (name === "__proto__")
    Object.defineProperty(attrs, name, { value, enumerable: true, writable: true, configurable: true });
  else attrs[name] = value;
}

class Parser {
  private pos = 0;
  constructor(private readonly s: string) {}

  document(): Element {
    XML_DECL_AT.lastIndex = 0;
    if (XML_DECL_AT.test(this.s)) this.pos = XML_DECL_AT.lastIndex;
    else if (this.s.startsWith("<?xml")) throw malformed("malformed XML declaration", 0);
    this.misc();
    if (this.s.charCodeAt(this.pos) !== 0x3c) {
      throw malformed(this.pos >= this.s.length ? "no root element" : "text before the root element", this.pos);
    }
    const root = this.element();
    this.misc();
    if (this.pos < this.s.length) throw malformed("content after the root element", this.pos);
    return root;
  }

  /** Whitespace and comments around the root; declarations and processing instructions are refused. */
  private misc(): void {
    for (;;) {
      this.skipSpace();
      if (this.s.startsWith("<!--", this.pos)) this.comment();
      else if (this.s.startsWith("<?", this.pos)) throw this.piError();
      else if (this.s.startsWith("<!", this.pos)) throw this.declarationError();
      else return;
    }
  }

  private piError(): OmemoError {
    return malformed("processing instructions are not allowed (RFC 6120 §11.1)", this.pos);
  }

  private declarationError(): OmemoError {
    const what = this.s.startsWith("<!DOCTYPE", this.pos)
      ? "document type declarations are not allowed (no entities are ever declared or expanded)"
      : "markup declarations are not allowed";
    return malformed(what, this.pos);
  }

  private skipSpace(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x09 && c !== 0x0d) return;
      this.pos++;
    }
  }

  private comment(): void {
    const start = this.pos;
    const end = this.s.indexOf("--", start + 4);
    if (end === -1) throw malformed("unterminated comment", start);
    if (this.s.charCodeAt(end + 2) !== 0x3e) throw malformed("'--' inside a comment", end);
    this.pos = end + 3;
  }

  private name(): string {
    const end = nameEnd(this.s, this.pos);
    if (end === this.pos) throw malformed("expected a name", this.pos);
    const name = this.s.slice(this.pos, end);
    this.pos = end;
    return name;
  }

  /** Decodes references in a run of character data; attribute values also get §3.3.3 normalization. */
  private characters(raw: string, offset: number, attribute: boolean): string {
    if (attribute) raw = raw.replace(/[\t\n]/g, " ");
    if (!raw.includes("&")) return raw;
    let out = "";
    let last = 0;
    for (let amp = raw.indexOf("&"); amp !== -1; amp = raw.indexOf("&", last)) {
      out += raw.slice(last, amp);
      REFERENCE_AT.lastIndex = amp;
      const m = REFERENCE_AT.exec(raw);
      if (m === null) throw malformed("'&' that does not start a reference", offset + amp);
      const [, dec, hex, named] = m;
      if (named !== undefined) {
        const value = PREDEFINED[named];
        if (value === undefined || !Object.hasOwn(PREDEFINED, named)) {
          throw malformed(
            "undefined entity (only lt, gt, amp, quot, apos and character references exist)",
            offset + amp,
          );
        }
        out += value;
      } else {
        const digits = dec ?? hex!;
        const code = digits.length > 8 ? Infinity : parseInt(digits, dec !== undefined ? 10 : 16);
        const ok =
          code === 0x9 ||
          code === 0xa ||
          code === 0xd ||
          (code >= 0x20 && code <= 0xd7ff) ||
          (code >= 0xe000 && code <= 0xfffd) ||
          (code >= 0x10000 && code <= 0x10ffff);
        if (!ok) throw malformed("character reference to a character XML does not allow", offset + amp);
        out += String.fromCodePoint(code);
      }
      last = REFERENCE_AT.lastIndex;
    }
    return out + raw.slice(last);
  }

  /** The root element and everything in it, iteratively (depth is bounded, but no recursion either). */
  private element(): Element {
    const s = this.s;
    const stack: Element[] = [];
    let root: Element | undefined;
    for (;;) {
      if (this.pos >= s.length) throw malformed("unclosed element", this.pos);
      const top = stack[stack.length - 1];
      if (s.charCodeAt(this.pos) !== 0x3c) {
        // Character data up to the next markup.
        const start = this.pos;
        let end = s.indexOf("<", start);
        if (end === -1) end = s.length;
        const raw = s.slice(start, end);
        if (raw.includes("]]>")) throw malformed("']]>' in character data", start + raw.indexOf("]]>"));
        appendText(top!, this.characters(raw, start, false));
        this.pos = end;
        continue;
      }
      if (s.startsWith("</", this.pos)) {
        const at = this.pos;
        this.pos += 2;
        const name = this.name();
        this.skipSpace();
        if (s.charCodeAt(this.pos) !== 0x3e) throw malformed("expected '>' after an end tag name", this.pos);
        this.pos++;
        if (top === undefined || top.name !== name) throw malformed("end tag does not match the open element", at);
        stack.pop();
        if (stack.length === 0) return root!;
        continue;
      }
      if (s.startsWith("<!--", this.pos)) {
        if (top === undefined) throw malformed("expected an element", this.pos);
        this.comment();
        continue;
      }
      if (s.startsWith("<![CDATA[", this.pos)) {
        if (top === undefined) throw malformed("expected an element", this.pos);
        const end = s.indexOf("]]>", this.pos + 9);
        if (end === -1) throw malformed("unterminated CDATA section", this.pos);
        appendText(top, s.slice(this.pos + 9, end));
        this.pos = end + 3;
        continue;
      }
      if (s.startsWith("<?", this.pos)) throw this.piError();
      if (s.startsWith("<!", this.pos)) throw this.declarationError();
      // Start tag.
      this.pos++;
      const el = new Element(this.name());
      const attrs = el.attrs as Record<string, string>;
      let selfClosing = false;
      for (;;) {
        const before = this.pos;
        this.skipSpace();
        const c = s.charCodeAt(this.pos);
        if (c === 0x3e) {
          this.pos++;
          break;
        }
        if (c === 0x2f && s.charCodeAt(this.pos + 1) === 0x3e) {
          this.pos += 2;
          selfClosing = true;
          break;
        }
        if (this.pos >= s.length) throw malformed("unterminated start tag", this.pos);
        if (this.pos === before) throw malformed("expected whitespace between attributes", this.pos);
        const nameAt = this.pos;
        const attrName = this.name();
        this.skipSpace();
        if (s.charCodeAt(this.pos) !== 0x3d) throw malformed("expected '=' after an attribute name", this.pos);
        this.pos++;
        this.skipSpace();
        const quote = s.charCodeAt(this.pos);
        if (quote !== 0x22 && quote !== 0x27) throw malformed("attribute value is not quoted", this.pos);
        const end = s.indexOf(quote === 0x22 ? '"' : "'", this.pos + 1);
        if (end === -1) throw malformed("unterminated attribute value", this.pos);
        const raw = s.slice(this.pos + 1, end);
        if (raw.includes("<")) throw malformed("'<' in an attribute value", this.pos + 1 + raw.indexOf("<"));
        if (Object.hasOwn(attrs, attrName)) throw malformed("duplicate attribute", nameAt);
        setAttr(attrs, attrName, this.characters(raw, this.pos + 1, true));
        this.pos = end + 1;
      }
      if (top === undefined) root = el;
      else top.cnode(el);
      if (!selfClosing) {
        if (stack.length >= MAX_XML_DEPTH) {
          throw new OmemoError("STANZA_TOO_LARGE", `XML nests deeper than ${MAX_XML_DEPTH} elements`);
        }
        stack.push(el);
      } else if (top === undefined) {
        return el;
      }
    }
  }
}

function appendText(el: Element, text: string): void {
  if (text === "") return;
  const last = el.children.length - 1;
  const prev = el.children[last];
  if (typeof prev === "string") el.children[last] = prev + text;
  else el.children.push(text);
}

/**
 * Parses one XML document (one root element) strictly. Size is checked before parsing
 * (STANZA_TOO_LARGE); everything not well-formed is MALFORMED_STANZA. Line ends are normalized
 * (XML 1.0 §2.11) and attribute values get §3.3.3 normalization, as every conforming parser does.
 */
export function parseXml(xml: string): Element {
  if (typeof xml !== "string") throw new OmemoError("INVALID_ARGUMENT", "XML must be a string");
  checkStringSize(xml);
  const bad = NOT_XML_CHAR.exec(xml);
  if (bad !== null) throw malformed("a character that XML 1.0 does not allow", bad.index);
  return new Parser(xml.includes("\r") ? xml.replace(/\r\n?/g, "\n") : xml).document();
}

/** True for anything shaped like an ltx element (ltx's own, or a subclass from another copy of ltx). */
export function isElement(value: unknown): value is Element {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { name?: unknown; attrs?: unknown; children?: unknown };
  return typeof v.name === "string" && typeof v.attrs === "object" && v.attrs !== null && Array.isArray(v.children);
}

/**
 * Checks an element tree handed in by a caller against the same limits a string gets: total size
 * (approximated from names, attributes and text, in UTF-8 bytes) and depth. Iterative; stops as soon
 * as a limit is passed, so even a cyclic object graph terminates.
 */
function checkElementTree(root: Element): void {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: a tree whose bound fits needs no exact count (every
  // stanza of ordinary size). Only a tree near the limit is measured exactly.
  if (treeBytes(root, 3) > MAX_STANZA_BYTES && treeBytes(root, 0) > MAX_STANZA_BYTES) {
    throw new OmemoError("STANZA_TOO_LARGE", `XML is larger than ${MAX_STANZA_BYTES} bytes`);
  }
}

/**
 * The tree's size in UTF-8 bytes (approximated from names, attributes and text), exactly when
 * `unitBytes` is 0, or bounded from above by counting `unitBytes` per UTF-16 code unit. Checks depth
 * and node types on the way; returns as soon as the size passes MAX_STANZA_BYTES.
 */
function treeBytes(root: Element, unitBytes: number): number {
  const size = (s: string) => (unitBytes === 0 ? utf8Length(s) : s.length * unitBytes);
  let bytes = 0;
  const nodes: unknown[] = [root];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop()!;
    if (typeof node === "string") {
      bytes += size(node);
    } else if (typeof node === "number" || node === null || node === undefined) {
      bytes += 20;
    } else if (isElement(node)) {
      if (depth > MAX_XML_DEPTH)
        throw new OmemoError("STANZA_TOO_LARGE", `XML nests deeper than ${MAX_XML_DEPTH} elements`);
      bytes += 2 * size(node.name) + 5;
      const attrs = node.attrs as Record<string, unknown>;
      for (const k in attrs) {
        if (!Object.hasOwn(attrs, k)) continue;
        const v = attrs[k];
        bytes += size(k) + (typeof v === "string" ? size(v) : 20) + 4;
      }
      const children = node.children as unknown[];
      for (let i = 0; i < children.length; i++) {
        nodes.push(children[i]);
        depths.push(depth + 1);
      }
    } else {
      throw new OmemoError("INVALID_ARGUMENT", "element tree contains something that is neither an element nor text");
    }
    if (bytes > MAX_STANZA_BYTES) return bytes;
  }
  return bytes;
}

/** A string is parsed; an element is checked against the same limits and used as it is. */
export function toElement(input: XmlInput): Element {
  if (typeof input === "string") return parseXml(input);
  if (!isElement(input)) throw new OmemoError("INVALID_ARGUMENT", "expected an XML string or an ltx Element");
  checkElementTree(input);
  return input;
}

// ---------------------------------------------------------------------------------------------------
// Reading elements without trusting their shape (they may come from a caller, not from our parser).

/** The local name (after any prefix). */
export function localName(el: Element): string {
  const i = el.name.indexOf(":");
  return i === -1 ? el.name : el.name.slice(i + 1);
}

/** An attribute's value if it is present as an own string (or number) property, otherwise undefined. */
export function attr(el: Element, name: string): string | undefined {
  const attrs = el.attrs as Record<string, unknown>;
  if (!Object.hasOwn(attrs, name)) return undefined;
  const v = attrs[name];
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

/** The element's namespace: its prefix's or default xmlns, looked up through its ancestors as ltx does. */
export function namespaceOf(el: Element): string | undefined {
  const i = el.name.indexOf(":");
  const key = i === -1 ? "xmlns" : `xmlns:${el.name.slice(0, i)}`;
  let node: unknown = el;
  for (let hops = 0; isElement(node) && hops <= MAX_XML_DEPTH * 4; hops++) {
    const v = attr(node, key);
    if (v !== undefined) return v;
    node = (node as { parent?: unknown }).parent;
  }
  return undefined;
}

/** Child elements, in order (text and anything else skipped). */
export function childElements(el: Element): Element[] {
  const out: Element[] = [];
  for (const c of el.children) if (isElement(c)) out.push(c);
  return out;
}

/** Child elements with this local name in this namespace. */
export function childrenNamed(el: Element, name: string, ns: string): Element[] {
  const out: Element[] = [];
  for (const c of el.children as unknown[]) {
    if (isElement(c) && localName(c) === name && namespaceOf(c) === ns) out.push(c);
  }
  return out;
}

/** All text directly inside the element (child elements are skipped). */
export function textOf(el: Element): string {
  let out = "";
  for (const c of el.children) {
    if (typeof c === "string") out += c;
    else if (typeof c === "number") out += String(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writing.

function escapeText(s: string): string {
  // "\r" as a reference, or a conforming parser turns it into "\n" (XML 1.0 §2.11).
  return s.replace(/[&<>\r]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&#13;"));
}

const ATTR_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};

function escapeAttr(s: string): string {
  // Tabs and line ends as references, or attribute-value normalization turns them into spaces.
  return s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c]!);
}

function checkName(name: string, what: string): void {
  if (name.length === 0 || nameEnd(name, 0) !== name.length)
    throw new OmemoError("INVALID_ARGUMENT", `${what} is not an XML name`);
}

function checkChars(s: string, what: string): void {
  if (NOT_XML_CHAR.test(s)) throw new OmemoError("INVALID_ARGUMENT", `${what} contains a character XML cannot carry`);
}

/**
 * Serializes an element. Unlike ltx's `toString`, every name and character is checked
 * (INVALID_ARGUMENT if XML cannot carry it), and tabs and line ends in attributes and carriage
 * returns in text are written as character references so they survive a conforming parser.
 */
export function serializeXml(el: Element): string {
  if (!isElement(el)) throw new OmemoError("INVALID_ARGUMENT", "expected an ltx Element");
  const parts: string[] = [];
  write(el, 1, parts);
  return parts.join("");
}

function write(el: Element, depth: number, out: string[]): void {
  if (depth > MAX_XML_DEPTH) throw new OmemoError("INVALID_ARGUMENT", `element nests deeper than ${MAX_XML_DEPTH}`);
  checkName(el.name, "element name");
  out.push("<", el.name);
  const attrs = el.attrs as Record<string, unknown>;
  // Own enumerable properties in Object.entries' order, without its arrays.
  for (const k in attrs) {
    if (!Object.hasOwn(attrs, k)) continue;
    const v = attrs[k];
    if (v === null || v === undefined) continue; // ltx skips these too
    const value = typeof v === "number" && Number.isFinite(v) ? String(v) : v;
    if (typeof value !== "string") throw new OmemoError("INVALID_ARGUMENT", "attribute value is not a string");
    checkName(k, "attribute name");
    checkChars(value, "attribute value");
    out.push(" ", k, '="', escapeAttr(value), '"');
  }
  const children = el.children as unknown[];
  if (!children.some((c) => c !== null && c !== undefined && c !== "")) {
    out.push("/>");
    return;
  }
  out.push(">");
  for (const child of children) {
    if (child === null || child === undefined || child === "") continue;
    if (typeof child === "string" || typeof child === "number") {
      const text = typeof child === "number" ? String(child) : child;
      checkChars(text, "text");
      out.push(escapeText(text));
    } else if (isElement(child)) {
      write(child, depth + 1, out);
    } else {
      throw new OmemoError("INVALID_ARGUMENT", "element has a child that is neither an element nor text");
    }
  }
  out.push("</", el.name, ">");
}

/** Creates an element with string attributes (undefined ones left out) and children. */
export function el(
  name: string,
  attrs: Readonly<Record<string, string | undefined>>,
  ...children: (Element | string)[]
): Element {
  const e = new Element(name);
  const a = e.attrs as Record<string, string>;
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) setAttr(a, k, v);
  for (const c of children) {
    if (typeof c === "string") {
      if (c !== "") e.children.push(c);
    } else e.cnode(c);
  }
  return e;
}

/**
 * A deep copy of a caller's element, so building a stanza never re-parents (and so changes the
 * namespace of) an element that still belongs to the caller's tree. The copy's root gets the
 * namespace it had in place as an explicit xmlns when it inherited one.
 */
export function cloneElement(source: Element): Element {
  if (!isElement(source)) throw new OmemoError("INVALID_ARGUMENT", "expected an ltx Element");
  const copy = copyTree(source, 1);
  const ns = namespaceOf(source);
  const own = attr(
    source,
    source.name.includes(":") ? `xmlns:${source.name.slice(0, source.name.indexOf(":"))}` : "xmlns",
  );
  if (own === undefined && ns !== undefined) {
    setAttr(
      copy.attrs,
      source.name.includes(":") ? `xmlns:${source.name.slice(0, source.name.indexOf(":"))}` : "xmlns",
      ns,
    );
  }
  return copy;
}

function copyTree(source: Element, depth: number): Element {
  if (depth > MAX_XML_DEPTH) throw new OmemoError("INVALID_ARGUMENT", `element nests deeper than ${MAX_XML_DEPTH}`);
  const copy = new Element(source.name);
  for (const [k, v] of Object.entries<unknown>(source.attrs)) {
    if (typeof v === "string") setAttr(copy.attrs, k, v);
    else if (typeof v === "number" && Number.isFinite(v)) setAttr(copy.attrs, k, String(v));
    else if (v !== null && v !== undefined) throw new OmemoError("INVALID_ARGUMENT", "attribute value is not a string");
  }
  for (const child of source.children) {
    if (typeof child === "string") copy.children.push(child);
    else if (typeof child === "number") copy.children.push(String(child));
    else if (isElement(child)) copy.cnode(copyTree(child, depth + 1));
    else if (child !== null && child !== undefined) {
      throw new OmemoError("INVALID_ARGUMENT", "element has a child that is neither an element nor text");
    }
  }
  return copy;
}
