import { NS_LEGACY, NS_V2 } from "./consts.js";
import { OmemoError } from "./errors.js";
import * as legacy from "./legacy/message.js";
import * as v2 from "./v2/message.js";
import { childElements, localName, namespaceOf, toElement, type XmlInput } from "./xml.js";

/** A decoded `<encrypted>` of either namespace, tagged with which one. */
export type AnyEncryptedMessage =
  | { readonly namespace: typeof NS_LEGACY; readonly message: legacy.EncryptedMessage }
  | { readonly namespace: typeof NS_V2; readonly message: v2.EncryptedMessage };

/**
 * Decodes an `<encrypted>` of either namespace, or the one inside a `<message>`. A message carrying
 * both (a sender covering old and new clients) yields the OMEMO 2 one. Any other namespace is
 * UNSUPPORTED_NAMESPACE.
 */
export function decodeAnyEncryptedMessage(input: XmlInput): AnyEncryptedMessage {
  let element = toElement(input);
  if (localName(element) === "message") {
    const candidates = childElements(element).filter((c) => localName(c) === "encrypted");
    const pick =
      candidates.find((c) => namespaceOf(c) === NS_V2) ?? candidates.find((c) => namespaceOf(c) === NS_LEGACY);
    if (pick === undefined) throw new OmemoError("MALFORMED_STANZA", "<message> has no OMEMO <encrypted> element");
    element = pick;
  }
  if (localName(element) !== "encrypted") throw new OmemoError("MALFORMED_STANZA", "expected <encrypted> or <message>");
  const ns = namespaceOf(element);
  if (ns === NS_V2) return { namespace: NS_V2, message: v2.decodeEncryptedMessage(element) };
  if (ns === NS_LEGACY) return { namespace: NS_LEGACY, message: legacy.decodeEncryptedMessage(element) };
  throw new OmemoError("UNSUPPORTED_NAMESPACE", "the <encrypted> element is in neither OMEMO namespace");
}
