import { describe, expect, it } from "vitest";
import { defaultCrypto } from "@parley/crypto";
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
  decrypt,
  deserializeSession,
  encrypt,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  signal,
  type RatchetProfile,
  type Session,
} from "../src/index.js";

const te = new TextEncoder();
const td = new TextDecoder();

function pair(profile: RatchetProfile): { alice: Session; bob: Session; first: Uint8Array } {
  const bobId = generateIdentityKeyPair(profile.x3dh);
  const spk = generateSignedPreKey(profile.x3dh, bobId, 1);
  const opks = generateOneTimePreKeys(1, 2);
  const alice0 = createInitiatorSession(
    profile,
    generateIdentityKeyPair(profile.x3dh),
    createBundle(profile.x3dh, bobId, spk, opks),
  );
  const first = encrypt(alice0, te.encode("hello"));
  const accepted = acceptSession(profile, bobId, new InMemoryPreKeyStore([spk], opks), first.message);
  expect(td.decode(accepted.plaintext)).toBe("hello");
  return { alice: first.session, bob: accepted.session, first: first.message };
}

describe("@parley/double-ratchet in a browser (Chromium)", () => {
  it("runs on the noble provider", () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe("object");
    expect(defaultCrypto().provider).toBe("noble");
  });

  it.each([
    ["legacy OMEMO", legacyOmemo],
    ["OMEMO 2", omemo2],
    ["Signal", signal],
  ] as const)(
    "%s: a conversation both ways with DH ratchet steps, out-of-order delivery, a restart, and a refused replay",
    (_name, profile) => {
      let { alice, bob } = pair(profile);
      for (let round = 0; round < 3; round++) {
        const a1 = encrypt(alice, te.encode(`a${round}.1`));
        const a2 = encrypt(a1.session, te.encode(`a${round}.2`));
        alice = a2.session;
        // Out of order: the second first.
        let d = decrypt(bob, a2.message);
        expect(td.decode(d.plaintext)).toBe(`a${round}.2`);
        d = decrypt(d.session, a1.message);
        expect(td.decode(d.plaintext)).toBe(`a${round}.1`);
        bob = deserializeSession(serializeSession(d.session), { profile });
        const b = encrypt(bob, te.encode(`b${round}`));
        bob = b.session;
        const back = decrypt(alice, b.message);
        expect(td.decode(back.plaintext)).toBe(`b${round}`);
        alice = back.session;
        // The same message again: refused, nothing spent.
        let error: unknown;
        try {
          decrypt(alice, b.message);
        } catch (e) {
          error = e;
        }
        expect(isDoubleRatchetError(error)).toBe(true);
      }
    },
  );
});
