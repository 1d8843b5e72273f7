import { MAX_ID_LENGTH } from "./consts.js";
import { TrustError } from "./errors.js";

/**
 * JIDs (RFC 7622): `[localpart@]domainpart[/resourcepart]`. The resource starts at the first '/', the localpart
 * ends at the first '@' before it. Localpart and domain compare case-insensitively; the resource does not.
 */
export interface JidParts {
  readonly localpart?: string;
  readonly domain: string;
  readonly resource?: string;
}

/**
 * The form the store keys contacts and accounts by: the **bare** JID (trust belongs to an account, not to one of
 * its resources, so any `/resource` is dropped), localpart and domain lowercased with `toLowerCase()`, and one
 * trailing dot of the domain removed (RFC 7622 §3.2: `example.net.` and `example.net` are one domain). This is the
 * case mapping of PRECIS UsernameCaseMapped (RFC 8265 §3.3.2) and of IDNA domain labels, not the full profiles:
 * no width mapping, no NFC, no rejection of disallowed code points. Two spellings that differ only in case, in a
 * resource or in a trailing dot are one contact; two that differ otherwise stay two.
 */
export function normalizeJid(jid: string): string {
  const bare = bareJidOf(jid).toLowerCase();
  return bare.endsWith(".") ? bare.slice(0, -1) : bare;
}

/**
 * The normalisation of @parley/trust before bare-JID keying: localpart and domain lowercased, resource and
 * trailing dot kept. Only the one-time migration of rows v1 stored under other case spellings uses it, so that
 * migration moves exactly what it always moved.
 */
export function lowercaseJid(jid: string): string {
  const slash = jid.indexOf("/");
  return slash === -1 ? jid.toLowerCase() : jid.slice(0, slash).toLowerCase() + jid.slice(slash);
}

/** The JID without its resource. */
export function bareJidOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash === -1 ? jid : jid.slice(0, slash);
}

/** A sharing URI (or the JID in it) we cannot read. */
export function uriError(message: string, cause?: unknown): TrustError {
  return new TrustError("INVALID_URI", message, cause === undefined ? undefined : { cause });
}

export function percentDecode(component: string, what: string): string {
  try {
    return decodeURIComponent(component);
  } catch (cause) {
    throw uriError(`${what} has invalid percent-encoding`, cause);
  }
}

// Cc (controls, NUL) and Cf (bidi overrides such as U+202E, zero-width characters): a user comparing a JID on
// screen cannot see them, so a JID carrying one is refused wherever it occurs, the resource included.
const INVISIBLE = /[\p{Cc}\p{Cf}]/u;
// RFC 7622 §3.3.1 forbids these in a localpart; the domain and resource take neither whitespace nor " & ' < >
// here either, as before (no JID a server hands out has them).
const LOCALPART_FORBIDDEN = /[@/:]/;
const DOMAIN_FORBIDDEN = /[@/]/;
const PRINTABLE_FORBIDDEN = /[\s"&'<>]/;

function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

function checkPart(value: string, what: string, forbidden: RegExp | undefined): void {
  const invisible = INVISIBLE.exec(value);
  if (invisible !== null)
    throw uriError(`the JID's ${what} contains the control or format character ${codePoint(invisible[0])}`);
  const bad = forbidden?.exec(value);
  if (bad != null) throw uriError(`the JID's ${what} contains '${bad[0]}'`);
  if (what !== "resource" && PRINTABLE_FORBIDDEN.test(value))
    throw uriError(`the JID's ${what} contains whitespace or one of " & ' < >`);
}

/** Checks decoded parts and joins them; returns the full JID and the bare JID. */
function joinParts(parts: JidParts): { jid: string; bareJid: string } {
  if (parts.localpart !== undefined) {
    if (parts.localpart.length === 0) throw uriError("the JID has an empty localpart before '@' (expected user@host)");
    checkPart(parts.localpart, "localpart", LOCALPART_FORBIDDEN);
  }
  if (parts.domain.length === 0) throw uriError("the JID has an empty domain (expected user@host)");
  checkPart(parts.domain, "domain", DOMAIN_FORBIDDEN);
  if (parts.resource !== undefined) {
    if (parts.resource.length === 0) throw uriError("the JID has an empty resource after '/'");
    checkPart(parts.resource, "resource", undefined);
  }
  const bareJid = parts.localpart === undefined ? parts.domain : `${parts.localpart}@${parts.domain}`;
  const jid = parts.resource === undefined ? bareJid : `${bareJid}/${parts.resource}`;
  if (jid.length > MAX_ID_LENGTH) throw uriError(`the JID is longer than ${MAX_ID_LENGTH} characters`);
  return { jid, bareJid };
}

/** Splits at the first '/' and then at '@' in the bare part; more than one '@' there is not a JID. */
function split(text: string): { localpart?: string; domain: string; resource?: string } {
  if (text.length === 0) throw uriError("the URI names no JID (expected xmpp:user@host)");
  const slash = text.indexOf("/");
  const bare = slash === -1 ? text : text.slice(0, slash);
  const at = bare.indexOf("@");
  if (at !== -1 && bare.indexOf("@", at + 1) !== -1)
    throw uriError("the JID has more than one '@' before its resource (expected user@host)");
  return {
    ...(at === -1 ? {} : { localpart: bare.slice(0, at) }),
    domain: bare.slice(at + 1),
    ...(slash === -1 ? {} : { resource: text.slice(slash + 1) }),
  };
}

/**
 * A JID as written in a URI path (RFC 5122 §2.2): split into localpart, domain and resource on the raw,
 * still percent-encoded text, then each part decoded, so an encoded '/' or '@' stays inside its part (where
 * it is then refused, as RFC 7622 forbids it in a localpart or domain).
 */
export function parseEncodedJid(raw: string, what = "the JID"): { jid: string; bareJid: string } {
  const parts = split(raw);
  return joinParts({
    ...(parts.localpart === undefined ? {} : { localpart: percentDecode(parts.localpart, `${what}'s localpart`) }),
    domain: percentDecode(parts.domain, `${what}'s domain`),
    ...(parts.resource === undefined ? {} : { resource: percentDecode(parts.resource, `${what}'s resource`) }),
  });
}

/** A JID given as text (not percent-encoded), checked by the same rules as one read from a URI. */
export function parseJid(jid: string): { jid: string; bareJid: string } {
  return joinParts(split(jid));
}
