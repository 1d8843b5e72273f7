// Legacy OMEMO interop with npm `libsignal` (WhiskeySockets/libsignal-node, a port of Signal's
// libsignal-protocol-javascript used by many JS messengers and bots), in this process. Both
// directions, with messages lost, reordered and duplicated. No system packages needed, so it runs
// with the unit tests (pnpm test), not with test:interop.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createCrypto } from "@parley/crypto";
import { legacyOmemo } from "../src/index.js";
import { open, randomConversation, scriptedConversation } from "../interop/conversation.js";
import { Local, npmLibsignalRemote, type Remote } from "../interop/remotes.js";

describe.each(["native", "noble"] as const)(
  "Double Ratchet interop: legacy OMEMO with npm libsignal (%s provider)",
  (provider) => {
    const crypto = createCrypto({ provider });
    let remote: Remote | undefined;
    beforeEach(() => {
      // libsignal logs every refused replay with console.error ("Session error: MessageCounterError").
      vi.spyOn(console, "error").mockImplementation(() => undefined);
      vi.spyOn(console, "warn").mockImplementation(() => undefined);
    });
    afterEach(() => {
      remote?.close();
      vi.restoreAllMocks();
    });
    const start = () => (remote = npmLibsignalRemote());

    it("a session started by us, continued by libsignal: loss, reordering, duplicates, late messages", async () => {
      const { a, b, first } = await open(new Local(legacyOmemo, crypto), start(), true);
      await scriptedConversation(a, b, first);
    });

    it("a session started by libsignal, continued by us: loss, reordering, duplicates, late messages", async () => {
      const { a, b, first } = await open(new Local(legacyOmemo, crypto), start(), false);
      await scriptedConversation(a, b, first);
    });

    it.each([31, 32])(
      "random interleavings with loss, reordering and duplicates (seed %i), both directions",
      async (seed) => {
        for (const weInitiate of [true, false]) {
          const { a, b, first } = await open(new Local(legacyOmemo, crypto), start(), weInitiate);
          expect(await randomConversation(a, b, first, seed, 250, 4)).toBeGreaterThan(80);
        }
      },
    );
  },
);
