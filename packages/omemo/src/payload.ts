import type { Element } from "ltx";
import { malformed } from "./fields.js";
import { childElements, localName, namespaceOf, toElement, type XmlInput } from "./xml.js";

/**
 * The element to decode: `input` itself, or the payload of a pubsub `<item>` (either pubsub namespace)
 * so a caller can hand over the item it got from a fetch or an event.
 */
export function payloadElement(input: XmlInput): Element {
  const el = toElement(input);
  if (localName(el) !== "item") return el;
  const ns = namespaceOf(el);
  if (ns !== "http://jabber.org/protocol/pubsub" && ns !== "http://jabber.org/protocol/pubsub#event") return el;
  const children = childElements(el);
  if (children.length !== 1) throw malformed("pubsub <item> must hold exactly one payload element");
  return children[0]!;
}
