import { readFileSync } from "node:fs";
import type { Element } from "ltx";
import { isOmemoError, parseXml, type OmemoErrorCode } from "../src/index.js";

/** Default property runs; OMEMO_FUZZ_RUNS=100000 for a long run. */
export const FUZZ_RUNS = Number(process.env["OMEMO_FUZZ_RUNS"] ?? 2000);
/** Round-trip properties need fewer runs than the fuzzers to cover the shapes. */
export const PROPERTY_RUNS = Math.max(200, Math.floor(FUZZ_RUNS / 4));

export function vector(name: string): string {
  return readFileSync(new URL(`./vectors/${name}.xml`, import.meta.url), "utf8");
}

export function vectorElement(name: string): Element {
  return parseXml(vector(name));
}

/**
 * A comparable picture of an element: local name, namespace declarations and attributes (order
 * ignored), child elements in order, and text with all whitespace removed (indentation in the XEP
 * examples, line-wrapped base64). Comments are not in the tree at all.
 */
export interface XmlShape {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlShape[];
}

export function shape(element: Element, transformAttr?: (name: string, value: string) => string): XmlShape {
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries<string>(element.attrs).sort(([a], [b]) => (a < b ? -1 : 1))) {
    attrs[k] = transformAttr === undefined ? v : transformAttr(k, v);
  }
  let text = "";
  const children: XmlShape[] = [];
  for (const c of element.children) {
    if (typeof c === "string") text += c;
    else children.push(shape(c, transformAttr));
  }
  return { name: element.name, attrs, text: text.replace(/\s+/g, ""), children };
}

/** The error's code if `fn` throws an OmemoError; fails the test for anything else. */
export function errorCode(fn: () => unknown): OmemoErrorCode | "no error" {
  try {
    fn();
  } catch (error) {
    if (isOmemoError(error)) return error.code;
    throw error;
  }
  return "no error";
}

/** The first child element with this local name, for picking parts of a vector. */
export function child(element: Element, name: string): Element {
  const found = element.children.find((c): c is Element => typeof c !== "string" && c.name === name);
  if (found === undefined) throw new Error(`test vector has no <${name}>`);
  return found;
}

/** Bytes 0, 1, 2, … (distinct per seed) of a length, for substituting XEP placeholders. */
export function counting(length: number, seed: number, first?: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i) & 0xff;
  if (first !== undefined) out[0] = first;
  return out;
}

/** Text XML 1.0 can carry in character data: no C0 controls but tab, LF, CR; no U+FFFE/U+FFFF. */
export function isXmlText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) return false;
  }
  return true;
}

/** No C0/C1 controls at all (labels, JIDs). */
export function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0xfffe || c === 0xffff) return false;
  }
  return true;
}
