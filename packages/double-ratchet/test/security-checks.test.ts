// The security checks of the engine, each with a test that fails when the check is disabled
// (mutations.json lists the mutations and the test that catches each).
import { createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { InMemoryPreKeyStore, isX3dhError } from "@parley/x3dh";
import { describe, expect, it } from "vitest";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  deserializeSession,
  encrypt,
  isDoubleRatchetError,
  LIMIT_CEILINGS,
  MAX_SKIPPED_CHAINS,
  omemo2,
  serializeSession,
  signal,
  withLimits,
  type Limits,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import { decodeOmemoAuthenticatedMessage } from "../src/wire.js";
import { newSession, stateOf } from "../src/state.js";
import {
  ALL_PROFILES,
  establish,
  expectCode,
  fork,
  makeParty,
  profileLabel,
  rewriteSession,
  sentHeader,
} from "./helpers.js";

const te = new TextEncoder();
const td = new TextDecoder();

/** Where the MAC sits in a plain (unwrapped) message of the profile. */
function macRange(profile: RatchetProfile, message: Uint8Array): [number, number] {
  if (profile.wire !== "omemo2") return [message.length - profile.macLength, message.length];
  const { mac } = decodeOmemoAuthenticatedMessage(message);
  const at = message.findIndex((_, i) => mac.every((v, j) => message[i + j] === v));
  return [at, at + mac.length];
}

const REFUSALS = ["BAD_MAC", "MALFORMED_MESSAGE", "TOO_MANY_SKIPPED", "DUPLICATE_MESSAGE"];

describe("§5.2 MAC over every byte", () => {
  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: flipping any bit of a message fails with a typed error (BAD_MAC in the MAC) and leaves the session usable`, () => {
      const { a, b } = establish(profile, "every-byte");
      // Bob's messages are never wrapped in the key exchange: the MAC covers every byte but its own.
      const m = encrypt(b, te.encode("every byte counts"));
      const before = serializeSession(a);
      const [macFrom, macTo] = macRange(profile, m.message);
      expect(macTo - macFrom).toBe(profile.macLength);
      for (let i = 0; i < m.message.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const bad = m.message.slice();
          bad[i]! ^= 1 << bit;
          let code: string | undefined;
          try {
            decrypt(a, bad);
            code = "decrypted";
          } catch (e) {
            code = isDoubleRatchetError(e) ? e.code : String(e);
          }
          if (i >= macFrom && i < macTo) expect(code, `MAC byte ${i - macFrom}, bit ${bit}`).toBe("BAD_MAC");
          // Elsewhere the header may fail its own checks first (a counter flipped far ahead: TOO_MANY_SKIPPED).
          else expect(REFUSALS, `byte ${i}, bit ${bit}: ${code}`).toContain(code);
        }
      }
      expect(serializeSession(a)).toEqual(before);
      expect(td.decode(decrypt(a, m.message).plaintext)).toBe("every byte counts");
    });
  }
});

describe("limits: old receiving chains (maxSkippedChains; libsignal keeps 5, MAX_RECEIVER_CHAINS)", () => {
  /**
   * `rounds` DH steps; in each, Alice's first message of her new chain is held back. Returns Bob's
   * session and the held messages, oldest chain first.
   */
  function heldPerChain(profile: RatchetProfile, rounds: number) {
    let { a, b } = establish(profile, "chains");
    const held: { bytes: Uint8Array; text: string }[] = [];
    for (let round = 0; round < rounds; round++) {
      const h = encrypt(a, te.encode(`held ${round}`));
      a = h.session;
      held.push({ bytes: h.message, text: `held ${round}` });
      const d = encrypt(a, te.encode(`delivered ${round}`));
      a = d.session;
      b = decrypt(b, d.message).session; // a DH step for Bob from round 1 on; h is skipped
      const r = encrypt(b, te.encode(`reply ${round}`));
      b = r.session;
      a = decrypt(a, r.message).session; // Alice's next message starts a new chain
    }
    return { b, held };
  }

  /** Delivers each held message to its own copy of `b`; true where it decrypted (to the right text). */
  function whichDecrypt(b: Session, held: readonly { bytes: Uint8Array; text: string }[], profile: RatchetProfile) {
    const bytes = serializeSession(b);
    return held.map((h) => {
      try {
        expect(td.decode(decrypt(deserializeSession(bytes, { profile }), h.bytes).plaintext)).toBe(h.text);
        return true;
      } catch (e) {
        expect(isDoubleRatchetError(e, "BAD_MAC"), String(e)).toBe(true);
        return false;
      }
    });
  }

  /**
   * Skipped keys stored for `chains` kept chains: one held message each, plus, in the legacy
   * profile, the key at index PN of every retired chain (libsignal's PN is read inclusively,
   * docs/libsignal-wire-format.md §4.4; our sender's PN is the count, so that key is never used).
   */
  const storedKeys = (profile: RatchetProfile, chains: number) =>
    chains + (profile.previousCounter === "lastIndex" ? chains - 1 : 0);

  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: with maxSkippedChains 2 only the last two chains' skipped keys are kept`, () => {
      const two = withLimits(profile, { maxSkippedChains: 2 });
      const { b, held } = heldPerChain(two, 5);
      expect(b.skippedKeyCount).toBe(storedKeys(profile, 2));
      expect(whichDecrypt(b, held, two)).toEqual([false, false, false, true, true]);
    });

    it(`${profileLabel(profile)}: the default keeps ${MAX_SKIPPED_CHAINS} chains`, () => {
      const { b, held } = heldPerChain(profile, MAX_SKIPPED_CHAINS + 2);
      expect(b.skippedKeyCount).toBe(storedKeys(profile, MAX_SKIPPED_CHAINS));
      expect(whichDecrypt(b, held, profile)).toEqual([false, false, true, true, true, true, true]);
    });
  }
});

describe("§3.5 counters are 32-bit: a sending chain ends before it wraps", () => {
  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: at Ns = 2^32 − 2 one more message leaves, then INVALID_STATE; the session stays usable`, () => {
      const { a, b } = establish(profile, "exhaust");
      const reply = encrypt(b, te.encode("r"));
      const alice = decrypt(a, reply.message).session;
      // A session whose sending chain is nearly used up, from a crafted serialized state.
      const near = deserializeSession(
        rewriteSession(alice, (view, at) => {
          view.setUint32(at.ns, 0xfffffffe);
        }),
      );
      const last = encrypt(near, te.encode("the last one"));
      expect(sentHeader(profile, stateOf(near), last.message).endsWith("/4294967294")).toBe(true);
      expect(last.session.sendingCounter).toBe(0xffffffff);
      const refused = expectCode(() => encrypt(last.session, te.encode("one too many")), "INVALID_STATE");
      expect(refused.message).toMatch(/exhausted/);
      expect(last.session.spent).toBe(false);
      expect(deserializeSession(serializeSession(last.session)).sendingCounter).toBe(0xffffffff);
    });
  }

  it("a received counter of 2^32 − 1 is refused before any key is derived (MALFORMED_MESSAGE)", () => {
    const { a, b } = establish(signal, "top-counter");
    const m = encrypt(a, te.encode("m"));
    const bob = decrypt(b, m.message).session;
    const close = deserializeSession(
      rewriteSession(bob, (view, at) => {
        view.setUint32(at.nr, 0xfffffff0);
      }),
    );
    // The signal layout: 0x01 || DH (32) || PN || N || ciphertext || MAC; the same ratchet key as m.
    const inner = m.isKeyExchange ? m.message.subarray(76) : m.message;
    const forged = inner.slice();
    new DataView(forged.buffer).setUint32(1 + 32 + 4, 0xffffffff);
    expectCode(() => decrypt(close, forged), "MALFORMED_MESSAGE");
    expect(close.spent).toBe(false);
  });
});

describe("serializeSession never wraps a counter", () => {
  it("a state whose counter passed 32 bits is INVALID_STATE, not written as a small number", () => {
    const { a } = establish(signal, "wrap");
    const s = stateOf(a);
    const beyond = newSession({ ...s, ns: 2 ** 32 });
    expect(expectCode(() => serializeSession(beyond), "INVALID_STATE").message).toMatch(/32-bit/);
  });
});

describe("§3.5 skipped keys and duplicates", () => {
  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: skipped keys beyond maxSkippedKeys are dropped oldest first across several gaps`, () => {
      const small = withLimits(profile, { maxSkippedKeys: 5 });
      let { a, b } = establish(small, "fifo");
      const ms: Uint8Array[] = [];
      for (let i = 0; i < 9; i++) {
        const m = encrypt(a, te.encode(`m${i}`));
        a = m.session;
        ms.push(m.message);
      }
      b = decrypt(b, ms[3]!).session; // skips m0 m1 m2
      b = decrypt(b, ms[8]!).session; // skips m4 … m7: seven in all, the two oldest go
      expect(b.skippedKeyCount).toBe(5);
      for (const i of [0, 1]) expectCode(() => decrypt(b, ms[i]!), "DUPLICATE_MESSAGE");
      for (const i of [2, 4, 5, 6, 7]) b = decrypt(b, ms[i]!).session;
      expect(b.skippedKeyCount).toBe(0);
    });

    it(`${profileLabel(profile)}: a duplicate from a previous chain is DUPLICATE_MESSAGE, decrypted or never skipped`, () => {
      let { a, b } = establish(profile, "old-duplicate");
      const inOrder = encrypt(a, te.encode("in order"));
      a = inOrder.session;
      const late = encrypt(a, te.encode("late"));
      a = late.session;
      const last = encrypt(a, te.encode("last"));
      a = last.session;
      b = decrypt(b, inOrder.message).session;
      b = decrypt(b, last.message).session; // "late" skipped
      const r = encrypt(b, te.encode("reply"));
      b = r.session;
      a = decrypt(a, r.message).session;
      b = decrypt(b, encrypt(a, te.encode("new chain")).message).session; // Bob's DH step: the old chain retires
      b = decrypt(b, late.message).session; // its skipped key still works, once
      for (const old of [inOrder, late, last]) expectCode(() => decrypt(b, old.message), "DUPLICATE_MESSAGE");
    });
  }
});

describe("deserializeSession: a stored session cannot raise its own limits", () => {
  const names: (keyof Limits)[] = ["maxSkippedKeys", "maxForwardJump", "maxSkippedChains"];
  for (const [index, name] of names.entries()) {
    it(`${name} above the profile's is INVALID_SESSION; it loads with a profile that allows it`, () => {
      const { b } = establish(omemo2, `raise-${name}`);
      for (const value of [omemo2.limits[name] + 1, 0xffffffff]) {
        const bytes = rewriteSession(fork(b), (view, at) => {
          view.setUint32(at.limits + 4 * index, value);
        });
        const refused = expectCode(() => deserializeSession(bytes), "INVALID_SESSION");
        expect(refused.message).toMatch(/cannot raise its own limits/);
        if (value <= LIMIT_CEILINGS[name]) {
          const wider = withLimits(omemo2, { [name]: value });
          expect(deserializeSession(bytes, { profile: wider }).generation).toBe(b.generation);
        }
      }
    });
  }

  it("limits below the floor, and more skipped chains or keys than its limits, are INVALID_SESSION", () => {
    let { a, b } = establish(omemo2, "below");
    // A fresh responder holds no skipped chain: only the floor can refuse maxSkippedChains 0.
    expect(stateOf(b).skipped.length).toBe(0);
    const floor = rewriteSession(fork(b), (view, at) => {
      view.setUint32(at.limits + 8, 0);
    });
    expect(expectCode(() => deserializeSession(floor), "INVALID_SESSION").message).toMatch(/below 1/);
    // Two skipped keys in the first chain; then a DH step with one more skipped: two chains.
    for (const text of ["held", "held 2"]) a = encrypt(a, te.encode(text)).session;
    const d = encrypt(a, te.encode("delivered"));
    a = d.session;
    b = decrypt(b, d.message).session;
    const r = encrypt(b, te.encode("reply"));
    b = r.session;
    a = decrypt(a, r.message).session;
    a = encrypt(a, te.encode("held 3")).session;
    b = decrypt(b, encrypt(a, te.encode("delivered 2")).message).session;
    expect(stateOf(b).skipped.length).toBe(2);
    expect(b.skippedKeyCount).toBe(3);
    const chains = rewriteSession(fork(b), (view, at) => {
      view.setUint32(at.limits + 8, 1);
    });
    expect(expectCode(() => deserializeSession(chains), "INVALID_SESSION").message).toMatch(/more skipped chains/);
    const keys = rewriteSession(fork(b), (view, at) => {
      view.setUint32(at.limits, 2);
    });
    expect(expectCode(() => deserializeSession(keys), "INVALID_SESSION").message).toMatch(/more skipped keys/);
    // A profile cannot ask for more than the ceilings either.
    expectCode(() => withLimits(omemo2, { maxSkippedKeys: LIMIT_CEILINGS.maxSkippedKeys + 1 }), "INVALID_ARGUMENT");
    expectCode(() => withLimits(omemo2, { maxSkippedChains: 0 }), "INVALID_ARGUMENT");
    expectCode(() => withLimits(omemo2, { maxForwardJump: 1.5 }), "INVALID_ARGUMENT");
  });

  it("a generation beyond 2^53 − 1 is INVALID_SESSION; a large one round-trips exactly", () => {
    const { b } = establish(signal, "generation");
    const large = rewriteSession(fork(b), (view, at) => {
      view.setUint32(at.generation, 0x1fffff);
      view.setUint32(at.generation + 4, 0xffffffff);
    });
    expect(deserializeSession(large).generation).toBe(Number.MAX_SAFE_INTEGER);
    const tooLarge = rewriteSession(fork(b), (view, at) => {
      view.setUint32(at.generation, 0x200000);
    });
    expectCode(() => deserializeSession(tooLarge), "INVALID_SESSION");
  });
});

describe("errors: one catch for a whole session setup (X3DH errors arrive as DoubleRatchetError)", () => {
  const crypto = () => createCrypto({ random: deterministicRandom("errors") });

  it("createInitiatorSession: BAD_SIGNATURE, INVALID_BUNDLE, MISSING_ONE_TIME_PRE_KEY, with the X3DH error as cause", () => {
    const c = crypto();
    const alice = makeParty(omemo2, c);
    const bob = makeParty(omemo2, c);
    const sig = bob.bundle.signedPreKeySignature.slice();
    sig[5]! ^= 1;
    const badSig = expectCode(
      () =>
        createInitiatorSession(omemo2, alice.identity, { ...bob.bundle, signedPreKeySignature: sig }, { crypto: c }),
      "BAD_SIGNATURE",
    );
    expect(isX3dhError(badSig.cause, "BAD_SIGNATURE")).toBe(true);
    const shortKey = { ...bob.bundle, signedPreKey: { id: 1, publicKey: new Uint8Array(31) } };
    expectCode(() => createInitiatorSession(omemo2, alice.identity, shortKey, { crypto: c }), "INVALID_BUNDLE");
    expectCode(
      () => createInitiatorSession(omemo2, alice.identity, { ...bob.bundle, oneTimePreKeys: [] }, { crypto: c }),
      "MISSING_ONE_TIME_PRE_KEY",
    );
  });

  it("acceptSession: UNKNOWN_SIGNED_PRE_KEY, UNKNOWN_PRE_KEY (ids we never publish too), MALFORMED_MESSAGE for a low-order base key", () => {
    const c = crypto();
    const { bob, first } = establish(signal, "accept-errors", c);
    const noSigned = new InMemoryPreKeyStore([], []);
    const fresh = makeParty(signal, c);
    expectCode(
      () => acceptSession(signal, bob.identity, noSigned, first.message, { crypto: c }),
      "UNKNOWN_SIGNED_PRE_KEY",
    );
    // The signal layout: 0x02 || IK (33) || EK (33) || SPK id (u32) || has-OPK || OPK id (u32) || message.
    const edited = (edit: (view: DataView, bytes: Uint8Array) => void) => {
      const bytes = first.message.slice();
      edit(new DataView(bytes.buffer), bytes);
      return bytes;
    };
    const bigSpk = edited((v) => {
      v.setUint32(67, 0xffffffff);
    });
    expectCode(
      () => acceptSession(signal, fresh.identity, fresh.store, bigSpk, { crypto: c }),
      "UNKNOWN_SIGNED_PRE_KEY",
    );
    const bigOpk = edited((v, b) => {
      b[71] = 1;
      v.setUint32(72, 0x80000000);
    });
    expectCode(() => acceptSession(signal, fresh.identity, fresh.store, bigOpk, { crypto: c }), "UNKNOWN_PRE_KEY");
    const lowOrder = edited((_, b) => {
      b.fill(0, 35, 67);
    });
    const lo = expectCode(
      () => acceptSession(signal, fresh.identity, fresh.store, lowOrder, { crypto: c }),
      "MALFORMED_MESSAGE",
    );
    expect(isX3dhError(lo.cause, "LOW_ORDER_POINT")).toBe(true);
  });
});
