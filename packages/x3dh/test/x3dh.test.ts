import { createCrypto, type KeyPair } from "@parley/crypto";
import { INSPECT_CUSTOM } from "@parley/crypto/internal";
import { deterministicRandom } from "@parley/crypto/testing";
import fc from "fast-check";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  createBundle,
  decodePublicKey,
  encodePublicKey,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
  initiate,
  isX3dhError,
  legacyOmemoX3dh,
  omemo2X3dh,
  respond,
  signalX3dh,
  verifySignedPreKey,
  X3dhError,
  type Bundle,
  type X3dhProfile,
} from "../src/index.js";

const PROFILES: X3dhProfile[] = [legacyOmemoX3dh, omemo2X3dh, signalX3dh];

function setup(profile: X3dhProfile, seed = "x3dh") {
  const crypto = createCrypto({ random: deterministicRandom(`${seed}-${profile.name}`) });
  const alice = generateIdentityKeyPair(profile, crypto);
  const bob = generateIdentityKeyPair(profile, crypto);
  const spk = generateSignedPreKey(profile, bob, 1, { crypto, now: 0 });
  const opks = generateOneTimePreKeys(100, 3, crypto);
  const store = new InMemoryPreKeyStore([spk], opks);
  const bundle = createBundle(profile, bob, spk, opks);
  return { crypto, alice, bob, spk, opks, store, bundle };
}

function expectCode(fn: () => unknown, code: X3dhError["code"]) {
  try {
    fn();
  } catch (e) {
    expect(isX3dhError(e, code), String(e)).toBe(true);
    return;
  }
  throw new Error(`expected X3dhError ${code}`);
}

const headerOf = (r: ReturnType<typeof initiate>) => ({
  identityKey: r.identityKey,
  ephemeralKey: r.ephemeralKey,
  signedPreKeyId: r.signedPreKeyId,
  oneTimePreKeyId: r.oneTimePreKeyId,
});

for (const profile of PROFILES) {
  describe(`X3DH §3 (${profile.name} profile)`, () => {
    it("§3.2 publishing keys: bundle keys are encoded for the profile", () => {
      const { bundle } = setup(profile);
      const len = profile.keyEncoding === "djb" ? 33 : 32;
      expect(bundle.signedPreKey.publicKey.length).toBe(len);
      expect(bundle.identityKey.length).toBe(profile.identityKeyType === "ed25519" ? 32 : 33);
      expect(bundle.oneTimePreKeys.map((k) => k.id)).toEqual([100, 101, 102]);
      if (profile.keyEncoding === "djb") expect(bundle.signedPreKey.publicKey[0]).toBe(0x05);
    });

    it("§3.3 / §3.4: initiator and responder derive the same SK and AD = IK_A || IK_B", () => {
      const { alice, bob, store, bundle, crypto } = setup(profile);
      const a = initiate(profile, alice, bundle, { crypto });
      const b = respond(profile, bob, store, headerOf(a), { crypto });
      expect(b.sharedSecret).toEqual(a.sharedSecret);
      expect(a.sharedSecret.length).toBe(32);
      expect(b.associatedData).toEqual(a.associatedData);
      expect(a.associatedData).toEqual(new Uint8Array([...a.identityKey, ...a.theirIdentityKey]));
      expect(b.signedPreKey.id).toBe(1);
    });

    it("§3.4: the one-time prekey is consumed exactly once; a replay is UNKNOWN_PRE_KEY", () => {
      const { alice, bob, store, bundle, crypto } = setup(profile);
      const a = initiate(profile, alice, bundle, { crypto, oneTimePreKeyId: 101 });
      respond(profile, bob, store, headerOf(a), { crypto });
      expect(store.getOneTimePreKey(101)).toBeUndefined();
      expect(store.oneTimePreKeyCount).toBe(2);
      expectCode(() => respond(profile, bob, store, headerOf(a), { crypto }), "UNKNOWN_PRE_KEY");
    });

    it("§3.3: a bad signed-prekey signature is refused (never skipped)", () => {
      const { alice, bundle, crypto } = setup(profile);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
          const sig = bundle.signedPreKeySignature.slice();
          sig[i]! ^= x;
          expectCode(
            () => initiate(profile, alice, { ...bundle, signedPreKeySignature: sig }, { crypto }),
            "BAD_SIGNATURE",
          );
        }),
        { numRuns: 20 },
      );
      // A valid signature by another identity key does not verify either.
      const other = setup(profile, "other");
      expectCode(
        () =>
          initiate(
            profile,
            alice,
            { ...bundle, signedPreKeySignature: other.bundle.signedPreKeySignature },
            { crypto },
          ),
        "BAD_SIGNATURE",
      );
    });

    it("unknown signed prekey id is UNKNOWN_SIGNED_PRE_KEY", () => {
      const { alice, bob, store, bundle, crypto } = setup(profile);
      const a = initiate(profile, alice, bundle, { crypto });
      expectCode(
        () => respond(profile, bob, store, { ...headerOf(a), signedPreKeyId: 9 }, { crypto }),
        "UNKNOWN_SIGNED_PRE_KEY",
      );
    });

    it("malformed keys are MALFORMED_KEY, low-order points LOW_ORDER_POINT", () => {
      const { alice, bob, store, bundle, crypto } = setup(profile);
      const a = initiate(profile, alice, bundle, { crypto });
      expectCode(
        () => respond(profile, bob, store, { ...headerOf(a), ephemeralKey: a.ephemeralKey.subarray(1) }, { crypto }),
        "MALFORMED_KEY",
      );
      if (profile.keyEncoding === "djb") {
        const wrongType = a.ephemeralKey.slice();
        wrongType[0] = 0x06;
        expectCode(
          () => respond(profile, bob, store, { ...headerOf(a), ephemeralKey: wrongType }, { crypto }),
          "MALFORMED_KEY",
        );
      }
      // u = 0 and u = 1 are low-order points (RFC 7748 §6.1 / Curve25519 small subgroup).
      for (const u of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
        expectCode(
          () => respond(profile, bob, store, { ...headerOf(a), ephemeralKey: encodePublicKey(profile, u) }, { crypto }),
          "LOW_ORDER_POINT",
        );
      }
    });

    it("decodePublicKey rejects any byte string that is not a key encoding (property)", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
          try {
            const u = decodePublicKey(profile, bytes);
            expect(u.length).toBe(32);
          } catch (e) {
            expect(isX3dhError(e, "MALFORMED_KEY")).toBe(true);
          }
        }),
      );
    });
  });
}

describe("a fixed ephemeral key (options.ephemeralKeyPair) for reproducible runs", () => {
  for (const profile of PROFILES) {
    it(`${profile.name}: the same EK_A gives the same agreement; the caller's pair is copied, checked, never wiped`, () => {
      const { crypto, alice, bundle, store, bob } = setup(profile);
      const ek = crypto.generateX25519KeyPair();
      const privateBefore = ek.privateKey.slice();
      const runs = [0, 1].map(() =>
        initiate(profile, alice, bundle, { crypto, oneTimePreKeyId: 101, ephemeralKeyPair: ek }),
      );
      expect(runs[0]!.ephemeralKey).toEqual(encodePublicKey(profile, ek.publicKey));
      expect(Buffer.from(runs[0]!.sharedSecret).equals(Buffer.from(runs[1]!.sharedSecret))).toBe(true);
      expect(ek.privateKey).toEqual(privateBefore);
      // Bob agrees, as with a generated one.
      const r = respond(
        profile,
        bob,
        store,
        {
          identityKey: runs[0]!.identityKey,
          ephemeralKey: runs[0]!.ephemeralKey,
          signedPreKeyId: 1,
          oneTimePreKeyId: 101,
        },
        { crypto },
      );
      expect(Buffer.from(r.sharedSecret).equals(Buffer.from(runs[0]!.sharedSecret))).toBe(true);
      // Not an X25519 pair, or a public key that is not the private key's: refused.
      const other = crypto.generateX25519KeyPair();
      const mismatched = Object.assign(Object.create(Object.getPrototypeOf(ek) as object) as KeyPair, ek);
      for (const bad of [
        crypto.generateEd25519KeyPair(),
        new (ek.constructor as new (...a: unknown[]) => KeyPair)("x25519", ek.privateKey, other.publicKey),
        mismatched,
        { privateKey: ek.privateKey, publicKey: ek.publicKey },
      ]) {
        expectCode(
          () => initiate(profile, alice, bundle, { crypto, ephemeralKeyPair: bad as KeyPair }),
          "INVALID_ARGUMENT",
        );
      }
    });
  }
});

describe("generateSignedPreKey with a given key pair (options.keyPair)", () => {
  for (const profile of PROFILES) {
    it(`${profile.name}: signs that key, which then agrees as a generated one does; a mismatched pair is refused`, () => {
      const { crypto, alice, bob, opks } = setup(profile, "given spk");
      const given = crypto.generateX25519KeyPair();
      const spk = generateSignedPreKey(profile, bob, 7, { crypto, now: 0, keyPair: given });
      expect(spk.keyPair.publicKey).toEqual(given.publicKey);
      expect(spk.keyPair).not.toBe(given);
      const bundle = createBundle(profile, bob, spk, opks);
      verifySignedPreKey(
        profile,
        bundle.identityKey,
        bundle.signedPreKey.publicKey,
        bundle.signedPreKeySignature,
        crypto,
      );
      const a = initiate(profile, alice, bundle, { crypto, oneTimePreKeyId: 100 });
      const b = respond(
        profile,
        bob,
        new InMemoryPreKeyStore([spk], opks),
        { identityKey: a.identityKey, ephemeralKey: a.ephemeralKey, signedPreKeyId: 7, oneTimePreKeyId: 100 },
        { crypto },
      );
      expect(Buffer.from(b.sharedSecret).equals(Buffer.from(a.sharedSecret))).toBe(true);
      const other = crypto.generateX25519KeyPair();
      const KeyPairClass = given.constructor as new (kind: string, priv: Uint8Array, pub: Uint8Array) => KeyPair;
      expectCode(
        () =>
          generateSignedPreKey(profile, bob, 8, {
            crypto,
            keyPair: new KeyPairClass("x25519", given.privateKey, other.publicKey),
          }),
        "INVALID_ARGUMENT",
      );
    });
  }
});

describe("X3DH profile rules", () => {
  it("OMEMO 2 (XEP-0384 v0.8.3 §4.2): key exchanges without a one-time prekey are rejected on both sides", () => {
    const { alice, bob, store, bundle, crypto } = setup(omemo2X3dh);
    expectCode(
      () => initiate(omemo2X3dh, alice, { ...bundle, oneTimePreKeys: [] }, { crypto }),
      "MISSING_ONE_TIME_PRE_KEY",
    );
    const a = initiate(omemo2X3dh, alice, bundle, { crypto });
    expectCode(
      () => respond(omemo2X3dh, bob, store, { ...headerOf(a), oneTimePreKeyId: undefined }, { crypto }),
      "MISSING_ONE_TIME_PRE_KEY",
    );
  });

  it("legacy OMEMO (libsignal): a one-time prekey is optional (three DH outputs)", () => {
    const { alice, bob, store, bundle, crypto } = setup(legacyOmemoX3dh);
    const a = initiate(legacyOmemoX3dh, alice, { ...bundle, oneTimePreKeys: [] }, { crypto });
    expect(a.oneTimePreKeyId).toBeUndefined();
    expect(respond(legacyOmemoX3dh, bob, store, headerOf(a), { crypto }).sharedSecret).toEqual(a.sharedSecret);
  });

  it("legacy signatures are libsignal's variant: verified with the sign bit from byte 63 (docs/libsignal-wire-format.md §1.1)", () => {
    const { bob, spk, crypto } = setup(legacyOmemoX3dh);
    const encoded = encodePublicKey(legacyOmemoX3dh, spk.keyPair.publicKey);
    verifySignedPreKey(
      legacyOmemoX3dh,
      encodePublicKey(legacyOmemoX3dh, bob.publicKey),
      encoded,
      spk.signature,
      crypto,
    );
    expect(crypto.libsignalVerify(bob.publicKey, encoded, spk.signature)).toBe(true);
  });

  it("OMEMO 2 signatures are plain Ed25519 over the 32-byte key", () => {
    const { bob, spk, crypto } = setup(omemo2X3dh);
    expect(crypto.ed25519Verify(spk.signature, spk.keyPair.publicKey, bob.publicKey)).toBe(true);
  });

  it("the wrong identity key type for a profile is INVALID_ARGUMENT", () => {
    const crypto = createCrypto();
    const x: KeyPair = generateIdentityKeyPair(legacyOmemoX3dh, crypto);
    expectCode(() => generateSignedPreKey(omemo2X3dh, x, 1, { crypto }), "INVALID_ARGUMENT");
    expectCode(() => generateOneTimePreKeys(-1, 1, crypto), "INVALID_ARGUMENT");
    expectCode(() => generateOneTimePreKeys(0x7fffffff, 2, crypto), "INVALID_ARGUMENT");
  });

  it("a bundle that is not an object is INVALID_ARGUMENT, not a crash", () => {
    const crypto = createCrypto();
    const alice = generateIdentityKeyPair(signalX3dh, crypto);
    expectCode(() => initiate(signalX3dh, alice, null as unknown as Bundle, { crypto }), "INVALID_ARGUMENT");
  });

  it("secrets never print: initiator and responder results show SK as [redacted]", () => {
    for (const profile of PROFILES) {
      const { alice, bob, store, bundle, crypto } = setup(profile, "print");
      const a = initiate(profile, alice, bundle, { crypto });
      const b = respond(profile, bob, store, headerOf(a), { crypto });
      const sk = Buffer.from(a.sharedSecret).toString("hex");
      for (const r of [a, b]) {
        const shown = [inspect(r), JSON.stringify(r), inspect({ nested: r }, { depth: 5 })].join("\n");
        expect(shown).toContain("[redacted]");
        expect(shown).not.toContain(sk);
        expect((r as { toString(): string }).toString()).toMatch(/sharedSecret \[redacted\]/);
        expect(shown.toLowerCase()).not.toContain(
          Array.from(a.sharedSecret.subarray(0, 8), (x) => x.toString()).join(", "),
        );
      }
      expect({ ...a }.sharedSecret).toEqual(a.sharedSecret); // still a plain object for callers
    }
  });

  it("secrets never print: the prekey store and key pairs are redacted", () => {
    const { store, spk } = setup(signalX3dh);
    const hex = Buffer.from(spk.keyPair.privateKey).toString("hex");
    for (const s of [inspect(store), String(store), JSON.stringify(store), inspect(spk), JSON.stringify(spk)]) {
      expect(s).not.toContain(hex);
    }
    expect(typeof (store as unknown as Record<symbol, unknown>)[INSPECT_CUSTOM]).toBe("function");
  });
});

describe("X3DH §3.3 signed-prekey check is @parley/crypto's verifier for the profile's scheme", () => {
  it("a libsignal-variant signature with the sign bit set verifies under legacy, not under the XEdDSA (signal) profile", () => {
    const crypto = createCrypto({ random: deterministicRandom("scheme-dispatch") });
    const msg = new Uint8Array(33).fill(7);
    // The bit is the sign of the Edwards key k·B: find an identity key where it is 1 (every other one).
    let id = generateIdentityKeyPair(legacyOmemoX3dh, crypto);
    let sig = crypto.libsignalSign(id.privateKey, msg);
    for (let i = 0; i < 64 && (sig[63]! & 0x80) === 0; i++) {
      id = generateIdentityKeyPair(legacyOmemoX3dh, crypto);
      sig = crypto.libsignalSign(id.privateKey, msg);
    }
    expect(sig[63]! & 0x80).toBe(0x80);
    verifySignedPreKey(legacyOmemoX3dh, encodePublicKey(legacyOmemoX3dh, id.publicKey), msg, sig, crypto);
    expect(() => {
      verifySignedPreKey(signalX3dh, encodePublicKey(signalX3dh, id.publicKey), msg, sig, crypto);
    }).toThrow(expect.objectContaining({ code: "BAD_SIGNATURE" }));
  });

  it("libsignal variant and XEdDSA: same verdict as crypto.libsignalVerify / xeddsaVerify on valid and mutated signatures, refusals as BAD_SIGNATURE", () => {
    const crypto = createCrypto({ random: deterministicRandom("fastpath") });
    for (const profile of [legacyOmemoX3dh, signalX3dh]) {
      const id = generateIdentityKeyPair(profile, crypto);
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 33, maxLength: 33 }),
          fc.nat(63),
          fc.integer({ min: 0, max: 255 }),
          (msg, at, x) => {
            const sign =
              profile === legacyOmemoX3dh ? crypto.libsignalSign.bind(crypto) : crypto.xeddsaSign.bind(crypto);
            const sig = sign(id.privateKey, msg).slice();
            sig[at]! ^= x;
            const reference =
              profile === legacyOmemoX3dh
                ? crypto.libsignalVerify(id.publicKey, msg, sig)
                : crypto.xeddsaVerify(id.publicKey, msg, sig);
            let ours = true;
            try {
              verifySignedPreKey(profile, encodePublicKey(profile, id.publicKey), msg, sig, crypto);
            } catch (e) {
              expect(isX3dhError(e, "BAD_SIGNATURE")).toBe(true);
              ours = false;
            }
            expect(ours).toBe(reference);
          },
        ),
        { numRuns: 60 },
      );
    }
  });
});
