// The otr suite: Parley's reference adapter passes every case; implementations with one deliberate defect
// fail exactly the cases that check it; the reference's otr ops refuse bad arguments with protocol codes.
import { describe, expect, it } from "vitest";
import { AdapterError } from "../src/errors.js";
import type { OpArgs, OpName, OpResult } from "../src/protocol.js";
import type { OtrReceiveResult } from "../src/protocol-otr.js";
import { ParleyImplementation, type Implementation } from "../src/reference.js";
import { runConformance } from "../src/runner.js";
import { traced } from "../src/suite.js";
import { Mismatch } from "../src/suites/assert.js";
import { otrSuite, PARLEY_ACCOUNT } from "../src/suites/otr.js";
import { loadVectors } from "../src/suites/util.js";
import type { OtrVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR, PARLEY_ADAPTER } from "./helpers.js";

describe("the otr suite against Parley's reference adapter", () => {
  it("passes every case, with the adapter as a process", async () => {
    const report = await runConformance({ adapter: PARLEY_ADAPTER, cwd: PACKAGE_DIR, suites: ["otr"] });
    expect(report.results.filter((r) => r.status !== "passed").map((r) => `${r.name}: ${r.detail ?? ""}`)).toEqual([]);
    expect(report.summary).toEqual({ passed: 28, failed: 0, skipped: 0, total: 28 });
    expect(report.results.every((r) => r.suite === "otr")).toBe(true);
  });
});

type Mode = "replay" | "leak-when-finished" | "never-fragment" | "smp-always-verified";

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
