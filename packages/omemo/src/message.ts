import type { Element } from "ltx";
import { malformed } from "./fields.js";
import { childElements, localName, namespaceOf, toElement, type XmlInput } from "./xml.js";

/**
 * The `<encrypted>` element to decode: `input` itself, or the one `<encrypted xmlns=ns>` directly
 * inside a `<message>` (so a caller can hand over the stanza it received).
 */
export function encryptedElement(input: XmlInput, ns: string): Element {
  const el = toElement(input);
  if (localName(el) !== "message") return el;
  const found = childElements(el).filter((c) => localName(c) === "encrypted" && namespaceOf(c) === ns);
  if (found.length !== 1) {
    throw malformed(
      found.length === 0
        ? `<message> has no <encrypted xmlns='${ns}'>`
        : `<message> has more than one <encrypted xmlns='${ns}'>`,
    );
  }
  return found[0]!;
}
