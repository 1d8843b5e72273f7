/** The stanzas around the session manager's work: content checks, the `<message>` it sends, decrypt results. */
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import type { Element } from "ltx";
import { NS_CLIENT, NS_HINTS, NS_LEGACY } from "../consts.js";
import { OmemoError } from "../errors.js";
import type { Envelope } from "../sce.js";
import { cloneElement, el, localName, namespaceOf } from "../xml.js";
import type { OmemoNamespace } from "./io.js";
import type { DecryptResult, MessageContent } from "./types.js";

const td = new TextDecoder("utf-8", { fatal: true });

export function checkContent(content: MessageContent): void {
  if (typeof content !== "object" || content === null)
    throw new OmemoError("INVALID_ARGUMENT", "content must be an object");
  if (content.body !== undefined && typeof content.body !== "string") {
    throw new OmemoError("INVALID_ARGUMENT", "content.body must be a string");
  }
  if (content.elements !== undefined && !Array.isArray(content.elements)) {
    throw new OmemoError("INVALID_ARGUMENT", "content.elements must be an array of elements");
  }
  if (content.body === undefined && (content.elements === undefined || content.elements.length === 0)) {
    throw new OmemoError("INVALID_ARGUMENT", "content needs a body or elements");
  }
}

export function attrOf(element: Element, name: string): string | undefined {
  const v: unknown = element.attrs[name];
  return typeof v === "string" ? v : undefined;
}

export function utf8(bytes: Uint8Array): string {
  try {
    return td.decode(bytes);
  } catch (cause) {
    throw new OmemoError("MALFORMED_STANZA", "the decrypted payload is not UTF-8", { cause });
  }
}

export function envelopeBody(envelope: Envelope): string | undefined {
  const body = envelope.content.find((e) => localName(e) === "body" && namespaceOf(e) === NS_CLIENT);
  return body?.getText();
}

/** `<message to type='chat'>` with the `<encrypted>`, a store hint and XEP-0380's `<encryption/>`. */
export function wrapMessage(to: string, namespace: OmemoNamespace, encrypted: Element): Element {
  return el(
    "message",
    { to, type: "chat" },
    cloneElement(encrypted),
    el("store", { xmlns: NS_HINTS }),
    el("encryption", { xmlns: "urn:xmpp:eme:0", namespace, name: namespace === NS_LEGACY ? "OMEMO" : "OMEMO 2" }),
  );
}

/**
 * Decrypt results hold plaintext and key material: they print without them, and the key material is
 * not enumerable, so JSON.stringify and spreading leave it out too (read it as `result.keyMaterial`).
 */
export function redactedResult(result: DecryptResult): DecryptResult {
  Object.defineProperty(result, "keyMaterial", { value: result.keyMaterial, enumerable: false });
  Object.defineProperty(result, INSPECT_CUSTOM, {
    value: () =>
      `DecryptResult { ${result.kind} from ${result.from} device ${result.deviceId} (${result.namespace}), trust ${result.trust}, content [redacted] }`,
    enumerable: false,
  });
  return result;
}
