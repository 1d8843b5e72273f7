/**
 * The adapter protocol's xeddsa ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 *
 * XEdDSA signs with an X25519 key pair and verifies against the Montgomery public key u, in two
 * variants: `xeddsa`, Signal's XEdDSA specification (Perrin, rev. 1, 2016, §3: the Edwards key
 * convert_mont(u) has sign bit 0, the private scalar negated when needed), and `libsignal`, libsignal's
 * curve25519_sign/curve25519_verify (libsignal-protocol-c curve_sigs.c, the signature of legacy OMEMO
 * bundles: the clamped scalar k used as is, the sign bit of A = k·B stored in bit 7 of signature byte 63;
 * its verifier accepts spec signatures too, whose bit is 0). Bytes are hex, keys 32 bytes, signatures
 * R ‖ s, 64 bytes. An invalid signature is `valid: false`, never an error; a wrong length is
 * `INVALID_ARGUMENT`.
 * @packageDocumentation
 */
import type { Hex } from "./protocol.js";

/** Error codes only the xeddsa ops use (the shared ones are in protocol.ts). */
export type XeddsaErrorCode = never;
export const XEDDSA_ERROR_CODES: readonly XeddsaErrorCode[] = [];

/**
 * `xeddsa`: the XEdDSA specification (sign bit 0, scalar a = ±k mod q in the nonce hash); `libsignal`:
 * libsignal's curve25519_sign/verify (sign bit of k·B in bit 7 of signature byte 63, k in the nonce hash).
 */
export type XeddsaVariant = "xeddsa" | "libsignal";
export const XEDDSA_VARIANTS: readonly XeddsaVariant[] = ["xeddsa", "libsignal"];

export interface XeddsaSignArgs {
  variant: XeddsaVariant;
  /** The X25519 private key k, 32 bytes (the implementation clamps it, RFC 7748). */
  privateKey: Hex;
  /** The message, any length (also empty). */
  message: Hex;
  /**
   * Z, the 64 random bytes of the nonce hash (spec §3: r = hash_1(a ‖ M ‖ Z); libsignal the same with
   * k). Fixed so that a run is reproducible: the same key, message and nonce give the same signature.
   */
  nonce: Hex;
}
export interface XeddsaSignResult {
  /** R ‖ s, 64 bytes (libsignal: with the sign bit in bit 7 of byte 63). */
  signature: Hex;
}

export interface XeddsaVerifyArgs {
  variant: XeddsaVariant;
  /** The Montgomery public key u, 32 bytes (as X25519 has it: u ≥ p, low-order u are valid input, never an error). */
  publicKey: Hex;
  message: Hex;
  /** 64 bytes. */
  signature: Hex;
  /**
   * A kit option, not in the XEdDSA spec (which bounds s by 2^253 only). true: refuse a non-canonical s
   * (L ≤ s < 2^253; RFC 8032 §5.1.7, libxeddsa). Absent or false: the implementation's default, which may
   * be the spec's bound s < 2^253 (Parley, libsignal) or s < L.
   */
  strict?: boolean;
}
export interface XeddsaVerifyResult {
  /** Whether the signature is valid; false for any invalid signature, key or encoding of the right lengths. */
  valid: boolean;
}

export interface XeddsaToEdwardsArgs {
  /** The X25519 private key k, 32 bytes (clamped by the implementation). */
  privateKey: Hex;
}
export interface XeddsaToEdwardsResult {
  /** The X25519 public key u = k·9 (Montgomery), 32 bytes. */
  publicKey: Hex;
  /** The Edwards public key A = k·B with its real sign bit (libsignal's), 32 bytes. */
  edwardsPublicKey: Hex;
  /** The sign bit of A (bit 7 of its byte 31): 1 when XEdDSA negates the scalar, what libsignal stores in signature byte 63. */
  signBit: 0 | 1;
}

/** The xeddsa ops: arguments and results. */
export interface XeddsaOps {
  /** Signs `message` with the variant and the fixed nonce Z. */
  "xeddsa.sign": { args: XeddsaSignArgs; result: XeddsaSignResult };
  /** Verifies a signature against the Montgomery public key; an invalid signature is `valid: false`, not an error. */
  "xeddsa.verify": { args: XeddsaVerifyArgs; result: XeddsaVerifyResult };
  /** The public keys of an X25519 private key: Montgomery u, and the Edwards key k·B with its sign bit. */
  "xeddsa.toEdwards": { args: XeddsaToEdwardsArgs; result: XeddsaToEdwardsResult };
}

export const XEDDSA_OP_NAMES: readonly (keyof XeddsaOps)[] = ["xeddsa.sign", "xeddsa.verify", "xeddsa.toEdwards"];
