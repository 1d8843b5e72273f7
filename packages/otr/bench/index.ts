// `pnpm bench`: @parley/otr on the native (node:crypto) and BigInt (browser) engines beside libotr 4.1.1, which
// bench/libotr-peer.ts times inside the C harness (interop/libotr_peer.c) in the same run. Scenarios:
//   ake       full AKE (query -> D-H Commit -> D-H Key -> Reveal Signature -> Signature), both sides encrypted
//   data      data messages one way, 100 ASCII bytes, encrypt + decrypt (no key rotation)
//   pingpong  messages alternating A -> B -> A, each one rotating keys (new 1536-bit D-H pair, new session keys)
//   smp       one full SMP run (messages 1..4, equal secrets, both sides verified)
// Rates are operations per second (higher is better), SMP is milliseconds per run (lower is better);
// ratio = ours ÷ peer for rates and peer ÷ ours for times, so above 1 means we are faster.
// Writes bench/results.json; `peer` is null when libotr is not available (then the run says so).
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { DsaPrivateKey, OtrSession } from "../src/index.js";

const QUICK = process.env.BENCH_QUICK === "1";
const keys = (
  JSON.parse(readFileSync(new URL("../test/fixtures/keys.json", import.meta.url), "utf8")) as { keys: string[] }
).keys;
const aliceKey = DsaPrivateKey.import(keys[0]!);
const bobKey = DsaPrivateKey.import(keys[1]!);
const TEXT = "x".repeat(100);

type Engine = "native" | "bigint";

function sessions(engine: Engine) {
  const common = { heartbeatIntervalMs: 0, engine } as const;
  const a = new OtrSession({ account: "alice@x", contact: "bob@x", privateKey: aliceKey, ...common });
  const b = new OtrSession({ account: "bob@x", contact: "alice@x", privateKey: bobKey, ...common });
  return { a, b };
}

function pump(from: OtrSession, to: OtrSession, wire: readonly string[]): number {
  let delivered = 0;
  const queue = wire.map((m) => [to, from, m] as const);
  for (let item = queue.shift(); item; item = queue.shift()) {
    const [dst, src, m] = item;
    const r = dst.receive(m);
    delivered++;
    for (const e of r.events) if (e.type === "error") throw new Error(`bench: ${e.error.code}`);
    for (const reply of r.replies) queue.push([src, dst, reply]);
  }
  return delivered;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function akePerSecond(engine: Engine, n: number): number {
  const ms = time(() => {
    for (let i = 0; i < n; i++) {
      const { a, b } = sessions(engine);
      pump(a, b, a.startAke());
      if (a.messageState !== "encrypted" || b.messageState !== "encrypted") throw new Error("bench: AKE failed");
    }
  });
  return (n * 1000) / ms;
}

function encrypted(engine: Engine) {
  const s = sessions(engine);
  pump(s.a, s.b, s.a.startAke());
  return s;
}

function dataPerSecond(engine: Engine, n: number): number {
  const { a, b } = encrypted(engine);
  const ms = time(() => {
    for (let i = 0; i < n; i++) {
      const r = b.receive(a.send(TEXT)[0]!);
      if (r.events[0]?.type !== "message") throw new Error("bench: data message failed");
    }
  });
  return (n * 1000) / ms;
}

function pingPongPerSecond(engine: Engine, n: number): number {
  const { a, b } = encrypted(engine);
  const ms = time(() => {
    for (let i = 0; i < n; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const r = to.receive(from.send(TEXT)[0]!);
      if (r.events[0]?.type !== "message") throw new Error("bench: ping-pong failed");
    }
  });
  return (n * 1000) / ms;
}

function smpMs(engine: Engine, n: number): number {
  const { a, b } = encrypted(engine);
  const ms = time(() => {
    for (let i = 0; i < n; i++) {
      pump(a, b, a.smp.start("secret"));
      pump(b, a, b.smp.respond("secret"));
    }
  });
  return ms / n;
}

interface Row {
  scenario: string;
  ours: number;
  peer: number | null;
  unit: string;
  ratio: number | null;
}

const scale = QUICK ? 0.1 : 1;
const count = (v: number) => Math.max(1, Math.round(v * scale));

// Warm-up (JIT, native DH objects).
pump(
  ...(() => {
    const { a, b } = sessions("native");
    return [a, b, a.startAke()] as const;
  })(),
);

const ours = {
  native: {
    ake: akePerSecond("native", count(50)),
    data: dataPerSecond("native", count(5000)),
    pingpong: pingPongPerSecond("native", count(500)),
    smp: smpMs("native", count(10)),
  },
  bigint: {
    ake: akePerSecond("bigint", count(5)),
    data: dataPerSecond("bigint", count(2000)),
    pingpong: pingPongPerSecond("bigint", count(50)),
    smp: smpMs("bigint", count(2)),
  },
};

let peer: { ake: number; data: number; pingpong: number; smp: number } | null = null;
let peerNote = "";
try {
  const mod = await import("./libotr-peer.js");
  const r = await mod.libotrBenchAll({ scale });
  peer = {
    ake: r.ake.opsPerSecond,
    data: r.data.opsPerSecond,
    pingpong: r.pingpong.opsPerSecond,
    smp: r.smp.usPerOp / 1000,
  };
  peerNote = `libotr ${r.ake.libotr} (C harness, same run)`;
} catch (error) {
  peerNote = `libotr peer unavailable: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
}

const rows: Row[] = [];
for (const engine of ["native", "bigint"] as const) {
  const o = ours[engine];
  const rate = (scenario: string, mine: number, theirs: number | undefined) =>
    rows.push({
      scenario: `${scenario} (${engine})`,
      ours: round(mine),
      peer: theirs === undefined ? null : round(theirs),
      unit: "ops/s",
      ratio: theirs === undefined ? null : round(mine / theirs),
    });
  rate("ake", o.ake, peer?.ake);
  rate("data one way", o.data, peer?.data);
  rate("ping-pong with key rotation", o.pingpong, peer?.pingpong);
  rows.push({
    scenario: `smp full run (${engine})`,
    ours: round(o.smp),
    peer: peer ? round(peer.smp) : null,
    unit: "ms",
    ratio: peer ? round(peer.smp / o.smp) : null,
  });
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

console.log(
  `@parley/otr bench on ${cpus()[0]?.model ?? "?"} (${cpus().length} cores), ${platform()} ${release()}, Node ${process.version}`,
);
console.log(`peer: ${peerNote}${QUICK ? " (BENCH_QUICK: fewer iterations)" : ""}`);
console.table(rows);
writeFileSync(new URL("./results.json", import.meta.url), JSON.stringify(rows, null, 2) + "\n");
