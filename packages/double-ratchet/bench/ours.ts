// Our engine behind the benchmark's Implementation interface: the legacyOmemo profile (the same
// libsignal v3 wire format the npm peers speak), with the noble or the native (node:crypto) provider.
import { createCrypto } from "@parley/crypto";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
  type Bundle,
  type OneTimePreKey,
} from "@parley/x3dh";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  legacyOmemo,
  serializeSession,
  type Session,
} from "../src/index.js";
import type { Conversation, Implementation } from "./peers.js";

export function ours(provider: "native" | "noble"): Implementation {
  const crypto = createCrypto({ provider });
  const profile = legacyOmemo;
  const aliceId = generateIdentityKeyPair(profile.x3dh, crypto);
  const bobId = generateIdentityKeyPair(profile.x3dh, crypto);
  const bobSigned = generateSignedPreKey(profile.x3dh, bobId, 1, { crypto });

  return {
    name: `@parley/double-ratchet (${provider})`,
    makeBundle(i) {
      const opk = generateOneTimePreKeys(i + 1, 1, crypto)[0]!;
      return Promise.resolve({ opk, bundle: createBundle(profile.x3dh, bobId, bobSigned, [opk]) });
    },
    establish(prepared, first) {
      const { opk, bundle } = prepared as { opk: OneTimePreKey; bundle: Bundle };
      // Alice: X3DH from the bundle (the signed prekey signature is always verified), first message.
      const opened = encrypt(createInitiatorSession(profile, aliceId, bundle, { crypto }), first, { crypto });
      // Bob: X3DH as responder from the key exchange, decrypts the first message.
      const store = new InMemoryPreKeyStore([bobSigned], [opk]);
      const accepted = acceptSession(profile, bobId, store, opened.message, { crypto });
      const sessions: Record<"alice" | "bob", Session> = { alice: opened.session, bob: accepted.session };
      const conversation: Conversation = {
        send(from, plaintext) {
          const r = encrypt(sessions[from], plaintext, { crypto });
          sessions[from] = r.session;
          return Promise.resolve({ bytes: r.message, keyExchange: r.isKeyExchange });
        },
        receive(to, message) {
          const m = message as { bytes: Uint8Array; keyExchange: boolean };
          const r = decrypt(sessions[to], m.bytes, { crypto, kind: m.keyExchange ? "keyExchange" : "message" });
          sessions[to] = r.session;
          return Promise.resolve(r.plaintext);
        },
        serializedBytesPerSession: () =>
          (serializeSession(sessions.alice).length + serializeSession(sessions.bob).length) / 2,
        retain: () => [sessions.alice, sessions.bob],
      };
      return Promise.resolve(conversation);
    },
  };
}
