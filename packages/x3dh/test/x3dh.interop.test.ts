// X3DH interop, both directions, against python-x3dh as configured by python-oldmemo (legacy OMEMO,
// libsignal v3) and python-twomemo (OMEMO 2): their bundle -> our initiate -> they respond, and our
// bundle -> their initiate -> we respond; both sides must derive the same SK and AD. Signatures are
// checked both ways, including legacy identity keys whose Ed25519 sign bit is 1 (carried in sig[63]).
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, hexToBytes } from "@parley/crypto";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  initiate,
  InMemoryPreKeyStore,
  isX3dhError,
  legacyOmemoX3dh,
  omemo2X3dh,
  respond,
  type Bundle,
  type X3dhProfile,
} from "../src/index.js";
import { DEBIAN_PYTHON, ensureApt, PeerProcess } from "../interop/peer-process.js";

const PEER = fileURLToPath(new URL("../interop/x3dh_peer.py", import.meta.url));

interface WireBundle {
  identityKey: string;
  signedPreKeyId: number;
  signedPreKey: string;
  signedPreKeySignature: string;
  preKeys: { id: number; key: string }[];
}
interface WireHeader {
  identityKey: string;
  ephemeralKey: string;
  signedPreKeyId: number;
  preKeyId: number;
}

const toBundle = (w: WireBundle): Bundle => ({
  identityKey: hexToBytes(w.identityKey),
  signedPreKey: { id: w.signedPreKeyId, publicKey: hexToBytes(w.signedPreKey) },
  signedPreKeySignature: hexToBytes(w.signedPreKeySignature),
  oneTimePreKeys: w.preKeys.map((p) => ({ id: p.id, publicKey: hexToBytes(p.key) })),
});
const toWire = (b: Bundle): WireBundle => ({
  identityKey: bytesToHex(b.identityKey),
  signedPreKeyId: b.signedPreKey.id,
  signedPreKey: bytesToHex(b.signedPreKey.publicKey),
  signedPreKeySignature: bytesToHex(b.signedPreKeySignature),
  preKeys: b.oneTimePreKeys.map((p) => ({ id: p.id, key: bytesToHex(p.publicKey) })),
});
const flip = (hex: string, byte: number): string => {
  const b = hexToBytes(hex);
  b[byte]! ^= 0x01;
  return bytesToHex(b);
};

beforeAll(() => {
  ensureApt("python3-x3dh", "python3-oldmemo", "python3-twomemo", "python3-xmlschema");
});

const cases: Array<[string, X3dhProfile, string]> = [
  ["legacy OMEMO (python-oldmemo)", legacyOmemoX3dh, "legacy"],
  ["OMEMO 2 (python-twomemo)", omemo2X3dh, "omemo2"],
];

describe.each(cases)("X3DH interop with python-x3dh, %s", (_label, profile, peerProfile) => {
  let peer: PeerProcess;
  beforeAll(() => {
    peer = new PeerProcess(DEBIAN_PYTHON, [PEER, peerProfile, "4242"]);
  });
  afterAll(() => {
    peer.close();
  });

  describe.each(["noble", "native"] as const)("%s provider", (provider) => {
    const crypto = createCrypto({ provider });

    it("X3DH §3.3 their bundle -> our initiate (signature verified) -> they respond: same SK and AD", async () => {
      const signBits = new Set<number>();
      for (let round = 0; round < 8; round++) {
        const created = await peer.call("create", { preKeys: 3 });
        const wire = created.bundle as WireBundle;
        signBits.add(hexToBytes(wire.signedPreKeySignature)[63]! >> 7);
        const ours = generateIdentityKeyPair(profile, crypto);
        const result = initiate(profile, ours, toBundle(wire), { crypto });
        expect(result.oneTimePreKeyId).toBeDefined();
        const header: WireHeader = {
          identityKey: bytesToHex(result.identityKey),
          ephemeralKey: bytesToHex(result.ephemeralKey),
          signedPreKeyId: result.signedPreKeyId,
          preKeyId: result.oneTimePreKeyId!,
        };
        const theirs = await peer.call("passive", { header });
        expect(theirs.sharedSecret).toBe(bytesToHex(result.sharedSecret));
        expect(theirs.associatedData).toBe(bytesToHex(result.associatedData));
        // Their identity key in our AD is exactly the one from their bundle.
        expect(bytesToHex(result.theirIdentityKey)).toBe(wire.identityKey);
      }
      // Legacy: python-omemo's Ed25519 identity keys have either sign bit; oldmemo stores it in sig[63].
      if (profile === legacyOmemoX3dh) expect([...signBits].sort()).toEqual([0, 1]);
    });

    it("X3DH §3.4 our bundle -> their initiate (they verify our signature) -> we respond: same SK and AD, prekey used once", async () => {
      await peer.call("create", { preKeys: 1 });
      for (let round = 0; round < 4; round++) {
        const ik = generateIdentityKeyPair(profile, crypto);
        const spk = generateSignedPreKey(profile, ik, 7 + round, { crypto });
        const opks = generateOneTimePreKeys(100 * (round + 1), 4, crypto);
        const store = new InMemoryPreKeyStore([spk], opks);
        const theirs = await peer.call("active", { bundle: toWire(createBundle(profile, ik, spk, opks)) });
        const h = theirs.header as WireHeader;
        expect(h.signedPreKeyId).toBe(spk.id);
        const header = {
          identityKey: hexToBytes(h.identityKey),
          ephemeralKey: hexToBytes(h.ephemeralKey),
          signedPreKeyId: h.signedPreKeyId,
          oneTimePreKeyId: h.preKeyId,
        };
        const result = respond(profile, ik, store, header, { crypto });
        expect(bytesToHex(result.sharedSecret)).toBe(theirs.sharedSecret);
        expect(bytesToHex(result.associatedData)).toBe(theirs.associatedData);
        expect(store.oneTimePreKeyCount).toBe(3);
        expect(() => respond(profile, ik, store, header, { crypto })).toThrow(
          expect.objectContaining({ code: "UNKNOWN_PRE_KEY" }) as Error,
        );
      }
    });

    it("X3DH §3.2 a tampered signature from them is rejected here (BAD_SIGNATURE)", async () => {
      const created = await peer.call("create", { preKeys: 2 });
      const wire = created.bundle as WireBundle;
      const ours = generateIdentityKeyPair(profile, crypto);
      for (const byte of [0, 31, 32, 62]) {
        const bad = { ...wire, signedPreKeySignature: flip(wire.signedPreKeySignature, byte) };
        let caught: unknown;
        try {
          initiate(profile, ours, toBundle(bad), { crypto });
        } catch (e) {
          caught = e;
        }
        expect(isX3dhError(caught, "BAD_SIGNATURE")).toBe(true);
      }
      // A signed prekey swapped for another key of theirs fails as well.
      const swapped = { ...wire, signedPreKey: wire.preKeys[0]!.key };
      expect(() => initiate(profile, ours, toBundle(swapped), { crypto })).toThrow(
        expect.objectContaining({ code: "BAD_SIGNATURE" }) as Error,
      );
    });

    it("X3DH §3.2 a tampered signature from us is rejected there", async () => {
      await peer.call("create", { preKeys: 1 });
      const ik = generateIdentityKeyPair(profile, crypto);
      const spk = generateSignedPreKey(profile, ik, 1, { crypto });
      const wire = toWire(createBundle(profile, ik, spk, generateOneTimePreKeys(1, 2, crypto)));
      expect((await peer.request("active", { bundle: wire })).ok).toBe(true);
      for (const byte of [0, 33, 62]) {
        const answer = await peer.request("active", {
          bundle: { ...wire, signedPreKeySignature: flip(wire.signedPreKeySignature, byte) },
        });
        expect(answer.ok).toBe(false);
        expect(answer.type).toBe("KeyAgreementException");
      }
    });
  });
});
