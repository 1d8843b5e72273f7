import { MAX_URI_FINGERPRINTS, MAX_URI_LENGTH, QR_BYTE_CAPACITY_M } from "./consts.js";
import { TrustError, isTrustError } from "./errors.js";
import { formatFingerprint, normalizeFingerprint } from "./fingerprint.js";
import { parseEncodedJid, parseJid, percentDecode as decode, uriError } from "./jid.js";

/**
 * A fingerprint carried in a sharing URI or text. OMEMO fingerprints are canonical (64 lowercase hex, no 0x05).
 * `omemo` is legacy OMEMO's `omemo-sid-<id>` (Conversations, Dino, Gajim, Monal); `omemo2` is OMEMO 2's
 * `omemo2-sid-<id>`, as Moxxy writes and reads it (clients that know only `omemo-sid-` skip it).
 */
export type SharedFingerprint =
  | { readonly protocol: "omemo"; readonly deviceId: number; readonly fingerprint: string }
  | { readonly protocol: "omemo2"; readonly deviceId: number; readonly fingerprint: string }
  | { readonly protocol: "otr"; readonly fingerprint: string };

export interface XmppUri {
  /** The target JID, percent-decoded, as written (may carry a resource). */
  readonly jid: string;
  /** The JID without its resource: the contact the fingerprints belong to. */
  readonly bareJid: string;
  /** RFC 5122 §2.2 authority (`xmpp://account@host/target`): the account the sender meant to use. */
  readonly authority?: string;
  /** The query type (RFC 5122 §2.5), e.g. `message`, `roster`, `join`; undefined when the query starts with a parameter. */
  readonly action?: string;
  /** Other key-value parameters (`body`, `name`, ...), percent-decoded; the first of a repeated key wins. */
  readonly params: Readonly<Record<string, string>>;
  readonly fingerprints: readonly SharedFingerprint[];
}

const OMEMO_PARAM = "omemo-sid-";
const OMEMO2_PARAM = "omemo2-sid-";
const OTR_PARAM = "otr-fingerprint";
const MAX_DEVICE_ID = 0xffffffff;

function parseDeviceId(text: string, prefix: string): number {
  if (!/^[0-9]{1,10}$/.test(text))
    throw new TrustError("INVALID_DEVICE_ID", `an ${prefix}<id> parameter needs a decimal device id`);
  const id = Number(text);
  if (id < 1 || id > MAX_DEVICE_ID)
    throw new TrustError("INVALID_DEVICE_ID", `OMEMO device id ${id} is outside 1..${MAX_DEVICE_ID}`);
  return id;
}

function fingerprintOf(value: string | undefined, format: "omemo-legacy" | "omemo2" | "otr", where: string): string {
  if (value === undefined || value.length === 0)
    throw new TrustError("MISSING_FINGERPRINT", `${where} has no fingerprint value`);
  try {
    return normalizeFingerprint(value, format);
  } catch (error) {
    if (isTrustError(error, "INVALID_FINGERPRINT"))
      throw new TrustError("INVALID_FINGERPRINT", `${where}: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * Parse an `xmpp:` URI (RFC 5122) carrying fingerprints the way Conversations, Dino, Gajim and Monal write them:
 * `xmpp:alice@example.com?omemo-sid-123=<64 hex>;omemo-sid-456=<64 hex>`, optionally after an action
 * (`?message;...`, `?roster;name=...`) and with `otr-fingerprint=<40 hex>`; OMEMO 2 devices as Moxxy writes
 * them, `omemo2-sid-<id>=<64 hex>`. Also reads `&` separators,
 * uppercase or grouped hex, the 0x05 prefix, a percent-encoded JID and the `xmpp://account/target` form.
 * Throws TrustError: INVALID_URI, INVALID_DEVICE_ID, MISSING_FINGERPRINT or INVALID_FINGERPRINT.
 */
export function parseXmppUri(input: string): XmppUri {
  if (typeof input !== "string") throw new TrustError("INVALID_ARGUMENT", "the URI must be a string");
  if (input.length > MAX_URI_LENGTH) throw uriError(`the URI is longer than ${MAX_URI_LENGTH} characters`);
  const uri = input.trim();
  if (!/^xmpp:/i.test(uri)) throw uriError("not an xmpp: URI");
  let rest = uri.slice(5);
  const hash = rest.indexOf("#");
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf("?");
  const hier = question === -1 ? rest : rest.slice(0, question);
  const query = question === -1 ? "" : rest.slice(question + 1);

  let authority: string | undefined;
  let path = hier;
  if (hier.startsWith("//")) {
    const afterSlashes = hier.slice(2);
    const slash = afterSlashes.indexOf("/");
    authority = parseEncodedJid(slash === -1 ? afterSlashes : afterSlashes.slice(0, slash), "the URI's authority").jid;
    // RFC 5122 puts the target after the authority; Conversations reads a lone authority as the target.
    path = slash === -1 ? afterSlashes : afterSlashes.slice(slash + 1);
  }
  const { jid, bareJid } = parseEncodedJid(path);

  return {
    jid,
    bareJid,
    ...(authority === undefined ? {} : { authority }),
    ...parseQuery(query),
  };
}

/** The query of a sharing URI: an optional leading action, fingerprint parameters, and other key-values. */
function parseQuery(query: string): Pick<XmppUri, "action" | "params" | "fingerprints"> {
  let action: string | undefined;
  const params = new Map<string, string>();
  // In the URI's order; keyed by namespace and device id (a legacy and an OMEMO 2 device may share an id).
  const omemo = new Map<string, Extract<SharedFingerprint, { deviceId: number }>>();
  let otr: string | undefined;
  for (const [index, segment] of query.split(/[;&]/).entries()) {
    if (segment.length === 0) continue;
    const eq = segment.indexOf("=");
    const key = decode(eq === -1 ? segment : segment.slice(0, eq), "a URI parameter name").toLowerCase();
    const value = eq === -1 ? undefined : decode(segment.slice(eq + 1), `parameter ${key}`);
    const prefix = key.startsWith(OMEMO_PARAM) ? OMEMO_PARAM : key.startsWith(OMEMO2_PARAM) ? OMEMO2_PARAM : undefined;
    if (prefix !== undefined) {
      const legacy = prefix === OMEMO_PARAM;
      const deviceId = parseDeviceId(key.slice(prefix.length), prefix);
      const where = `${prefix}${deviceId}`;
      const fingerprint = fingerprintOf(value, legacy ? "omemo-legacy" : "omemo2", where);
      const earlier = omemo.get(where);
      if (earlier !== undefined && earlier.fingerprint !== fingerprint)
        throw uriError(`${where} appears twice with different fingerprints; the URI is not trustworthy`);
      omemo.set(where, { protocol: legacy ? "omemo" : "omemo2", deviceId, fingerprint });
    } else if (key === OTR_PARAM) {
      const fingerprint = fingerprintOf(value, "otr", OTR_PARAM);
      if (otr !== undefined && otr !== fingerprint)
        throw uriError("otr-fingerprint appears twice with different values");
      otr = fingerprint;
    } else if (index === 0 && value === undefined) {
      action = key;
    } else if (!params.has(key)) {
      params.set(key, value ?? "");
    }
    if (omemo.size + (otr === undefined ? 0 : 1) > MAX_URI_FINGERPRINTS)
      throw uriError(`the URI carries more than ${MAX_URI_FINGERPRINTS} fingerprints`);
  }
  const fingerprints: SharedFingerprint[] = [...omemo.values()];
  if (otr !== undefined) fingerprints.push({ protocol: "otr", fingerprint: otr });
  return { ...(action === undefined ? {} : { action }), params: Object.fromEntries(params), fingerprints };
}

export interface ParseShareUriOptions {
  /** Hosts whose `https://<host>/i/<jid>` invite links are read (Conversations' format); default `conversations.im`. */
  readonly inviteHosts?: readonly string[];
}

/**
 * Parse anything a user may scan or click to share fingerprints: an `xmpp:` URI (see parseXmppUri), or a
 * Conversations-style invite link `https://conversations.im/i/<user@host>?omemo-sid-<id>=<hex>&...`
 * (also `/i/<user>/<host>`). Links to other hosts are refused: a web page is not a JID.
 */
export function parseShareUri(input: string, options: ParseShareUriOptions = {}): XmppUri {
  const hosts = inviteHostsOf(options);
  if (typeof input !== "string") throw new TrustError("INVALID_ARGUMENT", "the URI must be a string");
  if (input.length > MAX_URI_LENGTH) throw uriError(`the URI is longer than ${MAX_URI_LENGTH} characters`);
  const uri = input.trim();
  if (!/^https:\/\//i.test(uri)) return parseXmppUri(uri);
  const match = /^https:\/\/([^/?#]+)\/i\/([^?#]*)(?:\?([^#]*))?(?:#.*)?$/i.exec(uri);
  if (match === null || !hosts.includes(match[1]!.toLowerCase()))
    throw uriError(`not an xmpp: URI nor an invite link of ${hosts.join(", ")} (https://<host>/i/<jid>)`);
  // Split on the raw path, before percent-decoding: an encoded '/' or '@' belongs to its segment.
  const segments = match[2]!.split("/");
  let raw: string;
  if (segments.length === 1 && segments[0]!.includes("@")) raw = segments[0]!;
  else if (segments.length === 2 && !segments[0]!.includes("@")) raw = `${segments[0]!}@${segments[1]!}`;
  else throw uriError("an invite link's path is /i/<user@host> or /i/<user>/<host>");
  const { jid, bareJid } = parseEncodedJid(raw, "the invite link's JID");
  if (jid !== bareJid) throw uriError("an invite link's path is /i/<user@host> or /i/<user>/<host>");
  return { jid, bareJid, ...parseQuery(match[3] ?? "") };
}

/** The invite hosts, lowercased; checked first so a wrong option is INVALID_ARGUMENT, never a TypeError. */
function inviteHostsOf(options: unknown): string[] {
  if (typeof options !== "object" || options === null)
    throw new TrustError("INVALID_ARGUMENT", "options must be an object such as { inviteHosts: ['conversations.im'] }");
  const hosts = (options as ParseShareUriOptions).inviteHosts;
  if (hosts === undefined) return ["conversations.im"];
  if (!Array.isArray(hosts) || !hosts.every((h): h is string => typeof h === "string" && /^[^\s/?#@]+$/.test(h)))
    throw new TrustError("INVALID_ARGUMENT", "inviteHosts must be an array of host names, e.g. ['conversations.im']");
  return hosts.map((h) => h.toLowerCase());
}

export interface BuildXmppUriInput {
  readonly jid: string;
  readonly action?: string;
  readonly params?: Readonly<Record<string, string>>;
  readonly fingerprints?: readonly SharedFingerprint[];
}

/** Percent-encode a JID for the URI path, keeping '@' and '/' readable (RFC 5122 §2.7 allows them there). */
function encodeJid(jid: string): string {
  return encodeURIComponent(jid).replace(/%40/g, "@").replace(/%2F/g, "/");
}

/**
 * Build the sharing URI Conversations writes: `xmpp:<jid>?[action;]omemo-sid-<id>=<64 hex>;...;otr-fingerprint=<40 hex>`
 * (OMEMO 2 devices as `omemo2-sid-<id>=<64 hex>`, Moxxy's form), in the order given.
 * Fingerprints are written canonical (lowercase, no 0x05, no grouping). `parseXmppUri` reads it back.
 */
export function buildXmppUri(input: BuildXmppUriInput): string {
  parseJid(input.jid);
  const parts: string[] = [];
  if (input.action !== undefined) {
    if (!/^[a-z][a-z0-9-]*$/.test(input.action))
      throw new TrustError("INVALID_ARGUMENT", "action must be lowercase letters, digits and '-'");
    parts.push(input.action);
  }
  for (const [key, value] of Object.entries(input.params ?? {})) {
    const lower = key.toLowerCase();
    if (key.length === 0 || lower.startsWith(OMEMO_PARAM) || lower.startsWith(OMEMO2_PARAM) || lower === OTR_PARAM)
      throw new TrustError(
        "INVALID_ARGUMENT",
        `parameter name ${JSON.stringify(key)} is empty or reserved for fingerprints`,
      );
    parts.push(`${encodeURIComponent(lower)}=${encodeURIComponent(value)}`);
  }
  const fingerprints = input.fingerprints ?? [];
  if (fingerprints.length > MAX_URI_FINGERPRINTS)
    throw new TrustError("INVALID_ARGUMENT", `at most ${MAX_URI_FINGERPRINTS} fingerprints fit in one URI`);
  const written = new Set<string>();
  for (const shared of fingerprints) {
    if (shared.protocol === "omemo" || shared.protocol === "omemo2") {
      if (!Number.isInteger(shared.deviceId) || shared.deviceId < 1 || shared.deviceId > MAX_DEVICE_ID)
        throw new TrustError("INVALID_DEVICE_ID", `OMEMO device id must be an integer in 1..${MAX_DEVICE_ID}`);
      const legacy = shared.protocol === "omemo";
      const key = `${legacy ? OMEMO_PARAM : OMEMO2_PARAM}${shared.deviceId}`;
      if (written.has(key)) throw new TrustError("INVALID_ARGUMENT", `${key} is given twice`);
      written.add(key);
      parts.push(`${key}=${normalizeFingerprint(shared.fingerprint, legacy ? "omemo-legacy" : "omemo2")}`);
    } else if (shared.protocol === "otr") {
      if (written.has(OTR_PARAM)) throw new TrustError("INVALID_ARGUMENT", "an OTR fingerprint is given twice");
      written.add(OTR_PARAM);
      parts.push(`${OTR_PARAM}=${normalizeFingerprint(shared.fingerprint, "otr")}`);
    } else {
      throw new TrustError("INVALID_ARGUMENT", "a fingerprint's protocol is omemo, omemo2 or otr");
    }
  }
  const base = `xmpp:${encodeJid(input.jid)}`;
  return parts.length === 0 ? base : `${base}?${parts.join(";")}`;
}

/**
 * Fingerprints as plain text for pasting into another channel (mail, a website), one per line, grouped for reading:
 * ```
 * XMPP: alice@example.com
 * OMEMO device 123: a1b2c3d4 e5f60718 ...
 * OTR: 12345678 90ABCDEF ...
 * ```
 */
export function formatShareText(jid: string, fingerprints: readonly SharedFingerprint[]): string {
  parseJid(jid);
  const lines = [`XMPP: ${jid}`];
  for (const shared of fingerprints) {
    if (shared.protocol === "omemo")
      lines.push(`OMEMO device ${shared.deviceId}: ${formatFingerprint(shared.fingerprint, "omemo-legacy")}`);
    else if (shared.protocol === "omemo2")
      lines.push(`OMEMO 2 device ${shared.deviceId}: ${formatFingerprint(shared.fingerprint, "omemo2")}`);
    else lines.push(`OTR: ${formatFingerprint(shared.fingerprint, "otr")}`);
  }
  return lines.join("\n");
}

export interface QrPayload {
  /** The text to encode (the `xmpp:` URI); scanners hand it back verbatim. */
  readonly text: string;
  /** Its UTF-8 bytes, for QR byte mode. */
  readonly bytes: Uint8Array;
}

/** The QR-ready payload for sharing fingerprints: the `xmpp:` URI, checked to fit a QR code at error correction level M. */
export function qrPayload(input: BuildXmppUriInput): QrPayload {
  const text = buildXmppUri(input);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > QR_BYTE_CAPACITY_M)
    throw new TrustError(
      "INVALID_ARGUMENT",
      `the URI is ${bytes.length} bytes; a QR code at level M holds ${QR_BYTE_CAPACITY_M}: share fewer fingerprints`,
    );
  return { text, bytes };
}
