// The libotr adapter, adapters/libotr.mjs (libotr 4.1.1 through packages/otr/interop/libotr_peer.c), run by
// the runner: every otr case passes, every case of the other suites is skipped (it lists only otr ops).
// Then vectors/otr-v1.json replayed against libotr, the suite's Data Message parser checked against
// libotr's otr_parse, and the differences the README's interoperability matrix documents, each pinned so
// that a change is noticed. `pnpm test:interop` installs libotr5-dev, libotr5-bin and gcc with apt.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { deriveSessionKeys, MODP_P } from "@parley/otr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdapterProcess } from "../src/client.js";
import { AdapterError } from "../src/errors.js";
import type { OtrPolicyJson } from "../src/protocol-otr.js";
import { OTR_OP_NAMES } from "../src/protocol-otr.js";
import { ParleyImplementation, type Implementation } from "../src/reference.js";
import { runConformance, type RunReport } from "../src/runner.js";
import { dataMessage } from "../src/suites/otr.js";
import { loadVectors } from "../src/suites/util.js";
import type { OtrVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR } from "./helpers.js";

const ADAPTER = "node adapters/libotr.mjs";
const BOTH: OtrPolicyJson = { v2: true, v3: true };

describe("adapters/libotr.mjs under the runner", () => {
  let report: RunReport;
  beforeAll(async () => {
    report = await runConformance({ adapter: ADAPTER, cwd: PACKAGE_DIR });
  });

  it("answers hello with libotr's version and the otr ops", () => {
    const hello = report.adapter.hello;
    expect(hello?.implementation).toBe("libotr");
    expect(hello?.version).toMatch(/^libotr 4\.1\.1, libgcrypt 1\.\d+\.\d+$/);
    expect(hello?.profiles).toEqual([]);
    expect([...(hello?.ops ?? [])].sort()).toEqual([...OTR_OP_NAMES].sort());
    expect(hello?.otrVersions).toEqual([2, 3]);
    expect(report.adapter.restarts).toBe(0);
  });

  it("passes every otr case; the other suites are skipped, never failed", () => {
    expect(report.results.filter((r) => r.status === "failed").map((r) => `${r.name}: ${r.detail ?? ""}`)).toEqual([]);
    const count = (status: string) => report.results.filter((r) => r.suite === "otr" && r.status === status).length;
    expect({ passed: count("passed"), failed: count("failed"), skipped: count("skipped") }).toEqual({
      passed: 29,
      failed: 0,
      skipped: 0,
    });
    const others = report.results.filter((r) => r.suite !== "otr");
    expect(others.filter((r) => r.status !== "skipped").map((r) => r.name)).toEqual([]);
    expect(report.summary.passed).toBe(29);
  });
});

/** The two sides of a session, with the AKE run by `starter` and every reply delivered. */
async function converse(a: Implementation, b: Implementation, maxFragmentSize = 0) {
  const open = async (impl: Implementation, me: string, peer: string) => {
    const { account } = await impl.call("otr.createAccount", { account: me, protocol: "xmpp" });
    return (await impl.call("otr.session", { account, peer, policy: BOTH, maxFragmentSize })).session;
  };
  const sa = await open(a, "a@example.org", "b@example.org");
  const sb = await open(b, "b@example.org", "a@example.org");
  const side = { a: { impl: a, session: sa }, b: { impl: b, session: sb } };
  let queue = (await a.call("otr.startAke", { session: sa })).messages.map((m) => ({ to: side.b, m }));
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { to, m } of queue) {
      const r = await to.impl.call("otr.receive", { session: to.session, message: m });
      for (const reply of r.replies) next.push({ to: to === side.a ? side.b : side.a, m: reply });
    }
    queue = next;
  }
  return side;
}

describe("vectors/otr-v1.json and the suite's parser against libotr", () => {
  let libotr: AdapterProcess;
  const ref = new ParleyImplementation();
  const file = loadVectors("otr-v1.json") as OtrVectorFile;
  beforeAll(async () => {
    libotr = new AdapterProcess({ command: ADAPTER, timeoutMs: 60_000, cwd: PACKAGE_DIR });
    await libotr.call("hello", { protocol: 1 });
  });
  afterAll(() => libotr.close());

  it("every key's fingerprint and every Query message's answer are libotr's, as provenance.crossChecked says", async () => {
    let fingerprints = 0;
    for (const k of file.keys) {
      const a = await libotr.call("otr.createAccount", {
        account: k.account,
        protocol: k.protocol,
        privateKey: k.privateKey,
      });
      expect(a.fingerprint, k.name).toBe(k.fingerprint);
      fingerprints++;
    }
    let answers = 0;
    for (const q of file.queries) {
      const { account } = await libotr.call("otr.createAccount", {
        account: file.keys[1]!.account,
        protocol: file.keys[1]!.protocol,
        privateKey: file.keys[1]!.privateKey,
      });
      const { session } = await libotr.call("otr.session", {
        account,
        peer: "q@example.org",
        policy: q.policy,
        maxFragmentSize: 0,
      });
      const r = await libotr.call("otr.receive", { session, message: q.message });
      const versions = r.replies.map((m) => Buffer.from(/^\?OTR:([^.]+)\./.exec(m)![1]!, "base64").readUInt16BE(0));
      expect(versions, `${q.message} ${JSON.stringify(q.policy)}`).toEqual(q.answer === null ? [] : [q.answer]);
      answers++;
    }
    expect([fingerprints, answers]).toEqual([3, 20]);
    expect(file.provenance.crossChecked).toHaveLength(1);
    expect(file.provenance.crossChecked[0]).toMatch(
      /^libotr 4\.1\.1, .*: 3 of 3 fingerprints equal .*, 20 of 20 Query-message answers equal .*, 6 of 6 session-key derivations equal \(libotr5-bin's otr_sesskeys and otr_mackey/,
    );
  });

  it("every session-key vector is what libotr's otr_sesskeys / otr_mackey derive, at both ends of each exchange", async () => {
    let derived = 0;
    for (const v of file.sessionKeys) {
      const { ourPublicKey, high, sendingAesKey, sendingMacKey, receivingAesKey, receivingMacKey } = v;
      expect(
        await libotr.call("otr.sessionKeys", { ourPrivateKey: v.ourPrivateKey, theirPublicKey: v.theirPublicKey }),
        v.name,
      ).toEqual({ ourPublicKey, high, sendingAesKey, sendingMacKey, receivingAesKey, receivingMacKey });
      derived++;
    }
    expect(derived).toBe(6);
    expect(file.sessionKeys.filter((v) => v.high)).toHaveLength(3);
    const codeOf = async (theirPublicKey: string, ourPrivateKey = file.sessionKeys[0]!.ourPrivateKey) => {
      try {
        await libotr.call("otr.sessionKeys", { ourPrivateKey, theirPublicKey });
      } catch (e) {
        if (e instanceof AdapterError) return e.code;
        throw e;
      }
      return "no error";
    };
    expect(await codeOf("01")).toBe("INVALID_ARGUMENT");
    expect(await codeOf((MODP_P - 1n).toString(16))).toBe("INVALID_ARGUMENT");
    expect(await codeOf("02", "00")).toBe("INVALID_ARGUMENT");
  });

  it("refuses bad requests with protocol codes", async () => {
    const codeOf = async (call: Promise<unknown>) => {
      try {
        await call;
      } catch (e) {
        if (e instanceof AdapterError) return e.code;
        throw e;
      }
      return "no error";
    };
    const { account } = await libotr.call("otr.createAccount", {
      account: file.keys[1]!.account,
      protocol: file.keys[1]!.protocol,
      privateKey: file.keys[1]!.privateKey,
    });
    const open = (policy: unknown, maxFragmentSize: unknown = 0) =>
      codeOf(libotr.call("otr.session", { account, peer: "p@x", policy, maxFragmentSize } as never));
    expect(await open({ v2: false, v3: false })).toBe("UNSUPPORTED_VERSION");
    expect(await open({ v3: true })).toBe("INVALID_ARGUMENT");
    expect(await open(BOTH, -1)).toBe("INVALID_ARGUMENT");
    expect(
      await codeOf(libotr.call("otr.createAccount", { account: "a@x", protocol: "xmpp", privateKey: "(privkeys" })),
    ).toBe("INVALID_ARGUMENT");
    expect(await codeOf(libotr.call("otr.status", { session: "s-404" }))).toBe("UNKNOWN_HANDLE");
    const { session } = await libotr.call("otr.session", { account, peer: "p@x", policy: BOTH, maxFragmentSize: 0 });
    expect(await codeOf(libotr.call("otr.smpStart", { session, secret: "s" }))).toBe("INVALID_STATE");
    expect(await codeOf(libotr.call("otr.send", { session, plaintext: 7 } as never))).toBe("INVALID_ARGUMENT");
  });

  it("otr_parse (libotr5-bin) reads the same key ids and ciphertext as the suite's Data Message parser, for both sides' messages", async () => {
    const { a, b } = await converse(libotr, ref);
    let checked = 0;
    for (let round = 0; round < 3; round++) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const [wire] = (await from.impl.call("otr.send", { session: from.session, plaintext: `round ${round}` }))
          .messages;
        const parsed = spawnSync("otr_parse", { input: `${wire!}\n`, encoding: "utf8" });
        expect(parsed.status).toBe(0);
        const field = (name: string) => new RegExp(`^\\s*${name}: (\\S+)$`, "m").exec(parsed.stdout)?.[1];
        const d = dataMessage(wire!);
        const length = d.bin.readUInt32BE(d.ciphertextAt - 4);
        expect({
          version: Number(field("Version")),
          senderKeyId: Number(field("Sender keyid")),
          recipientKeyId: Number(field("Rcpt keyid")),
          ciphertext: field("Encrypted message"),
          receiverInstance: Number(field("Receiver instance")),
        }).toEqual({
          version: d.version,
          senderKeyId: d.senderKeyId,
          recipientKeyId: d.recipientKeyId,
          ciphertext: d.bin.subarray(d.ciphertextAt, d.ciphertextAt + length).toString("hex"),
          receiverInstance: d.bin.readUInt32BE(d.receiverTagAt!),
        });
        await to.impl.call("otr.receive", { session: to.session, message: wire! });
        checked++;
      }
    }
    expect(checked).toBe(6);
  });
});

describe("documented differences between libotr and Parley (pinned)", () => {
  let libotr: AdapterProcess;
  const ref = new ParleyImplementation();
  beforeAll(async () => {
    libotr = new AdapterProcess({ command: ADAPTER, timeoutMs: 60_000, cwd: PACKAGE_DIR });
    await libotr.call("hello", { protocol: 1 });
  });
  afterAll(() => libotr.close());

  // Not a difference any more (Parley reassembled in any order until 2026-12-03): pinned so that it stays so.
  it("fragments in reverse order: both drop them (the spec's in-order reassembly) and read the next message", async () => {
    const { a: lib, b: parley } = await converse(libotr, ref, 100);
    const text = "x".repeat(300);
    const fromLib = (await libotr.call("otr.send", { session: lib.session, plaintext: text })).messages.reverse();
    expect(fromLib.length).toBeGreaterThan(1);
    const parleyShows = [];
    for (const f of fromLib)
      parleyShows.push((await ref.call("otr.receive", { session: parley.session, message: f })).plaintext);
    expect(parleyShows.every((p) => p === null)).toBe(true);
    const fromParley = (await ref.call("otr.send", { session: parley.session, plaintext: text })).messages.reverse();
    expect(fromParley.length).toBeGreaterThan(1);
    const libShows = [];
    for (const f of fromParley)
      libShows.push((await libotr.call("otr.receive", { session: lib.session, message: f })).plaintext);
    expect(libShows.every((p) => p === null)).toBe(true);
    // Both are still in the conversation: the next message's fragments, in order, are read.
    for (const [from, to, session, toSession] of [
      [ref, libotr, parley.session, lib.session],
      [libotr, ref, lib.session, parley.session],
    ] as const) {
      const next = (await from.call("otr.send", { session, plaintext: "next" })).messages;
      const shown = [];
      for (const f of next) shown.push((await to.call("otr.receive", { session: toSession, message: f })).plaintext);
      expect(shown.at(-1)).toBe("next");
    }
  });

  it("after the peer ends, libotr forgets the version and fingerprint (otr.status: null), Parley keeps them", async () => {
    const { a: lib, b: parley } = await converse(libotr, ref);
    for (const m of (await ref.call("otr.end", { session: parley.session })).messages)
      await libotr.call("otr.receive", { session: lib.session, message: m });
    expect(await libotr.call("otr.status", { session: lib.session })).toMatchObject({
      state: "finished",
      version: null,
      peerFingerprint: null,
    });
    const other = await converse(ref, libotr);
    for (const m of (await libotr.call("otr.end", { session: other.b.session })).messages)
      await ref.call("otr.receive", { session: other.a.session, message: m });
    const st = await ref.call("otr.status", { session: other.a.session });
    expect(st.state).toBe("finished");
    expect(st.version).toBe(3);
    expect(st.peerFingerprint).toMatch(/^[0-9a-f]{40}$/);
  });

  it("otr_sesskeys' \"Session id\" is OTR v1's SHA-1(0x00 ‖ MPI(s)), not the SSID of v2/v3 (deriveSessionKeys' ssid)", () => {
    const v = loadVectors("otr-v1.json") as OtrVectorFile;
    const k = v.sessionKeys[0]!;
    const out = spawnSync("otr_sesskeys", [k.ourPrivateKey, k.theirPublicKey], { encoding: "utf8" });
    expect(out.status).toBe(0);
    const sessionId = /^Session id: ([0-9a-f]+)$/m.exec(out.stdout)?.[1];
    let s = 1n;
    for (
      let b = BigInt(`0x${k.theirPublicKey}`), e = BigInt(`0x${k.ourPrivateKey}`);
      e > 0n;
      e >>= 1n, b = (b * b) % MODP_P
    )
      if (e & 1n) s = (s * b) % MODP_P;
    const hex = s.toString(16).padStart(Math.ceil(s.toString(16).length / 2) * 2, "0");
    const mpi = Buffer.concat([Buffer.alloc(4), Buffer.from(hex, "hex")]);
    mpi.writeUInt32BE(hex.length / 2, 0);
    const digest = (alg: string, b: number) => createHash(alg).update(Buffer.of(b)).update(mpi).digest("hex");
    expect(sessionId).toBe(digest("sha1", 0x00));
    const ours = deriveSessionKeys(BigInt(`0x${k.ourPrivateKey}`), BigInt(`0x${k.theirPublicKey}`));
    expect(Buffer.from(ours.ssid).toString("hex")).toBe(digest("sha256", 0x00).slice(0, 16));
    expect(sessionId).not.toContain(Buffer.from(ours.ssid).toString("hex"));
  });

  it("libotr's Query message carries an explanatory text; Parley's is the bare query", async () => {
    const { session: ls } = await libotr.call("otr.session", {
      account: (await libotr.call("otr.createAccount", { account: "q@example.org", protocol: "xmpp" })).account,
      peer: "p@example.org",
      policy: BOTH,
      maxFragmentSize: 0,
    });
    const [libQuery] = (await libotr.call("otr.startAke", { session: ls })).messages;
    expect(libQuery).toMatch(
      /^\?OTRv23\?\n<b>q@example\.org<\/b> has requested an <a href="https:\/\/otr\.cypherpunks\.ca\/">Off-the-Record private conversation<\/a>\./,
    );
    const { session: rs } = await ref.call("otr.session", {
      account: (await ref.call("otr.createAccount", { account: "q@example.org", protocol: "xmpp" })).account,
      peer: "p@example.org",
      policy: BOTH,
      maxFragmentSize: 0,
    });
    expect((await ref.call("otr.startAke", { session: rs })).messages).toEqual(["?OTRv23?"]);
  });
});
