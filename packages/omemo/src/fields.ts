import type { Element } from "ltx";
import { decodeBase64 } from "./base64.js";
import { MAX_DEVICE_ID, MAX_PRE_KEY_ID, MAX_UNSIGNED_INT, MIN_DEVICE_ID } from "./consts.js";
import { OmemoError } from "./errors.js";
import { attr, isElement, localName, namespaceOf, textOf } from "./xml.js";

/** Shared pieces of the per-namespace codecs: attributes, ids, flags and base64 fields. */

export function malformed(message: string): OmemoError {
  return new OmemoError("MALFORMED_STANZA", message);
}

export function tooLarge(message: string): OmemoError {
  return new OmemoError("STANZA_TOO_LARGE", message);
}

export function invalidArgument(message: string): OmemoError {
  return new OmemoError("INVALID_ARGUMENT", message);
}

/** Checks the element's local name and namespace; a known name in another namespace is UNSUPPORTED_NAMESPACE. */
export function expectElement(el: Element, name: string, ns: string): void {
  if (localName(el) !== name) throw malformed(`expected <${name} xmlns='${ns}'>, got another element`);
  if (namespaceOf(el) !== ns) {
    throw new OmemoError("UNSUPPORTED_NAMESPACE", `<${name}> is not in the ${ns} namespace`);
  }
}

export function requireAttr(el: Element, name: string, where: string): string {
  const v = attr(el, name);
  if (v === undefined) throw malformed(`${where} has no '${name}' attribute`);
  return v;
}

/** xs:unsignedInt lexical form, as deployed peers write it: decimal digits, surrounding whitespace allowed. */
const UNSIGNED = /^[ \t\n\r]*([0-9]{1,10})[ \t\n\r]*$/;

function parseUnsigned(value: string, what: string, min: number, max: number): number {
  const m = UNSIGNED.exec(value);
  const n = m === null ? NaN : Number(m[1]);
  if (!(n >= min && n <= max)) throw malformed(`${what} must be an integer from ${min} to ${max}`);
  return n;
}

/** A device id attribute (sid, rid, device/@id): 1 … 2^31 − 1 (XEP-0384 v0.3.0 §4.1, v0.8.3 §5.1). */
export function decodeDeviceId(el: Element, name: string, where: string): number {
  return parseUnsigned(requireAttr(el, name, where), `${where} '${name}'`, MIN_DEVICE_ID, MAX_DEVICE_ID);
}

/** A prekey or signed prekey id: any xs:unsignedInt (the schema type; v0.8.3's own examples use 0). */
export function decodePreKeyId(el: Element, name: string, where: string): number {
  return parseUnsigned(requireAttr(el, name, where), `${where} '${name}'`, 0, MAX_UNSIGNED_INT);
}

/** xs:boolean ("true", "false", "1", "0"); absent means false (v0.8.3 §11 default='false'). */
export function decodeFlag(el: Element, name: string, where: string): boolean {
  const v = attr(el, name);
  if (v === undefined) return false;
  const t = v.trim();
  if (t === "true" || t === "1") return true;
  if (t === "false" || t === "0") return false;
  throw malformed(`${where} '${name}' must be true, false, 1 or 0`);
}

export function decodeBase64Text(el: Element, where: string, maxBytes: number): Uint8Array {
  return decodeBase64(textOf(el), `${where} content`, maxBytes);
}

/** Up to this many bytes, a fixed-size field of the wrong length is MALFORMED_STANZA; beyond, STANZA_TOO_LARGE. */
const FIXED_FIELD_SLACK = 1024;

/** Base64 content of exactly `length` bytes (or one of several lengths). */
export function decodeFixedBase64(el: Element, where: string, ...lengths: number[]): Uint8Array {
  const bytes = decodeBase64Text(el, where, Math.max(FIXED_FIELD_SLACK, ...lengths));
  if (!lengths.includes(bytes.length)) throw malformed(`${where} must hold ${lengths.join(" or ")} bytes`);
  return bytes;
}

/** The one child with this name; none or several is MALFORMED_STANZA. */
export function exactlyOne(parent: Element, name: string, ns: string, where: string): Element {
  const found = firstNamed(parent, name, ns, where);
  if (found === undefined) throw malformed(`${where} has no <${name}>`);
  return found;
}

/** The child with this name if there is one; several is MALFORMED_STANZA. */
export function atMostOne(parent: Element, name: string, ns: string, where: string): Element | undefined {
  return firstNamed(parent, name, ns, where);
}

/** Like `childrenNamed(...)[0]`, throwing for a second one, in one pass and without arrays. */
function firstNamed(parent: Element, name: string, ns: string, where: string): Element | undefined {
  let found: Element | undefined;
  for (const c of parent.children as unknown[]) {
    if (!isElement(c) || localName(c) !== name || namespaceOf(c) !== ns) continue;
    if (found !== undefined) throw malformed(`${where} has more than one <${name}>`);
    found = c;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Checks on what callers give the encoders: we emit only what the XEP allows.

export function assertDeviceId(value: unknown, what: string): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < MIN_DEVICE_ID || (value as number) > MAX_DEVICE_ID) {
    throw invalidArgument(`${what} must be an integer from ${MIN_DEVICE_ID} to ${MAX_DEVICE_ID}`);
  }
}

export function assertPreKeyId(value: unknown, what: string): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_PRE_KEY_ID) {
    throw invalidArgument(`${what} must be an integer from 1 to ${MAX_PRE_KEY_ID}`);
  }
}

export function assertBytes(value: unknown, what: string, min: number, max: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidArgument(`${what} must be a Uint8Array`);
  if (value.length < min || value.length > max) {
    throw invalidArgument(min === max ? `${what} must be ${min} bytes` : `${what} must be ${min} to ${max} bytes`);
  }
}

export function assertArray(
  value: unknown,
  what: string,
  min: number,
  max: number,
): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) throw invalidArgument(`${what} must be an array`);
  if (value.length < min) throw invalidArgument(`${what} must have at least ${min} entries`);
  if (value.length > max) throw invalidArgument(`${what} must have at most ${max} entries`);
}

export function assertObject(value: unknown, what: string): asserts value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) throw invalidArgument(`${what} must be an object`);
}
