// Our Double Ratchet (+ X3DH) beside the npm libsignal ports, measured in one process on the same
// scenarios. ratio = peer ÷ ours for times and sizes (above 1: we are faster / smaller).
// Writes bench/results.json (one row per scenario per peer per provider of ours) and names the machine.
import { writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ours } from "./ours.js";
import { npmLibsignal, privacyResearch, type Conversation, type Implementation } from "./peers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** Full collections until the heap stops shrinking (weak maps, finalizers). */
function settle(): void {
  let last = Infinity;
  for (let i = 0; i < 6; i++) {
    gc();
    const used = process.memoryUsage().heapUsed;
    if (used >= last - 1024) return;
    last = used;
  }
}

const QUICK = process.env.BENCH_QUICK === "1"; // smoke run (CI-friendly): same code, fewer iterations
const N_ESTABLISH = QUICK ? 20 : 200;
const N_STEADY = QUICK ? 500 : 10_000;
const N_PINGPONG = QUICK ? 200 : 1_000;
const N_REVERSE = 1_000;
const N_IDLE = QUICK ? 50 : 500;
const N_HEAP = QUICK ? 2_000 : 20_000;
const payload = new Uint8Array(32).fill(7); // an OMEMO key || tag: what a real Double Ratchet message carries

const now = () => performance.now();

async function check(conv: Conversation, to: "alice" | "bob", msg: unknown): Promise<void> {
  const pt = await conv.receive(to, msg);
  if (pt.length !== payload.length || pt[0] !== 7) throw new Error("benchmark message did not round-trip");
}

async function established(impl: Implementation, i: number): Promise<Conversation> {
  const conv = await impl.establish(await impl.makeBundle(i), payload);
  // Bob answers once so both sides leave the prekey phase, as in a real conversation.
  await check(conv, "alice", await conv.send("bob", payload));
  return conv;
}

/** Time scenarios are sampled ROUNDS times, interleaved across implementations; the best counts. */
const ROUNDS = 3;

const scenarios: Array<{ name: string; unit: string; timed?: boolean; run(impl: Implementation): Promise<number> }> = [
  {
    name: "session establishment (X3DH with signature check + first message)",
    unit: "µs/session",
    timed: true,
    async run(impl) {
      const bundles = [];
      for (let i = 0; i < N_ESTABLISH; i++) bundles.push(await impl.makeBundle(i));
      const t = now();
      for (const b of bundles) await impl.establish(b, payload);
      return ((now() - t) * 1000) / N_ESTABLISH;
    },
  },
  {
    name: `steady: ${N_STEADY} messages one way, encrypt + decrypt`,
    unit: "µs/message",
    timed: true,
    async run(impl) {
      const conv = await established(impl, 0);
      const t = now();
      for (let i = 0; i < N_STEADY; i++) await check(conv, "bob", await conv.send("alice", payload));
      return ((now() - t) * 1000) / N_STEADY;
    },
  },
  {
    name: `ping-pong: ${N_PINGPONG} messages, a DH ratchet step on every message`,
    unit: "µs/message",
    timed: true,
    async run(impl) {
      const conv = await established(impl, 0);
      const t = now();
      for (let i = 0; i < N_PINGPONG; i++) {
        const from = i % 2 === 0 ? "alice" : "bob";
        await check(conv, from === "alice" ? "bob" : "alice", await conv.send(from, payload));
      }
      return ((now() - t) * 1000) / N_PINGPONG;
    },
  },
  {
    name: `${N_REVERSE} messages delivered in reverse order`,
    unit: "µs/message",
    timed: true,
    async run(impl) {
      const conv = await established(impl, 0);
      const msgs = [];
      for (let i = 0; i < N_REVERSE; i++) msgs.push(await conv.send("alice", payload));
      const t = now();
      for (let i = N_REVERSE - 1; i >= 0; i--) await check(conv, "bob", msgs[i]);
      return ((now() - t) * 1000) / N_REVERSE;
    },
  },
  {
    name: "idle session, serialized",
    unit: "bytes/session",
    async run(impl) {
      const conv = await established(impl, 0);
      return conv.serializedBytesPerSession();
    },
  },
  {
    name: "idle session, in memory (heap delta / session)",
    unit: "bytes/session",
    async run(impl) {
      // Heap that N retained idle conversations add (after a warm-up round that compiles the code
      // paths), median of 3 rounds. Two parties per conversation: the figure is per session.
      const round = async (): Promise<number> => {
        const keep: unknown[] = [];
        settle();
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < N_IDLE; i++) {
          const conv = await impl.establish(await impl.makeBundle(i), payload);
          await check(conv, "alice", await conv.send("bob", payload));
          keep.push(conv.retain());
        }
        settle();
        const after = process.memoryUsage().heapUsed;
        if (keep.length !== N_IDLE) throw new Error("unreachable");
        return (after - before) / N_IDLE / 2;
      };
      await round();
      const r = [await round(), await round(), await round()].sort((a, b) => a - b);
      return r[1]!;
    },
  },
  {
    name: `heap growth over a long run (${N_HEAP} messages, direction changes every 8)`,
    unit: "bytes/message",
    async run(impl) {
      const conv = await established(impl, 0);
      const step = async (i: number) => {
        const from = Math.floor(i / 8) % 2 === 0 ? "alice" : "bob";
        await check(conv, from === "alice" ? "bob" : "alice", await conv.send(from, payload));
      };
      for (let i = 0; i < N_HEAP / 10; i++) await step(i); // warm-up, reach steady state
      // Slope between two checkpoints after the warm-up: the smaller of two halves, so one-off
      // allocations (JIT, lazily grown tables) do not count as growth.
      const heap = () => {
        settle();
        return process.memoryUsage().heapUsed;
      };
      const h0 = heap();
      for (let i = 0; i < N_HEAP / 2; i++) await step(i);
      const h1 = heap();
      for (let i = 0; i < N_HEAP / 2; i++) await step(i);
      const h2 = heap();
      return Math.max(0, Math.min(h1 - h0, h2 - h1) / (N_HEAP / 2));
    },
  },
];

const peers = [npmLibsignal(), await privacyResearch()];
const mine = [ours("native"), ours("noble")];

interface Row {
  scenario: string;
  ours: number;
  peer: number;
  unit: string;
  ratio: number;
  oursName: string;
  peerName: string;
}
const rows: Row[] = [];
for (const s of scenarios) {
  // Interleaved rounds (peer, ours, peer, ours, ...) so background load hits all implementations
  // alike; the best round counts for times, the single round for sizes.
  const figures = new Map<string, number>();
  for (let round = 0; round < (s.timed ? ROUNDS : 1); round++) {
    for (const impl of [...peers, ...mine]) {
      const x = await s.run(impl);
      figures.set(impl.name, Math.min(x, figures.get(impl.name) ?? Infinity));
    }
  }
  for (const m of mine) {
    const o = figures.get(m.name)!;
    for (const p of peers) {
      const peer = figures.get(p.name)!;
      // Heap growth can be ~0 for both: compare with a floor of 1 byte so the ratio stays finite.
      const ratio = s.unit === "bytes/message" ? Math.max(peer, 1) / Math.max(o, 1) : peer / o;
      rows.push({ scenario: s.name, ours: o, peer, unit: s.unit, ratio, oursName: m.name, peerName: p.name });
    }
  }
}

const machine = `${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores), ${platform()} ${release()}, Node ${process.version}`;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
console.log(`@parley/double-ratchet benchmark on ${machine}${QUICK ? " (BENCH_QUICK smoke run)" : ""}`);
console.log("ratio = peer ÷ ours (above 1: ours is faster or smaller)\n");
console.table(
  rows.map((r) => ({
    scenario: r.scenario,
    ours: `${r.oursName}: ${fmt(r.ours)}`,
    peer: `${r.peerName}: ${fmt(r.peer)}`,
    unit: r.unit,
    ratio: `${r.ratio.toFixed(2)}x`,
  })),
);
writeFileSync(
  new URL("./results.json", import.meta.url),
  JSON.stringify(
    rows.map((r) => ({
      scenario: `${r.scenario} [ours: ${r.oursName}; peer: ${r.peerName}]`,
      ours: Number(r.ours.toPrecision(4)),
      peer: Number(r.peer.toPrecision(4)),
      unit: r.unit,
      ratio: Number(r.ratio.toFixed(3)),
    })),
    null,
    2,
  ) + "\n",
);
console.log(`\nmachine: ${machine}`);
