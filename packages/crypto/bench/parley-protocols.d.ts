// The slice of @parley/x3dh and @parley/double-ratchet that bench/browser-entry.ts uses. Those packages
// depend on this one, not the other way round, so they are not resolvable from here: bench/browser.ts
// bundles their sources (esbuild maps every @parley/* import to packages/*/src), and these declarations
// give the type checker their shapes.
declare module "@parley/x3dh" {
  import type { Crypto, KeyPair } from "@parley/crypto";
  export interface X3dhProfile {
    readonly identityKeyType: "x25519" | "ed25519";
  }
  export interface SignedPreKey {
    readonly id: number;
    readonly keyPair: KeyPair;
    readonly signature: Uint8Array;
    readonly createdAt: number;
  }
  export interface OneTimePreKey {
    readonly id: number;
    readonly keyPair: KeyPair;
  }
  export interface Bundle {
    readonly identityKey: Uint8Array;
    readonly signedPreKey: { readonly id: number; readonly publicKey: Uint8Array };
    readonly signedPreKeySignature: Uint8Array;
    readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[];
  }
  export function generateIdentityKeyPair(profile: X3dhProfile, crypto?: Crypto): KeyPair;
  export function generateSignedPreKey(
    profile: X3dhProfile,
    identity: KeyPair,
    id: number,
    options?: { crypto?: Crypto; now?: number },
  ): SignedPreKey;
  export function generateOneTimePreKeys(startId: number, count: number, crypto?: Crypto): OneTimePreKey[];
  export function createBundle(
    profile: X3dhProfile,
    identity: KeyPair,
    signedPreKey: SignedPreKey,
    oneTimePreKeys: readonly OneTimePreKey[],
  ): Bundle;
  export class InMemoryPreKeyStore {
    constructor(signedPreKeys?: readonly SignedPreKey[], oneTimePreKeys?: readonly OneTimePreKey[]);
  }
}

declare module "@parley/double-ratchet" {
  import type { Crypto, KeyPair } from "@parley/crypto";
  import type { Bundle, InMemoryPreKeyStore, X3dhProfile } from "@parley/x3dh";
  export interface RatchetProfile {
    readonly x3dh: X3dhProfile;
  }
  export class Session {
    private constructor();
  }
  export const legacyOmemo: RatchetProfile;
  export function createInitiatorSession(
    profile: RatchetProfile,
    ourIdentity: KeyPair,
    theirBundle: Bundle,
    options?: { crypto?: Crypto },
  ): Session;
  export function encrypt(
    session: Session,
    plaintext: Uint8Array,
    options?: { crypto?: Crypto },
  ): { session: Session; message: Uint8Array; isKeyExchange: boolean };
  export function decrypt(
    session: Session,
    message: Uint8Array,
    options?: { crypto?: Crypto; kind?: "keyExchange" | "message" | "auto" },
  ): { session: Session; plaintext: Uint8Array };
  export function acceptSession(
    profile: RatchetProfile,
    ourIdentity: KeyPair,
    store: InMemoryPreKeyStore,
    message: Uint8Array,
    options?: { crypto?: Crypto },
  ): { session: Session; plaintext: Uint8Array };
}
