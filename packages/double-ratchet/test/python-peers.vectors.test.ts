import { bytesToHex, createCrypto, hexToBytes, type KeyPair } from "@parley/crypto";
import { InMemoryPreKeyStore, type Bundle } from "@parley/x3dh";
import { describe, expect, it } from "vitest";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  legacyOmemo,
  omemo2,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import { loadVectors, replayRandom } from "./vectors.js";

interface Conversation {
  profile: "legacyOmemo" | "omemo2";
  bob: {
    identitySeed: string;
    identityKey: string;
    signedPreKey: { id: number; private: string; public: string; signature: string };
    oneTimePreKey: { id: number; private: string; public: string };
    randomDraws: string[];
  };
  alice: { identitySeed: string; randomDraws: string[] };
  sharedSecret: string;
  associatedData: string;
  plaintexts: Record<string, string>;
  messages: Record<string, string>;
}

const vectors = loadVectors("python-peers.json") as { conversations: Conversation[] };
const text = new TextEncoder();
const PROFILES: Record<Conversation["profile"], RatchetProfile> = { legacyOmemo, omemo2 };

/** python-omemo keeps Ed25519 seeds; legacy OMEMO uses the matching X25519 key (oldmemo StateImpl). */
function identityFor(profile: RatchetProfile, seed: string, crypto = createCrypto()): KeyPair {
  const s = hexToBytes(seed);
  return profile.x3dh.identityKeyType === "ed25519"
    ? crypto.ed25519KeyPair(s)
    : crypto.x25519KeyPair(crypto.ed25519SeedToX25519(s));
}

const dj = (u: Uint8Array) => Uint8Array.of(0x05, ...u);

for (const c of vectors.conversations) {
  const profile = PROFILES[c.profile];
  const enc = (u: Uint8Array) => (profile.x3dh.keyEncoding === "djb" ? dj(u) : u);
  const crypto = createCrypto();
  const bobIdentity = identityFor(profile, c.bob.identitySeed);
  const spk = {
    id: c.bob.signedPreKey.id,
    keyPair: crypto.x25519KeyPair(hexToBytes(c.bob.signedPreKey.private)),
    signature: hexToBytes(c.bob.signedPreKey.signature),
    createdAt: 0,
  };
  const opk = { id: c.bob.oneTimePreKey.id, keyPair: crypto.x25519KeyPair(hexToBytes(c.bob.oneTimePreKey.private)) };
  const msg = (k: string) => hexToBytes(c.messages[k]!);
  const pt = (k: string) => text.encode(c.plaintexts[k]);

  describe(`${c.profile}: known-answer conversation with the python peers (vectors/python-peers.json)`, () => {
    it("X3DH §3.3: the bundle's public keys are the python peer's", () => {
      expect(bytesToHex(spk.keyPair.publicKey)).toBe(c.bob.signedPreKey.public);
      expect(bytesToHex(opk.keyPair.publicKey)).toBe(c.bob.oneTimePreKey.public);
    });

    it("as Bob: accepts python Alice's key exchange, decrypts out of order, and replies byte for byte", () => {
      const random = replayRandom(c.bob.randomDraws);
      const bc = createCrypto({ random });
      const store = new InMemoryPreKeyStore([spk], [opk]);
      const accepted = acceptSession(profile, bobIdentity, store, msg("a1"), { crypto: bc });
      expect(accepted.plaintext).toEqual(pt("a1"));
      expect(accepted.keyExchange.oneTimePreKeyId).toBe(opk.id);
      expect(bytesToHex(accepted.session.associatedData)).toBe(c.associatedData);
      expect(store.getOneTimePreKey(opk.id)).toBeUndefined();
      let bob: Session = accepted.session;
      let r = decrypt(bob, msg("a2"), { crypto: bc });
      expect(r.plaintext).toEqual(pt("a2"));
      bob = r.session;
      for (const k of ["b1", "b2"]) {
        const e = encrypt(bob, pt(k), { crypto: bc });
        expect(bytesToHex(e.message)).toBe(c.messages[k]);
        expect(e.isKeyExchange).toBe(false);
        bob = e.session;
      }
      for (const k of ["a4", "a3"]) {
        r = decrypt(bob, msg(k), { crypto: bc });
        expect(r.plaintext).toEqual(pt(k));
        bob = r.session;
      }
      const e3 = encrypt(bob, pt("b3"), { crypto: bc });
      expect(bytesToHex(e3.message)).toBe(c.messages.b3);
      expect(random.remaining()).toBe(0);
    });

    it("as Alice: builds the same key exchange from the bundle, byte for byte, and reads python Bob's replies", () => {
      const random = replayRandom(c.alice.randomDraws);
      const ac = createCrypto({ random });
      const aliceIdentity = identityFor(profile, c.alice.identitySeed);
      const bundle: Bundle = {
        identityKey: profile.x3dh.identityKeyType === "ed25519" ? bobIdentity.publicKey : dj(bobIdentity.publicKey),
        signedPreKey: { id: spk.id, publicKey: enc(spk.keyPair.publicKey) },
        signedPreKeySignature: spk.signature,
        oneTimePreKeys: [{ id: opk.id, publicKey: enc(opk.keyPair.publicKey) }],
      };
      let alice = createInitiatorSession(profile, aliceIdentity, bundle, { crypto: ac, oneTimePreKeyId: opk.id });
      for (const k of ["a1", "a2"]) {
        const e = encrypt(alice, pt(k), { crypto: ac });
        expect(e.isKeyExchange).toBe(true);
        expect(bytesToHex(e.message)).toBe(c.messages[k]);
        alice = e.session;
      }
      for (const k of ["b2", "b1"]) {
        const r = decrypt(alice, msg(k), { crypto: ac });
        expect(r.plaintext).toEqual(pt(k));
        alice = r.session;
      }
      expect(alice.keyExchangePending).toBe(false);
      for (const k of ["a3", "a4"]) {
        const e = encrypt(alice, pt(k), { crypto: ac });
        expect(bytesToHex(e.message)).toBe(c.messages[k]);
        alice = e.session;
      }
      expect(decrypt(alice, msg("b3"), { crypto: ac }).plaintext).toEqual(pt("b3"));
      expect(random.remaining()).toBe(0);
    });
  });
}
