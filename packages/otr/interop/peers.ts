// The two OTR interop peers of @parley/otr, spoken to in JSON lines (protocol in README.md):
//   - libotr 4.1.1 (Debian libotr5-dev) through interop/libotr_peer.c, compiled on first use (build-libotr-peer.mjs) into
//     interop/.build/ (git-ignored), rebuilt when the source changes (the binary's name carries the source hash);
//   - python-potr 1.0.2 (Debian python3-potr, OTR v2 only) through interop/potr_peer.py, which carries the
//     pycryptodome 3.11 compatibility shim.
// One process holds any number of parties (an account with its key, policy and instance tag); `sibling()` adds
// another party to the same process, e.g. a second instance of the same account. Nothing is sent anywhere: every
// answer lists what the party wants on the wire (`outgoing`) and what its library reported (`events`); the test
// routes the messages, for example with `Network` below.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { buildLibotrPeer as buildHarness } from "./build-libotr-peer.mjs";

/** Debian's python3: the `python3` on PATH may be another one without the Debian packages. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** Installs missing Debian packages through the repository's ensure-apt script. */
export function ensureApt(...packages: string[]): void {
  const r = spawnSync(process.execPath, [here("../../../scripts/ensure-apt.mjs"), ...packages], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`ensure-apt ${packages.join(" ")} failed`);
}

/**
 * Compiles interop/libotr_peer.c against libotr when no binary for this exact source exists (installing the Debian
 * packages it needs first); returns its path. The build itself is build-libotr-peer.mjs, shared with
 * apps/conformance's libotr adapter.
 */
export function buildLibotrPeer(): string {
  return buildHarness({
    beforeBuild: () => {
      ensureApt("libotr5-dev", "libgcrypt20-dev", "pkg-config", "gcc", "libc6-dev");
    },
  });
}

export function ensurePotr(): void {
  ensureApt("python3-potr", "python3-pycryptodome");
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/** A message a party wants sent: `to` is the contact's account name. */
export interface Outgoing {
  to: string;
  message: string;
}

export type SmpEventName =
  "ask_for_secret" | "ask_for_answer" | "in_progress" | "success" | "failure" | "abort" | "cheated" | "error" | "none";

/** What a library reported while handling one request (libotr's callbacks; for potr, what the driver saw change). */
export type PeerEvent =
  | { type: "gone_secure"; username: string; instance?: number; protocolVersion: number }
  | { type: "gone_insecure"; username: string; instance?: number; protocolVersion: number; finished?: boolean }
  | { type: "still_secure"; username: string; instance?: number; protocolVersion: number; isReply?: boolean }
  | {
      type: "smp";
      event: SmpEventName;
      progress: number;
      question: string | null;
      username: string;
      instance?: number;
    }
  | {
      type: "msg_event";
      /** libotr's OTRL_MSGEVENT_* in lower case without the prefix, e.g. "rcvdmsg_unreadable", "log_heartbeat_sent". */
      event: string;
      message?: string | null;
      error?: string | null;
      username?: string;
      instance?: number;
    }
  | { type: "new_fingerprint"; username: string; fingerprint: string }
  | { type: "received_symkey"; use: number; usedata: string; key: string; username: string; instance?: number }
  | { type: "timer_control"; interval: number }
  | { type: "create_privkey" | "create_instag"; account: string; protocol: string };

export interface Effects {
  outgoing: Outgoing[];
  events: PeerEvent[];
}

export type MsgState = "plaintext" | "encrypted" | "finished";

export interface SendResult extends Effects {
  /** Instance tag of the context libotr used (libotr only). */
  instance?: number;
  msgstate?: MsgState;
}

export interface Tlv {
  type: number;
  /** hex */
  data: string;
}

export interface ReceiveResult extends Effects {
  /** The text for the user, or null when the library kept the message to itself (protocol message, fragment...). */
  delivered: string | null;
  ignored: boolean;
  tlvs: Tlv[];
  instance?: number;
  msgstate?: MsgState;
}

export interface ContextState {
  username: string;
  msgstate: MsgState;
  protocolVersion: number;
  /** hex: 8 bytes in v2/v3 */
  sessionId: string | null;
  sessionIdHalf: "first" | "second";
  peerFingerprint: string | null;
  /** libotr: "smp" after a successful SMP, "" after a failed one, null before; potr the same. */
  trust: string | null;
  ourKeyid: number;
  theirKeyid: number;
  // libotr only
  master?: boolean;
  authstate?: string;
  ourInstance?: number;
  theirInstance?: number;
  generation?: number;
  smp?: { nextExpected?: number; progress: number; receivedQuestion?: boolean; state?: number } | null;
  // potr only
  extraKey?: string | null;
}

export interface Policy {
  allowV2?: boolean;
  allowV3?: boolean;
  requireEncryption?: boolean;
  sendWhitespaceTag?: boolean;
  whitespaceStartAke?: boolean;
  errorStartAke?: boolean;
}

export interface PartyOptions {
  account: string;
  protocol?: string;
  /** Default { allowV2: true, allowV3: true } (libotr's OTRL_POLICY_MANUAL). */
  policy?: Policy;
  /** A test key (keys/keys.json); default: the library generates a fresh one. */
  key?: TestKey;
  /** libotr only; default random. */
  instag?: number;
  /** Fragment everything longer (libotr's max_message_size, potr's maxMessageSize); 0: never. */
  maxMessageSize?: number;
}

/** Which context of a contact: a tag, or libotr's selectors. */
export type Instance = number | "best" | "recent" | "recent_received" | "recent_sent" | "master";

export class PeerError extends Error {
  override readonly name = "PeerError";
  constructor(
    readonly op: string,
    readonly peerMessage: string,
    readonly traceback?: string,
  ) {
    super(`${op} failed: ${peerMessage}${traceback ? `\n${traceback}` : ""}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** One peer process; requests are answered in order, one at a time. */
export class PeerProcess {
  readonly kind: "libotr" | "potr";
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: Array<{ resolve: (a: Json) => void; reject: (e: Error) => void }> = [];
  #stderr = "";
  #exited = false;
  #nextId = 1;

  private constructor(kind: "libotr" | "potr", command: string, args: string[]) {
    this.kind = kind;
    this.#child = spawn(command, args, { stdio: "pipe" });
    this.#child.stderr.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString("utf8")).slice(-8000);
    });
    this.#child.on("exit", (code, signal) => {
      this.#exited = true;
      const e = new Error(`${kind} peer exited (${code ?? signal ?? "?"}): ${this.#stderr}`);
      for (const w of this.#waiting.splice(0)) w.reject(e);
    });
    this.#child.on("error", (e) => {
      for (const w of this.#waiting.splice(0)) w.reject(new Error(`${kind} peer could not run: ${e.message}`));
    });
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      const w = this.#waiting.shift();
      if (!w) return;
      try {
        w.resolve(JSON.parse(line) as Json);
      } catch {
        w.reject(new Error(`${kind} peer wrote a non-JSON line: ${line.slice(0, 300)}`));
      }
    });
  }

  static libotr(): PeerProcess {
    return new PeerProcess("libotr", buildLibotrPeer(), []);
  }

  static potr(): PeerProcess {
    ensurePotr();
    return new PeerProcess("potr", DEBIAN_PYTHON, [here("./potr_peer.py")]);
  }

  /** Sends one request; a failed answer throws PeerError. */
  async call<T>(op: string, args: Json = {}): Promise<T> {
    if (this.#exited) throw new Error(`${this.kind} peer already exited: ${this.#stderr}`);
    const id = this.#nextId++;
    const answer = await new Promise<Json>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(JSON.stringify({ id, op, ...args }) + "\n");
    });
    if (answer["id"] !== id) throw new Error(`${this.kind} peer answered ${String(answer["id"])} to request ${id}`);
    if (answer["ok"] !== true) {
      const tb = typeof answer["traceback"] === "string" ? answer["traceback"] : undefined;
      throw new PeerError(`${this.kind} ${op}`, String(answer["error"]), tb);
    }
    return answer as T;
  }

  close(): void {
    if (this.#exited) return;
    this.#child.stdin.end();
    this.#child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// Parties
// ---------------------------------------------------------------------------------------------

let partyCounter = 0;

abstract class OtrPeer {
  readonly account: string;
  readonly protocol: string;
  readonly process: PeerProcess;
  /** Human fingerprint of this party's DSA key, libotr's format ("XXXXXXXX XXXXXXXX ... " x5). */
  fingerprintHuman = "";
  readonly #party: string;

  protected constructor(process: PeerProcess, options: PartyOptions) {
    this.process = process;
    this.account = options.account;
    this.protocol = options.protocol ?? "xmpp";
    this.#party = `p${++partyCounter}`;
  }

  protected call<T>(op: string, args: Json = {}): Promise<T> {
    return this.process.call<T>(op, { party: this.#party, ...args });
  }

  /** Turns plaintext into what goes on the wire (data message, fragments, tagged plaintext, or the text itself). */
  send(to: string, message: string, options: { instance?: Instance; tlvs?: Tlv[] } = {}): Promise<SendResult> {
    return this.call("send", { to, message, ...options });
  }

  /** Hands one wire message to the library. */
  receive(from: string, message: string): Promise<ReceiveResult> {
    return this.call("receive", { from, message });
  }

  /** The library's query message for its policy (returned in `outgoing` too). */
  startAke(to: string): Promise<Effects & { query: string }> {
    return this.call("start_ake", { to });
  }

  smpStart(to: string, secret: string, question?: string, instance?: Instance): Promise<Effects> {
    return this.call("smp_start", { to, secret, ...(question === undefined ? {} : { question }), ...inst(instance) });
  }

  smpRespond(to: string, secret: string, instance?: Instance): Promise<Effects> {
    return this.call("smp_respond", { to, secret, ...inst(instance) });
  }

  smpAbort(to: string, instance?: Instance): Promise<Effects> {
    return this.call("smp_abort", { to, ...inst(instance) });
  }

  /** Ends the private conversation (sends the disconnected TLV when encrypted). */
  end(to: string, instance?: Instance): Promise<Effects> {
    return this.call("end", { to, ...inst(instance) });
  }

  fingerprint(to?: string, instance?: Instance): Promise<{ own: string; peer?: string | null }> {
    return this.call("fingerprint", { ...(to === undefined ? {} : { to }), ...inst(instance) });
  }

  async state(to: string, instance?: Instance): Promise<ContextState | null> {
    const a = await this.call<{ context: ContextState | null }>("state", { to, ...inst(instance) });
    return a.context;
  }

  configure(options: { policy?: Policy; maxMessageSize?: number }): Promise<unknown> {
    return this.call("configure", { ...options });
  }

  /** Moves the library's clock (heartbeats are sent when nothing was sent for 60 s). */
  clock(advanceSeconds: number): Promise<{ now: number }> {
    return this.call("clock", { advance: advanceSeconds });
  }

  /** Removes this party from its process (the process stays for siblings). */
  async remove(): Promise<void> {
    await this.call("close");
  }
}

function inst(instance: Instance | undefined): { instance?: Instance } {
  return instance === undefined ? {} : { instance };
}

function keyArgs(kind: "libotr" | "potr", key: TestKey | undefined): Json {
  if (!key) return { privkey: "generate" };
  return kind === "libotr" ? { privkey: key.privateKey } : { privkey: key.dsa };
}

/** A libotr 4.1.1 party (OtrlUserState with one account, key and instance tag). */
export class LibotrPeer extends OtrPeer {
  instag = 0;

  private constructor(process: PeerProcess, options: PartyOptions) {
    super(process, options);
  }

  /** A new party in a new process. */
  static async create(options: PartyOptions): Promise<LibotrPeer> {
    return LibotrPeer.#init(PeerProcess.libotr(), options);
  }

  static async #init(process: PeerProcess, options: PartyOptions): Promise<LibotrPeer> {
    const peer = new LibotrPeer(process, options);
    const a = await peer.call<{ instag: number; fingerprint: string }>("init", {
      account: options.account,
      protocol: options.protocol ?? "xmpp",
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.instag === undefined ? {} : { instag: options.instag }),
      maxMessageSize: options.maxMessageSize ?? 0,
      ...keyArgs("libotr", options.key),
    });
    peer.instag = a.instag;
    peer.fingerprintHuman = a.fingerprint;
    return peer;
  }

  /** Another party in the same process (for example a second instance of the same account). */
  sibling(options: PartyOptions): Promise<LibotrPeer> {
    return LibotrPeer.#init(this.process, options);
  }

  /** All contexts (masters and children) of this party. */
  async contexts(): Promise<ContextState[]> {
    return (await this.call<{ contexts: ContextState[] }>("contexts")).contexts;
  }

  /** otrl_message_symkey: the extra symmetric key, announced to the peer with `use` and `usedata` (hex). */
  symkey(to: string, use: number, usedata = "", instance?: Instance): Promise<Effects & { key: string }> {
    return this.call("symkey", { to, use, usedata, ...inst(instance) });
  }

  /** Forgets the contexts with `to` (all contacts when omitted). */
  forget(to?: string): Promise<Effects> {
    return this.call("forget", to === undefined ? {} : { to });
  }

  close(): void {
    this.process.close();
  }
}

/** A python-potr party (OTR v2 only; no instance tags). */
export class PotrPeer extends OtrPeer {
  private constructor(process: PeerProcess, options: PartyOptions) {
    super(process, options);
  }

  static async create(options: PartyOptions): Promise<PotrPeer> {
    return PotrPeer.#init(PeerProcess.potr(), options);
  }

  static async #init(process: PeerProcess, options: PartyOptions): Promise<PotrPeer> {
    const peer = new PotrPeer(process, options);
    const a = await peer.call<{ fingerprint: string }>("init", {
      account: options.account,
      protocol: options.protocol ?? "xmpp",
      ...(options.policy ? { policy: options.policy } : {}),
      maxMessageSize: options.maxMessageSize ?? 0,
      ...keyArgs("potr", options.key),
    });
    peer.fingerprintHuman = a.fingerprint;
    return peer;
  }

  sibling(options: PartyOptions): Promise<PotrPeer> {
    return PotrPeer.#init(this.process, options);
  }

  close(): void {
    this.process.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Test keys
// ---------------------------------------------------------------------------------------------

export interface TestKey {
  name: string;
  /** The account the libotr key file names (the harness rebinds `privateKey` to any account). */
  account: string;
  /** libotr's private key file ("(privkeys (account ...))"), as otrl_privkey_generate wrote it. */
  privkeyFile: string;
  /** The "(private-key (dsa ...))" s-expression alone. */
  privateKey: string;
  /** DSA parameters and keys, hex (big-endian, no sign byte). */
  dsa: { p: string; q: string; g: string; y: string; x: string };
  /** libotr's human fingerprint of the key. */
  fingerprint: string;
}

let keyCache: TestKey[] | undefined;

/** The pre-generated DSA keys in keys/keys.json (made by keys/generate.ts with libotr). */
export function testKeys(): TestKey[] {
  keyCache ??= (JSON.parse(readFileSync(here("./keys/keys.json"), "utf8")) as { keys: TestKey[] }).keys;
  return keyCache;
}

export function testKey(name: string): TestKey {
  const k = testKeys().find((key) => key.name === name);
  if (!k) throw new Error(`no test key ${name} in keys/keys.json`);
  return k;
}

// ---------------------------------------------------------------------------------------------
// A network for tests
// ---------------------------------------------------------------------------------------------

/** Anything that can take a wire message: a libotr or potr party, or an adapter around our implementation. */
export interface Endpoint {
  readonly account: string;
  receive(from: string, message: string): Promise<Effects & { delivered: string | null }>;
}

export interface Delivery {
  from: string;
  to: Endpoint;
  message: string;
  result: Effects & { delivered: string | null };
}

/**
 * Routes messages between endpoints by account name. A message to an account reaches every endpoint of that
 * account (several instances of one account all see it, as with XMPP carbons). `flush()` delivers until no one
 * has anything left to send, in order, and returns what happened; `filter` may drop, reorder or duplicate the
 * messages of one round before delivery.
 */
export class Network {
  readonly #endpoints = new Map<string, Endpoint[]>();
  readonly #queue: Array<{ from: string; message: Outgoing }> = [];
  readonly log: Delivery[] = [];

  add(...endpoints: Endpoint[]): this {
    for (const e of endpoints) {
      const list = this.#endpoints.get(e.account) ?? [];
      list.push(e);
      this.#endpoints.set(e.account, list);
    }
    return this;
  }

  /** Queues what `from` wants to send. */
  post(from: string, outgoing: readonly Outgoing[]): this {
    for (const message of outgoing) this.#queue.push({ from, message });
    return this;
  }

  get pending(): number {
    return this.#queue.length;
  }

  async flush(
    options: {
      maxRounds?: number;
      filter?: (batch: Array<{ from: string; message: Outgoing }>) => Array<{ from: string; message: Outgoing }>;
    } = {},
  ): Promise<Delivery[]> {
    const done: Delivery[] = [];
    const maxRounds = options.maxRounds ?? 50;
    for (let round = 0; this.#queue.length > 0; round++) {
      if (round >= maxRounds)
        throw new Error(`Network: still ${this.#queue.length} messages after ${maxRounds} rounds`);
      let batch = this.#queue.splice(0);
      if (options.filter) batch = options.filter(batch);
      for (const { from, message } of batch) {
        const targets = this.#endpoints.get(message.to) ?? [];
        if (targets.length === 0) throw new Error(`Network: nobody is ${message.to}`);
        for (const to of targets) {
          const result = await to.receive(from, message.message);
          const d = { from, to, message: message.message, result };
          done.push(d);
          this.log.push(d);
          this.post(to.account, result.outgoing);
        }
      }
    }
    return done;
  }
}

/** All events of one type in a list of deliveries (or effects), for the endpoint given. */
export function eventsOf<T extends PeerEvent["type"]>(
  items: ReadonlyArray<Delivery | Effects>,
  type: T,
  endpoint?: Endpoint,
): Array<Extract<PeerEvent, { type: T }>> {
  const out: Array<Extract<PeerEvent, { type: T }>> = [];
  for (const item of items) {
    if ("to" in item && endpoint && item.to !== endpoint) continue;
    const events = "result" in item ? item.result.events : item.events;
    for (const e of events) if (e.type === type) out.push(e as Extract<PeerEvent, { type: T }>);
  }
  return out;
}

/** The SMP event names seen, in order. */
export function smpEvents(items: ReadonlyArray<Delivery | Effects>, endpoint?: Endpoint): SmpEventName[] {
  return eventsOf(items, "smp", endpoint).map((e) => e.event);
}
