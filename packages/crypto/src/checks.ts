/**
 * Checks the Crypto facade runs on every call, whichever provider computes (a custom CryptoProvider
 * included), so no provider can drop them. All inputs are public; the checks are plain byte
 * comparisons (no point decompression, no bigint), so they cost nothing beside native Ed25519.
 */

/** The group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1), little-endian. */
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** True when every byte is zero. Runs over the whole array (the X25519 output is secret). */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

/** y (the encoding without bit 255) is >= p, i.e. in p..2^255 − 1: byte 0 >= 0xed, bytes 1..30 0xff, top 0x7f. */
function yAtLeastP(encoding: Uint8Array): boolean {
  if (encoding[0]! < 0xed || (encoding[31]! & 0x7f) !== 0x7f) return false;
  for (let i = 1; i < 31; i++) if (encoding[i] !== 0xff) return false;
  return true;
}

/** The sign bit is set on y = 1 (01 00…00) or y = p − 1 (ec ff…ff 7f): the two points with x = 0. */
function isNegativeZeroX(encoding: Uint8Array): boolean {
  if ((encoding[31]! & 0x80) === 0) return false;
  const yIs = (low: number, middle: number, high: number): boolean => {
    if (encoding[0] !== low || (encoding[31]! & 0x7f) !== high) return false;
    for (let i = 1; i < 31; i++) if (encoding[i] !== middle) return false;
    return true;
  };
  return yIs(0x01, 0x00, 0x00) || yIs(0xec, 0xff, 0x7f);
}

/**
 * RFC 8032 §5.1.3 decoding rules that can be read off the bytes: y < p (step 1), and no x = 0 with the
 * sign bit set (step 4). OpenSSL's decoder (Node 20, OpenSSL 3.0) skips both: it reads y = p + 1 as the
 * identity, under which a forged signature verifies for any message, so on the native path this check
 * is the only defence. It does not check that the point is on the curve: the provider does.
 */
export function isCanonicalEd25519Point(encoding: Uint8Array): boolean {
  return encoding.length === 32 && !yAtLeastP(encoding) && !isNegativeZeroX(encoding);
}

/** RFC 8032 §5.1.7: the signature's s (its last 32 bytes, little-endian) must be below L. */
export function isScalarBelowL(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    if (s !== L_LE[i]) return s < L_LE[i]!;
  }
  return false; // s = L
}
