/** The 1536-bit MODP group of RFC 3526 §2 (generator 2) that OTR uses for DH and SMP. */
export const MODP_P = BigInt(
  "0x" +
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);
export const MODP_G = 2n;
/** The prime order of the subgroup of quadratic residues: (p-1)/2. */
export const MODP_Q = (MODP_P - 1n) / 2n;

/** The spec's range check for DH and SMP group elements: 2 <= v <= p-2 (rejects 0, 1, p-1 and anything >= p). */
export function isValidGroupElement(v: bigint): boolean {
  return v >= 2n && v <= MODP_P - 2n;
}

/** The range check for SMP exponents (D values): 1 <= v < q. */
export function isValidExponent(v: bigint): boolean {
  return v >= 1n && v < MODP_Q;
}

/**
 * The Jacobi symbol (a/n) for odd n > 0, by the binary quadratic-reciprocity algorithm (a few hundred BigInt
 * divisions for 1536 bits, far cheaper than the exponentiation v^q mod p). For prime n it is the Legendre symbol.
 */
export function jacobi(a: bigint, n: bigint): -1 | 0 | 1 {
  if (n <= 0n || (n & 1n) === 0n) throw new RangeError("jacobi: n must be odd and positive");
  a %= n;
  if (a < 0n) a += n;
  let t: -1 | 1 = 1;
  while (a !== 0n) {
    while ((a & 1n) === 0n) {
      a >>= 1n;
      const r = n & 7n;
      if (r === 3n || r === 5n) t = t === 1 ? -1 : 1;
    }
    [a, n] = [n, a];
    if ((a & 3n) === 3n && (n & 3n) === 3n) t = t === 1 ? -1 : 1;
    a %= n;
  }
  return n === 1n ? t : 0;
}

/**
 * Whether v lies in the order-q subgroup of the DH group (the quadratic residues: v^q = 1 mod p), checked with
 * the Legendre symbol. Stricter than the spec and libotr, which check only the range 2..p-2: a non-residue
 * such as p - g^a passes the range check and lets a cheating SMP peer learn the parity of the secret's hash.
 */
export function isInSubgroup(v: bigint): boolean {
  return v >= 1n && v < MODP_P && jacobi(v, MODP_P) === 1;
}
