import { hexToBytes } from "@parley/crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decrypt,
  deserializeSession,
  encrypt,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  signal,
  signalHeaderEncrypted,
  type RatchetProfile,
} from "../src/index.js";
import { ALL_PROFILES, establish, profileLabel } from "./helpers.js";
import { loadVectors } from "./vectors.js";

const te = new TextEncoder();
const td = new TextDecoder();

interface SessionVectors {
  version: number;
  sessions: {
    profile: string;
    responder: string;
    initiator: string;
    heldMessage: string;
    heldPlaintext: string;
    /** From version 2 on (version 1 has no generation: it loads as 0). */
    responderGeneration?: number;
    initiatorGeneration?: number;
  }[];
}

describe("versioned serialization", () => {
  // Every format version stays loadable: add a line here for each new version.
  for (const version of [1, 2]) {
    it(`loads every session of format version ${version} (vectors/sessions-v${version}.json) and they still work`, () => {
      const v = loadVectors(`sessions-v${version}.json`) as SessionVectors;
      expect(v.version).toBe(version);
      expect(v.sessions.length).toBe(ALL_PROFILES.length);
      for (const entry of v.sessions) {
        const bytes = hexToBytes(entry.responder);
        expect(bytes[3]).toBe(version);
        const b = deserializeSession(bytes);
        const a = deserializeSession(hexToBytes(entry.initiator));
        expect(
          profileLabel({ name: b.profileName, headerEncryption: entry.profile.includes("header") } as RatchetProfile),
        ).toBe(entry.profile);
        expect(b.generation).toBe(version === 1 ? 0 : entry.responderGeneration);
        expect(a.generation).toBe(version === 1 ? 0 : entry.initiatorGeneration);
        const held = decrypt(b, hexToBytes(entry.heldMessage));
        expect(td.decode(held.plaintext)).toBe(entry.heldPlaintext);
        expect(held.session.generation).toBe(b.generation + 1);
        const reply = encrypt(held.session, te.encode("reply"));
        expect(td.decode(decrypt(a, reply.message).plaintext)).toBe("reply");
        // Saved again, it is in the current format and keeps its generation.
        const saved = serializeSession(reply.session);
        expect(saved[3]).toBe(2);
        expect(deserializeSession(saved).generation).toBe(b.generation + 2);
      }
    });
  }

  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: serialize → deserialize → serialize is the identity, and the copy behaves the same`, () => {
      let { a, b } = establish(profile, "roundtrip");
      for (let i = 0; i < 3; i++) a = encrypt(a, te.encode(`skip ${i}`)).session;
      const m = encrypt(a, te.encode("after skips"));
      b = decrypt(b, m.message).session;
      const bytes = serializeSession(b);
      const copy = deserializeSession(bytes);
      expect(serializeSession(copy)).toEqual(bytes);
      expect(copy.skippedKeyCount).toBe(b.skippedKeyCount);
      expect(String(copy)).toBe(String(b));
    });
  }

  it("an idle session stays far below 4 KB serialized", () => {
    for (const profile of ALL_PROFILES) {
      const { a, b } = establish(profile, "size");
      const reply = encrypt(b, te.encode("r"));
      const idle = decrypt(a, reply.message).session;
      expect(serializeSession(idle).length).toBeLessThan(1024);
      expect(serializeSession(reply.session).length).toBeLessThan(1024);
    }
  });

  it("a session for one profile does not load as another", () => {
    const { b } = establish(omemo2, "wrong");
    const bytes = serializeSession(b);
    for (const p of [legacyOmemo, signal, signalHeaderEncrypted]) {
      expect(() => deserializeSession(bytes, { profile: p })).toThrow(/profile/);
    }
    expect(deserializeSession(bytes, { profile: omemo2 }).profileName).toBe("omemo2");
  });

  it("corrupt input is INVALID_SESSION: truncation, trailing bytes, any flipped byte in the header, unknown version", () => {
    const { b } = establish(signal, "corrupt");
    const bytes = serializeSession(b);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), (n) => {
        try {
          deserializeSession(bytes.subarray(0, n));
          throw new Error("truncated session loaded");
        } catch (e) {
          expect(isDoubleRatchetError(e, "INVALID_SESSION")).toBe(true);
        }
      }),
    );
    expect(() => deserializeSession(new Uint8Array([...bytes, 0]))).toThrow(/trailing/);
    const v9 = bytes.slice();
    v9[3] = 9;
    expect(() => deserializeSession(v9)).toThrow(/unknown version 9/);
  });
});

describe("custom signal profiles", () => {
  it("a session of createSignalProfile({ application }) loads only with that profile", async () => {
    const { createSignalProfile } = await import("../src/index.js");
    const custom = createSignalProfile({ application: "MyChat" });
    const { b } = establish(custom, "custom");
    const bytes = serializeSession(b);
    expect(() => deserializeSession(bytes)).toThrow(/other KDF infos/);
    const loaded = deserializeSession(bytes, { profile: custom });
    expect(serializeSession(loaded)).toEqual(bytes);
  });
});
