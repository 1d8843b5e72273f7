/**
 * XEP-0454 v0.1.0 §3: the aesgcm:// URL. The HTTPS GET URL of the upload with its scheme replaced by
 * `aesgcm`, and a fragment of the IV then the key in hex (24 + 64 = 88 digits for a 12-byte IV; older
 * clients sent 16-byte IVs, 32 + 64 = 96 digits, which receivers still see). The fragment never reaches
 * the HTTP server: the client turns the URL back into https:// and strips it before downloading (§7).
 */
import { bytesToHex, hexToBytes } from "@parley/crypto";
import { OmemoError } from "../errors.js";
import { redactMedia } from "./redact.js";
import { MEDIA_IV_BYTES, MEDIA_KEY_BYTES, MEDIA_LEGACY_IV_BYTES } from "./consts.js";

export interface AesgcmUrl {
  /** The https:// URL to GET (no fragment). */
  readonly httpsUrl: string;
  /** The 32-byte AES-256 key. */
  readonly key: Uint8Array;
  /** The GCM IV: 12 bytes (§3), or 16 from older clients. */
  readonly iv: Uint8Array;
}

const HTTPS = /^https:\/\//i;
const AESGCM = /^aesgcm:\/\//i;
const FRAGMENT = /^(?:[0-9a-fA-F]{88}|[0-9a-fA-F]{96})$/;
// §4/§5: the URL is one line of the body, so whitespace inside it cannot be part of it (and WHATWG URL
// parsing silently drops tabs and newlines, which would make two different strings the same URL).
function hasWhitespaceOrControl(url: string): boolean {
  if (/\s/.test(url)) return true;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** True when `url` is an absolute https URL with a host and no fragment or whitespace. */
function isPlainHttpsUrl(url: string): boolean {
  if (!HTTPS.test(url) || url.includes("#") || hasWhitespaceOrControl(url)) return false;
  // WHATWG parsing is lenient for https: "https:///host" and "https:\\host" find a host after extra
  // slashes or backslashes. Require the authority right after "//", without user info.
  const authority = /^[^/?\\]*/.exec(url.slice("https://".length))?.[0] ?? "";
  if (authority === "" || authority.includes("@") || url.includes("\\")) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" && parsed.hostname !== "";
  } catch {
    return false;
  }
}

/** §3: the fragment, IV first then key, lowercase hex. */
export function aesgcmFragment(key: Uint8Array, iv: Uint8Array): string {
  checkKeyIv(key, iv, [MEDIA_IV_BYTES]);
  return bytesToHex(iv) + bytesToHex(key);
}

/**
 * §3: `https://host/path` + key + IV → `aesgcm://host/path#<iv hex><key hex>`. Only https URLs are
 * converted ("Non HTTPS URLs MUST not be converted"), and only 12-byte IVs are sent.
 */
export function aesgcmUrl(httpsUrl: string, key: Uint8Array, iv: Uint8Array): string {
  if (typeof httpsUrl !== "string" || !isPlainHttpsUrl(httpsUrl)) {
    throw new OmemoError("INVALID_ARGUMENT", "httpsUrl must be an absolute https:// URL with a host and no fragment");
  }
  return `aesgcm${httpsUrl.slice("https".length)}#${aesgcmFragment(key, iv)}`;
}

/**
 * Parses an aesgcm:// URL strictly (§5: "The parser on the receiving end should be very strict"):
 * the scheme, a host, exactly one `#`, and 88 or 96 hex digits after it. Throws MEDIA_INVALID_URL; the
 * message never repeats the URL, whose fragment is a key.
 */
export function parseAesgcmUrl(url: string): AesgcmUrl {
  if (typeof url !== "string" || !AESGCM.test(url)) {
    throw new OmemoError("MEDIA_INVALID_URL", "not an aesgcm:// URL");
  }
  const hash = url.indexOf("#");
  if (hash < 0 || url.indexOf("#", hash + 1) >= 0) {
    throw new OmemoError("MEDIA_INVALID_URL", "an aesgcm:// URL needs exactly one '#' before the IV and key");
  }
  const fragment = url.slice(hash + 1);
  if (!FRAGMENT.test(fragment)) {
    throw new OmemoError(
      "MEDIA_INVALID_URL",
      "the fragment of an aesgcm:// URL must be 88 hex digits (12-byte IV, 32-byte key) or 96 (16-byte IV)",
    );
  }
  const httpsUrl = `https${url.slice("aesgcm".length, hash)}`;
  if (!isPlainHttpsUrl(httpsUrl)) {
    throw new OmemoError("MEDIA_INVALID_URL", "the aesgcm:// URL has no valid host or contains whitespace");
  }
  const ivHex = fragment.length - 2 * MEDIA_KEY_BYTES;
  const parsed = { httpsUrl, iv: hexToBytes(fragment.slice(0, ivHex)), key: hexToBytes(fragment.slice(ivHex)) };
  return redactMedia(parsed, "AesgcmUrl", { httpsUrl });
}

/** @internal Checks a media key and IV; `ivLengths` are the IV lengths allowed here. */
export function checkKeyIv(key: unknown, iv: unknown, ivLengths: readonly number[]): void {
  if (!(key instanceof Uint8Array) || key.length !== MEDIA_KEY_BYTES) {
    throw new OmemoError("INVALID_ARGUMENT", `media key must be a ${MEDIA_KEY_BYTES}-byte Uint8Array`);
  }
  if (!(iv instanceof Uint8Array) || !ivLengths.includes(iv.length)) {
    throw new OmemoError("INVALID_ARGUMENT", `media IV must be a ${ivLengths.join(" or ")}-byte Uint8Array`);
  }
}

/** The IV lengths a receiver accepts: §3's 12 and the 16 of older clients. */
export const RECEIVED_IV_LENGTHS: readonly number[] = [MEDIA_IV_BYTES, MEDIA_LEGACY_IV_BYTES];
