import { bytesToHex, INSPECT_CUSTOM } from "./bytes.js";

export type KeyPairKind = "x25519" | "ed25519";

/**
 * A key pair whose private half never prints: `inspect`, `toString` and `JSON.stringify` show the
 * public key and "[redacted]". Read `privateKey` explicitly to persist it.
 * For "x25519" the private key is the clamped scalar; for "ed25519" it is the 32-byte seed.
 */
export class KeyPair {
  readonly kind: KeyPairKind;
  readonly publicKey: Uint8Array;
  readonly #privateKey: Uint8Array;

  constructor(kind: KeyPairKind, privateKey: Uint8Array, publicKey: Uint8Array) {
    this.kind = kind;
    this.#privateKey = privateKey;
    this.publicKey = publicKey;
  }

  get privateKey(): Uint8Array {
    return this.#privateKey;
  }

  toString(): string {
    return `KeyPair(${this.kind}, public ${bytesToHex(this.publicKey)}, private [redacted])`;
  }

  toJSON(): { kind: KeyPairKind; publicKey: string; privateKey: "[redacted]" } {
    return { kind: this.kind, publicKey: bytesToHex(this.publicKey), privateKey: "[redacted]" };
  }

  [INSPECT_CUSTOM](): string {
    return this.toString();
  }
}
