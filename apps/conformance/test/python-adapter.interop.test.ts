// The first third-party adapter, adapters/python_x3dh_doubleratchet.py (Debian's python3-x3dh and
// python3-doubleratchet in python3-oldmemo's and python3-twomemo's OMEMO configurations), run by the runner:
// every case of the profiles it claims passes, the rest is skipped for the profile alone; with Debian's
// python3-xeddsa (libxeddsa) it answers the xeddsa ops too, and passes that suite whole. Then the
// differences the README's interoperability matrix documents, each pinned so that a change is noticed.
// `pnpm test:interop` installs the Debian packages with apt when missing.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdapterProcess } from "../src/client.js";
import { AdapterError } from "../src/errors.js";
import { OP_NAMES, type ErrorCode, type ProfileName } from "../src/protocol.js";
import { ParleyImplementation, type Implementation } from "../src/reference.js";
import { runConformance, selectCases, type RunReport } from "../src/runner.js";
import { loadVectors } from "../src/suites/util.js";
import { text } from "../src/suites/util.js";
import type { XeddsaVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR } from "./helpers.js";

const ADAPTER = "/usr/bin/python3 adapters/python_x3dh_doubleratchet.py";
const CLAIMED: ProfileName[] = ["legacyOmemo", "omemo2"];
/** The areas the adapter implements (OMEMO stanzas and OTR are other adapters' work). */
const AREAS = /^(hello|x3dh\.|ratchet\.|xeddsa\.)/;
/** The suites of those areas: their counts are pinned below. */
const SUITES = ["xeddsa", "x3dh", "ratchet"];

describe("adapters/python_x3dh_doubleratchet.py under the runner", () => {
  let report: RunReport;
  beforeAll(async () => {
    report = await runConformance({ adapter: ADAPTER, cwd: PACKAGE_DIR, suites: SUITES });
  });

  it("answers hello with the profiles and ops it implements", () => {
    const hello = report.adapter.hello;
    expect(hello?.protocol).toBe(1);
    expect(hello?.profiles).toEqual(CLAIMED);
    expect([...(hello?.ops ?? [])].sort()).toEqual(OP_NAMES.filter((op) => AREAS.test(op)).sort());
    expect(hello?.version).toMatch(
      /^x3dh 1\.0\.\d+, doubleratchet 1\.0\.\d+, oldmemo 1\.0\.\d+, twomemo 1\.0\.\d+, xeddsa 1\.0\.\d+$/,
    );
    expect(report.adapter.restarts).toBe(0);
  });

  it("passes every case of legacyOmemo and omemo2 and of xeddsa; only the other profiles are skipped", () => {
    const failed = report.results.filter((r) => r.status === "failed");
    expect(failed.map((r) => `${r.name}: ${r.detail ?? ""}`)).toEqual([]);
    const claimed = report.results.filter((r) => r.profile !== null && CLAIMED.includes(r.profile));
    expect(claimed.filter((r) => r.status !== "passed").map((r) => r.name)).toEqual([]);
    const skipped = report.results.filter((r) => r.status === "skipped");
    expect(new Set(skipped.map((r) => r.profile))).toEqual(new Set(["signal", "signalHeaderEncrypted"]));
  });

  it("has the counts of the README's interoperability matrix", () => {
    const count = (suite: string, status: string) =>
      report.results.filter((r) => r.suite === suite && r.status === status).length;
    expect({
      passed: count("x3dh", "passed"),
      failed: count("x3dh", "failed"),
      skipped: count("x3dh", "skipped"),
    }).toEqual({ passed: 20, failed: 0, skipped: 11 });
    expect({
      passed: count("ratchet", "passed"),
      failed: count("ratchet", "failed"),
      skipped: count("ratchet", "skipped"),
    }).toEqual({ passed: 36, failed: 0, skipped: 32 });
    expect({
      passed: count("xeddsa", "passed"),
      failed: count("xeddsa", "failed"),
      skipped: count("xeddsa", "skipped"),
    }).toEqual({ passed: 15, failed: 0, skipped: 0 });
    expect(report.summary).toEqual({ passed: 71, failed: 0, skipped: 43, total: 114 });
    expect(selectCases(SUITES).length).toBe(114);
  });

  it("vectors/ratchet-v1.json's provenance records this replay (scripts/cross_check_ratchet.ts --check)", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/cross_check_ratchet.ts", "--check"], {
      cwd: PACKAGE_DIR,
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("legacyOmemo-conversation and omemo2-conversation");
    expect(r.stdout).toContain("10 of 10 cases passed");
  });
});

/** The error code of a call that must fail. */
async function codeOf(call: Promise<unknown>): Promise<ErrorCode | "no error"> {
  try {
    await call;
  } catch (e) {
    if (e instanceof AdapterError) return e.code;
    throw e;
  }
  return "no error";
}

describe("documented differences from Parley (pinned)", () => {
  let py: AdapterProcess;
  const ref = new ParleyImplementation();
  beforeAll(async () => {
    py = new AdapterProcess({ command: ADAPTER, timeoutMs: 30_000, cwd: PACKAGE_DIR });
    await py.call("hello", { protocol: 1 });
  });
  afterAll(() => py.close());

  /** `initiator` starts a session from `responder`'s bundle; returns both sessions after one message each way. */
  async function converse(initiator: Implementation, responder: Implementation, profile: ProfileName) {
    const bobId = await responder.call("x3dh.generateIdentity", { profile });
    const { party, bundle } = await responder.call("x3dh.bundle", {
      profile,
      identityPrivateKey: bobId.privateKey,
      signedPreKeyId: 1,
      oneTimePreKeys: [{ id: 1 }],
    });
    const aliceId = await initiator.call("x3dh.generateIdentity", { profile });
    const { session: alice } = await initiator.call("ratchet.initiate", {
      profile,
      identityPrivateKey: aliceId.privateKey,
      bundle,
    });
    const first = await initiator.call("ratchet.encrypt", { session: alice, plaintext: text("hi") });
    const { session: bob } = await responder.call("ratchet.accept", { party, message: first.message });
    return { alice, bob };
  }

  /** Bob (Parley) sends `n + 1` messages of a fresh chain; Alice receives the last (`n` ahead). */
  async function receiveAhead(receiver: Implementation, profile: ProfileName, n: number) {
    const { alice, bob } = await converse(receiver, ref, profile);
    let last = await ref.call("ratchet.encrypt", { session: bob, plaintext: text("0") });
    for (let i = 1; i <= n; i++) last = await ref.call("ratchet.encrypt", { session: bob, plaintext: text(`${i}`) });
    return codeOf(receiver.call("ratchet.decrypt", { session: alice, ...last }));
  }

  it.each(CLAIMED)(
    "%s: python-doubleratchet refuses a message more than 1000 ahead (TOO_MANY_SKIPPED); Parley reads it",
    async (profile) => {
      expect(await receiveAhead(py, profile, 1000)).toBe("no error");
      expect(await receiveAhead(py, profile, 1001)).toBe("TOO_MANY_SKIPPED");
      expect(await receiveAhead(ref, profile, 1001)).toBe("no error");
    },
  );

  it("legacyOmemo: ratchet.initiate needs a one-time prekey (python-oldmemo); x3dh.initiate does not, nor does Parley", async () => {
    const profile = "legacyOmemo";
    const bobId = await ref.call("x3dh.generateIdentity", { profile });
    const { bundle } = await ref.call("x3dh.bundle", {
      profile,
      identityPrivateKey: bobId.privateKey,
      signedPreKeyId: 1,
      oneTimePreKeys: [],
    });
    const aliceId = await py.call("x3dh.generateIdentity", { profile });
    const args = { profile, identityPrivateKey: aliceId.privateKey, bundle } as const;
    expect(await codeOf(py.call("ratchet.initiate", args))).toBe("MISSING_ONE_TIME_PRE_KEY");
    expect((await py.call("x3dh.initiate", args)).keyExchange.oneTimePreKeyId).toBeNull();
    expect(await codeOf(ref.call("ratchet.initiate", args))).toBe("no error");
  });

  it("libxeddsa refuses a non-canonical s (s + L) by default; Parley accepts it unless strict, as the spec does", async () => {
    const file = loadVectors("xeddsa-v1.json") as XeddsaVectorFile;
    const nonCanonical = file.verifications.filter((v) => v.nonCanonicalS);
    expect(nonCanonical.map((v) => v.variant).sort()).toEqual(["libsignal", "libsignal", "xeddsa", "xeddsa"]);
    for (const v of nonCanonical) {
      const args = { variant: v.variant, publicKey: v.publicKey, message: v.message, signature: v.signature };
      expect((await py.call("xeddsa.verify", args)).valid).toBe(false);
      expect((await ref.call("xeddsa.verify", args)).valid).toBe(true);
      expect((await ref.call("xeddsa.verify", { ...args, strict: true })).valid).toBe(false);
      // The same signature with the canonical s (s + L − L) verifies in both: only the bound differs.
      const canonical = file.verifications.find((c) => c.name === v.name.replace("s + L", "valid"))!;
      expect(canonical.signature).not.toBe(v.signature);
      const fixed = { ...args, signature: canonical.signature };
      expect([(await py.call("xeddsa.verify", fixed)).valid, (await ref.call("xeddsa.verify", fixed)).valid]).toEqual([
        true,
        true,
      ]);
    }
  });

  it("the adapter's spec signatures are Parley's byte for byte for keys of sign bit 0 only because it reduces a = k mod q itself", async () => {
    const file = loadVectors("xeddsa-v1.json") as XeddsaVectorFile;
    const sign0 = file.signatures.filter((s) => s.variant === "xeddsa" && s.knownDifference !== undefined);
    expect(sign0.length).toBe(8);
    for (const s of sign0) {
      const args = { variant: s.variant, privateKey: s.privateKey, message: s.message, nonce: s.nonce };
      expect((await py.call("xeddsa.sign", args)).signature).toBe(s.signature);
      // With k unreduced in the nonce hash (libxeddsa's own XEdDSA signing and libsignal-protocol-c's
      // xed25519_sign; for a key of sign bit 0 the same bytes as the libsignal variant) the bytes differ,
      // though that signature verifies too: the byte-exact case holds only with the spec's a = k mod q.
      const unreduced = (await py.call("xeddsa.sign", { ...args, variant: "libsignal" })).signature;
      expect(unreduced).not.toBe(s.signature);
      const verify = { variant: s.variant, publicKey: s.publicKey, message: s.message, signature: unreduced };
      expect([(await py.call("xeddsa.verify", verify)).valid, (await ref.call("xeddsa.verify", verify)).valid]).toEqual(
        [true, true],
      );
    }
  });

  it("libxeddsa refuses the forgeries for low-order keys (libsodium's small-order check); Parley accepts them, as the spec", async () => {
    const file = loadVectors("xeddsa-v1.json") as XeddsaVectorFile;
    const forgeries = file.verifications.filter((v) => v.knownDifference !== undefined && !v.nonCanonicalS);
    expect(forgeries.map((v) => v.name).every((n) => n.includes("low-order key"))).toBe(true);
    expect(forgeries).toHaveLength(10);
    for (const v of forgeries) {
      const args = { variant: v.variant, publicKey: v.publicKey, message: v.message, signature: v.signature };
      expect([(await py.call("xeddsa.verify", args)).valid, (await ref.call("xeddsa.verify", args)).valid]).toEqual([
        false,
        true,
      ]);
    }
  });

  it("u + p for the key with u = 9 is refused by both (the adapter checks u ≥ p itself; libxeddsa's conversion does not)", async () => {
    const file = loadVectors("xeddsa-v1.json") as XeddsaVectorFile;
    const v = file.verifications.find((x) => x.name === "xeddsa u9: u + p")!;
    const args = { variant: v.variant, publicKey: v.publicKey, message: v.message, signature: v.signature };
    expect([(await py.call("xeddsa.verify", args)).valid, (await ref.call("xeddsa.verify", args)).valid]).toEqual([
      false,
      false,
    ]);
  });
});
