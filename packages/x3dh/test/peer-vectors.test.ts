// Known-answer vectors from the real peers (vectors/peer-x3dh-python.json, made by
// interop/generate_peer_vectors.py from python-x3dh via python-oldmemo / python-twomemo).
// These checks need no python, so they run with the unit tests; peer-vectors.interop.test.ts
// reruns the generator with the Debian peers and compares its output with the checked-in file.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, hexToBytes, type Crypto, type KeyPair } from "@parley/crypto";
import {
  InMemoryPreKeyStore,
  legacyOmemoX3dh,
  omemo2X3dh,
  respond,
  verifySignedPreKey,
  type X3dhProfile,
} from "../src/index.js";

const VECTORS = new URL("../vectors/peer-x3dh-python.json", import.meta.url);

interface Case {
  profile: "legacyOmemo" | "omemo2";
  seed: number;
  bundle: {
    identityKey: string;
    signedPreKeyId: number;
    signedPreKey: string;
    signedPreKeySignature: string;
    preKeys: { id: number; key: string }[];
  };
  identitySignBit: number;
  identityPrivateKey: string;
  signedPreKeyPrivateKey: string;
  preKeys: { id: number; privateKey: string }[];
  header: { identityKey: string; ephemeralKey: string; signedPreKeyId: number; preKeyId: number };
  sharedSecret: string;
  associatedData: string;
}
const { cases } = JSON.parse(readFileSync(VECTORS, "utf8")) as { cases: Case[] };
const profiles: Record<Case["profile"], X3dhProfile> = { legacyOmemo: legacyOmemoX3dh, omemo2: omemo2X3dh };

function bobIdentity(c: Case, crypto: Crypto): KeyPair {
  const priv = hexToBytes(c.identityPrivateKey);
  return c.profile === "omemo2" ? crypto.ed25519KeyPair(priv) : crypto.x25519KeyPair(priv);
}

describe.each(["noble", "native"] as const)("X3DH known answers from python-x3dh (%s provider)", (provider) => {
  const crypto = createCrypto({ provider });

  it("the vectors cover both profiles and, for legacy, both Ed25519 sign bits", () => {
    expect(new Set(cases.map((c) => c.profile))).toEqual(new Set(["legacyOmemo", "omemo2"]));
    const legacyBits = new Set(cases.filter((c) => c.profile === "legacyOmemo").map((c) => c.identitySignBit));
    expect(legacyBits).toEqual(new Set([0, 1]));
  });

  it.each(cases.map((c) => [`${c.profile} seed ${c.seed}`, c] as const))(
    "X3DH §3.2 their bundle's signature verifies here, a flipped bit does not (%s)",
    (_name, c) => {
      const profile = profiles[c.profile];
      const ik = hexToBytes(c.bundle.identityKey);
      const spk = hexToBytes(c.bundle.signedPreKey);
      const sig = hexToBytes(c.bundle.signedPreKeySignature);
      if (c.profile === "legacyOmemo") expect(sig[63]! >> 7).toBe(c.identitySignBit);
      expect(() => {
        verifySignedPreKey(profile, ik, spk, sig, crypto);
      }).not.toThrow();
      const bad = sig.slice();
      bad[10]! ^= 4;
      expect(() => {
        verifySignedPreKey(profile, ik, spk, bad, crypto);
      }).toThrow(expect.objectContaining({ code: "BAD_SIGNATURE" }) as Error);
    },
  );

  it.each(cases.map((c) => [`${c.profile} seed ${c.seed}`, c] as const))(
    "X3DH §3.4 playing their Bob from his private keys gives their SK and AD (%s)",
    (_name, c) => {
      const profile = profiles[c.profile];
      const identity = bobIdentity(c, crypto);
      // Our public keys from their private keys match what they published.
      expect(
        bytesToHex(
          profile.identityKeyType === "ed25519" ? identity.publicKey : new Uint8Array([5, ...identity.publicKey]),
        ),
      ).toBe(c.bundle.identityKey);
      const store = new InMemoryPreKeyStore(
        [
          {
            id: c.bundle.signedPreKeyId,
            keyPair: crypto.x25519KeyPair(hexToBytes(c.signedPreKeyPrivateKey)),
            signature: hexToBytes(c.bundle.signedPreKeySignature),
            createdAt: 0,
          },
        ],
        c.preKeys.map((k) => ({ id: k.id, keyPair: crypto.x25519KeyPair(hexToBytes(k.privateKey)) })),
      );
      const result = respond(
        profile,
        identity,
        store,
        {
          identityKey: hexToBytes(c.header.identityKey),
          ephemeralKey: hexToBytes(c.header.ephemeralKey),
          signedPreKeyId: c.header.signedPreKeyId,
          oneTimePreKeyId: c.header.preKeyId,
        },
        { crypto },
      );
      expect(bytesToHex(result.sharedSecret)).toBe(c.sharedSecret);
      expect(bytesToHex(result.associatedData)).toBe(c.associatedData);
    },
  );
});
