// Double Ratchet interop, both directions, for both OMEMO profiles, against the real python-omemo
// backends: python-oldmemo (legacy OMEMO, libsignal v3 wire format) and python-twomemo (OMEMO 2),
// on python-doubleratchet and python-x3dh (Debian). Sessions started by us and continued by the
// peer and vice versa, with messages lost, reordered and duplicated (interop/conversation.ts).
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCrypto } from "@parley/crypto";
import { legacyOmemo, omemo2, type RatchetProfile } from "../src/index.js";
import { open, randomConversation, scriptedConversation } from "../interop/conversation.js";
import { ensureApt, pythonOmemoPeer } from "../interop/peers.js";
import { Local, pythonRemote, type Remote } from "../interop/remotes.js";

beforeAll(() => {
  ensureApt("python3-x3dh", "python3-doubleratchet", "python3-oldmemo", "python3-twomemo", "python3-xmlschema");
});

const cases: Array<[string, RatchetProfile, "legacy" | "omemo2"]> = [
  ["legacy OMEMO with python-oldmemo", legacyOmemo, "legacy"],
  ["OMEMO 2 with python-twomemo", omemo2, "omemo2"],
];

describe.each(cases)("Double Ratchet interop: %s", (label, profile, peerProfile) => {
  let remote: Remote | undefined;
  afterEach(() => {
    remote?.close();
    remote = undefined;
  });
  const start = (seed: number) => (remote = pythonRemote(label, pythonOmemoPeer(peerProfile, seed)));

  describe.each(["native", "noble"] as const)("%s provider", (provider) => {
    const crypto = createCrypto({ provider });

    it("a session started by us, continued by the peer: loss, reordering, duplicates, late messages, reload", async () => {
      const { a, b, first } = await open(new Local(profile, crypto), start(1), true);
      expect(first.wire.keyExchange).toBe(true);
      await scriptedConversation(a, b, first);
    });

    it("a session started by the peer, continued by us: loss, reordering, duplicates, late messages, reload", async () => {
      const { a, b, first } = await open(new Local(profile, crypto), start(2), false);
      await scriptedConversation(a, b, first);
    });

    it.each([11, 12, 13])(
      "random interleavings with loss, reordering and duplicates (seed %i), both directions",
      async (seed) => {
        for (const weInitiate of [true, false]) {
          const { a, b, first } = await open(new Local(profile, crypto), start(seed), weInitiate);
          const checked = await randomConversation(a, b, first, seed, 250);
          expect(checked).toBeGreaterThan(80);
          remote!.close();
        }
      },
    );
  });
});
