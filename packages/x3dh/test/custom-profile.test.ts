// createX3dhProfile: X3DH §2.1's parameters as python-x3dh exposes them (hash, info, identity key form
// and signature scheme, Encode, one-time prekey policy). Every valid combination agrees with itself,
// SHA-512 gives the SK an independent HKDF (node:crypto) derives from the same DH outputs, and invalid
// combinations are INVALID_ARGUMENT.
import { concatBytes, createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  createBundle,
  createX3dhProfile,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  identityKeyToX25519,
  InMemoryPreKeyStore,
  initiate,
  isX3dhError,
  respond,
  type X3dhProfileOptions,
} from "../src/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const combos: X3dhProfileOptions[] = [];
for (const [identityKeyType, signatureScheme] of [
  ["x25519", "xeddsa"],
  ["x25519", "libsignal"],
  ["ed25519", "ed25519"],
] as const)
  for (const keyEncoding of ["djb", "raw"] as const)
    for (const hash of ["sha256", "sha512"] as const)
      combos.push({ info: "Conformance X3DH", identityKeyType, signatureScheme, keyEncoding, hash });

describe("createX3dhProfile", () => {
  it.each(combos.map((c) => [`${c.identityKeyType}/${c.signatureScheme}/${c.keyEncoding}/${c.hash}`, c] as const))(
    "%s: both sides derive one SK, and it is HKDF-%s over F || DH1..DH4 computed independently",
    (_label, options) => {
      const profile = createX3dhProfile(options);
      expect(profile.name).toBe("custom");
      const crypto = createCrypto({ random: deterministicRandom(`custom ${_label}`) });
      const alice = generateIdentityKeyPair(profile, crypto);
      const bob = generateIdentityKeyPair(profile, crypto);
      const spk = generateSignedPreKey(profile, bob, 1, { crypto, now: 0 });
      const opks = generateOneTimePreKeys(1, 2, crypto);
      const bundle = createBundle(profile, bob, spk, opks);
      const ek = crypto.generateX25519KeyPair();
      const a = initiate(profile, alice, bundle, { crypto, oneTimePreKeyId: 2, ephemeralKeyPair: ek });
      const store = new InMemoryPreKeyStore([spk], opks);
      const b = respond(
        profile,
        bob,
        store,
        { identityKey: a.identityKey, ephemeralKey: a.ephemeralKey, signedPreKeyId: 1, oneTimePreKeyId: 2 },
        { crypto },
      );
      expect(hex(b.sharedSecret)).toBe(hex(a.sharedSecret));
      // The same DH outputs, HKDF from node:crypto with the profile's hash.
      const aliceX =
        options.identityKeyType === "ed25519" ? crypto.ed25519SeedToX25519(alice.privateKey) : alice.privateKey;
      const bobIkX = identityKeyToX25519(
        profile,
        options.identityKeyType === "ed25519" ? bob.publicKey : bundle.identityKey,
        crypto,
      );
      const opk = opks.find((k) => k.id === 2)!.keyPair.publicKey;
      const ikm = concatBytes(
        new Uint8Array(32).fill(0xff),
        crypto.x25519(aliceX, spk.keyPair.publicKey),
        crypto.x25519(ek.privateKey, bobIkX),
        crypto.x25519(ek.privateKey, spk.keyPair.publicKey),
        crypto.x25519(ek.privateKey, opk),
      );
      const length = options.hash === "sha512" ? 64 : 32;
      const expected = new Uint8Array(hkdfSync(options.hash!, ikm, new Uint8Array(length), "Conformance X3DH", 32));
      expect(hex(a.sharedSecret)).toBe(hex(expected));
    },
  );

  it("refuses combinations X3DH does not define and malformed parameters", () => {
    const base: X3dhProfileOptions = {
      info: "x",
      identityKeyType: "x25519",
      signatureScheme: "xeddsa",
      keyEncoding: "djb",
    };
    const bad: unknown[] = [
      { ...base, identityKeyType: "ed25519" },
      { ...base, signatureScheme: "ed25519" },
      { ...base, keyEncoding: "hex" },
      { ...base, hash: "sha1" },
      { ...base, info: "" },
      { ...base, info: "x".repeat(256) },
      { ...base, requireOneTimePreKey: "yes" },
      null,
    ];
    for (const options of bad) {
      let error: unknown;
      try {
        createX3dhProfile(options as X3dhProfileOptions);
      } catch (e) {
        error = e;
      }
      expect(isX3dhError(error, "INVALID_ARGUMENT"), JSON.stringify(options)).toBe(true);
    }
  });
});
