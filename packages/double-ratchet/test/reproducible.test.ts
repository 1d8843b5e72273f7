// Reproducible runs through the public API (issue: conformance kit): with the X3DH ephemeral key and
// the ratchet keys fixed by options, two runs give byte-identical messages whatever the randomness
// source; without them, they differ. Header encryption draws a random nonce per header, so only the
// profiles without it are byte-reproducible.
import { bytesToHex, createCrypto, type Crypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { describe, expect, it } from "vitest";
import { acceptSession, createInitiatorSession, decrypt, encrypt, legacyOmemo, omemo2, signal } from "../src/index.js";
import type { RatchetProfile } from "../src/index.js";
import { expectCode, makeParty } from "./helpers.js";

const te = new TextEncoder();

function conversation(profile: RatchetProfile, fixed: boolean, randomness: string): string[] {
  // The parties' long-term keys and prekeys: the same in every run.
  const keys = createCrypto({ random: deterministicRandom(`parties-${profile.name}`) });
  const alice = makeParty(profile, keys);
  const bob = makeParty(profile, keys);
  const [ephemeral, aliceFirst, bobNext, aliceNext] = [0, 1, 2, 3].map(() => keys.generateX25519KeyPair());
  // Everything else: a source that differs between runs.
  const crypto: Crypto = createCrypto({ random: deterministicRandom(randomness) });
  let a = createInitiatorSession(profile, alice.identity, bob.bundle, {
    crypto,
    oneTimePreKeyId: bob.bundle.oneTimePreKeys[0]!.id,
    ...(fixed ? { ephemeralKeyPair: ephemeral!, ratchetKeyPair: aliceFirst! } : {}),
  });
  const m1 = encrypt(a, te.encode("one"), { crypto });
  a = m1.session;
  const accepted = acceptSession(profile, bob.identity, bob.store, m1.message, {
    crypto,
    ...(fixed ? { nextRatchetKeyPair: bobNext! } : {}),
  });
  const m2 = encrypt(accepted.session, te.encode("two"), { crypto });
  const read = decrypt(a, m2.message, { crypto, ...(fixed ? { nextRatchetKeyPair: aliceNext! } : {}) });
  const m3 = encrypt(read.session, te.encode("three"), { crypto });
  return [m1.message, m2.message, m3.message].map(bytesToHex);
}

describe("reproducible runs: ephemeralKeyPair, ratchetKeyPair, nextRatchetKeyPair", () => {
  for (const profile of [legacyOmemo, omemo2, signal]) {
    it(`${profile.name}: fixed keys give byte-identical messages under different randomness; fresh keys do not`, () => {
      const [x, y] = [conversation(profile, true, "run 1"), conversation(profile, true, "run 2")];
      expect(x).toEqual(y);
      const [p, q] = [conversation(profile, false, "run 1"), conversation(profile, false, "run 2")];
      for (let i = 0; i < 3; i++) expect(p[i]).not.toBe(q[i]);
    });
  }

  it("a pair whose public key is not its private key's, or not an X25519 pair, is INVALID_ARGUMENT before anything changes", () => {
    const crypto = createCrypto({ random: deterministicRandom("bad pairs") });
    const alice = makeParty(legacyOmemo, crypto);
    const bob = makeParty(legacyOmemo, crypto);
    const good = crypto.generateX25519KeyPair();
    const KeyPairClass = good.constructor as new (kind: string, priv: Uint8Array, pub: Uint8Array) => typeof good;
    const bad = [
      new KeyPairClass("x25519", good.privateKey, crypto.generateX25519KeyPair().publicKey),
      crypto.generateEd25519KeyPair(),
    ];
    for (const pair of bad) {
      expectCode(
        () => createInitiatorSession(legacyOmemo, alice.identity, bob.bundle, { crypto, ratchetKeyPair: pair }),
        "INVALID_ARGUMENT",
      );
      expectCode(
        () => createInitiatorSession(legacyOmemo, alice.identity, bob.bundle, { crypto, ephemeralKeyPair: pair }),
        "INVALID_ARGUMENT",
      );
    }
    const a = createInitiatorSession(legacyOmemo, alice.identity, bob.bundle, { crypto });
    const m = encrypt(a, te.encode("hi"), { crypto });
    expectCode(
      () => acceptSession(legacyOmemo, bob.identity, bob.store, m.message, { crypto, nextRatchetKeyPair: bad[0]! }),
      "INVALID_ARGUMENT",
    );
    // The same message is still accepted afterwards: nothing was consumed.
    const ok = acceptSession(legacyOmemo, bob.identity, bob.store, m.message, { crypto });
    expect(new TextDecoder().decode(ok.plaintext)).toBe("hi");
    const reply = encrypt(ok.session, te.encode("back"), { crypto });
    expectCode(() => decrypt(m.session, reply.message, { crypto, nextRatchetKeyPair: bad[1]! }), "INVALID_ARGUMENT");
    // The session was not spent by the refused call.
    expect(new TextDecoder().decode(decrypt(m.session, reply.message, { crypto }).plaintext)).toBe("back");
  });
});
