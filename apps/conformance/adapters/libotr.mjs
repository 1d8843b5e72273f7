#!/usr/bin/env node
/**
 * An adapter for libotr 4.1.1 (Debian libotr5-dev; the OTR library of Pidgin, irssi, profanity, mcabber):
 * the conformance protocol's otr ops translated to the JSON-lines harness of @parley/otr's interop tests,
 * packages/otr/interop/libotr_peer.c (one OtrlUserState per account, libotr's callbacks as events, an
 * outbox instead of a network). The harness is compiled from the workspace on first use by
 * packages/otr/interop/build-libotr-peer.mjs, the build peers.ts uses too (same directory, same binary name:
 * the source's hash), so both share one build. Run from apps/conformance: `node adapters/libotr.mjs`.
 *
 * Mapping: an account is a harness party; a session is (party, contact, policy, fragment size), applied
 * with the harness's `configure` before each op (libotr keeps policy and max_message_size per account).
 * libotr announces the peer's end of the conversation only as TLV 1 among the TLVs otrl_message_receiving
 * returns (clients such as pidgin-otr look for it): the adapter makes it the `finished` event. libotr's
 * gone_insecure callback ("A ConnContext has left a secure state", message.h) is a local state change, not
 * the peer's end, and the protocol has no event for it (the receive result's `state` says it): not reported.
 * Sending in MSGSTATE_FINISHED: libotr reports OTRL_MSGEVENT_CONNECTION_ENDED and sends nothing; the
 * adapter answers INVALID_STATE. libotr's message events become the protocol's `error` kinds
 * (RCVDMSG_UNREADABLE: unreadable, RCVDMSG_MALFORMED: malformed, ...).
 *
 * otr.sessionKeys runs libotr's own toolkit (Debian libotr5-bin): `otr_sesskeys x g^y` for our public key,
 * the high end and the four keys, and `otr_mackey` on each AES key for its MAC key (which must be the one
 * otr_sesskeys printed). The toolkit checks no ranges: the adapter refuses a g^y outside 2..p-2 (as libotr's
 * otrl_dh_is_inrange does for every received D-H key) and an x outside 1..p-1 or whose g^x is outside
 * 2..p-2. otr_sesskeys also prints a "Session id": OTR v1's SHA-1(0x00 ‖ MPI(s)), not v2/v3's SSID, so
 * the op does not carry it.
 */
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { buildLibotrPeer } from "../../../packages/otr/interop/build-libotr-peer.mjs";

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
  "otr.sessionKeys",
];

/** The 1536-bit MODP group's prime (RFC 3526 §2), for the range checks the toolkit does not make. */
const MODP_P = BigInt(
  "0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);

class AdapterError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The harness answered a request with an error (as opposed to not answering at all). */
class HarnessRefused extends Error {}

/**
 * The harness process: one request at a time. When it cannot be started, has exited, or its stdin is
 * broken (EPIPE), every waiting and later call fails (the op answers INTERNAL) instead of waiting forever.
 */
class Peer {
  #child;
  #waiting = [];
  #next = 1;
  #stderr = "";
  /** Why the harness can no longer answer, once it cannot. */
  #dead = null;
  constructor(binary) {
    this.#child = spawn(binary, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr.on("data", (d) => {
      this.#stderr = (this.#stderr + d.toString("utf8")).slice(-4000);
      process.stderr.write(d);
    });
    this.#child.on("error", (e) => this.#fail(`libotr_peer failed: ${e.message}`));
    this.#child.stdin.on("error", (e) => this.#fail(`libotr_peer's stdin: ${e.message}`));
    this.#child.on("exit", (code, signal) => this.#fail(`libotr_peer exited (${code ?? signal})`));
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

  #fail(reason) {
    this.#dead ??= `${reason}${this.#stderr === "" ? "" : `: ${this.#stderr}`}`;
    const e = new Error(this.#dead);
    for (const w of this.#waiting.splice(0)) w.reject(e);
  }

  /** One harness request; a failed answer throws an Error with the harness's message. */
  async call(op, args = {}) {
    if (this.#dead !== null) throw new Error(this.#dead);
    const id = this.#next++;
    const answer = await new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
    if (answer.id !== id) throw new Error(`libotr_peer answered ${answer.id} to ${id}`);
    if (answer.ok !== true) throw new HarnessRefused(`libotr_peer ${op}: ${answer.error}`);
    return answer;
  }

  close() {
    if (this.#dead === null) this.#child.stdin.end();
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

/** A D-H value or exponent: lowercase hex of 1 to 192 unsigned big-endian bytes. */
const dhHex = (v, name) => {
  if (typeof v !== "string" || !/^(?:[0-9a-f]{2}){1,192}$/.test(v))
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be lowercase hex of 1 to 192 bytes`);
  return BigInt(`0x${v}`);
};
const evenHex = (n) => {
  const h = n.toString(16);
  return h.length % 2 ? `0${h}` : h;
};

/** One of libotr's toolkit programs (libotr5-bin); its stdout. */
function toolkit(name, args) {
  try {
    return execFileSync(name, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new Error(`${name} failed (is libotr5-bin installed?): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** otr.sessionKeys through otr_sesskeys and otr_mackey. */
function sessionKeys(a) {
  const x = dhHex(a.ourPrivateKey, "ourPrivateKey");
  const gy = dhHex(a.theirPublicKey, "theirPublicKey");
  if (x < 1n || x >= MODP_P) throw new AdapterError("INVALID_ARGUMENT", "ourPrivateKey must be in 1..p-1");
  if (gy < 2n || gy > MODP_P - 2n) throw new AdapterError("INVALID_ARGUMENT", "theirPublicKey is outside 2..p-2");
  const out = toolkit("otr_sesskeys", [evenHex(x), evenHex(gy)]);
  const field = (label) => {
    const m = new RegExp(`^${label}: ([0-9a-f]+)$`, "m").exec(out);
    if (!m) throw new Error(`otr_sesskeys printed no "${label}": ${out.slice(0, 200)}`);
    return m[1];
  };
  const high = /We are the high end/.test(out);
  if (!high && !/We are the low end/.test(out)) throw new Error(`otr_sesskeys printed no end: ${out.slice(0, 200)}`);
  const gx = BigInt(`0x${field("Our public key")}`);
  if (gx < 2n || gx > MODP_P - 2n)
    throw new AdapterError("INVALID_ARGUMENT", "ourPrivateKey gives a public key outside 2..p-2");
  const keys = {
    ourPublicKey: evenHex(gx),
    high,
    sendingAesKey: field("Sending {3}AES key"),
    sendingMacKey: field("Sending {3}MAC key"),
    receivingAesKey: field("Receiving AES key"),
    receivingMacKey: field("Receiving MAC key"),
  };
  for (const [aes, mac] of [
    [keys.sendingAesKey, keys.sendingMacKey],
    [keys.receivingAesKey, keys.receivingMacKey],
  ]) {
    const m = /^MAC key: ([0-9a-f]+)$/m.exec(toolkit("otr_mackey", [aes]));
    if (m?.[1] !== mac) throw new Error(`otr_mackey ${aes} gives ${m?.[1] ?? "nothing"}, otr_sesskeys ${mac}`);
  }
  return keys;
}

let peerProcess;
const accounts = new Map(); // handle -> { party, account, instag }
const sessions = new Map(); // handle -> { account, peer, policy, mms }
let nextHandle = 1;

function peer() {
  peerProcess ??= new Peer(buildLibotrPeer());
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
        otrVersions: [2, 3],
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
        // The harness refused the key file or instance tag; a harness that is gone stays INTERNAL.
        if (e instanceof HarnessRefused) throw new AdapterError("INVALID_ARGUMENT", e.message);
        throw e;
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
    case "otr.sessionKeys":
      return sessionKeys(a);
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
