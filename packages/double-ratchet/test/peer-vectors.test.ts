// Known-answer vectors from the real peers (vectors/peer-omemo-python.json, made by
// interop/generate_peer_vectors.py from python-oldmemo / python-twomemo). Their "Alice" sent six
// messages to their "Bob"; we play Bob from his private keys: every message decrypts to the recorded
// plaintext, in any order, once, as a key exchange or as a plain message. The wire layout is checked
// field by field against docs/libsignal-wire-format.md §2 and XEP-0384. No python needed, so these
// run with the unit tests; peer-vectors.interop.test.ts reruns the generator against the peers.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, hexToBytes, type Crypto } from "@parley/crypto";
import { InMemoryPreKeyStore } from "@parley/x3dh";
import {
  acceptSession,
  decrypt,
  inspectMessage,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import { bundleFromWire, type WireBundle } from "../interop/remotes.js";
import { prng } from "../interop/conversation.js";

const VECTORS = new URL("../vectors/peer-omemo-python.json", import.meta.url);

interface KeyVector {
  id: number;
  privateKey: string;
  publicKey: string;
}
interface Conversation {
  profile: "legacyOmemo" | "omemo2";
  peer: string;
  bob: { bundle: WireBundle; identityPrivateKey: string; signedPreKey: KeyVector; preKeys: KeyVector[] };
  alice: { identityKey: string };
  messages: {
    counter: number;
    keyExchange: string;
    message: string;
    plaintext: string;
    preKeyId: number;
    signedPreKeyId: number;
  }[];
}
const { conversations } = JSON.parse(readFileSync(VECTORS, "utf8")) as { conversations: Conversation[] };
const profiles: Record<Conversation["profile"], RatchetProfile> = { legacyOmemo, omemo2 };

/** Protobuf fields (number, wire type) in order of appearance: enough to compare layouts. */
function fieldsOf(bytes: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < bytes.length) {
    const tag = varint();
    out.push([tag >>> 3, tag & 7]);
    if ((tag & 7) === 0) varint();
    else if ((tag & 7) === 2) {
      const length = varint(); // read before adding: `i += varint()` would add to the old i
      i += length;
    } else throw new Error(`unexpected wire type ${tag & 7}`);
  }
  return out;
}

function playBob(c: Conversation, crypto: Crypto) {
  const priv = hexToBytes(c.bob.identityPrivateKey);
  const identity = c.profile === "omemo2" ? crypto.ed25519KeyPair(priv) : crypto.x25519KeyPair(priv);
  const bundle = bundleFromWire(c.bob.bundle);
  const store = new InMemoryPreKeyStore(
    [
      {
        id: c.bob.signedPreKey.id,
        keyPair: crypto.x25519KeyPair(hexToBytes(c.bob.signedPreKey.privateKey)),
        signature: bundle.signedPreKeySignature,
        createdAt: 0,
      },
    ],
    c.bob.preKeys.map((k) => ({ id: k.id, keyPair: crypto.x25519KeyPair(hexToBytes(k.privateKey)) })),
  );
  return { identity, bundle, store };
}

describe.each(conversations.map((c) => [`${c.profile} from ${c.peer}`, c] as const))("peer vectors: %s", (_name, c) => {
  const profile = profiles[c.profile];

  it("the wire layout is the one docs/libsignal-wire-format.md §2 / XEP-0384 v0.8.3 §4 describe", () => {
    for (const m of c.messages) {
      const kex = hexToBytes(m.keyExchange);
      const inner = hexToBytes(m.message);
      if (c.profile === "legacyOmemo") {
        expect(kex[0]).toBe(0x33);
        // PreKeySignalMessage{preKeyId=1, baseKey=2, identityKey=3, message=4, signedPreKeyId=6}:
        // python-oldmemo leaves out registrationId (5), which libsignal treats as optional.
        expect(fieldsOf(kex.subarray(1))).toEqual([
          [1, 0],
          [2, 2],
          [3, 2],
          [4, 2],
          [6, 0],
        ]);
        expect(inner[0]).toBe(0x33);
        // SignalMessage{ratchetKey=1, counter=2, previousCounter=3, ciphertext=4} || 8-byte MAC.
        expect(fieldsOf(inner.subarray(1, inner.length - 8))).toEqual([
          [1, 2],
          [2, 0],
          [3, 0],
          [4, 2],
        ]);
        expect(bytesToHex(kex)).toContain(bytesToHex(inner));
      } else {
        // OMEMOKeyExchange{pk_id=1, spk_id=2, ik=3, ek=4, message=5}, no version byte.
        expect(fieldsOf(kex)).toEqual([
          [1, 0],
          [2, 0],
          [3, 2],
          [4, 2],
          [5, 2],
        ]);
        // OMEMOAuthenticatedMessage{mac=1 (16 bytes), message=2}.
        expect(fieldsOf(inner)).toEqual([
          [1, 2],
          [2, 2],
        ]);
        expect(inner[1]).toBe(16);
      }
      const info = inspectMessage(profile, kex, "keyExchange");
      expect(info.keyExchange?.oneTimePreKeyId).toBe(m.preKeyId);
      expect(info.keyExchange?.signedPreKeyId).toBe(m.signedPreKeyId);
      expect(bytesToHex(info.keyExchange!.identityKey)).toBe(c.alice.identityKey);
    }
  });

  describe.each(["noble", "native"] as const)("%s provider", (provider) => {
    const crypto = createCrypto({ provider });

    it("our public keys from their private keys are the ones in their bundle", () => {
      const { identity, bundle } = playBob(c, crypto);
      const encoded =
        profile.x3dh.keyEncoding === "raw" ? identity.publicKey : new Uint8Array([5, ...identity.publicKey]);
      expect(bytesToHex(encoded)).toBe(bytesToHex(bundle.identityKey));
      for (const k of c.bob.preKeys)
        expect(bytesToHex(crypto.x25519PublicKey(hexToBytes(k.privateKey)))).toBe(k.publicKey);
    });

    it.each([1, 2, 3, 4])("playing their Bob, every message decrypts once, in shuffled order (shuffle %i)", (seed) => {
      const { identity, store } = playBob(c, crypto);
      const rnd = prng(seed);
      const order = c.messages.map((m, i) => ({ m, i, r: rnd() })).sort((x, y) => x.r - y.r);
      const [head, ...rest] = order;
      const accepted = acceptSession(profile, identity, store, hexToBytes(head!.m.keyExchange), { crypto });
      expect(bytesToHex(accepted.plaintext)).toBe(head!.m.plaintext);
      // The one-time prekey is used exactly once.
      expect(() => acceptSession(profile, identity, store, hexToBytes(head!.m.keyExchange), { crypto })).toSatisfy(
        (f: () => unknown) => {
          try {
            f();
            return false;
          } catch (e) {
            return isDoubleRatchetError(e, "UNKNOWN_PRE_KEY");
          }
        },
      );
      let session: Session = accepted.session;
      for (const { m, i } of rest) {
        // Half of them as the repeated key exchange, half as the plain message inside it.
        const asKex = (i + seed) % 2 === 0;
        const r = decrypt(session, hexToBytes(asKex ? m.keyExchange : m.message), {
          crypto,
          kind: asKex ? "keyExchange" : "message",
        });
        expect(bytesToHex(r.plaintext), `message ${i}`).toBe(m.plaintext);
        session = r.session;
      }
      for (const m of c.messages) {
        const before = bytesToHex(serializeSession(session));
        let caught: unknown;
        try {
          decrypt(session, hexToBytes(m.message), { crypto, kind: "message" });
        } catch (e) {
          caught = e;
        }
        expect(isDoubleRatchetError(caught, "DUPLICATE_MESSAGE")).toBe(true);
        expect(bytesToHex(serializeSession(session))).toBe(before);
      }
    });

    it("a flipped bit anywhere in their message is refused and changes nothing", () => {
      const { identity, store } = playBob(c, crypto);
      const first = c.messages[0]!;
      const { session } = acceptSession(profile, identity, store, hexToBytes(first.keyExchange), { crypto });
      const before = bytesToHex(serializeSession(session));
      const good = hexToBytes(c.messages[1]!.message);
      for (let i = 0; i < good.length; i++) {
        const bad = good.slice();
        bad[i]! ^= 1 << (i % 8);
        expect(() => decrypt(session, bad, { crypto, kind: "message" }), `byte ${i}`).toThrow();
      }
      expect(bytesToHex(serializeSession(session))).toBe(before);
      expect(bytesToHex(decrypt(session, good, { crypto, kind: "message" }).plaintext)).toBe(c.messages[1]!.plaintext);
    });
  });
});
