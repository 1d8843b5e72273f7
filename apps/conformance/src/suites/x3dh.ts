/**
 * X3DH: both directions agree on SK and AD with Parley, forged bundles are refused, prekeys are used
 * once, and the known answers of `vectors/x3dh-v1.json` come out exactly.
 */
import type { OpName, ProfileName } from "../protocol.js";
import type { Implementation } from "../reference.js";
import type { CaseContext, Suite, TestCase } from "../suite.js";
import type { X3dhVectorFile } from "../vectors.js";
import { check, expectError, same } from "./assert.js";
import { flipBit, loadVectors } from "./util.js";

const PROFILES: readonly ProfileName[] = ["legacyOmemo", "omemo2", "signal"];

/** A responder's identity and bundle with three generated one-time prekeys (ids 1 to 3), made by `impl`. */
async function publish(impl: Implementation, profile: ProfileName, oneTimePreKeys = 3) {
  const identity = await impl.call("x3dh.generateIdentity", { profile });
  const made = await impl.call("x3dh.bundle", {
    profile,
    identityPrivateKey: identity.privateKey,
    signedPreKeyId: 7,
    oneTimePreKeys: Array.from({ length: oneTimePreKeys }, (_, i) => ({ id: i + 1 })),
  });
  return { identity, ...made };
}

/** `initiator` starts from `responder`'s bundle; both must derive the same SK and AD. */
async function agree(initiator: Implementation, responder: Implementation, profile: ProfileName, withOpk: boolean) {
  const bob = await publish(responder, profile, withOpk ? 3 : 0);
  const alice = await initiator.call("x3dh.generateIdentity", { profile });
  const a = await initiator.call("x3dh.initiate", {
    profile,
    identityPrivateKey: alice.privateKey,
    bundle: bob.bundle,
    ...(withOpk ? { oneTimePreKeyId: 2 } : {}),
  });
  same(
    "initiator's key exchange",
    { identityKey: alice.identityKey, signedPreKeyId: 7, oneTimePreKeyId: withOpk ? 2 : null },
    a.keyExchange,
  );
  check("SK length", a.sharedSecret.length === 64, "32 bytes", `${a.sharedSecret.length / 2} bytes`);
  const b = await responder.call("x3dh.respond", { party: bob.party, keyExchange: a.keyExchange });
  same(
    "responder's SK and AD (initiator's as expected)",
    { sharedSecret: a.sharedSecret, associatedData: a.associatedData },
    b,
  );
  same("AD = IK_A || IK_B", alice.identityKey + bob.bundle.identityKey, a.associatedData);
  return { bob, alice, a };
}

export const x3dhSuite: Suite = {
  name: "x3dh",
  description: "X3DH key agreement: both directions against Parley, forged bundles, prekey use, known answers.",
  cases() {
    const cases: TestCase[] = [];
    const add = (profile: ProfileName, name: string, ops: OpName[], run: (ctx: CaseContext) => Promise<void>) => {
      cases.push({ suite: "x3dh", name: `${profile}: ${name}`, profile, ops, run });
    };
    for (const profile of PROFILES) {
      add(
        profile,
        "identity keys are encoded for the profile and derive from their private keys",
        ["x3dh.generateIdentity", "x3dh.bundle"],
        async ({ iut, ref }) => {
          const id = await iut.call("x3dh.generateIdentity", { profile });
          const expectedLength = profile === "omemo2" ? 32 : 33;
          check(
            "identity key length",
            id.identityKey.length === 2 * expectedLength,
            `${expectedLength} bytes`,
            `${id.identityKey.length / 2} bytes`,
          );
          if (profile !== "omemo2")
            check("identity key type byte", id.identityKey.startsWith("05"), "0x05", `0x${id.identityKey.slice(0, 2)}`);
          // Parley derives the same public key from the private key the implementation returned.
          const ours = await ref.call("x3dh.bundle", {
            profile,
            identityPrivateKey: id.privateKey,
            signedPreKeyId: 1,
            oneTimePreKeys: [],
          });
          same("identity key Parley derives from the private key", id.identityKey, ours.bundle.identityKey);
        },
      );
      add(
        profile,
        "IUT publishes, Parley initiates, IUT responds: same SK and AD",
        ["x3dh.generateIdentity", "x3dh.bundle", "x3dh.respond"],
        async ({ iut, ref }) => {
          await agree(ref, iut, profile, true);
        },
      );
      add(
        profile,
        "Parley publishes, IUT initiates, Parley responds: same SK and AD",
        ["x3dh.generateIdentity", "x3dh.initiate"],
        async ({ iut, ref }) => {
          await agree(iut, ref, profile, true);
        },
      );
      if (profile === "omemo2") {
        add(
          profile,
          "a bundle without one-time prekeys is MISSING_ONE_TIME_PRE_KEY",
          ["x3dh.generateIdentity", "x3dh.initiate"],
          async ({ iut, ref }) => {
            const bob = await publish(ref, profile, 0);
            const alice = await iut.call("x3dh.generateIdentity", { profile });
            await expectError(
              "initiate from a bundle without one-time prekeys",
              "MISSING_ONE_TIME_PRE_KEY",
              iut.call("x3dh.initiate", { profile, identityPrivateKey: alice.privateKey, bundle: bob.bundle }),
            );
          },
        );
      } else {
        add(
          profile,
          "without a one-time prekey (3-DH), both directions agree",
          ["x3dh.generateIdentity", "x3dh.bundle", "x3dh.initiate", "x3dh.respond"],
          async ({ iut, ref }) => {
            await agree(iut, ref, profile, false);
            await agree(ref, iut, profile, false);
          },
        );
      }
      add(
        profile,
        "a forged signed-prekey signature is BAD_SIGNATURE",
        ["x3dh.generateIdentity", "x3dh.initiate"],
        async ({ iut, ref }) => {
          const bob = await publish(ref, profile);
          const alice = await iut.call("x3dh.generateIdentity", { profile });
          const forged = [
            [
              "a flipped bit in the signature",
              { ...bob.bundle, signedPreKeySignature: flipBit(bob.bundle.signedPreKeySignature, 5) },
            ],
            [
              "a flipped bit in the signed prekey",
              { ...bob.bundle, signedPreKey: flipBit(bob.bundle.signedPreKey, 10) },
            ],
            [
              "another identity key",
              { ...bob.bundle, identityKey: (await ref.call("x3dh.generateIdentity", { profile })).identityKey },
            ],
          ] as const;
          for (const [what, bundle] of forged) {
            await expectError(
              `initiate from a bundle with ${what}`,
              "BAD_SIGNATURE",
              iut.call("x3dh.initiate", { profile, identityPrivateKey: alice.privateKey, bundle }),
            );
          }
        },
      );
      add(
        profile,
        "a one-time prekey is used once (a second use is UNKNOWN_PRE_KEY)",
        ["x3dh.generateIdentity", "x3dh.bundle", "x3dh.respond"],
        async ({ iut, ref }) => {
          const { bob, a } = await agree(ref, iut, profile, true);
          await expectError(
            "respond to the same key exchange again",
            "UNKNOWN_PRE_KEY",
            iut.call("x3dh.respond", { party: bob.party, keyExchange: a.keyExchange }),
          );
        },
      );
      add(
        profile,
        "an unknown signed prekey is UNKNOWN_SIGNED_PRE_KEY",
        ["x3dh.generateIdentity", "x3dh.bundle", "x3dh.respond"],
        async ({ iut, ref }) => {
          const bob = await publish(iut, profile);
          const alice = await ref.call("x3dh.generateIdentity", { profile });
          const a = await ref.call("x3dh.initiate", {
            profile,
            identityPrivateKey: alice.privateKey,
            bundle: bob.bundle,
            oneTimePreKeyId: 1,
          });
          await expectError(
            "respond to a key exchange naming signed prekey 8",
            "UNKNOWN_SIGNED_PRE_KEY",
            iut.call("x3dh.respond", { party: bob.party, keyExchange: { ...a.keyExchange, signedPreKeyId: 8 } }),
          );
        },
      );
    }

    const file = loadVectors("x3dh-v1.json") as X3dhVectorFile;
    for (const v of file.vectors) {
      const name = `vector ${v.name}`;
      add(
        v.profile,
        `${name}: as initiator, fixed keys give the known SK and AD`,
        ["x3dh.initiate"],
        async ({ iut }) => {
          const a = await iut.call("x3dh.initiate", {
            profile: v.profile,
            identityPrivateKey: v.alice.identityPrivateKey,
            bundle: v.bundle,
            ephemeralKeyPair: v.alice.ephemeralKeyPair,
            ...(v.oneTimePreKeyId !== null ? { oneTimePreKeyId: v.oneTimePreKeyId } : {}),
          });
          same(
            "initiator's result",
            { keyExchange: v.keyExchange, sharedSecret: v.sharedSecret, associatedData: v.associatedData },
            a,
          );
        },
      );
      add(
        v.profile,
        `${name}: as responder, fixed keys give the known bundle, SK and AD`,
        ["x3dh.bundle", "x3dh.respond"],
        async ({ iut, ref }) => {
          const made = await iut.call("x3dh.bundle", {
            profile: v.profile,
            identityPrivateKey: v.bob.identityPrivateKey,
            signedPreKeyId: v.bob.signedPreKeyId,
            signedPreKeyPrivateKey: v.bob.signedPreKeyPrivateKey,
            oneTimePreKeys: v.bob.oneTimePreKeys,
          });
          // Signatures may be randomized (XEdDSA): compare the keys, and let Parley verify the signature.
          const keys: Partial<typeof v.bundle> = { ...v.bundle };
          delete keys.signedPreKeySignature;
          same("bundle from the fixed keys", keys, made.bundle);
          const alice = await ref.call("x3dh.generateIdentity", { profile: v.profile });
          await ref.call("x3dh.initiate", {
            profile: v.profile,
            identityPrivateKey: alice.privateKey,
            bundle: made.bundle,
          });
          const b = await iut.call("x3dh.respond", { party: made.party, keyExchange: v.keyExchange });
          same("responder's result", { sharedSecret: v.sharedSecret, associatedData: v.associatedData }, b);
        },
      );
    }
    return cases;
  },
};
