// The two npm peers of the benchmark, behind one small interface so every scenario runs the same code
// for every implementation. Both speak libsignal v3 (the legacy OMEMO wire format).
//  - `libsignal` (WhiskeySockets/libsignal-node, a port of the Signal Desktop-era libsignal-protocol-javascript):
//    its SessionBuilder.initOutgoing calls curve.verifySignature(..., isInit = true), which returns true
//    WITHOUT verifying the signed prekey signature. We always verify.
//  - `@privacyresearch/libsignal-protocol-typescript`: verifies the signature (Ed25519Verify), WebCrypto AES/HMAC,
//    keeps each session record as a serialized string in the store (that is its storage contract).
// Stores are plain in-memory maps: the cheapest possible storage for both peers.
import * as pr from "@privacyresearch/libsignal-protocol-typescript";
import { loadNpmLibsignal, npmLibsignalStore, type LsKeyPair } from "../interop/npm-libsignal.js";

/** One established two-party conversation, as the scenarios see it. */
export interface Conversation {
  /** Encrypts on one side; returns an opaque wire message. */
  send(from: "alice" | "bob", plaintext: Uint8Array): Promise<unknown>;
  /** Decrypts on the other side. */
  receive(to: "alice" | "bob", message: unknown): Promise<Uint8Array>;
  /** Bytes of both parties' serialized session state (as the library persists it), divided by 2. */
  serializedBytesPerSession(): number;
  /** The in-memory session objects to keep alive for the heap measurement. */
  retain(): unknown;
}

export interface Implementation {
  name: string;
  /** Untimed: a fresh bundle of Bob's (one signed prekey, one one-time prekey). */
  makeBundle(i: number): Promise<unknown>;
  /** Timed "establishment": Alice processes the bundle (signature check where the library does one),
   *  encrypts the first message, Bob processes the prekey message and decrypts it. */
  establish(bundle: unknown, first: Uint8Array): Promise<Conversation>;
}

/** The "device" (bundle) object both libraries take: the same shape, their own key types. */
function device<K>(
  identity: { pubKey: K },
  signed: { keyId: number; keyPair: { pubKey: K }; signature: K },
  preKey: { keyId: number; keyPair: { pubKey: K } },
) {
  return {
    registrationId: 2,
    identityKey: identity.pubKey,
    signedPreKey: { keyId: signed.keyId, publicKey: signed.keyPair.pubKey, signature: signed.signature },
    preKey: { keyId: preKey.keyId, publicKey: preKey.keyPair.pubKey },
  };
}

// ---------------------------------------------------------------- npm `libsignal`
export function npmLibsignal(): Implementation {
  const ls = loadNpmLibsignal();
  const aliceId = ls.keyhelper.generateIdentityKeyPair();
  const bobId = ls.keyhelper.generateIdentityKeyPair();
  const bobSigned = ls.keyhelper.generateSignedPreKey(bobId, 1);

  return {
    name: "libsignal (npm)",
    makeBundle(i) {
      const pk = ls.keyhelper.generatePreKey(i + 1);
      return Promise.resolve({ pk, device: device(bobId, bobSigned, pk) });
    },
    async establish(bundle, first) {
      const b = bundle as { pk: { keyId: number; keyPair: LsKeyPair }; device: unknown };
      const aStore = npmLibsignalStore(aliceId, bobSigned, new Map());
      const bStore = npmLibsignalStore(bobId, bobSigned, new Map([[b.pk.keyId, b.pk.keyPair]]));
      const toBob = new ls.ProtocolAddress("bob", 1);
      const toAlice = new ls.ProtocolAddress("alice", 1);
      await new ls.SessionBuilder(aStore, toBob).initOutgoing(b.device);
      const aCipher = new ls.SessionCipher(aStore, toBob);
      const bCipher = new ls.SessionCipher(bStore, toAlice);
      const m = await aCipher.encrypt(Buffer.from(first));
      await bCipher.decryptPreKeyWhisperMessage(m.body);
      const cipher = { alice: aCipher, bob: bCipher };
      return {
        send: (from, pt) => cipher[from].encrypt(Buffer.from(pt)),
        async receive(to, msg) {
          const { type, body } = msg as { type: number; body: Buffer };
          return type === 3 ? cipher[to].decryptPreKeyWhisperMessage(body) : cipher[to].decryptWhisperMessage(body);
        },
        serializedBytesPerSession: () =>
          (JSON.stringify(aStore.sessions.get(toBob.toString())!.serialize()).length +
            JSON.stringify(bStore.sessions.get(toAlice.toString())!.serialize()).length) /
          2,
        retain: () => [aStore.sessions, bStore.sessions],
      };
    },
  };
}

// ---------------------------------------------------------------- @privacyresearch/libsignal-protocol-typescript
export async function privacyResearch(): Promise<Implementation> {
  const aliceId = await pr.KeyHelper.generateIdentityKeyPair();
  const bobId = await pr.KeyHelper.generateIdentityKeyPair();
  const bobSigned = await pr.KeyHelper.generateSignedPreKey(bobId, 1);

  function store(
    identity: pr.KeyPairType,
    preKeys: Map<number, pr.KeyPairType>,
  ): pr.StorageType & { sessions: Map<string, string> } {
    const sessions = new Map<string, string>();
    return {
      sessions,
      getIdentityKeyPair: () => Promise.resolve(identity),
      getLocalRegistrationId: () => Promise.resolve(1),
      isTrustedIdentity: () => Promise.resolve(true),
      saveIdentity: () => Promise.resolve(false),
      loadPreKey: (id) => Promise.resolve(preKeys.get(Number(id))),
      storePreKey: () => Promise.resolve(),
      removePreKey: (id) => {
        preKeys.delete(Number(id));
        return Promise.resolve();
      },
      storeSession: (addr, record) => {
        sessions.set(addr, record);
        return Promise.resolve();
      },
      loadSession: (addr) => Promise.resolve(sessions.get(addr)),
      loadSignedPreKey: () => Promise.resolve(bobSigned.keyPair),
      storeSignedPreKey: () => Promise.resolve(),
      removeSignedPreKey: () => Promise.resolve(),
    };
  }
  const ab = (u: Uint8Array): ArrayBuffer => u.slice().buffer;

  return {
    name: "@privacyresearch/libsignal-protocol-typescript",
    async makeBundle(i) {
      const pk = await pr.KeyHelper.generatePreKey(i + 1);
      return { pk, device: device(bobId, bobSigned, pk) };
    },
    async establish(bundle, first) {
      const b = bundle as { pk: pr.PreKeyPairType; device: pr.DeviceType };
      const aStore = store(aliceId, new Map());
      const bStore = store(bobId, new Map([[b.pk.keyId, b.pk.keyPair]]));
      const toBob = new pr.SignalProtocolAddress("bob", 1);
      const toAlice = new pr.SignalProtocolAddress("alice", 1);
      await new pr.SessionBuilder(aStore, toBob).processPreKey(b.device);
      const aCipher = new pr.SessionCipher(aStore, toBob);
      const bCipher = new pr.SessionCipher(bStore, toAlice);
      const m = await aCipher.encrypt(ab(first));
      await bCipher.decryptPreKeyWhisperMessage(m.body!, "binary");
      const cipher = { alice: aCipher, bob: bCipher };
      return {
        send: (from, pt) => cipher[from].encrypt(ab(pt)),
        async receive(to, msg) {
          const { type, body } = msg as pr.MessageType;
          const out =
            type === 3
              ? await cipher[to].decryptPreKeyWhisperMessage(body!, "binary")
              : await cipher[to].decryptWhisperMessage(body!, "binary");
          return new Uint8Array(out);
        },
        serializedBytesPerSession: () =>
          (aStore.sessions.get(toBob.toString())!.length + bStore.sessions.get(toAlice.toString())!.length) / 2,
        retain: () => [aStore.sessions, bStore.sessions],
      };
    },
  };
}
