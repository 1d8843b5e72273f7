#!/usr/bin/env node
/* eslint @typescript-eslint/no-floating-promises: "off" -- needs type information, which plain .mjs files do not get (root eslint.config.js) */
/**
 * An adapter for libotr 4.1.1 (Debian libotr5-dev; the OTR library of Pidgin, irssi, profanity, mcabber):
 * the conformance protocol's otr ops translated to the JSON-lines harness of @parley/otr's interop tests,
 * packages/otr/interop/libotr_peer.c (one OtrlUserState per account, libotr's callbacks as events, an
 * outbox instead of a network). The harness is compiled from the workspace on first use, exactly as
 * packages/otr/interop/peers.ts does it (same directory, same binary name: the source's hash), so both
 * share one build. Run from apps/conformance: `node adapters/libotr.mjs`.
 *
 * Mapping: an account is a harness party; a session is (party, contact, policy, fragment size), applied
 * with the harness's `configure` before each op (libotr keeps policy and max_message_size per account).
 * libotr announces the peer's end of the conversation only as TLV 1 among the TLVs otrl_message_receiving
 * returns (clients such as pidgin-otr look for it): the adapter makes it the `finished` event.
 * Sending in MSGSTATE_FINISHED: libotr reports OTRL_MSGEVENT_CONNECTION_ENDED and sends nothing; the
 * adapter answers INVALID_STATE. libotr's message events become the protocol's `error` kinds
 * (RCVDMSG_UNREADABLE: unreadable, RCVDMSG_MALFORMED: malformed, ...).
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const OPS = [
  "otr.createAccount",
  "otr.session",
  "otr.startAke",
  "otr.send",
  "otr.receive",
  "otr.smpStart",
  "otr.smpRespond",
  "otr.end",
  "otr.status",
];

const SOURCE = fileURLToPath(new URL("../../../packages/otr/interop/libotr_peer.c", import.meta.url));
const BUILD_DIR = fileURLToPath(new URL("../../../packages/otr/interop/.build", import.meta.url));

/** Compiles libotr_peer.c when no binary for this exact source exists (as peers.ts's buildLibotrPeer). */
function buildPeer() {
  const hash = createHash("sha256").update(readFileSync(SOURCE)).digest("hex").slice(0, 16);
  const binary = `${BUILD_DIR}/libotr_peer-${hash}`;
  if (existsSync(binary)) return binary;
  mkdirSync(BUILD_DIR, { recursive: true });
  const flags = execFileSync("pkg-config", ["--cflags", "--libs", "libotr", "libgcrypt"], { encoding: "utf8" })
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "");
  const tmp = `${binary}.${process.pid}.tmp`;
  // -rdynamic: the harness's time() must interpose on the libc symbol libotr calls. Compiler output to stderr.
  execFileSync("gcc", ["-O2", "-Wall", "-Wextra", "-rdynamic", "-o", tmp, SOURCE, ...flags], {
    stdio: ["ignore", 2, 2],
  });
  renameSync(tmp, binary);
  for (const f of readdirSync(BUILD_DIR)) {
    if (f.startsWith("libotr_peer-") && f !== `libotr_peer-${hash}` && !f.endsWith(".tmp")) rmSync(`${BUILD_DIR}/${f}`);
  }
  return binary;
}

class AdapterError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The harness process: one request at a time. */
class Peer {
  #child;
  #waiting = [];
  #next = 1;
  #stderr = "";
  constructor(binary) {
    this.#child = spawn(binary, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr.on("data", (d) => {
      this.#stderr = (this.#stderr + d.toString("utf8")).slice(-4000);
      process.stderr.write(d);
    });
    this.#child.on("exit", (code, signal) => {
      const e = new Error(`libotr_peer exited (${code ?? signal}): ${this.#stderr}`);
      for (const w of this.#waiting.splice(0)) w.reject(e);
    });
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      const w = this.#waiting.shift();
      if (!w) return;
      try {
        w.resolve(JSON.parse(line));
      } catch {
        w.reject(new Error(`libotr_peer wrote a non-JSON line: ${line.slice(0, 200)}`));
      }
    });
  }

  /** One harness request; a failed answer throws an Error with the harness's message. */
  async call(op, args = {}) {
    const id = this.#next++;
    const answer = await new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
    if (answer.id !== id) throw new Error(`libotr_peer answered ${answer.id} to ${id}`);
    if (answer.ok !== true) throw new Error(`libotr_peer ${op}: ${answer.error}`);
    return answer;
  }

  close() {
    this.#child.stdin.end();
  }
}

const str = (v, name, { empty = false } = {}) => {
  if (typeof v !== "string" || (!empty && v === ""))
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be a string`);
  return v;
};
const int = (v, name) => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be a non-negative integer`);
  return v;
};
/** libotr's human fingerprint ("C181B2AB C4FAAAC7 …") as 40 lowercase hex. */
const hexFingerprint = (human) => (human ? human.replace(/\s+/g, "").toLowerCase() : null);

const SMP_RESULTS = { success: "verified", failure: "failed", abort: "aborted", cheated: "aborted", error: "aborted" };
const MSG_ERRORS = {
  rcvdmsg_unreadable: "unreadable",
  rcvdmsg_malformed: "malformed",
  rcvdmsg_not_in_private: "notEncrypted",
  rcvdmsg_for_other_instance: "otherInstance",
  rcvdmsg_unrecognized: "other",
};

let peerProcess;
const accounts = new Map(); // handle -> { party, account, instag }
const sessions = new Map(); // handle -> { account, peer, policy, mms }
let nextHandle = 1;

function peer() {
  peerProcess ??= new Peer(buildPeer());
  return peerProcess;
}

function sessionOf(handle) {
  const s = typeof handle === "string" ? sessions.get(handle) : undefined;
  if (!s) throw new AdapterError("UNKNOWN_HANDLE", `no session ${JSON.stringify(handle)}`);
  return s;
}

/** Applies the session's policy and fragment size to its account (libotr keeps both per account). */
async function use(s) {
  await peer().call("configure", { party: s.account.party, policy: s.policy, maxMessageSize: s.mms });
}

const toPeer = (s, answer) => answer.outgoing.filter((o) => o.to === s.peer).map((o) => o.message);

async function peerFingerprint(s) {
  const f = await peer().call("fingerprint", { party: s.account.party, to: s.peer });
  return hexFingerprint(f.peer) ?? "";
}

/** libotr's callbacks (as the harness records them) in the protocol's terms. */
async function events(s, list) {
  const out = [];
  for (const e of list) {
    if (e.type === "gone_secure" || e.type === "still_secure") {
      out.push({ type: "secure", version: e.protocolVersion, peerFingerprint: await peerFingerprint(s) });
    } else if (e.type === "gone_insecure") {
      out.push({ type: "finished" });
    } else if (e.type === "smp") {
      if (e.event === "ask_for_secret" || e.event === "ask_for_answer")
        out.push({ type: "smpRequest", question: e.event === "ask_for_answer" ? (e.question ?? "") : null });
      else if (SMP_RESULTS[e.event]) out.push({ type: "smpResult", result: SMP_RESULTS[e.event] });
    } else if (e.type === "msg_event") {
      if (MSG_ERRORS[e.event]) out.push({ type: "error", kind: MSG_ERRORS[e.event] });
      else if (e.event === "rcvdmsg_general_err") out.push({ type: "peerError", text: e.message ?? "" });
    }
  }
  return out;
}

async function status(s) {
  const { context: c } = await peer().call("state", { party: s.account.party, to: s.peer });
  const state = c ? c.msgstate : "plaintext";
  return {
    state,
    version: state === "plaintext" || !c || c.protocolVersion === 0 ? null : c.protocolVersion,
    peerFingerprint: c ? hexFingerprint(c.peerFingerprint) : null,
    ourInstanceTag: s.account.instag,
    theirInstanceTag: c ? c.theirInstance : 0,
  };
}

async function handle(op, a) {
  if (typeof a !== "object" || a === null) throw new AdapterError("INVALID_ARGUMENT", "args must be an object");
  switch (op) {
    case "hello": {
      const v = await peer().call("version");
      return {
        implementation: "libotr",
        version: `libotr ${v.libotr}, libgcrypt ${v.libgcrypt}`,
        protocol: 1,
        profiles: [],
        ops: OPS,
      };
    }
    case "otr.createAccount": {
      const account = str(a.account, "account");
      const protocol = str(a.protocol, "protocol");
      const privkey = a.privateKey === undefined ? "generate" : str(a.privateKey, "privateKey");
      const instag = a.instanceTag === undefined ? undefined : int(a.instanceTag, "instanceTag");
      if (instag !== undefined && (instag < 0x100 || instag > 0xffffffff))
        throw new AdapterError("INVALID_ARGUMENT", "instanceTag must be in 0x100..0xffffffff");
      const party = `account-${nextHandle++}`;
      let r;
      try {
        r = await peer().call("init", {
          party,
          account,
          protocol,
          privkey,
          ...(instag === undefined ? {} : { instag }),
          maxMessageSize: 0,
        });
      } catch (e) {
        throw new AdapterError("INVALID_ARGUMENT", e.message);
      }
      accounts.set(party, { party, account, instag: r.instag });
      return { account: party, fingerprint: hexFingerprint(r.fingerprint), instanceTag: r.instag };
    }
    case "otr.session": {
      const account = typeof a.account === "string" ? accounts.get(a.account) : undefined;
      if (!account) throw new AdapterError("UNKNOWN_HANDLE", `no account ${JSON.stringify(a.account)}`);
      const p = a.policy;
      if (typeof p !== "object" || p === null || typeof p.v2 !== "boolean" || typeof p.v3 !== "boolean")
        throw new AdapterError("INVALID_ARGUMENT", "policy must be an object with booleans v2 and v3");
      if (!p.v2 && !p.v3) throw new AdapterError("UNSUPPORTED_VERSION", "the policy allows no protocol version");
      const s = {
        account,
        peer: str(a.peer, "peer"),
        // libotr's OTRL_POLICY_MANUAL with the versions asked for.
        policy: { allowV2: p.v2, allowV3: p.v3 },
        mms: int(a.maxFragmentSize, "maxFragmentSize"),
      };
      const handleName = `session-${nextHandle++}`;
      sessions.set(handleName, s);
      return { session: handleName };
    }
    case "otr.startAke": {
      const s = sessionOf(a.session);
      await use(s);
      return { messages: toPeer(s, await peer().call("start_ake", { party: s.account.party, to: s.peer })) };
    }
    case "otr.send": {
      const s = sessionOf(a.session);
      const message = str(a.plaintext, "plaintext", { empty: true });
      if (message.includes("\0")) throw new AdapterError("INVALID_ARGUMENT", "plaintext must not contain NUL");
      await use(s);
      const r = await peer().call("send", { party: s.account.party, to: s.peer, message });
      const messages = toPeer(s, r);
      if (messages.length === 0 && r.msgstate === "finished")
        throw new AdapterError(
          "INVALID_STATE",
          "the peer ended the private conversation (OTRL_MSGEVENT_CONNECTION_ENDED)",
        );
      return { messages };
    }
    case "otr.receive": {
      const s = sessionOf(a.session);
      const message = str(a.message, "message", { empty: true });
      await use(s);
      const r = await peer().call("receive", { party: s.account.party, from: s.peer, message });
      const evs = await events(s, r.events);
      // libotr reports the peer's end (TLV 1) in the TLVs it returns, not with a callback: clients look for it.
      if (r.tlvs.some((t) => t.type === 1)) evs.push({ type: "finished" });
      const otr = /^\?OTR[:|,]/.test(message);
      const unencrypted = r.events.some((e) => e.type === "msg_event" && e.event === "rcvdmsg_unencrypted");
      return {
        plaintext: r.delivered,
        encrypted: r.delivered !== null && otr && !unencrypted,
        replies: toPeer(s, r),
        events: evs,
        state: (await status(s)).state,
      };
    }
    case "otr.smpStart":
    case "otr.smpRespond": {
      const s = sessionOf(a.session);
      const secret = str(a.secret, "secret", { empty: true });
      const question = a.question === undefined || op === "otr.smpRespond" ? undefined : str(a.question, "question");
      await use(s);
      if ((await status(s)).state !== "encrypted")
        throw new AdapterError("INVALID_STATE", "SMP needs an encrypted session");
      const r = await peer().call(op === "otr.smpStart" ? "smp_start" : "smp_respond", {
        party: s.account.party,
        to: s.peer,
        secret,
        ...(question === undefined ? {} : { question }),
      });
      return { messages: toPeer(s, r) };
    }
    case "otr.end": {
      const s = sessionOf(a.session);
      await use(s);
      return { messages: toPeer(s, await peer().call("end", { party: s.account.party, to: s.peer })) };
    }
    case "otr.status":
      return status(sessionOf(a.session));
    default:
      throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
  }
}

// The adapter protocol: one request per line in, one response per line out, in order.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (line.trim() === "") return;
  queue = queue.then(async () => {
    let id = null;
    let response;
    try {
      let request;
      try {
        request = JSON.parse(line);
      } catch {
        throw new AdapterError("INVALID_ARGUMENT", "the request is not JSON");
      }
      id = request.id ?? null;
      if (typeof request.op !== "string") throw new AdapterError("INVALID_ARGUMENT", "request has no op");
      response = { id, ok: true, result: await handle(request.op, request.args ?? {}) };
    } catch (e) {
      const code = e instanceof AdapterError ? e.code : "INTERNAL";
      response = { id, ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } };
    }
    process.stdout.write(`${JSON.stringify(response)}\n`);
  });
});
lines.on("close", () => {
  void queue.then(() => peerProcess?.close());
});
