/** Types shared by both namespaces. */

/** One published one-time prekey: its id and public key as it appears on the wire. */
export interface PreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

/**
 * A device's bundle (XEP-0384 v0.3.0 §4.3, v0.8.3 §5.3.2), the same fields in both namespaces under
 * different element names. Keys are as on the wire: 33 bytes with the 0x05 type byte in legacy
 * OMEMO, 32 bytes in OMEMO 2 (Ed25519 identity key, X25519 prekeys).
 */
export interface Bundle {
  readonly signedPreKeyId: number;
  readonly signedPreKey: Uint8Array;
  readonly signedPreKeySignature: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly preKeys: readonly PreKeyPublic[];
}
