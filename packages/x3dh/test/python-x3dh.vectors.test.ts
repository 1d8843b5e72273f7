import { bytesToHex, createCrypto, hexToBytes } from "@parley/crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  encodePublicKey,
  InMemoryPreKeyStore,
  initiate,
  legacyOmemoX3dh,
  omemo2X3dh,
  respond,
  type X3dhProfile,
} from "../src/index.js";

interface Case {
  profile: "legacyOmemo" | "omemo2";
  bobIdentitySeed: string;
  aliceIdentitySeed: string;
  signedPreKeyPrivate: string;
  signedPreKeySignature: string;
  oneTimePreKeyPrivate: string;
  ephemeralPrivate: string;
  ephemeralPublic: string;
  sharedSecret: string;
  associatedData: string;
}
const vectors = JSON.parse(readFileSync(new URL("../vectors/python-x3dh.json", import.meta.url), "utf8")) as {
  cases: Case[];
};
const PROFILES: Record<Case["profile"], X3dhProfile> = { legacyOmemo: legacyOmemoX3dh, omemo2: omemo2X3dh };

for (const c of vectors.cases) {
  const profile = PROFILES[c.profile];
  describe(`X3DH §3.3-§3.4 known answers from python3-x3dh (${c.profile}, vectors/python-x3dh.json)`, () => {
    // python-omemo keeps Ed25519 seeds; the legacy profile uses the matching X25519 key.
    const crypto = createCrypto({ random: () => hexToBytes(c.ephemeralPrivate) });
    const identity = (seed: string) =>
      profile.identityKeyType === "ed25519"
        ? crypto.ed25519KeyPair(hexToBytes(seed))
        : crypto.x25519KeyPair(crypto.ed25519SeedToX25519(hexToBytes(seed)));
    const bob = identity(c.bobIdentitySeed);
    const alice = identity(c.aliceIdentitySeed);
    const spk = {
      id: 1,
      keyPair: crypto.x25519KeyPair(hexToBytes(c.signedPreKeyPrivate)),
      signature: hexToBytes(c.signedPreKeySignature),
      createdAt: 0,
    };
    const opk = { id: 2, keyPair: crypto.x25519KeyPair(hexToBytes(c.oneTimePreKeyPrivate)) };
    const idKey = (k: typeof bob) =>
      profile.identityKeyType === "ed25519" ? k.publicKey : encodePublicKey(profile, k.publicKey);

    it("the initiator derives python's SK and AD from python's bundle (signature verified)", () => {
      const a = initiate(
        profile,
        alice,
        {
          identityKey: idKey(bob),
          signedPreKey: { id: 1, publicKey: encodePublicKey(profile, spk.keyPair.publicKey) },
          signedPreKeySignature: spk.signature,
          oneTimePreKeys: [{ id: 2, publicKey: encodePublicKey(profile, opk.keyPair.publicKey) }],
        },
        { crypto, oneTimePreKeyId: 2 },
      );
      expect(bytesToHex(a.sharedSecret)).toBe(c.sharedSecret);
      expect(bytesToHex(a.associatedData)).toBe(c.associatedData);
      expect(bytesToHex(a.ephemeralKey)).toBe(bytesToHex(encodePublicKey(profile, hexToBytes(c.ephemeralPublic))));
    });

    it("the responder derives python's SK and AD from python's header", () => {
      const b = respond(profile, bob, new InMemoryPreKeyStore([spk], [opk]), {
        identityKey: idKey(alice),
        ephemeralKey: encodePublicKey(profile, hexToBytes(c.ephemeralPublic)),
        signedPreKeyId: 1,
        oneTimePreKeyId: 2,
      });
      expect(bytesToHex(b.sharedSecret)).toBe(c.sharedSecret);
      expect(bytesToHex(b.associatedData)).toBe(c.associatedData);
    });
  });
}
