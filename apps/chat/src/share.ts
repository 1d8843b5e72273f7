/**
 * Our fingerprints as the `xmpp:` URI other clients scan or click, and that URI as a QR code for the
 * terminal.
 *
 * The format is the one deployed clients write (XEP-0147-style query, `;` between parameters):
 *
 *   xmpp:juliet@example.com?omemo-sid-123=<64 hex>;omemo-sid-456=<64 hex>;otr-fingerprint=<40 hex>
 *
 * - `omemo-sid-<device id>=<hex>`: legacy OMEMO (eu.siacs.conversations.axolotl). The hex is the 32-byte
 *   Curve25519 identity key without libsignal's 0x05 type byte, 64 lowercase digits. Conversations
 *   (`XmppUri.getFingerprintUri`, `Account.getShareableUri`), Dino (`encryption_preferences_entry.vala`),
 *   Monal (`OmemoQrCodeView.swift`) and Gajim's OMEMO plugin write it; Conversations and Monal read it.
 * - `omemo2-sid-<device id>=<hex>`: OMEMO 2 (urn:xmpp:omemo:2), as Moxxy writes and reads it (one device
 *   per URI there). Conversations and Monal look only for the `omemo-sid-` prefix and skip it.
 * - `otr-fingerprint=<40 hex>`: OTR, as ChatSecure wrote it and older Conversations read it.
 *
 * Parsing is tolerant where deployed clients differ (`&` or `;` between parameters, upper- or lowercase
 * hex, the 0x05 prefix, grouping in the hex, percent-encoding, a leading action such as `?message;`,
 * other parameters, a fragment) and strict about what a user would trust: the JID, the device ids, the
 * fingerprints' digits and lengths, and conflicting duplicates are checked, and anything wrong is a
 * {@link ShareError}. Reading and writing are @parley/trust's (`parseXmppUri`, `buildXmppUri`: RFC 5122
 * percent-encoding, RFC 7622 parts, invisible characters refused); this module adds the chat's limits,
 * its error codes and the namespaces.
 */
import { NS_LEGACY, NS_V2, type OmemoNamespace } from "@parley/omemo";
import {
  buildXmppUri,
  isTrustError,
  normalizeFingerprint,
  parseXmppUri,
  type SharedFingerprint,
  type XmppUri,
} from "@parley/trust";
import QRCode from "qrcode";

/** Longest URI `parseFingerprintUri` reads and `fingerprintUri` writes (characters). */
export const MAX_SHARE_URI_LENGTH = 4096;
/** Most fingerprints (OMEMO devices in both namespaces, plus OTR) in one URI (33 legacy ones take ~2,600 characters). */
export const MAX_SHARE_FINGERPRINTS = 32;
/** Largest OMEMO device id (OMEMO 2 uses 32-bit ids; legacy clients pick them below 2^31). */
export const MAX_SHARE_DEVICE_ID = 0xffffffff;

/** The query parameter prefix for each OMEMO namespace (for messages). */
const OMEMO_PREFIX: ReadonlyMap<OmemoNamespace, string> = new Map([
  [NS_LEGACY, "omemo-sid-"],
  [NS_V2, "omemo2-sid-"],
]);

export type ShareErrorCode =
  /** Not an `xmpp:` URI we can read: another scheme, bad percent-encoding, conflicting duplicates, too many fingerprints. */
  | "INVALID_URI"
  /** Longer than {@link MAX_SHARE_URI_LENGTH}. */
  | "TOO_LONG"
  /** The JID is missing or malformed (or, when writing, not a bare JID). */
  | "INVALID_JID"
  /** An `omemo-sid-<id>`/`omemo2-sid-<id>` whose id is not a decimal integer in 1..2^32-1. */
  | "INVALID_DEVICE_ID"
  /** A fingerprint that is missing, not hex, or of the wrong length (OMEMO 32 bytes, OTR 20). */
  | "INVALID_FINGERPRINT"
  /** A caller's argument has the wrong type or shape (writing a URI, rendering a QR code). */
  | "INVALID_ARGUMENT"
  /** The text does not fit a QR code as wide as the terminal allows. */
  | "QR_TOO_LARGE";

/** The error of this module. Its message says what is wrong; it never echoes the whole input. */
export class ShareError extends Error {
  override readonly name = "ShareError";
  readonly code: ShareErrorCode;
  constructor(code: ShareErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isShareError(e: unknown, code?: ShareErrorCode): e is ShareError {
  return e instanceof ShareError && (code === undefined || e.code === code);
}

/** An OMEMO device to put in a URI. */
export interface OmemoFingerprintInput {
  readonly deviceId: number;
  /** The identity key: 32 bytes (or 33 with the 0x05 type byte), or its hex (any case, grouping allowed). */
  readonly fingerprint: Uint8Array | string;
  /** Default NS_LEGACY (`omemo-sid-`); NS_V2 writes `omemo2-sid-`. */
  readonly namespace?: OmemoNamespace;
}

export interface FingerprintUriInput {
  readonly omemo?: readonly OmemoFingerprintInput[];
  /** The OTR fingerprint, 40 hex digits (any case, grouping allowed). */
  readonly otr?: string;
}

/** An OMEMO device read from a URI. */
export interface SharedOmemoFingerprint {
  readonly deviceId: number;
  /** 64 lowercase hex digits, without the 0x05 type byte. */
  readonly fingerprintHex: string;
  readonly namespace: OmemoNamespace;
}

export interface ParsedFingerprintUri {
  /** The bare JID the fingerprints belong to, percent-decoded, as written (compare with normalizeJid). */
  readonly jid: string;
  /** In the URI's order; one entry per namespace and device id. */
  readonly omemo: readonly SharedOmemoFingerprint[];
  /** The OTR fingerprint, 40 lowercase hex digits, when the URI has one. */
  readonly otr?: string;
}

function fingerprintHex(value: Uint8Array | string, format: "omemo-legacy" | "omemo2" | "otr", where: string): string {
  try {
    return normalizeFingerprint(value, format);
  } catch (e) {
    if (isTrustError(e, "INVALID_FINGERPRINT")) throw new ShareError("INVALID_FINGERPRINT", `${where}: ${e.message}`);
    throw new ShareError("INVALID_ARGUMENT", `${where}: the fingerprint must be hex text or bytes`, { cause: e });
  }
}

function checkDeviceId(id: unknown): number {
  if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > MAX_SHARE_DEVICE_ID)
    throw new ShareError("INVALID_DEVICE_ID", `an OMEMO device id is an integer in 1..${MAX_SHARE_DEVICE_ID}`);
  return id;
}

function formatOf(namespace: OmemoNamespace): "omemo-legacy" | "omemo2" {
  return namespace === NS_V2 ? "omemo2" : "omemo-legacy";
}

/**
 * The `xmpp:` URI with our fingerprints, as Conversations writes it: `xmpp:<bare jid>?omemo-sid-<id>=<64
 * hex>;...;otr-fingerprint=<40 hex>` (OMEMO 2 devices as `omemo2-sid-<id>=<64 hex>`), lowercase hex, the
 * JID percent-encoded where RFC 5122 needs it. Devices come in the given order, OTR last.
 * Throws ShareError: INVALID_JID, INVALID_DEVICE_ID, INVALID_FINGERPRINT, INVALID_ARGUMENT, TOO_LONG.
 */
export function fingerprintUri(jid: string, fingerprints: FingerprintUriInput = {}): string {
  if (typeof jid !== "string" || jid.length === 0)
    throw new ShareError("INVALID_JID", "the JID must be a non-empty string");
  if (jid.includes("/"))
    throw new ShareError("INVALID_JID", "fingerprints belong to an account: give its bare JID (no resource)");
  try {
    buildXmppUri({ jid });
  } catch (e) {
    throw new ShareError("INVALID_JID", `not a JID: ${isTrustError(e) ? e.message : "it cannot be written in a URI"}`, {
      cause: e,
    });
  }
  if (typeof fingerprints !== "object" || fingerprints === null)
    throw new ShareError("INVALID_ARGUMENT", "fingerprints must be an object { omemo?: [...], otr?: string }");
  const omemo = fingerprints.omemo ?? [];
  if (!Array.isArray(omemo)) throw new ShareError("INVALID_ARGUMENT", "omemo must be an array of devices");
  if (omemo.length + (fingerprints.otr === undefined ? 0 : 1) > MAX_SHARE_FINGERPRINTS)
    throw new ShareError("INVALID_ARGUMENT", `at most ${MAX_SHARE_FINGERPRINTS} fingerprints fit in one URI`);

  const shared: SharedFingerprint[] = [];
  const seen = new Set<string>();
  for (const device of omemo as readonly unknown[]) {
    if (typeof device !== "object" || device === null)
      throw new ShareError("INVALID_ARGUMENT", "each OMEMO device is { deviceId, fingerprint, namespace? }");
    const { deviceId, fingerprint, namespace = NS_LEGACY } = device as OmemoFingerprintInput;
    const prefix = OMEMO_PREFIX.get(namespace);
    if (prefix === undefined) throw new ShareError("INVALID_ARGUMENT", `namespace must be ${NS_LEGACY} or ${NS_V2}`);
    const id = checkDeviceId(deviceId);
    const key = `${prefix}${id}`;
    if (seen.has(key)) throw new ShareError("INVALID_ARGUMENT", `OMEMO device ${id} is given twice in one namespace`);
    seen.add(key);
    shared.push({
      protocol: namespace === NS_V2 ? "omemo2" : "omemo",
      deviceId: id,
      fingerprint: fingerprintHex(fingerprint, formatOf(namespace), `OMEMO device ${id}`),
    });
  }
  if (fingerprints.otr !== undefined)
    shared.push({ protocol: "otr", fingerprint: fingerprintHex(fingerprints.otr, "otr", "OTR") });

  const uri = buildXmppUri({ jid, fingerprints: shared });
  if (uri.length > MAX_SHARE_URI_LENGTH)
    throw new ShareError("TOO_LONG", `the URI would be longer than ${MAX_SHARE_URI_LENGTH} characters`);
  return uri;
}

/** @parley/trust's error for a URI's query, as this module's code. */
function queryError(e: unknown): ShareError {
  if (!isTrustError(e)) return new ShareError("INVALID_URI", "the URI cannot be read", { cause: e });
  const code: ShareErrorCode =
    e.code === "INVALID_DEVICE_ID"
      ? "INVALID_DEVICE_ID"
      : e.code === "MISSING_FINGERPRINT" || e.code === "INVALID_FINGERPRINT"
        ? "INVALID_FINGERPRINT"
        : "INVALID_URI";
  return new ShareError(code, e.message, { cause: e });
}

/**
 * Reads a fingerprint URI (see the module comment). Returns the bare JID, the OMEMO devices of both
 * namespaces and the OTR fingerprint; other parameters (an action, `body`, `preauth`, Conversations'
 * `omemo=` without a device id, ...) are ignored. A resource in the JID is dropped: fingerprints belong to
 * the account. A device given twice with the same fingerprint counts once; with different ones the URI is
 * refused (INVALID_URI): it cannot be trusted.
 * Throws ShareError: INVALID_URI, TOO_LONG, INVALID_JID, INVALID_DEVICE_ID, INVALID_FINGERPRINT.
 */
export function parseFingerprintUri(uri: string): ParsedFingerprintUri {
  if (typeof uri !== "string") throw new ShareError("INVALID_URI", "the URI must be a string");
  if (uri.length > MAX_SHARE_URI_LENGTH)
    throw new ShareError("TOO_LONG", `the URI is longer than ${MAX_SHARE_URI_LENGTH} characters`);
  const text = uri.trim();
  if (!/^xmpp:/i.test(text)) throw new ShareError("INVALID_URI", "not an xmpp: URI");
  // The JID alone first, so that a bad one is INVALID_JID whatever the query holds.
  const path = /^xmpp:([^?#]*)/i.exec(text)![1]!;
  let jid: string;
  try {
    jid = parseXmppUri(`xmpp:${path}`).bareJid;
  } catch (e) {
    throw new ShareError("INVALID_JID", `the URI's JID: ${isTrustError(e) ? e.message : "cannot be read"}`, {
      cause: e,
    });
  }
  let parsed: XmppUri;
  try {
    parsed = parseXmppUri(text);
  } catch (e) {
    throw queryError(e);
  }
  const omemo: SharedOmemoFingerprint[] = [];
  let otr: string | undefined;
  for (const f of parsed.fingerprints) {
    if (f.protocol === "otr") otr = f.fingerprint;
    else
      omemo.push({
        deviceId: f.deviceId,
        fingerprintHex: f.fingerprint,
        namespace: f.protocol === "omemo2" ? NS_V2 : NS_LEGACY,
      });
  }
  if (omemo.length + (otr === undefined ? 0 : 1) > MAX_SHARE_FINGERPRINTS)
    throw new ShareError("INVALID_URI", `the URI carries more than ${MAX_SHARE_FINGERPRINTS} fingerprints`);
  return { jid, omemo, ...(otr === undefined ? {} : { otr }) };
}

export interface RenderQrOptions {
  /** The widest the code may be, in terminal columns (one module per column); default 80. */
  readonly maxColumns?: number;
  /**
   * The terminal's background. "dark" (default): light modules and the quiet zone are drawn as blocks in
   * the (light) text colour and dark modules are left blank. "light": dark modules are drawn as blocks.
   */
  readonly background?: "dark" | "light";
}

/** Error correction levels and quiet zones tried in turn, the first that fits the width wins. */
const QR_LAYOUTS: readonly { readonly level: "M" | "L"; readonly margin: number }[] = [
  { level: "M", margin: 4 }, // the standard's quiet zone
  { level: "M", margin: 2 },
  { level: "L", margin: 2 },
];

/**
 * A QR code of `text` for the terminal (the `qrcode` package's utf8 renderer): two modules per character
 * cell with the half blocks `▀` `▄`, the full block `█` and spaces, lines joined with "\n". Error
 * correction M with the standard's 4-module quiet zone when that fits `maxColumns`, else a 2-module quiet
 * zone, else level L. A code of version v is 17 + 4v modules wide: the default 80 columns hold up to
 * version 13 with a 4-module quiet zone (a URI of ~330 bytes at M) and version 14 with 2 (~460 bytes at L).
 * Throws ShareError: INVALID_ARGUMENT (empty text, bad options), QR_TOO_LARGE.
 */
export async function renderQr(text: string, options: RenderQrOptions = {}): Promise<string> {
  if (typeof text !== "string" || text.length === 0)
    throw new ShareError("INVALID_ARGUMENT", "the text to encode must be a non-empty string");
  const maxColumns = options.maxColumns ?? 80;
  if (!Number.isInteger(maxColumns) || maxColumns < 1)
    throw new ShareError("INVALID_ARGUMENT", "maxColumns must be a positive integer");
  const background = options.background ?? "dark";
  if (background !== "dark" && background !== "light")
    throw new ShareError("INVALID_ARGUMENT", 'background must be "dark" or "light"');
  // qrcode's utf8 renderer swaps its block characters when dark is white or light is black (lowercase).
  const color = background === "dark" ? { dark: "#ffffff", light: "#000000" } : { dark: "#000000", light: "#ffffff" };
  let narrowest = Infinity;
  let failure: unknown;
  for (const { level, margin } of QR_LAYOUTS) {
    let size: number;
    try {
      size = QRCode.create(text, { errorCorrectionLevel: level }).modules.size;
    } catch (e) {
      failure = e; // too much data for this level
      continue;
    }
    narrowest = Math.min(narrowest, size + 2 * margin);
    if (size + 2 * margin > maxColumns) continue;
    return QRCode.toString(text, { type: "utf8", errorCorrectionLevel: level, margin, color });
  }
  throw new ShareError(
    "QR_TOO_LARGE",
    narrowest === Infinity
      ? "the text is too long for a QR code"
      : `the QR code needs ${narrowest} columns, the terminal allows ${maxColumns}: share fewer fingerprints`,
    failure === undefined ? undefined : { cause: failure },
  );
}
