// Issue 17 (tree-shaking): each profile carries its own wire codec and lives in its own module, and
// deserializeSession finds built-in profiles through a registry they join when their module loads,
// so a bundle that imports only legacyOmemo carries no OMEMO 2 code. scripts/bundle-size.mjs proves
// the bundles; these tests pin the behaviour the split must keep.
import { describe, expect, it, vi } from "vitest";
import {
  createSignalProfile,
  deserializeSession,
  legacyOmemo,
  omemo2,
  serializeSession,
  signal,
  signalHeaderEncrypted,
  withLimits,
} from "../src/index.js";
import { ALL_PROFILES, establish, profileLabel } from "./helpers.js";

describe("profile codecs", () => {
  it("each wire format has its own codec, kept by withLimits and createSignalProfile", () => {
    expect(legacyOmemo.codec).not.toBe(omemo2.codec);
    expect(legacyOmemo.codec).not.toBe(signal.codec);
    expect(omemo2.codec).not.toBe(signal.codec);
    expect(signalHeaderEncrypted.codec).toBe(signal.codec);
    expect(createSignalProfile({ application: "MyChat" }).codec).toBe(signal.codec);
    for (const p of ALL_PROFILES) {
      expect(withLimits(p, { maxSkippedKeys: 10 }).codec).toBe(p.codec);
      expect(Object.isFrozen(p.codec)).toBe(true);
    }
  });

  it("omemo2's limits are the defaults with OMEMO 2's skipped-key figure, in the same key order", () => {
    expect(Object.keys(omemo2.limits)).toEqual(Object.keys(legacyOmemo.limits));
    expect(omemo2.limits).toEqual({ ...legacyOmemo.limits, maxSkippedKeys: 1000 });
    expect(Object.isFrozen(omemo2.limits)).toBe(true);
  });
});

describe("deserializeSession finds built-in profiles through the registry", () => {
  for (const profile of ALL_PROFILES) {
    it(`${profileLabel(profile)}: loads without options.profile under the package entry`, () => {
      const { b } = establish(profile);
      const bytes = serializeSession(b);
      expect(serializeSession(deserializeSession(bytes))).toEqual(bytes);
    });
  }

  it("with only the legacy profile's module loaded (as in a bundle), other profiles must be passed", async () => {
    const legacyBytes = serializeSession(establish(legacyOmemo).b);
    const omemo2Bytes = serializeSession(establish(omemo2).b);
    vi.resetModules();
    const fresh = await import("../src/serialize.js");
    await import("../src/profile-legacy.js");
    expect(fresh.serializeSession(fresh.deserializeSession(legacyBytes))).toEqual(legacyBytes);
    let thrown: unknown;
    try {
      fresh.deserializeSession(omemo2Bytes);
    } catch (e) {
      thrown = e;
    }
    // The fresh module graph has its own DoubleRatchetError class: compare the code, not the class.
    expect((thrown as { code?: string }).code).toBe("INVALID_SESSION");
    expect((thrown as Error).message).toContain("options.profile");
    expect(fresh.serializeSession(fresh.deserializeSession(omemo2Bytes, { profile: omemo2 }))).toEqual(omemo2Bytes);
    vi.resetModules();
  });
});
