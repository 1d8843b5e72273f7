import { describe, expect, it } from "vitest";
import { defaultCrypto } from "@parley/crypto";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  initiate,
  InMemoryPreKeyStore,
  isX3dhError,
  respond,
  legacyOmemoX3dh,
  omemo2X3dh,
  signalX3dh,
} from "../src/index.js";

describe("@parley/x3dh in a browser (Chromium)", () => {
  it("runs on the noble provider", () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe("object");
    expect(defaultCrypto().provider).toBe("noble");
  });

  it.each([
    ["legacy OMEMO", legacyOmemoX3dh],
    ["OMEMO 2", omemo2X3dh],
    ["Signal", signalX3dh],
  ] as const)("%s: both sides agree on SK and AD; a tampered signed prekey is refused", (_name, profile) => {
    const bob = generateIdentityKeyPair(profile);
    const spk = generateSignedPreKey(profile, bob, 7);
    const opks = generateOneTimePreKeys(1, 3);
    const bundle = createBundle(profile, bob, spk, opks);
    const alice = generateIdentityKeyPair(profile);
    const sent = initiate(profile, alice, bundle);
    const got = respond(profile, bob, new InMemoryPreKeyStore([spk], opks), {
      identityKey: sent.identityKey,
      ephemeralKey: sent.ephemeralKey,
      signedPreKeyId: sent.signedPreKeyId,
      oneTimePreKeyId: sent.oneTimePreKeyId,
    });
    expect(got.sharedSecret).toEqual(sent.sharedSecret);
    expect(got.associatedData).toEqual(sent.associatedData);
    const signature = bundle.signedPreKeySignature.slice();
    signature[0]! ^= 1;
    const forged = { ...bundle, signedPreKeySignature: signature };
    let error: unknown;
    try {
      initiate(profile, alice, forged);
    } catch (e) {
      error = e;
    }
    expect(isX3dhError(error)).toBe(true);
  });
});
