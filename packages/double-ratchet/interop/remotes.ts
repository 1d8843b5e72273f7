// The two sides of an interop conversation behind one interface, so the same scripted and
// randomized conversations run against python-oldmemo, python-twomemo and libsignal-protocol-c.
// "Local" is our engine (the public API of ../src/index.js); "Remote" is a peer process.
import { bytesToHex, hexToBytes, type Crypto, type KeyPair } from "@parley/crypto";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
  type Bundle,
} from "@parley/x3dh";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  deserializeSession,
  encrypt,
  serializeSession,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import { loadNpmLibsignal, npmLibsignalStore, type LsKeyPair } from "./npm-libsignal.js";
import type { PeerProcess } from "./peers.js";

/** A message on the wire: the bytes of an OMEMO `<key>` element and its prekey/kex flag. */
export interface Wire {
  readonly bytes: Uint8Array;
  readonly keyExchange: boolean;
}

/** What the wire carries for a bundle (hex), as python-omemo's etree and our tests exchange it. */
export interface WireBundle {
  identityKey: string;
  signedPreKeyId: number;
  signedPreKey: string;
  signedPreKeySignature: string;
  preKeys: { id: number; key: string }[];
}

export const bundleFromWire = (w: WireBundle): Bundle => ({
  identityKey: hexToBytes(w.identityKey),
  signedPreKey: { id: w.signedPreKeyId, publicKey: hexToBytes(w.signedPreKey) },
  signedPreKeySignature: hexToBytes(w.signedPreKeySignature),
  oneTimePreKeys: w.preKeys.map((p) => ({ id: p.id, publicKey: hexToBytes(p.key) })),
});

export const bundleToWire = (b: Bundle): WireBundle => ({
  identityKey: bytesToHex(b.identityKey),
  signedPreKeyId: b.signedPreKey.id,
  signedPreKey: bytesToHex(b.signedPreKey.publicKey),
  signedPreKeySignature: bytesToHex(b.signedPreKeySignature),
  preKeys: b.oneTimePreKeys.map((p) => ({ id: p.id, key: bytesToHex(p.publicKey) })),
});

/** Our side: one device with its prekeys and (once started) one session with the remote. */
export class Local {
  readonly identity: KeyPair;
  readonly store: InMemoryPreKeyStore;
  readonly bundle: Bundle;
  session: Session | undefined;

  constructor(
    readonly profile: RatchetProfile,
    readonly crypto: Crypto,
  ) {
    this.identity = generateIdentityKeyPair(profile.x3dh, crypto);
    const spk = generateSignedPreKey(profile.x3dh, this.identity, 3, { crypto });
    const opks = generateOneTimePreKeys(31, 5, crypto);
    this.store = new InMemoryPreKeyStore([spk], opks);
    this.bundle = createBundle(profile.x3dh, this.identity, spk, opks);
  }

  start(theirs: Bundle): void {
    this.session = createInitiatorSession(this.profile, this.identity, theirs, { crypto: this.crypto });
  }

  encrypt(plaintext: Uint8Array): Wire {
    const r = encrypt(this.#session(), plaintext, { crypto: this.crypto });
    this.session = r.session;
    return { bytes: r.message, keyExchange: r.isKeyExchange };
  }

  /** Decrypts, building the session from the first key exchange. Throws (state unchanged) on failure. */
  decrypt(w: Wire): Uint8Array {
    const kind = w.keyExchange ? "keyExchange" : "message";
    if (this.session === undefined) {
      const r = acceptSession(this.profile, this.identity, this.store, w.bytes, { crypto: this.crypto });
      this.session = r.session;
      return r.plaintext;
    }
    const r = decrypt(this.session, w.bytes, { crypto: this.crypto, kind });
    this.session = r.session;
    return r.plaintext;
  }

  /** Persist and reload (serializeSession / deserializeSession); returns the serialized size. */
  reload(): number {
    const bytes = serializeSession(this.#session());
    this.session = deserializeSession(bytes, { profile: this.profile });
    return bytes.length;
  }

  snapshot(): string {
    return bytesToHex(serializeSession(this.#session()));
  }

  #session(): Session {
    if (!this.session) throw new Error("no session yet");
    return this.session;
  }
}

/** A peer process as the other side of the conversation. */
export interface Remote {
  readonly name: string;
  /** The remote's bundle, for us to start a session. */
  bundle(): Promise<Bundle>;
  /** The remote starts a session from our bundle and encrypts its first message. */
  initiate(ours: Bundle, plaintext: Uint8Array): Promise<Wire>;
  encrypt(plaintext: Uint8Array): Promise<Wire>;
  /** Plaintext, or an error text when the remote refused the message. */
  decrypt(w: Wire): Promise<{ plaintext?: Uint8Array; error?: string }>;
  /** Persist and reload the remote's session, when the remote can. */
  reload(): Promise<void>;
  close(): void;
}

/** python-oldmemo / python-twomemo through interop/omemo_peer.py. */
export function pythonRemote(name: string, peer: PeerProcess): Remote {
  const wire = (a: Record<string, unknown>): Wire => ({
    bytes: hexToBytes(a.message as string),
    keyExchange: a.kex === true,
  });
  return {
    name,
    async bundle() {
      return bundleFromWire((await peer.call("bundle", { preKeys: 10 })).bundle as WireBundle);
    },
    async initiate(ours, plaintext) {
      return wire(
        await peer.call("initiate", { peer: "us", bundle: bundleToWire(ours), plaintext: bytesToHex(plaintext) }),
      );
    },
    async encrypt(plaintext) {
      return wire(await peer.call("encrypt", { peer: "us", plaintext: bytesToHex(plaintext) }));
    },
    async decrypt(w) {
      const a = await peer.request("decrypt", { peer: "us", message: bytesToHex(w.bytes), kex: w.keyExchange });
      return a.ok ? { plaintext: hexToBytes(a.plaintext as string) } : { error: `${a.type}: ${a.error}` };
    },
    async reload() {
      await peer.call("serialize", { peer: "us" });
    },
    close: () => {
      peer.close();
    },
  };
}

/** libsignal-protocol-c through interop/libsignal_peer.c (legacy profile only). */
export function libsignalRemote(peer: PeerProcess): Remote {
  const wire = (a: Record<string, unknown>): Wire => ({
    bytes: hexToBytes(a.message as string),
    keyExchange: a.type === 3,
  });
  return {
    name: "libsignal-protocol-c",
    async bundle() {
      const a = await peer.call("bundle", { preKeys: 10 });
      return bundleFromWire(a as unknown as WireBundle);
    },
    async initiate(ours, plaintext) {
      const pk = ours.oneTimePreKeys[0]!;
      await peer.call("initiate", {
        identityKey: bytesToHex(ours.identityKey),
        signedPreKeyId: ours.signedPreKey.id,
        signedPreKey: bytesToHex(ours.signedPreKey.publicKey),
        signedPreKeySignature: bytesToHex(ours.signedPreKeySignature),
        preKeyId: pk.id,
        preKey: bytesToHex(pk.publicKey),
      });
      return wire(await peer.call("encrypt", { plaintext: bytesToHex(plaintext) }));
    },
    async encrypt(plaintext) {
      return wire(await peer.call("encrypt", { plaintext: bytesToHex(plaintext) }));
    },
    async decrypt(w) {
      const a = await peer.request("decrypt", { message: bytesToHex(w.bytes), type: w.keyExchange ? 3 : 2 });
      return a.ok ? { plaintext: hexToBytes(a.plaintext as string) } : { error: `libsignal error ${a.error}` };
    },
    // libsignal-protocol-c serializes its session record to the store after every operation already.
    reload: () => Promise.resolve(),
    close: () => {
      peer.close();
    },
  };
}

// ------------------------------------------------------------------ npm `libsignal` (in process)
/**
 * npm `libsignal` (WhiskeySockets/libsignal-node, from Signal's libsignal-protocol-javascript) as a
 * legacy-OMEMO peer in this process. Its SessionBuilder skips the signed-prekey signature check.
 */
export function npmLibsignalRemote(): Remote {
  const ls = loadNpmLibsignal();
  const identity = ls.keyhelper.generateIdentityKeyPair();
  const signed = ls.keyhelper.generateSignedPreKey(identity, 1);
  const preKeys = new Map<number, LsKeyPair>();
  for (let id = 1; id <= 10; id++) preKeys.set(id, ls.keyhelper.generatePreKey(id).keyPair);
  const storage = npmLibsignalStore(identity, signed, preKeys);
  const us = new ls.ProtocolAddress("us", 1);
  const cipher = new ls.SessionCipher(storage, us);
  const wire = (m: { type: number; body: Buffer }): Wire => ({
    bytes: new Uint8Array(m.body),
    keyExchange: m.type === 3,
  });
  return {
    name: "libsignal (npm)",
    bundle: () =>
      Promise.resolve({
        identityKey: new Uint8Array(identity.pubKey),
        signedPreKey: { id: signed.keyId, publicKey: new Uint8Array(signed.keyPair.pubKey) },
        signedPreKeySignature: new Uint8Array(signed.signature),
        oneTimePreKeys: [...preKeys].map(([id, k]) => ({ id, publicKey: new Uint8Array(k.pubKey) })),
      }),
    async initiate(ours, plaintext) {
      const pk = ours.oneTimePreKeys[0]!;
      await new ls.SessionBuilder(storage, us).initOutgoing({
        registrationId: 9,
        identityKey: Buffer.from(ours.identityKey),
        signedPreKey: {
          keyId: ours.signedPreKey.id,
          publicKey: Buffer.from(ours.signedPreKey.publicKey),
          signature: Buffer.from(ours.signedPreKeySignature),
        },
        preKey: { keyId: pk.id, publicKey: Buffer.from(pk.publicKey) },
      });
      return wire(await cipher.encrypt(Buffer.from(plaintext)));
    },
    async encrypt(plaintext) {
      return wire(await cipher.encrypt(Buffer.from(plaintext)));
    },
    async decrypt(w) {
      try {
        const data = Buffer.from(w.bytes);
        const out = w.keyExchange
          ? await cipher.decryptPreKeyWhisperMessage(data)
          : await cipher.decryptWhisperMessage(data);
        return { plaintext: new Uint8Array(out) };
      } catch (e) {
        return { error: String(e) };
      }
    },
    reload: () => Promise.resolve(),
    close: () => undefined,
  };
}
