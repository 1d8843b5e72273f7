/** Small edits of XML stanzas for the omemo suite and its vector generator (tampering, malformations). */
import { parseXml, serializeXml, type Element } from "@parley/omemo";
import { flipBit } from "./util.js";

/** `xml` after `edit` changed its parsed tree. */
export function edited(xml: string, edit: (message: Element) => void): string {
  const el = parseXml(xml);
  edit(el);
  return serializeXml(el);
}

/** Replaces an element's children with one text node. */
export function setText(el: Element, text: string): void {
  el.children.length = 0;
  el.t(text);
}

/** Base64 `text` (whitespace allowed) with the lowest bit of byte `index` flipped (negative: from the end). */
export function flipBase64(text: string, index: number): string {
  const hex = Buffer.from(text.replace(/\s+/g, ""), "base64").toString("hex");
  return Buffer.from(flipBit(hex, index), "hex").toString("base64");
}
