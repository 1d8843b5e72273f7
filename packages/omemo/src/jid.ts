import { MAX_JID_BYTES } from "./consts.js";
import { OmemoError } from "./errors.js";
import { hasControlCharacter, utf8Length } from "./xml.js";

/**
 * The bare JID (`local@domain` or `domain`) of a bare or full JID: everything before the first "/",
 * since only the resource may contain "/" (RFC 7622 §3.1).
 */
export function bareJid(jid: string): string {
  const slash = jid.indexOf("/");
  return slash === -1 ? jid : jid.slice(0, slash);
}

/**
 * A comparison key for bare JIDs: Unicode NFC and lower case. This is the part of RFC 7622's PRECIS
 * profiles that matters for comparing JIDs deployed servers hand out (they are already
 * normalized); it is not a full PRECIS implementation.
 */
export function bareJidKey(jid: string): string {
  const bare = bareJid(jid);
  // ASCII is NFC already, and without A-Z lower case already: most JIDs need no new string.
  for (let i = 0; i < bare.length; i++) {
    const c = bare.charCodeAt(i);
    if (c >= 0x80 || (c >= 0x41 && c <= 0x5a)) return bare.normalize("NFC").toLowerCase();
  }
  return bare;
}

/** Same account? Compares the bare JIDs after Unicode NFC and lower-casing (not a full PRECIS comparison). */
export function sameBareJid(a: string, b: string): boolean {
  return bareJidKey(a) === bareJidKey(b);
}

/**
 * Cheap sanity check of a JID from a stanza or a caller: non-empty, at most 3071 bytes, no controls
 * or whitespace, no empty local part or domain. Deeper validation is the XMPP library's job.
 */
export function isPlausibleJid(jid: string): boolean {
  if (typeof jid !== "string" || jid.length === 0 || utf8Length(jid) > MAX_JID_BYTES) return false;
  // No JID part may contain controls or spaces (RFC 7622 §3: PRECIS IdentifierClass, and domain names).
  if (hasControlCharacter(jid) || jid.includes(" ")) return false;
  const bare = bareJid(jid);
  const at = bare.indexOf("@");
  const domain = at === -1 ? bare : bare.slice(at + 1);
  return (
    domain.length > 0 &&
    at !== 0 &&
    !domain.includes("@") &&
    !(bare.length < jid.length && jid.length === bare.length + 1)
  );
}

/** Throws INVALID_ARGUMENT unless `jid` is a plausible bare JID (what the XEPs put in `jid` attributes). */
export function assertBareJid(jid: unknown, what: string): asserts jid is string {
  if (typeof jid !== "string" || !isPlausibleJid(jid) || jid.includes("/")) {
    throw new OmemoError("INVALID_ARGUMENT", `${what} must be a bare JID`);
  }
}
