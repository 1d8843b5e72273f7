// @parley/omemo's session manager, measured in one run with both providers of @parley/crypto, beside
// the raw Double Ratchet work for the same devices and beside python-omemo doing the same work
// (issue "Performance"). Scenarios, in both namespaces:
//  - steady: a device of an account with 3 devices sends one message to a contact with 3 devices:
//    5 keys (3 for the contact, 2 for our own other devices), then each of the 5 devices decrypts it
//    (sessions established and confirmed). "ours" includes the store (in memory: record encoding,
//    session (de)serialization, compare-and-swap), locks, trust calls, the SCE envelope (OMEMO 2) and
//    the XML of the stanza (serialized once, parsed at each receiving device), as python-omemo's
//    figure does.
//  - raw: the same 5 encrypts + 5 decrypts with @parley/double-ratchet directly, plus the payload
//    cipher, on sessions kept in memory: what the manager cannot avoid. Reported as ours ÷ raw, where
//    ours is the time inside the session manager (elements in, elements out: the XML text is the
//    transport's work and has its own row).
//  - first contact: the same round from fresh devices: 5 bundles fetched, decoded and verified,
//    5 sessions built, 5 key exchanges accepted (one-time prekeys consumed, replaced, republished).
//  - XML: the <message> with its <encrypted> encoded and serialized once, parsed and decoded at each
//    of the 5 receivers.
// python-omemo (Debian's python3-omemo) runs bench/python_omemo_bench.py, which times the same rounds
// inside its own process. Rounds of every implementation are interleaved (ROUNDS times) and the
// median of each counts, so background load hits all alike; a ratio is the median of the rounds'
// ratios. ratio = peer ÷ ours (above 1: we are faster), except the raw rows, where ratio = ours ÷ raw
// (the manager's overhead; the goal is < 1.3).
// Run: pnpm bench (BENCH_QUICK=1 for a smoke run). Writes bench/results.json and names the machine.
import { fork, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { fileURLToPath } from "node:url";
import { createCrypto, type Crypto } from "@parley/crypto";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  omemo2,
  legacyOmemo,
  type RatchetProfile,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import type { Element } from "ltx";
import {
  createEnvelope,
  decodeAnyEncryptedMessage,
  decodeEnvelope,
  envelopeToString,
  legacy,
  MemoryXmppNetwork,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  SessionManager,
  v2,
  wrapMessage,
  type OmemoNamespace,
} from "../dist/index.js";
import { openLegacy, openV2, sealLegacy, sealV2 } from "../dist/session/payload.js";
import { world } from "./world.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const ROUNDS = QUICK ? 1 : 3;
const N = QUICK ? 50 : 300; // steady messages per round
const N_FIRST = QUICK ? 3 : 10; // first contacts per round
const N_XML = QUICK ? 200 : 2000;
const N_PY = QUICK ? 5 : 30; // python-omemo steady messages per round
const N_PY_FIRST = QUICK ? 1 : 3;
const te = new TextEncoder();
const BODY = "A message of ordinary length, about as long as a sentence people type.";
const PROVIDERS = ["native", "noble"] as const;
const NAMESPACES = [NS_V2, NS_LEGACY] as const;
type Provider = (typeof PROVIDERS)[number];

const label = (ns: OmemoNamespace) => (ns === NS_V2 ? "OMEMO 2" : "legacy");

/**
 * One message from alice/0 to bob, decrypted at bob's 3 devices and alice's 2 others. Returns the XML
 * and the time spent inside the session manager alone (encrypt, then decrypt at each receiver, on
 * ltx elements as an XMPP library hands them over): the XML text is written once and parsed at each
 * receiver outside that time (the transport's work, measured in its own row).
 */
async function managerRound(
  network: MemoryXmppNetwork,
  devices: SessionManager[],
  text: string,
  established = false,
): Promise<{ xml: string; managerMs: number }> {
  const [sender, ...receivers] = devices as [SessionManager, ...SessionManager[]];
  let t = ms();
  const r = await sender.encrypt("bob@example.net", { body: text });
  let managerMs = ms() - t;
  const m = r.messages[0]!;
  if (established && r.devices.some((d) => d.status === "encrypted" && d.keyExchange)) {
    throw new Error("a steady-state message carried a key exchange");
  }
  if (r.messages.length !== 1 || r.devices.filter((d) => d.status === "encrypted").length !== 5) {
    throw new Error("benchmark message did not reach 5 devices");
  }
  const xml = serializeXml(wrapMessage("bob@example.net", m.namespace, m.encrypted));
  for (const d of receivers) {
    const stanza = parseXml(xml);
    stanza.attrs["from"] = "alice@example.org/0";
    t = ms();
    const got = await d.decrypt(stanza);
    managerMs += ms() - t;
    if (got.body !== text) throw new Error("benchmark message did not round-trip");
  }
  network.queue.length = 0; // heartbeats and completions are not delivered in the steady state
  return { xml, managerMs };
}

function rawPair(profile: RatchetProfile, crypto: Crypto): { a: Session; b: Session } {
  const bobId = generateIdentityKeyPair(profile.x3dh, crypto);
  const spk = generateSignedPreKey(profile.x3dh, bobId, 1, { crypto });
  const opks = generateOneTimePreKeys(1, 1, crypto);
  const store = new InMemoryPreKeyStore([spk], opks);
  let a = createInitiatorSession(
    profile,
    generateIdentityKeyPair(profile.x3dh, crypto),
    createBundle(profile.x3dh, bobId, spk, opks),
    { crypto },
  );
  const first = encrypt(a, new Uint8Array(32), { crypto });
  a = first.session;
  const accepted = acceptSession(profile, bobId, store, first.message, { crypto });
  const reply = encrypt(accepted.session, new Uint8Array(32), { crypto });
  a = decrypt(a, reply.message, { crypto }).session;
  return { a, b: reply.session };
}

function rawRound(ns: OmemoNamespace, crypto: Crypto, pairs: Array<{ a: Session; b: Session }>): void {
  const plaintext = te.encode(BODY);
  const sealedLegacy = ns === NS_LEGACY ? sealLegacy(crypto, plaintext) : undefined;
  const sealed = sealedLegacy ?? sealV2(crypto, plaintext);
  for (const p of pairs) {
    const e = encrypt(p.a, sealed.keyMaterial, { crypto });
    p.a = e.session;
    const d = decrypt(p.b, e.message, { crypto });
    p.b = d.session;
    const out =
      sealedLegacy === undefined
        ? openV2(crypto, d.plaintext, sealed.payload)
        : openLegacy(crypto, d.plaintext, sealedLegacy.iv, sealedLegacy.payload);
    if (out.length !== plaintext.length) throw new Error("raw round did not round-trip");
  }
}

/** OMEMO 2's SCE envelope alone: built and written once (as the manager does), parsed and checked at 5 receivers. */
function sceRound(crypto: Crypto, text: string): void {
  const envelope = createEnvelope({
    content: [parseXml(`<body xmlns='jabber:client'>${text}</body>`)],
    from: "alice@example.org",
    to: "bob@example.net",
    randomBytes: (n) => crypto.randomBytes(n),
  });
  const written = envelopeToString(envelope);
  for (let i = 0; i < 5; i++) {
    const got = decodeEnvelope(written, { to: "bob@example.net", from: "alice@example.org" });
    if (got.content.length !== 1) throw new Error("envelope did not round-trip");
  }
}

/** XML alone: encode + serialize once, parse + decode at each of the 5 receivers. */
function xmlRound(ns: OmemoNamespace, encrypted: Element): void {
  const typed = decodeAnyEncryptedMessage(encrypted);
  const element =
    typed.namespace === NS_V2 ? v2.encodeEncryptedMessage(typed.message) : legacy.encodeEncryptedMessage(typed.message);
  const xml = serializeXml(wrapMessage("bob@example.net", ns, element));
  for (let i = 0; i < 5; i++) {
    const got = decodeAnyEncryptedMessage(parseXml(xml));
    if (got.namespace !== ns) throw new Error("XML did not round-trip");
  }
}

const ms = () => performance.now();
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// ------------------------------------------------------------------ python-omemo

interface PythonFigures {
  steady: number;
  first: number;
  xml: number;
  versions: Record<string, string>;
}
const PYTHON = "/usr/bin/python3";
const PY_SCRIPT = fileURLToPath(new URL("./python_omemo_bench.py", import.meta.url));
let pythonMissing: string | undefined;

function python(ns: OmemoNamespace): PythonFigures | undefined {
  if (pythonMissing !== undefined) return undefined;
  const r = spawnSync(PYTHON, [PY_SCRIPT, ns, String(N_PY), String(N_PY_FIRST)], {
    encoding: "utf8",
    env: { ...process.env, PYTHONHASHSEED: "0" },
    maxBuffer: 1 << 20,
  });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim().split("\n").at(-1) || `exit ${r.status}`);
    pythonMissing = why;
    console.log(`python-omemo not available (${why}): peer figures are null`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as PythonFigures;
}

// ------------------------------------------------------------------ main

interface Samples {
  steady: number[];
  /** The steady round's time inside the session manager (no XML text written or parsed). */
  inside: number[];
  raw: number[];
  first: number[];
  xml: number[];
  sce: number[];
}

/** One round's samples of one provider in one namespace, as a worker reports them (sce: OMEMO 2 only). */
type RoundSamples = { [K in keyof Samples]: K extends "sce" ? number | undefined : number };

/**
 * A worker measures one provider, in a process of its own: an app uses one provider, and with both
 * in one process their objects pass through the same call sites of @parley/double-ratchet and the
 * manager, so V8's inline caches turn polymorphic and the native provider's rounds came out about
 * 20 % slower (measured 2026-12-03: OMEMO 2 steady 1344 → 1057 µs, raw 293 → 247 µs). The parent
 * sends it one round at a time, so that rounds of python-omemo and both providers still interleave.
 */
async function worker(provider: Provider): Promise<void> {
  const crypto = createCrypto({ provider });
  const profiles = { [NS_V2]: omemo2, [NS_LEGACY]: legacyOmemo } as const;
  const worlds = new Map<OmemoNamespace, Awaited<ReturnType<typeof world>>>();
  const pairs = new Map<OmemoNamespace, Array<{ a: Session; b: Session }>>();
  for (const ns of NAMESPACES) {
    const w = await world(ns, crypto);
    await managerRound(w.network, w.devices, "warm-up");
    // Every receiver answers once (delivered) so the sender's sessions no longer carry their key
    // exchange: established sessions, as in a conversation that is going on.
    for (const d of w.devices.slice(1)) await d.send("alice@example.org", { body: "ack" });
    await w.network.flush();
    await managerRound(w.network, w.devices, "check");
    for (const d of w.devices.slice(1)) {
      const info = await w.devices[0]!.sessionInfo(d.jid, d.deviceId, ns);
      if (info === undefined || info.keyExchangePending) throw new Error("sessions are not established");
    }
    for (let i = 0; i < 20; i++) await managerRound(w.network, w.devices, `${BODY} warm-up ${i}`);
    worlds.set(ns, w);
    const p = Array.from({ length: 5 }, () => rawPair(profiles[ns], crypto));
    for (let i = 0; i < 20; i++) rawRound(ns, crypto, p);
    pairs.set(ns, p);
  }
  const measure = async (ns: OmemoNamespace, round: number): Promise<RoundSamples> => {
    const w = worlds.get(ns)!;
    const p = pairs.get(ns)!;
    // Steady and raw alternate in slices so that load spikes hit both.
    let tManager = 0;
    let tInside = 0;
    let tRaw = 0;
    for (let slice = 0; slice < 5; slice++) {
      let t = ms();
      for (let i = 0; i < N / 5; i++) {
        const r = await managerRound(w.network, w.devices, `${BODY} ${round} ${slice} ${i}`, true);
        tInside += r.managerMs;
      }
      tManager += ms() - t;
      t = ms();
      for (let i = 0; i < N / 5; i++) rawRound(ns, crypto, p);
      tRaw += ms() - t;
    }

    const { xml } = await managerRound(w.network, w.devices, BODY);
    const encrypted = parseXml(xml).getChild("encrypted", ns)!;
    for (let i = 0; i < 20; i++) xmlRound(ns, encrypted);
    let t = ms();
    for (let i = 0; i < N_XML; i++) xmlRound(ns, encrypted);
    const xmlUs = ((ms() - t) * 1000) / N_XML;

    let sce: number | undefined;
    if (ns === NS_V2) {
      for (let i = 0; i < 20; i++) sceRound(crypto, BODY);
      t = ms();
      for (let i = 0; i < N_XML; i++) sceRound(crypto, BODY);
      sce = ((ms() - t) * 1000) / N_XML;
    }

    let first = 0;
    for (let i = 0; i < N_FIRST; i++) {
      const fresh = await world(ns, crypto);
      t = ms();
      await managerRound(fresh.network, fresh.devices, "first");
      first += ms() - t;
    }
    return {
      steady: (tManager * 1000) / N,
      inside: (tInside * 1000) / N,
      raw: (tRaw * 1000) / N,
      first: (first * 1000) / N_FIRST,
      xml: xmlUs,
      sce,
    };
  };
  process.on("message", (m: { ns: OmemoNamespace; round: number } | "exit") => {
    if (m === "exit") {
      process.disconnect();
      return;
    }
    measure(m.ns, m.round).then(
      (samples) => process.send!({ samples }),
      (error: unknown) => process.send!({ error: String((error as Error)?.stack ?? error) }),
    );
  });
  process.send!("ready");
}

/** A provider's worker process (this file again, with BENCH_WORKER set), once it has warmed up. */
async function startWorker(provider: Provider): Promise<{
  round(ns: OmemoNamespace, round: number): Promise<RoundSamples>;
  close(): void;
}> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, BENCH_WORKER: provider },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      const onExit = (code: number | null) => {
        reject(new Error(`the ${provider} worker exited (${String(code)})`));
      };
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m);
      });
    });
  if ((await next()) !== "ready") throw new Error(`the ${provider} worker did not start`);
  return {
    async round(ns, round) {
      const reply = next();
      child.send({ ns, round });
      const m = (await reply) as { samples?: RoundSamples; error?: string };
      if (m.samples === undefined) throw new Error(`the ${provider} worker failed: ${m.error}`);
      return m.samples;
    },
    close: () => {
      child.send("exit");
    },
  };
}

async function main(): Promise<void> {
  const ours = new Map<string, Samples>();
  const workers = new Map<Provider, Awaited<ReturnType<typeof startWorker>>>();
  for (const provider of PROVIDERS) {
    workers.set(provider, await startWorker(provider));
    for (const ns of NAMESPACES)
      ours.set(`${provider} ${ns}`, { steady: [], inside: [], raw: [], first: [], xml: [], sce: [] });
  }
  const py = new Map<OmemoNamespace, PythonFigures[]>(NAMESPACES.map((ns) => [ns, []]));
  const loads: number[] = [];

  for (let round = 0; round < ROUNDS; round++) {
    loads.push(loadavg()[0]!);
    for (const ns of NAMESPACES) {
      const figures = python(ns);
      if (figures !== undefined) py.get(ns)!.push(figures);
      for (const provider of PROVIDERS) {
        const r = await workers.get(provider)!.round(ns, round);
        const s = ours.get(`${provider} ${ns}`)!;
        for (const k of Object.keys(s) as Array<keyof Samples>) {
          const x = r[k];
          if (x !== undefined) s[k].push(x);
        }
      }
    }
  }
  for (const w of workers.values()) w.close();

  // ---------------------------------------------------------------- report
  interface Row {
    scenario: string;
    ours: number;
    peer: number | null;
    unit: string;
    ratio: number | null;
  }
  const rows: Row[] = [];
  const table: Array<Record<string, string>> = [];
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const rate = (us: number) => `${fmt(1e6 / us)} msg/s`;
  for (const ns of NAMESPACES) {
    const pyRuns = py.get(ns)!;
    const pyFig = (f: keyof Omit<PythonFigures, "versions">) =>
      pyRuns.length === 0 ? null : median(pyRuns.map((r) => r[f]));
    // Ratios are the median of each round's ratio (both sides measured in that round), which drifting
    // background load disturbs less than a ratio of medians.
    const pyRatio = (f: keyof Omit<PythonFigures, "versions">, o: readonly number[]) =>
      pyRuns.length === o.length ? median(o.map((x, i) => pyRuns[i]![f] / x)) : null;
    for (const provider of PROVIDERS) {
      const s = ours.get(`${provider} ${ns}`)!;
      const tag = `[${label(ns)}, ours: ${provider}]`;
      const steady = median(s.steady);
      const raw = median(s.raw);
      const first = median(s.first);
      const xml = median(s.xml);
      const add = (scenario: string, o: number, peer: number | null, ratio: number | null, peerName: string) => {
        rows.push({
          scenario,
          ours: Number(o.toPrecision(4)),
          peer: peer === null ? null : Number(peer.toPrecision(4)),
          unit: "µs/message",
          ratio: ratio === null ? null : Number(ratio.toFixed(3)),
        });
        table.push({
          scenario: scenario.replace(/ \([^()]*\)$/, ""),
          ours: `${fmt(o)} µs (${rate(o)})`,
          peer: peer === null ? `${peerName}: n/a` : `${peerName}: ${fmt(peer)} µs (${rate(peer)})`,
          ratio: ratio === null ? "n/a" : `${ratio.toFixed(2)}x`,
        });
      };
      const pySteady = pyFig("steady");
      const pyFirst = pyFig("first");
      const pyXml = pyFig("xml");
      add(
        `steady: 1 message to 3 contact + 2 own devices, decrypted at each ${tag} vs python-omemo (ratio = peer ÷ ours)`,
        steady,
        pySteady,
        pyRatio("steady", s.steady),
        "python-omemo",
      );
      add(
        `steady overhead over the raw Double Ratchet work for the same 5 devices ${tag} (ours = the session manager on elements: store, locks, trust, stanza codec${ns === NS_V2 ? ", SCE envelope" : ""}; peer = raw @parley/double-ratchet + payload cipher; ratio = ours ÷ raw, goal < 1.3)`,
        median(s.inside),
        raw,
        median(s.inside.map((x, i) => x / s.raw[i]!)),
        "raw ratchet",
      );
      add(
        `first contact: 5 bundles fetched and verified, 5 key exchanges built and accepted ${tag} vs python-omemo (ratio = peer ÷ ours)`,
        first,
        pyFirst,
        pyRatio("first", s.first),
        "python-omemo",
      );
      add(
        `XML per message: <encrypted> encoded + serialized once, parsed + decoded at 5 receivers ${tag} vs python-omemo's etree (ratio = peer ÷ ours)`,
        xml,
        pyXml,
        pyRatio("xml", s.xml),
        "python-omemo",
      );
      if (s.sce.length > 0) {
        add(
          `SCE envelope per message, OMEMO 2 only: built once, parsed and checked at 5 receivers ${tag} (python-omemo builds none)`,
          median(s.sce),
          null,
          null,
          "python-omemo",
        );
      }
    }
  }

  const cpu = cpus();
  const machine = `${platform()} ${release()}, ${cpu[0]?.model ?? "unknown CPU"} (${cpu.length} cores), Node ${process.version}`;
  const versions = [...py.values()].flat()[0]?.versions;
  console.log(`@parley/omemo benchmark on ${machine}${QUICK ? " (BENCH_QUICK smoke run)" : ""}`);
  console.log(
    `${ROUNDS} interleaved round(s), medians; load average at each round start: ${loads.map((l) => l.toFixed(2)).join(", ")}`,
  );
  console.log(
    versions === undefined
      ? `python-omemo: not measured (${pythonMissing ?? "unknown"})`
      : `python-omemo ${versions["omemo"]} (oldmemo ${versions["oldmemo"]}, twomemo ${versions["twomemo"]}), timed in-process by bench/python_omemo_bench.py`,
  );
  console.log("ratio = peer ÷ ours (above 1: ours is faster), except overhead rows: ours ÷ raw Double Ratchet\n");
  console.table(table);
  writeFileSync(new URL("./results.json", import.meta.url), JSON.stringify(rows, null, 2) + "\n");
  console.log(`\nmachine: ${machine}`);
}

const workerProvider = process.env["BENCH_WORKER"];
if (workerProvider === undefined) await main();
else if ((PROVIDERS as readonly string[]).includes(workerProvider)) await worker(workerProvider as Provider);
else throw new Error(`BENCH_WORKER=${workerProvider}: not a provider`);
