import { bytesToHex, createCrypto } from "@parley/crypto";
import { isX3dhError } from "@parley/x3dh";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  acceptSession,
  decrypt,
  DoubleRatchetError,
  encrypt,
  inspectMessage,
  legacyOmemo,
  omemo2,
  serializeSession,
  deserializeSession,
  withLimits,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import { ALL_PROFILES, establish, expectCode, makeParty, profileLabel, rewriteSession, unwrap } from "./helpers.js";

const te = new TextEncoder();

function send(s: Session, text: string) {
  return encrypt(s, te.encode(text));
}

for (const profile of ALL_PROFILES) {
  describe(`Double Ratchet §3 (${profileLabel(profile)})`, () => {
    it("§3.4/§3.5: a conversation with DH steps in both directions", () => {
      let { a, b } = establish(profile);
      for (let round = 0; round < 5; round++) {
        const m = send(a, `a${round}`);
        a = m.session;
        const r = decrypt(b, m.message);
        expect(new TextDecoder().decode(r.plaintext)).toBe(`a${round}`);
        b = r.session;
        const n = send(b, `b${round}`);
        b = n.session;
        const q = decrypt(a, n.message);
        expect(new TextDecoder().decode(q.plaintext)).toBe(`b${round}`);
        a = q.session;
      }
    });

    it("inspectMessage shows the authenticated message inside a key exchange and the ratchet header, as copies", () => {
      const { first, a, b: bob } = establish(profile);
      const info = inspectMessage(profile, first.message);
      expect(info.isKeyExchange).toBe(true);
      expect(bytesToHex(info.message)).toBe(bytesToHex(unwrap(profile, first.message)));
      const second = send(a, "second");
      const b = decrypt(bob, second.message).session;
      const replies = [send(b, "r0")];
      replies.push(send(replies[0]!.session, "r1"));
      const infos = replies.map((r) => inspectMessage(profile, r.message));
      for (const [i, r] of replies.entries()) {
        expect(infos[i]!.isKeyExchange).toBe(false);
        expect(bytesToHex(infos[i]!.message)).toBe(bytesToHex(r.message));
      }
      if (profile.headerEncryption) {
        expect([info, ...infos].map((x) => x.header)).toEqual([null, null, null]);
      } else {
        expect(inspectMessage(profile, second.message).header).toMatchObject({ counter: 1, previousCounter: 0 });
        expect(info.header).toMatchObject({ counter: 0, previousCounter: 0 });
        expect(infos.map((x) => x.header!.counter)).toEqual([0, 1]);
        // One chain, one ratchet key; a new one after the DH step (B's first reply).
        expect(bytesToHex(infos[0]!.header!.ratchetKey)).toBe(bytesToHex(infos[1]!.header!.ratchetKey));
        expect(bytesToHex(infos[0]!.header!.ratchetKey)).not.toBe(bytesToHex(info.header!.ratchetKey));
        expect(infos[0]!.header!.ratchetKey).toHaveLength(32);
        infos[0]!.header!.ratchetKey.fill(0);
        expect(inspectMessage(profile, replies[0]!.message).header!.ratchetKey).not.toEqual(new Uint8Array(32));
      }
      info.message.fill(0);
      expect(bytesToHex(inspectMessage(profile, first.message).message)).toBe(
        bytesToHex(unwrap(profile, first.message)),
      );
    });

    it("§5.1 / docs/libsignal-wire-format.md §2.2: every message carries the key exchange until a reply was decrypted", () => {
      const { first, ...rest } = establish(profile);
      let { a, b } = rest;
      expect(first.isKeyExchange).toBe(true);
      const m2 = send(a, "second");
      expect(m2.isKeyExchange).toBe(true);
      expect(inspectMessage(profile, m2.message).isKeyExchange).toBe(true);
      a = m2.session;
      b = decrypt(b, m2.message).session; // accepted: the base key is this session's
      const reply = send(b, "reply");
      expect(reply.isKeyExchange).toBe(false);
      a = decrypt(a, reply.message).session;
      expect(a.keyExchangePending).toBe(false);
      expect(send(a, "after").isKeyExchange).toBe(false);
    });

    it("XEP-0384 §4.3: a key exchange with another base key is KEY_EXCHANGE_MISMATCH, not decrypted", () => {
      const one = establish(profile, "one");
      const two = establish(profile, "two");
      expectCode(() => decrypt(one.b, two.first.message), "KEY_EXCHANGE_MISMATCH");
    });

    it("§3.5: out-of-order messages use skipped keys; a duplicate is DUPLICATE_MESSAGE", () => {
      let { a, b } = establish(profile);
      const ms: Uint8Array[] = [];
      for (let i = 0; i < 6; i++) {
        const m = send(a, `m${i}`);
        a = m.session;
        ms.push(m.message);
      }
      for (const i of [5, 1, 3, 0, 4, 2]) {
        const r = decrypt(b, ms[i]!);
        expect(new TextDecoder().decode(r.plaintext)).toBe(`m${i}`);
        b = r.session;
        expectCode(() => decrypt(b, ms[i]!), "DUPLICATE_MESSAGE");
      }
      expect(b.skippedKeyCount).toBe(0);
    });

    it("a late message from an older chain still decrypts after DH steps", () => {
      let { a, b } = establish(profile);
      const late = send(a, "late");
      a = late.session;
      const next = send(a, "next");
      a = next.session;
      b = decrypt(b, next.message).session;
      const r1 = send(b, "r1");
      b = r1.session;
      a = decrypt(a, r1.message).session;
      const n2 = send(a, "n2");
      a = n2.session;
      b = decrypt(b, n2.message).session;
      expect(new TextDecoder().decode(decrypt(b, late.message).plaintext)).toBe("late");
    });

    it("limits: a jump beyond maxForwardJump is TOO_MANY_SKIPPED and changes nothing", () => {
      const small = withLimits(profile, { maxForwardJump: 10, maxSkippedKeys: 5 });
      let { a, b } = establish(small);
      const ms: Uint8Array[] = [];
      for (let i = 0; i < 12; i++) {
        const m = send(a, `m${i}`);
        a = m.session;
        ms.push(m.message);
      }
      const before = serializeSession(b);
      const tooFar = ms[11]!;
      expectCode(() => decrypt(b, tooFar), "TOO_MANY_SKIPPED");
      expect(serializeSession(b)).toEqual(before);
      // Within the jump: 9 skipped, only the newest 5 kept (FIFO), older ones are gone for good.
      b = decrypt(b, ms[9]!).session;
      expect(b.skippedKeyCount).toBe(5);
      for (const i of [4, 5, 6, 7, 8]) b = decrypt(b, ms[i]!).session;
      const evicted = ms[1]!;
      expectCode(() => decrypt(b, evicted), "DUPLICATE_MESSAGE");
    });

    it("a tampered message is BAD_MAC (or MALFORMED_MESSAGE) and the session still works", () => {
      // Bob's messages are never wrapped; the key-exchange wrapper itself is unauthenticated (as in libsignal).
      const { a, b } = establish(profile);
      const m = send(b, "x");
      for (const at of [0, Math.floor(m.message.length / 2), m.message.length - 1]) {
        const bad = m.message.slice();
        bad[at]! ^= 1;
        expect(() => decrypt(a, bad)).toThrow(DoubleRatchetError);
      }
      expect(new TextDecoder().decode(decrypt(a, m.message).plaintext)).toBe("x");
    });

    it("secrets never print: inspect, toString and JSON of a session are redacted", () => {
      const { b } = establish(profile);
      const ser = serializeSession(b);
      // The 32-byte root key sits right after the four length-prefixed fields; check no 16-byte window of the state leaks.
      const shown = [inspect(b), String(b), JSON.stringify(b), inspect({ nested: b })].join("\n");
      expect(shown).toContain("[redacted]");
      for (let i = 0; i + 16 <= ser.length; i += 8) {
        const window = bytesToHex(ser.subarray(i, i + 16));
        if (!bytesToHex(b.remoteIdentityKey).includes(window)) expect(shown).not.toContain(window);
      }
    });
  });
}

/** Rewrites PN in a serialized session (src/serialize.ts layout) to mimic a libsignal sender. */
function withPreviousCounter(session: Session, pn: number): Session {
  return deserializeSession(
    rewriteSession(session, (view, at) => {
      view.setUint32(at.pn, pn);
    }),
  );
}

describe("docs/libsignal-wire-format.md §4.4: libsignal's PN is the index of the last message, not the count", () => {
  for (const [profile, lateDecrypts] of [
    [legacyOmemo, true],
    [omemo2, false],
  ] as const) {
    it(`${profile.name}: the late last message of the previous chain ${lateDecrypts ? "still decrypts" : "is lost (the paper's count semantics)"}`, () => {
      let { a, b } = establish(profile, "pn");
      // Bob answers so that Alice's next messages start a new chain (she receives, DH-steps, sends).
      const r = encrypt(b, te.encode("r"));
      b = r.session;
      a = decrypt(a, r.message).session;
      const m0 = encrypt(a, te.encode("m0"));
      const m1 = encrypt(m0.session, te.encode("m1")); // the last message of Alice's chain: held back
      a = m1.session;
      b = decrypt(b, m0.message).session;
      const r2 = encrypt(b, te.encode("r2"));
      b = r2.session;
      a = decrypt(a, r2.message).session; // Alice DH-steps: her PN is now 2 (count)
      const libsignalStyle = withPreviousCounter(a, 1); // libsignal writes max(count − 1, 0)
      const n0 = encrypt(libsignalStyle, te.encode("n0"));
      b = decrypt(b, n0.message).session;
      if (lateDecrypts) expect(new TextDecoder().decode(decrypt(b, m1.message).plaintext)).toBe("m1");
      else expect(() => decrypt(b, m1.message)).toThrow(DoubleRatchetError);
    });
  }
});

describe("hostile ratchet keys", () => {
  it("a low-order ratchet public key is MALFORMED_MESSAGE and changes nothing (OMEMO 2 wire)", async () => {
    const { encodeOmemoAuthenticatedMessage, encodeOmemoMessage } = await import("../src/wire.js");
    const { b } = establish(omemo2, "low-order");
    const before = serializeSession(b);
    const message = encodeOmemoAuthenticatedMessage(
      new Uint8Array(16),
      encodeOmemoMessage({ n: 0, pn: 0, dhPub: new Uint8Array(32), ciphertext: new Uint8Array(16) }),
    );
    expectCode(() => decrypt(b, message), "MALFORMED_MESSAGE");
    expect(serializeSession(b)).toEqual(before);
  });
});

describe("acceptSession", () => {
  for (const profile of [legacyOmemo, omemo2] as RatchetProfile[]) {
    it(`${profile.name}: consumes the one-time prekey only after the message authenticated, exactly once`, () => {
      const crypto = createCrypto();
      const { bob, first } = establish(profile, "accept", crypto);
      // establish() already accepted `first`: a replay of the key exchange now fails (prekey used),
      // as this package's error (one catch), with @parley/x3dh's as the cause.
      const replay = expectCode(
        () => acceptSession(profile, bob.identity, bob.store, first.message, { crypto }),
        "UNKNOWN_PRE_KEY",
      );
      expect(isX3dhError(replay.cause, "UNKNOWN_PRE_KEY")).toBe(true);
      // A forged message naming a valid prekey does not consume it.
      const fresh = makeParty(profile, crypto);
      const count = fresh.store.oneTimePreKeyCount;
      const other = establish(profile, "other", crypto);
      const forged = other.first.message;
      expect(() => acceptSession(profile, fresh.identity, fresh.store, forged, { crypto })).toThrow();
      expect(fresh.store.oneTimePreKeyCount).toBe(count);
    });
  }

  it("a responder session built from the agreement alone has no sending chain: INVALID_STATE", async () => {
    const { responderSessionFromAgreement } = await import("../src/index.js");
    const crypto = createCrypto();
    const bob = makeParty(omemo2, crypto);
    const spk = bob.store.getSignedPreKey(1)!;
    const s = responderSessionFromAgreement(omemo2, {
      sharedSecret: new Uint8Array(32),
      associatedData: new Uint8Array(64),
      identityKey: bob.identity.publicKey,
      theirIdentityKey: bob.identity.publicKey,
      signedPreKey: spk,
      ephemeralKey: new Uint8Array(32),
      oneTimePreKeyId: 1,
    });
    expectCode(() => encrypt(s, te.encode("too early")), "INVALID_STATE");
  });
});
