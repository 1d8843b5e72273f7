// npm `libsignal` (WhiskeySockets/libsignal-node, a port of Signal's libsignal-protocol-javascript):
// the typed slice of its CommonJS API we use, and an in-memory storage for it. Shared by the interop
// test (interop/remotes.ts) and the benchmark (bench/peers.ts).
import { createRequire } from "node:module";

export interface LsKeyPair {
  pubKey: Buffer;
  privKey: Buffer;
}
export interface LsSignedPreKey {
  keyId: number;
  keyPair: LsKeyPair;
  signature: Buffer;
}
export interface LsCipher {
  encrypt(data: Buffer): Promise<{ type: number; body: Buffer }>;
  decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
  decryptWhisperMessage(data: Buffer): Promise<Buffer>;
}
export interface LsModule {
  keyhelper: {
    generateIdentityKeyPair(): LsKeyPair;
    generateSignedPreKey(id: LsKeyPair, keyId: number): LsSignedPreKey;
    generatePreKey(keyId: number): { keyId: number; keyPair: LsKeyPair };
  };
  ProtocolAddress: new (name: string, device: number) => { toString(): string };
  SessionBuilder: new (storage: unknown, addr: unknown) => { initOutgoing(device: unknown): Promise<void> };
  SessionCipher: new (storage: unknown, addr: unknown) => LsCipher;
}

export function loadNpmLibsignal(): LsModule {
  return createRequire(import.meta.url)("libsignal") as LsModule;
}

/** libsignal's storage interface over plain maps; `sessions` holds its SessionRecord objects. */
export function npmLibsignalStore(identity: LsKeyPair, signed: LsSignedPreKey, preKeys: Map<number, LsKeyPair>) {
  const sessions = new Map<string, { serialize(): unknown }>();
  return {
    sessions,
    loadSession: (id: string) => Promise.resolve(sessions.get(id)),
    storeSession: (id: string, record: { serialize(): unknown }) => {
      sessions.set(id, record);
      return Promise.resolve();
    },
    isTrustedIdentity: () => true,
    loadPreKey: (id: number) => Promise.resolve(preKeys.get(id)),
    removePreKey: (id: number) => {
      preKeys.delete(id);
    },
    loadSignedPreKey: () => signed.keyPair,
    getOurRegistrationId: () => 7,
    getOurIdentity: () => identity,
  };
}
