import type { Element } from "ltx";
import { NS_V2 } from "../consts.js";
import { atMostOne, expectElement, invalidArgument } from "../fields.js";
import { el, localName, namespaceOf, textOf } from "../xml.js";

/**
 * `<opt-out xmlns='urn:xmpp:omemo:2'>` (XEP-0384 v0.8.3 §5.7): sent inside the SCE content to ask for
 * plain text. A receiver SHOULD tell its user and MUST block outgoing messages until the user agrees.
 */
export interface OptOut {
  readonly reason?: string;
}

export function encodeOptOut(optOut: OptOut = {}): Element {
  if (optOut.reason !== undefined && typeof optOut.reason !== "string")
    throw invalidArgument("optOut.reason must be a string");
  const reason = optOut.reason === undefined ? [] : [el("reason", {}, optOut.reason)];
  return el("opt-out", { xmlns: NS_V2 }, ...reason);
}

export function isOptOut(element: Element): boolean {
  return localName(element) === "opt-out" && namespaceOf(element) === NS_V2;
}

/** Decodes an `<opt-out>` found in an envelope's content (for example with `content.find(isOptOut)`). */
export function decodeOptOut(element: Element): OptOut {
  expectElement(element, "opt-out", NS_V2);
  const reason = atMostOne(element, "reason", NS_V2, "<opt-out>");
  return reason === undefined ? {} : { reason: textOf(reason) };
}
