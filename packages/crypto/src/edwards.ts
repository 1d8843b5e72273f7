/**
 * Edwards25519 arithmetic shared by Ed25519 verification and XEdDSA: strict decoding and the
 * cofactorless verification equation, which is what both RFC 8032 §5.1.7 (as OpenSSL implements it)
 * and the XEdDSA spec §3 check. Only public values pass through here except in `scalarMultBase`.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, numberToBytesLE } from "@noble/curves/utils.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { isCanonicalEd25519Point } from "./checks.js";

export const Point = ed25519.Point;
export type EdPoint = InstanceType<typeof Point>;
/** Field prime p = 2^255 - 19. */
export const P = Point.Fp.ORDER;
/** Prime order q of the base point. */
export const Q = Point.Fn.ORDER;
const TWO_POW_253 = 1n << 253n;
const Y_MASK = (1n << 255n) - 1n;

export const modQ = (x: bigint): bigint => Point.Fn.create(x);
export const toLE32 = (x: bigint): Uint8Array => numberToBytesLE(x, 32);
export const fromLE = (bytes: Uint8Array): bigint => bytesToNumberLE(bytes);

/** y-coordinate of an encoding (the sign bit cleared), as an integer (not reduced). */
export function encodedY(encoding: Uint8Array): bigint {
  return fromLE(encoding) & Y_MASK;
}

/** Strict decoding: canonical y < p, no "negative zero" x (checks.ts), on the curve. null when invalid. */
export function decodePoint(encoding: Uint8Array): EdPoint | null {
  if (!isCanonicalEd25519Point(encoding)) return null;
  try {
    return Point.fromBytes(encoding, false);
  } catch {
    return null;
  }
}

/** Which upper bound s must respect: RFC 8032's s < q, or XEdDSA/ref10's s < 2^253. */
export type ScalarBound = "canonical" | "below-2^253";

/**
 * Cofactorless verification: accept iff encode(s·B − h·A) equals the 32 signature bytes of R,
 * with h = SHA-512(R || A || M) mod q. Variable time: every input is public.
 */
export function verifyEquation(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  bound: ScalarBound,
): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  const R = signature.subarray(0, 32);
  const s = fromLE(signature.subarray(32, 64));
  if (s >= (bound === "canonical" ? Q : TWO_POW_253)) return false;
  const A = decodePoint(publicKey);
  if (!A) return false;
  const hashInput = new Uint8Array(64 + message.length);
  hashInput.set(R, 0);
  hashInput.set(publicKey, 32);
  hashInput.set(message, 64);
  const h = modQ(fromLE(sha512(hashInput)));
  const check = Point.BASE.multiplyUnsafe(modQ(s)).subtract(A.multiplyUnsafe(h));
  const encoded = check.toBytes();
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= encoded[i]! ^ R[i]!;
  return diff === 0;
}

/** k·B for a secret scalar (constant-time ladder in noble). k must be in [1, q). */
export function scalarMultBase(k: bigint): EdPoint {
  return Point.BASE.multiply(k);
}
