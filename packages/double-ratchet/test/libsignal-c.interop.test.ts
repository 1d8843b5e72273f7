// Legacy OMEMO interop with libsignal-protocol-c (Debian libsignal-protocol-c-dev), the libsignal v3
// implementation behind profanity and many other clients, through a small C harness
// (interop/libsignal_peer.c, OpenSSL crypto provider, compiled on first use). Both directions,
// with messages lost, reordered and duplicated.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCrypto } from "@parley/crypto";
import { generateIdentityKeyPair } from "@parley/x3dh";
import { createInitiatorSession, legacyOmemo } from "../src/index.js";
import { open, randomConversation, scriptedConversation } from "../interop/conversation.js";
import { buildLibsignalPeer, libsignalPeer } from "../interop/peers.js";
import { Local, libsignalRemote, type Remote } from "../interop/remotes.js";

let binary = "";
beforeAll(() => {
  binary = buildLibsignalPeer();
});

describe.each(["native", "noble"] as const)(
  "Double Ratchet interop: legacy OMEMO with libsignal-protocol-c (%s provider)",
  (provider) => {
    const crypto = createCrypto({ provider });
    let remote: Remote | undefined;
    afterEach(() => {
      remote?.close();
      remote = undefined;
    });
    const start = (seed: string) => (remote = libsignalRemote(libsignalPeer(binary, seed)));

    it("a session started by us, continued by libsignal: loss, reordering, duplicates, late messages", async () => {
      const { a, b, first } = await open(new Local(legacyOmemo, crypto), start("s1"), true);
      await scriptedConversation(a, b, first);
    });

    it("a session started by libsignal, continued by us: loss, reordering, duplicates, late messages", async () => {
      const { a, b, first } = await open(new Local(legacyOmemo, crypto), start("s2"), false);
      await scriptedConversation(a, b, first);
    });

    it("X3DH signatures both ways: libsignal verifies ours (libsignal variant, sign bit in byte 63), we verify theirs; tampered ones fail", async () => {
      const peer = start("sig");
      const theirs = await peer.bundle();
      for (const byte of [0, 40, 63]) {
        const bad = theirs.signedPreKeySignature.slice();
        bad[byte]! ^= byte === 63 ? 0x80 : 0x01; // byte 63's top bit is the identity key's sign bit
        expect(() => {
          createInitiatorSession(
            legacyOmemo,
            generateIdentityKeyPair(legacyOmemo.x3dh, crypto),
            { ...theirs, signedPreKeySignature: bad },
            { crypto },
          );
        }).toThrow(expect.objectContaining({ code: "BAD_SIGNATURE" }) as Error);
      }
      // Many fresh identities, so both sign bits of the Edwards form occur among ours.
      const signBits = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const local = new Local(legacyOmemo, crypto);
        signBits.add(local.bundle.signedPreKeySignature[63]! >> 7);
        const ok = await peer.initiate(local.bundle, new Uint8Array([i]));
        expect(ok.keyExchange).toBe(true);
        const bad = local.bundle.signedPreKeySignature.slice();
        bad[i % 2 === 0 ? 5 : 63]! ^= i % 2 === 0 ? 0x01 : 0x80;
        await expect(
          peer.initiate({ ...local.bundle, signedPreKeySignature: bad }, new Uint8Array([i])),
        ).rejects.toThrow(/-1002/);
      }
      expect([...signBits].sort()).toEqual([0, 1]);
    });

    it.each([21, 22, 23])(
      "random interleavings with loss, reordering and duplicates (seed %i), both directions",
      async (seed) => {
        for (const weInitiate of [true, false]) {
          const { a, b, first } = await open(new Local(legacyOmemo, crypto), start(`r${seed}`), weInitiate);
          expect(await randomConversation(a, b, first, seed, 250, 4)).toBeGreaterThan(80);
          remote!.close();
        }
      },
    );
  },
);
