/**
 * X3DH between Alice and Bob with the OMEMO 2 profile: Bob publishes a bundle, Alice computes the
 * shared secret from it, Bob computes the same from Alice's initial message.
 * Run: pnpm exec tsx examples/key-agreement.ts   (test/examples.test.ts runs it too)
 * In your code import from "@parley/x3dh" instead of ../src.
 */
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
  initiate,
  omemo2X3dh,
  respond,
} from "../src/index.js";

export function keyAgreementExample(profile = omemo2X3dh): { same: boolean; preKeysLeft: number } {
  const bob = generateIdentityKeyPair(profile);
  const signedPreKey = generateSignedPreKey(profile, bob, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, 100);
  const store = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);
  const bundle = createBundle(profile, bob, signedPreKey, oneTimePreKeys);

  const alice = generateIdentityKeyPair(profile);
  const a = initiate(profile, alice, bundle); // verifies the signed prekey's signature first
  // Alice sends identityKey, ephemeralKey and the prekey ids with her first message.
  const b = respond(profile, bob, store, {
    identityKey: a.identityKey,
    ephemeralKey: a.ephemeralKey,
    signedPreKeyId: a.signedPreKeyId,
    oneTimePreKeyId: a.oneTimePreKeyId,
  });
  const same = a.sharedSecret.every((x, i) => x === b.sharedSecret[i]);
  return { same, preKeysLeft: store.oneTimePreKeyCount };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(keyAgreementExample());
}
