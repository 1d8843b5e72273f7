// The otr suite: Parley's reference adapter passes every case; implementations with one deliberate defect
// fail exactly the cases that check it; the reference's otr ops refuse bad arguments with protocol codes.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AdapterError } from "../src/errors.js";
import type { HelloResult, OpArgs, OpName, OpResult } from "../src/protocol.js";
import type { OtrReceiveResult } from "../src/protocol-otr.js";
import { ParleyImplementation, type Implementation } from "../src/reference.js";
import { runConformance } from "../src/runner.js";
import { traced } from "../src/suite.js";
import { Mismatch } from "../src/suites/assert.js";
import { otrSuite, PARLEY_ACCOUNT } from "../src/suites/otr.js";
import { loadVectors } from "../src/suites/util.js";
import type { OtrVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR, PARLEY_ADAPTER, tsxCommand } from "./helpers.js";

describe("the otr suite against Parley's reference adapter", () => {
  it("passes every case, with the adapter as a process", async () => {
    const report = await runConformance({ adapter: PARLEY_ADAPTER, cwd: PACKAGE_DIR, suites: ["otr"] });
    expect(report.results.filter((r) => r.status !== "passed").map((r) => `${r.name}: ${r.detail ?? ""}`)).toEqual([]);
    expect(report.summary).toEqual({ passed: 29, failed: 0, skipped: 0, total: 29 });
    expect(report.results.every((r) => r.suite === "otr")).toBe(true);
  });
});

type Mode =
  | "replay"
  | "leak-when-finished"
  | "never-fragment"
  | "smp-always-verified"
  | "swap-session-keys"
  | "ignore-instance-tags"
  | "silent-rejects";

/** Parley with one defect in its otr ops, in-process. */
class Broken implements Implementation {
  readonly name = "broken";
  readonly #inner = new ParleyImplementation();
  readonly #seen = new Map<string, OtrReceiveResult>();
  constructor(readonly mode: Mode) {}

  async call<O extends OpName>(op: O, args: OpArgs<O>): Promise<OpResult<O>> {
    const a = args as unknown as Record<string, unknown>;
    if (this.mode === "never-fragment" && op === "otr.session") {
      return this.#inner.call(op, { ...a, maxFragmentSize: 0 } as unknown as OpArgs<O>);
    }
    if (this.mode === "leak-when-finished" && op === "otr.send") {
      const st = await this.#inner.call("otr.status", { session: a["session"] as string });
      if (st.state === "finished") return { messages: [a["plaintext"] as string] } as OpResult<O>;
    }
    if (this.mode === "ignore-instance-tags" && op === "otr.receive") {
      // Reads a v3 fragment whatever receiver instance tag its header names, as an implementation that never
      // compares it with its own would: the header is rewritten to its own tag before Parley sees it.
      const m = /^\?OTR\|([0-9a-fA-F]+)\|[0-9a-fA-F]+,(.*)$/s.exec(a["message"] as string);
      if (m) {
        const { ourInstanceTag } = await this.#inner.call("otr.status", { session: a["session"] as string });
        const message = `?OTR|${m[1]!}|${ourInstanceTag.toString(16)},${m[2]!}`;
        return this.#inner.call(op, { ...a, message } as unknown as OpArgs<O>);
      }
    }
    if (this.mode === "replay" && op === "otr.receive") {
      // Shows a message it has seen before again, as an implementation without counter checks would.
      const key = `${a["session"] as string} ${a["message"] as string}`;
      const before = this.#seen.get(key);
      if (before) return before;
      const r = (await this.#inner.call(op, args)) as OtrReceiveResult;
      this.#seen.set(key, r);
      return r;
    }
    const result = await this.#inner.call(op, args);
    if (this.mode === "swap-session-keys" && op === "otr.sessionKeys") {
      // Sending and receiving keys the wrong way round, as an implementation that gets "high" backwards would.
      const k = result as OpResult<"otr.sessionKeys">;
      return {
        ...k,
        sendingAesKey: k.receivingAesKey,
        sendingMacKey: k.receivingMacKey,
        receivingAesKey: k.sendingAesKey,
        receivingMacKey: k.sendingMacKey,
      } as OpResult<O>;
    }
    if (this.mode === "silent-rejects" && op === "otr.receive") {
      // Rejects what it must without an error event or an ?OTR Error: reply, which the spec allows.
      const r = result as OtrReceiveResult;
      return {
        ...r,
        events: r.events.filter((e) => e.type !== "error"),
        replies: r.replies.filter((m) => !m.startsWith("?OTR Error:")),
      } as OpResult<O>;
    }
    if (this.mode === "smp-always-verified" && op === "otr.receive") {
      const r = result as OtrReceiveResult;
      return {
        ...r,
        events: r.events.map((e) => (e.type === "smpResult" ? { ...e, result: "verified" } : e)),
      } as OpResult<O>;
    }
    return result;
  }
}

/** Runs every otr case with `iut`; the failed ones, with the first difference (or error). */
async function failures(iut: Implementation): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const c of otrSuite.cases()) {
    try {
      await c.run({ iut: traced(iut, "IUT"), ref: traced(new ParleyImplementation(), "Parley (reference)") });
    } catch (e) {
      out[c.name] = e instanceof Mismatch || e instanceof AdapterError ? e.message : String(e);
    }
  }
  return out;
}

describe("a broken OTR implementation fails the cases that check its defect", () => {
  it("shows a duplicated or replayed Data Message again", async () => {
    const failed = await failures(new Broken("replay"));
    expect(Object.keys(failed)).toEqual([
      "v3, the IUT receives: a duplicated Data Message is shown once, then the conversation goes on",
    ]);
    expect(Object.values(failed)[0]).toBe('IUT gets it again: nothing is shown: expected null, got "once"');
  });

  it("an implementation that rejects messages silently (no error event, no error reply) fails nothing", async () => {
    expect(await failures(new Broken("silent-rejects"))).toEqual({});
  });

  it("ignores the receiver instance tag of fragments", async () => {
    const failed = await failures(new Broken("ignore-instance-tags"));
    expect(Object.keys(failed)).toEqual([
      "v3, the IUT receives: fragments addressed to another receiver instance tag are discarded; the same fragments addressed to the receiver are read",
    ]);
    expect(Object.values(failed)[0]).toMatch(
      /^IUT shows nothing for fragments addressed to instance 0x[0-9a-f]+ \(its own: 0x[0-9a-f]+\): \[2\]: expected null, got "for another instance"$/,
    );
  });

  it("sends the text in the clear after the peer ended", async () => {
    const failed = await failures(new Broken("leak-when-finished"));
    expect(failed).toEqual({
      "v3, Parley ends: the IUT is finished and refuses to send (INVALID_STATE): no text leaks in the clear":
        'the IUT sends in MSGSTATE_FINISHED: expected error INVALID_STATE, got success ["must not leak"]',
    });
  });

  it("ignores the fragment size", async () => {
    const failed = await failures(new Broken("never-fragment"));
    expect(failed).toEqual({
      "v3: fragments of at most 100 characters, reassembled both ways":
        "IUT fragments its long message: expected several fragments, got 1",
      "v2: fragments of at most 100 characters, reassembled both ways":
        "IUT fragments its long message: expected several fragments, got 1",
    });
  });

  it("reports every SMP as verified", async () => {
    const failed = await failures(new Broken("smp-always-verified"));
    expect(Object.keys(failed).sort()).toEqual([
      "v3, SMP started by Parley, different secrets, with a question: both sides report failed",
      "v3, SMP started by the IUT, different secrets, without a question: both sides report failed",
    ]);
    for (const detail of Object.values(failed)) {
      expect(detail).toBe('IUT\'s SMP result: [0].result: expected "failed", got "verified"');
    }
  });

  it("swaps the sending and receiving keys", async () => {
    const failed = await failures(new Broken("swap-session-keys"));
    const v = (loadVectors("otr-v1.json") as OtrVectorFile).sessionKeys[0]!;
    expect(failed).toEqual({
      "vectors (otr-v1.json): session keys: fixed D-H keys give their data-message keys, at the high and the low end": `session keys ${v.name} (${v.high ? "high" : "low"} end): sendingAesKey byte 0 of 16: expected 0x${v.sendingAesKey.slice(0, 2)} (…${v.sendingAesKey.slice(0, 16)}), got 0x${v.receivingAesKey.slice(0, 2)} (…${v.receivingAesKey.slice(0, 16)})`,
    });
  });
});

describe("OTR protocol versions (hello's otrVersions)", () => {
  it("an adapter that speaks only v3 has the v2 cases skipped with the reason, and passes the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "otr-v3-only-"));
    const file = join(dir, "adapter.mts");
    writeFileSync(
      file,
      [
        `import { ParleyImplementation } from ${JSON.stringify(join(PACKAGE_DIR, "src", "reference.ts"))};`,
        `import { serve } from ${JSON.stringify(join(PACKAGE_DIR, "src", "serve.ts"))};`,
        "const parley = new ParleyImplementation();",
        "await serve((op, args) => {",
        "  const result = parley.handle(op, args as never);",
        '  return op === "hello" ? { ...(result as object), otrVersions: [3] } : result;',
        "});",
      ].join("\n"),
    );
    const report = await runConformance({ adapter: tsxCommand(file), cwd: PACKAGE_DIR, suites: ["otr"] });
    expect(report.adapter.hello?.otrVersions).toEqual([3]);
    const skipped = report.results.filter((r) => r.status === "skipped");
    expect(skipped.map((r) => r.name)).toEqual([
      "v2, IUT starts: the AKE completes, both sides know the version and each other's fingerprint",
      "v2, IUT starts: five rounds each way, keys rotate, every text is read once",
      "v2, Parley starts: the AKE completes, both sides know the version and each other's fingerprint",
      "v2, Parley starts: five rounds each way, keys rotate, every text is read once",
      "v2: fragments of at most 100 characters, reassembled both ways",
      "vectors (otr-v1.json): Query messages start the AKE with the highest common version, or not at all",
    ]);
    for (const r of skipped) expect(r.detail).toBe("the adapter does not speak OTR v2 (hello's otrVersions: [3])");
    expect(report.summary).toEqual({ passed: 23, failed: 0, skipped: 6, total: 29 });
  });

  it("v3 cases need v3; an adapter that does not say speaks [2, 3]", () => {
    const hello = (otrVersions?: number[]): HelloResult => ({
      implementation: "x",
      version: "0",
      protocol: 1,
      profiles: [],
      ops: [],
      ...(otrVersions === undefined ? {} : { otrVersions }),
    });
    const reasons = (h: HelloResult) => otrSuite.cases().flatMap((c) => c.requires?.(h) ?? []);
    expect(reasons(hello())).toEqual([]);
    expect(reasons(hello([2, 3]))).toEqual([]);
    // Every case but the five v2 ones, the fingerprints and the session keys needs v3.
    expect(reasons(hello([2]))).toEqual(
      Array<string>(29 - 7).fill("the adapter does not speak OTR v3 (hello's otrVersions: [2])"),
    );
  });
});

describe("the reference's otr ops check their arguments", () => {
  const parley = new ParleyImplementation();
  const codeOf = (op: OpName, args: unknown): string => {
    try {
      parley.handle(op, args as never);
    } catch (e) {
      return e instanceof AdapterError ? e.code : `not an AdapterError: ${String(e)}`;
    }
    return "no error";
  };
  const key = (loadVectors("otr-v1.json") as OtrVectorFile).keys.find((k) => k.account === PARLEY_ACCOUNT)!;
  const account = parley.handle("otr.createAccount", {
    account: key.account,
    protocol: key.protocol,
    privateKey: key.privateKey,
  });
  const { session } = parley.handle("otr.session", {
    account: account.account,
    peer: "peer@example.org",
    policy: { v2: true, v3: true },
    maxFragmentSize: 0,
  });

  it("imports the key and reports its fingerprint and instance tag", () => {
    expect(account.fingerprint).toBe(key.fingerprint);
    expect(account.instanceTag).toBeGreaterThanOrEqual(0x100);
    expect(account.instanceTag).toBeLessThanOrEqual(0xffffffff);
  });

  it("INVALID_ARGUMENT for a bad request", () => {
    expect(codeOf("otr.createAccount", { account: "", protocol: "xmpp" })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.createAccount", { account: "a@x", protocol: 5 })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.createAccount", { account: "a@x", protocol: "xmpp", privateKey: "(privkeys" })).toBe(
      "INVALID_ARGUMENT",
    );
    // A key file without this account.
    expect(codeOf("otr.createAccount", { account: "a@x", protocol: "xmpp", privateKey: key.privateKey })).toBe(
      "INVALID_ARGUMENT",
    );
    const withTag = (instanceTag: unknown) =>
      codeOf("otr.createAccount", { account: key.account, protocol: "xmpp", privateKey: key.privateKey, instanceTag });
    expect(withTag(0xff)).toBe("INVALID_ARGUMENT");
    expect(withTag(2 ** 32)).toBe("INVALID_ARGUMENT");
    expect(withTag("256")).toBe("INVALID_ARGUMENT");
    expect(withTag(0x100)).toBe("no error");
    const open = (extra: object) =>
      codeOf("otr.session", {
        account: account.account,
        peer: "p@x",
        policy: { v2: true, v3: true },
        maxFragmentSize: 0,
        ...extra,
      });
    expect(open({ peer: "" })).toBe("INVALID_ARGUMENT");
    expect(open({ policy: { v3: true } })).toBe("INVALID_ARGUMENT");
    expect(open({ policy: null })).toBe("INVALID_ARGUMENT");
    expect(open({ maxFragmentSize: -1 })).toBe("INVALID_ARGUMENT");
    expect(open({ maxFragmentSize: 1.5 })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.send", { session, plaintext: 7 })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.send", { session, plaintext: "a\u0000b" })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.receive", { session })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.smpStart", { session, secret: "s", question: 1 })).toBe("INVALID_ARGUMENT");
    expect(codeOf("otr.smpRespond", { session })).toBe("INVALID_ARGUMENT");
    const v = (loadVectors("otr-v1.json") as OtrVectorFile).sessionKeys[0]!;
    const keys = (ourPrivateKey: unknown, theirPublicKey: unknown) =>
      codeOf("otr.sessionKeys", { ourPrivateKey, theirPublicKey });
    expect(keys(v.ourPrivateKey, v.theirPublicKey)).toBe("no error");
    expect(keys(v.ourPrivateKey, "01")).toBe("INVALID_ARGUMENT"); // g^y outside 2..p-2
    expect(keys(v.ourPrivateKey, "")).toBe("INVALID_ARGUMENT");
    expect(keys(v.ourPrivateKey, v.theirPublicKey.toUpperCase())).toBe("INVALID_ARGUMENT");
    expect(keys("00", v.theirPublicKey)).toBe("INVALID_ARGUMENT"); // x = 0
    expect(keys("ab".repeat(193), v.theirPublicKey)).toBe("INVALID_ARGUMENT");
    expect(keys(7, v.theirPublicKey)).toBe("INVALID_ARGUMENT");
  });

  it("UNSUPPORTED_VERSION, UNKNOWN_HANDLE and INVALID_STATE where they belong", () => {
    expect(
      codeOf("otr.session", {
        account: account.account,
        peer: "p@x",
        policy: { v2: false, v3: false },
        maxFragmentSize: 0,
      }),
    ).toBe("UNSUPPORTED_VERSION");
    expect(
      codeOf("otr.session", { account: "nobody", peer: "p@x", policy: { v2: true, v3: true }, maxFragmentSize: 0 }),
    ).toBe("UNKNOWN_HANDLE");
    for (const op of ["otr.startAke", "otr.end", "otr.status"] as const)
      expect(codeOf(op, { session: "s-404" })).toBe("UNKNOWN_HANDLE");
    expect(codeOf("otr.receive", { session: "s-404", message: "hi" })).toBe("UNKNOWN_HANDLE");
    // SMP needs an encrypted session.
    expect(codeOf("otr.smpStart", { session, secret: "s" })).toBe("INVALID_STATE");
    expect(codeOf("otr.smpRespond", { session, secret: "s" })).toBe("INVALID_STATE");
    expect(parley.handle("otr.status", { session })).toMatchObject({
      state: "plaintext",
      version: null,
      peerFingerprint: null,
    });
  });
});
