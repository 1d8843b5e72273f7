// Shared setup for the tests (not a test file itself).
import { createCrypto, type Crypto, type KeyPair } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import {
  acceptSession,
  createInitiatorSession,
  encrypt,
  legacyOmemo,
  omemo2,
  signal,
  signalHeaderEncrypted,
} from "../src/index.js";
import type { RatchetProfile } from "../src/index.js";

export const ALL_PROFILES: readonly RatchetProfile[] = [legacyOmemo, omemo2, signal, signalHeaderEncrypted];
export const profileLabel = (p: RatchetProfile) => (p.headerEncryption ? `${p.name}+header-encryption` : p.name);

export interface Party {
  readonly identity: KeyPair;
  readonly store: InMemoryPreKeyStore;
  readonly bundle: ReturnType<typeof createBundle>;
}

export function makeParty(profile: RatchetProfile, crypto: Crypto, preKeys = 5, firstId = 1): Party {
  const identity = generateIdentityKeyPair(profile.x3dh, crypto);
  const spk = generateSignedPreKey(profile.x3dh, identity, 1, { crypto, now: 0 });
  const opks = generateOneTimePreKeys(firstId, preKeys, crypto);
  return {
    identity,
    store: new InMemoryPreKeyStore([spk], opks),
    bundle: createBundle(profile.x3dh, identity, spk, opks),
  };
}

/** Alice starts, Bob accepts her first message: both sessions ready (Alice still wraps until Bob replies). */
export function establish(
  profile: RatchetProfile,
  seed = "dr",
  crypto: Crypto = createCrypto({ random: deterministicRandom(seed) }),
) {
  const alice = makeParty(profile, crypto);
  const bob = makeParty(profile, crypto);
  let a = createInitiatorSession(profile, alice.identity, bob.bundle, { crypto });
  const first = encrypt(a, new TextEncoder().encode("first"), { crypto });
  a = first.session;
  const accepted = acceptSession(profile, bob.identity, bob.store, first.message, { crypto });
  return { crypto, alice, bob, a, b: accepted.session, first };
}
