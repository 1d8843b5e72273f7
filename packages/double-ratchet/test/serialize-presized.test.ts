// serializeSession sizes its buffer once and writes into it. This test keeps the previous writer
// (a buffer that starts at 512 bytes and doubles) and checks that both give the same bytes for
// sessions in every state a conversation reaches: pending key exchange, skipped keys over several
// chains, header keys, and for the stored vectors.
import { hexToBytes } from "@parley/crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SESSION_FORMAT_VERSION } from "../src/consts.js";
import { DoubleRatchetError } from "../src/errors.js";
import { decrypt, deserializeSession, encrypt, serializeSession, type Session } from "../src/index.js";
import { stateOf } from "../src/state.js";
import { ALL_PROFILES, establish, profileLabel } from "./helpers.js";
import { loadVectors } from "./vectors.js";

/** The writer and serializer as they were before the exact sizing (kept verbatim as the oracle). */
class GrowingWriter {
  #buf = new Uint8Array(512);
  #view = new DataView(this.#buf.buffer);
  #pos = 0;
  #ensure(n: number) {
    if (this.#pos + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    next.set(this.#buf);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
  }
  u16(v: number) {
    this.#ensure(2);
    this.#view.setUint16(this.#pos, v);
    this.#pos += 2;
  }
  u32(v: number) {
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) {
      throw new DoubleRatchetError("INVALID_STATE", "a session counter is out of the 32-bit range");
    }
    this.#ensure(4);
    this.#view.setUint32(this.#pos, v);
    this.#pos += 4;
  }
  raw(b: Uint8Array) {
    this.#ensure(b.length);
    this.#buf.set(b, this.#pos);
    this.#pos += b.length;
  }
  lp(b: Uint8Array) {
    this.u16(b.length);
    this.raw(b);
  }
  opt32(b: Uint8Array | null) {
    this.u8(b === null ? 0 : 1);
    if (b !== null) this.raw(b);
  }
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

function oldSerializeSession(session: Session): Uint8Array {
  const s = stateOf(session);
  const w = new GrowingWriter();
  for (const m of [0x50, 0x44, 0x52]) w.u8(m);
  w.u8(SESSION_FORMAT_VERSION);
  const generation = session.generation;
  w.u32(Math.floor(generation / 2 ** 32));
  w.u32(generation % 2 ** 32);
  const name = new TextEncoder().encode(s.profile.name);
  w.u8(name.length);
  w.raw(name);
  w.u8((s.role === "responder" ? 1 : 0) | (s.profile.headerEncryption ? 2 : 0));
  w.lp(s.localIdentityKey);
  w.lp(s.remoteIdentityKey);
  w.lp(s.associatedData);
  w.lp(s.baseKey);
  w.raw(s.rootKey);
  w.raw(s.dhsPrivate);
  w.raw(s.dhsPublic);
  w.opt32(s.dhr);
  w.opt32(s.cks);
  w.u32(s.ns);
  w.u32(s.pn);
  w.opt32(s.ckr);
  w.u32(s.nr);
  w.opt32(s.hks);
  w.opt32(s.hkr);
  w.opt32(s.nhks);
  w.opt32(s.nhkr);
  w.u32(s.limits.maxSkippedKeys);
  w.u32(s.limits.maxForwardJump);
  w.u32(s.limits.maxSkippedChains);
  const p = s.pending;
  w.u8(p === null ? 0 : 1);
  if (p !== null) {
    w.u8(p.oneTimePreKeyId === undefined ? 0 : 1);
    w.u32(p.oneTimePreKeyId ?? 0);
    w.u32(p.signedPreKeyId);
    w.lp(p.ephemeralKey);
    w.lp(p.identityKey);
    w.u8(p.registrationId === undefined ? 0 : 1);
    w.u32(p.registrationId ?? 0);
  }
  w.u16(s.skipped.length);
  for (const c of s.skipped) {
    w.lp(c.key);
    w.u32(c.keys.length);
    for (let i = 0; i < c.keys.length; i++) {
      w.u32(c.counters[i]!);
      w.raw(c.keys[i]!);
    }
  }
  for (const info of [s.profile.x3dh.info, s.profile.rootInfo, s.profile.messageKeyInfo]) {
    w.u8(info.length);
    w.raw(info);
  }
  return w.finish();
}

const te = new TextEncoder();

/** One step of a conversation: a party sends, or one of the messages in flight to a party arrives. */
const step = fc.oneof(
  fc.record({ kind: fc.constant("send" as const), from: fc.constantFrom("a" as const, "b" as const) }),
  fc.record({ kind: fc.constant("deliver" as const), to: fc.constantFrom("a" as const, "b" as const), pick: fc.nat() }),
);

function expectSameBytes(session: Session): void {
  const bytes = serializeSession(session);
  expect(bytes).toEqual(oldSerializeSession(session));
  expect(bytes.byteLength).toBe(bytes.buffer.byteLength); // exactly sized, no slack behind it
}

describe("serializeSession writes the same bytes as the growing writer did", () => {
  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: in every state of random conversations (skips, reorders, pending key exchange)`, () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
          const e = establish(profile, "presized");
          const sessions = { a: e.a, b: e.b };
          const inFlight: Record<"a" | "b", Uint8Array[]> = { a: [], b: [] };
          expectSameBytes(sessions.a);
          expectSameBytes(sessions.b);
          for (const s of steps) {
            if (s.kind === "send") {
              const to = s.from === "a" ? "b" : "a";
              const sent = encrypt(sessions[s.from], te.encode(`m${inFlight[to].length}`), { crypto: e.crypto });
              sessions[s.from] = sent.session;
              inFlight[to].push(sent.message);
              expectSameBytes(sessions[s.from]);
            } else {
              const queue = inFlight[s.to];
              if (queue.length === 0) continue;
              const [message] = queue.splice(s.pick % queue.length, 1);
              try {
                sessions[s.to] = decrypt(sessions[s.to], message!, { crypto: e.crypto }).session;
              } catch {
                // A key exchange wrapper that Bob cannot take in decrypt, or a limit: the session is unchanged.
              }
              expectSameBytes(sessions[s.to]);
            }
          }
        }),
        { numRuns: 25 },
      );
    });
  }

  it("for the stored sessions of the current format (vectors/sessions-v2.json), byte for byte", () => {
    const v = loadVectors("sessions-v2.json") as { sessions: { responder: string; initiator: string }[] };
    for (const entry of v.sessions) {
      for (const hex of [entry.responder, entry.initiator]) {
        const bytes = hexToBytes(hex);
        const session = deserializeSession(bytes);
        expect(serializeSession(session)).toEqual(bytes);
        expect(oldSerializeSession(session)).toEqual(bytes);
      }
    }
  });
});
