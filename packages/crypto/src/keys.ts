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

/**
 * A caller's X25519 key pair for an operation that would otherwise generate one (a fixed X3DH
 * ephemeral or ratchet key, for reproducible runs): a private copy when it is an X25519 pair whose
 * public key is its private key's, undefined otherwise. The copy lets the operation wipe its key
 * without touching the caller's.
 */
export function copyX25519KeyPair(
  x25519PublicKey: (privateKey: Uint8Array) => Uint8Array,
  keyPair: unknown,
): KeyPair | undefined {
  if (!(keyPair instanceof KeyPair) || keyPair.kind !== "x25519") return undefined;
  let privateKey: Uint8Array;
  let publicKey: Uint8Array;
  let derived: Uint8Array;
  try {
    ({ privateKey, publicKey } = keyPair);
    if (!(privateKey instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return undefined;
    if (privateKey.length !== 32 || publicKey.length !== 32) return undefined;
    derived = x25519PublicKey(privateKey);
  } catch {
    // Not a real KeyPair (an object made from its prototype), or a key the provider refuses.
    return undefined;
  }
  if (!derived.every((b, i) => b === publicKey[i])) return undefined;
  return new KeyPair("x25519", privateKey.slice(), publicKey.slice());
}
