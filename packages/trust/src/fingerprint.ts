import { bytesToHex, edwardsToMontgomery, isCryptoError } from "@parley/crypto";
import { TrustError } from "./errors.js";

/**
 * Display formats:
 * - `omemo-legacy`: Conversations' form of the libsignal identity key: drop the 0x05 type byte,
 *   32-byte Curve25519 key as 64 lowercase hex in 8 groups of 8.
 * - `omemo2`: XEP-0384 v0.8 §8 "Security Considerations": the identity key in its Curve25519 form,
 *   lowercase hex, "8 substrings of 8 chars each" (identical to legacy so fingerprints match across versions).
 * - `otr`: libotr's otrl_privkey_hash_to_human: 20-byte SHA-1 of the DSA public key, 40 uppercase hex in 5 groups of 8.
 */
export type FingerprintFormat = "omemo-legacy" | "omemo2" | "otr";

export const FINGERPRINT_FORMATS: readonly FingerprintFormat[] = ["omemo-legacy", "omemo2", "otr"];

/** Most bytes a fingerprint of an unnamed protocol may have (SHA-512 is 64; twice that leaves room). */
const MAX_GENERIC_FINGERPRINT_BYTES = 128;

const HEX = /^[0-9a-f]*$/;
/** Grouping people and clients put into fingerprints: spaces, newlines, colons, dashes, dots. */
const GROUPING = /[\s:.-]/g;

function invalid(message: string): TrustError {
  return new TrustError("INVALID_FINGERPRINT", message);
}

/**
 * The canonical form of a fingerprint: lowercase hex without grouping. OMEMO keys lose their 0x05 type byte
 * (33 bytes in, 32 out), so a key from libsignal and one from a URI compare equal.
 * Accepts bytes or text in any case with spaces, colons, dashes or dots between digits.
 */
export function normalizeFingerprint(input: string | Uint8Array, format?: FingerprintFormat): string {
  let hex: string;
  if (input instanceof Uint8Array) hex = bytesToHex(input);
  else if (typeof input === "string") hex = input.replace(GROUPING, "").toLowerCase();
  else throw new TrustError("INVALID_ARGUMENT", "fingerprint must be a string or a Uint8Array");
  if (!HEX.test(hex))
    throw invalid("fingerprint contains characters other than hex digits and grouping (space, ':', '-', '.')");
  if (hex.length === 0 || hex.length % 2 !== 0)
    throw invalid(`fingerprint must be a whole number of bytes, got ${hex.length} hex digits`);
  switch (format) {
    case undefined:
      if (hex.length > 2 * MAX_GENERIC_FINGERPRINT_BYTES)
        throw invalid(`fingerprint longer than ${MAX_GENERIC_FINGERPRINT_BYTES} bytes`);
      return hex;
    case "omemo-legacy":
    case "omemo2":
      if (hex.length === 66 && hex.startsWith("05")) return hex.slice(2);
      if (hex.length !== 64)
        throw invalid(
          `an OMEMO fingerprint is 32 bytes (64 hex digits), or 33 with the 0x05 prefix; got ${hex.length} hex digits`,
        );
      return hex;
    case "otr":
      if (hex.length !== 40)
        throw invalid(`an OTR fingerprint is 20 bytes (40 hex digits); got ${hex.length} hex digits`);
      return hex;
    default:
      throw new TrustError("INVALID_ARGUMENT", "unknown fingerprint format; use 'omemo-legacy', 'omemo2' or 'otr'");
  }
}

function groups(hex: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += size) out.push(hex.slice(i, i + size));
  return out;
}

/** The fingerprint as people compare it: `a1b2c3d4 e5f60718 ...` for OMEMO (8 x 8 lowercase), `12345678 90ABCDEF ...` for OTR (5 x 8 uppercase). */
export function formatFingerprint(input: string | Uint8Array, format: FingerprintFormat): string {
  const hex = normalizeFingerprint(input, format);
  return format === "otr" ? groups(hex.toUpperCase(), 8).join(" ") : groups(hex, 8).join(" ");
}

/**
 * Whether two fingerprints are the same key, ignoring grouping and case (and the OMEMO 0x05 byte when a format
 * is given). Invalid input compares unequal instead of throwing, since one side is often typed by a person.
 * Not constant-time: fingerprints are public.
 */
export function fingerprintsEqual(a: string | Uint8Array, b: string | Uint8Array, format?: FingerprintFormat): boolean {
  try {
    return normalizeFingerprint(a, format) === normalizeFingerprint(b, format);
  } catch {
    return false;
  }
}

/**
 * OMEMO 2 publishes Ed25519 identity keys; XEP-0384 v0.8 §8 says the fingerprint SHOULD be the Curve25519 form.
 * That is the birational map u = (1 + y) / (1 − y) mod p (RFC 7748 §4.1), computed by @parley/crypto's
 * `edwardsToMontgomery`, which first decodes the key strictly (RFC 8032 §5.1.3: y < p, on the curve, no x = 0
 * with the sign bit) and refuses the identity. A key that fails is not a key anyone holds, so it gets no
 * fingerprint: INVALID_ARGUMENT, with crypto's error as the cause. Returns the 32-byte little-endian u.
 */
export function omemo2FingerprintFromEd25519(publicKey: Uint8Array): Uint8Array {
  try {
    return edwardsToMontgomery(publicKey);
  } catch (error) {
    if (!isCryptoError(error)) throw error;
    throw new TrustError("INVALID_ARGUMENT", `not a usable Ed25519 public key: ${error.message}`, { cause: error });
  }
}
