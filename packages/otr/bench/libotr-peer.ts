// libotr 4.1.1 figures for `pnpm bench`, measured inside the C harness (interop/libotr_peer.c, `bench_*` ops):
// two libotr parties in one process, messages routed in memory, timed with CLOCK_MONOTONIC around the loop, so
// neither process start-up nor the JSON pipe is counted. Keys are the fixed test keys (interop/keys/keys.json).
// The harness fails a data or ping-pong op unless the receiving libotr returned every timed message's plaintext,
// and an SMP op unless both sides reported success; test/harness.interop.test.ts checks the message counts.
//
// Exported functions (all async; each starts one harness process and ends it):
//
//   libotrAke(options?: { n?: number; version?: 2 | 3 }): Promise<LibotrBenchResult>
//       n full AKEs (query message -> DH-Commit -> DH-Key -> Reveal-Signature -> Signature, both sides
//       encrypted); contexts are forgotten between runs so each AKE starts from nothing. Default n = 20, v3.
//   libotrDataOneWay(options?: { n?: number; size?: number; version?: 2 | 3 }): Promise<LibotrBenchResult>
//       n data messages of `size` ASCII bytes from A to B (encrypt + decrypt); B never answers, so no key
//       rotation. Default n = 2000, size = 100, v3.
//   libotrPingPong(options?: { n?: number; size?: number; version?: 2 | 3 }): Promise<LibotrBenchResult>
//       n data messages alternating A -> B, B -> A; each message acknowledges the peer's newest DH key, so each
//       one rotates keys (a new 1536-bit DH key pair and session keys). usPerOp is per message. Default n = 400.
//   libotrSmp(options?: { n?: number; version?: 2 | 3 }): Promise<LibotrBenchResult>
//       n full SMP runs (SMP1..SMP4 inside data messages, equal secrets, both sides report success).
//       Default n = 10.
//   libotrBenchAll(options?: { scale?: number }): Promise<Record<"ake" | "data" | "pingpong" | "smp",
//       LibotrBenchResult>>
//       The four above in one process with default sizes multiplied by `scale` (default 1).
//
// LibotrBenchResult: { op, n, totalUs, usPerOp, opsPerSecond, version, size, deliveries, libotr }
// (`deliveries`: wire messages handed to otrl_message_receiving inside the timed loop; `libotr`: otrl_version()).
import { PeerProcess, testKey } from "../interop/peers.js";

export interface LibotrBenchResult {
  op: "ake" | "data" | "pingpong" | "smp";
  n: number;
  totalUs: number;
  usPerOp: number;
  opsPerSecond: number;
  version: 2 | 3;
  size: number;
  deliveries: number;
  libotr: string;
}

interface RawBench {
  n: number;
  totalUs: number;
  usPerOp: number;
  deliveries: number;
  version: number;
  size: number;
}

async function run(
  proc: PeerProcess,
  op: LibotrBenchResult["op"],
  n: number,
  version: 2 | 3,
  size: number,
): Promise<LibotrBenchResult> {
  const { libotr } = await proc.call<{ libotr: string }>("version");
  const r = await proc.call<RawBench>(`bench_${op}`, {
    n,
    version,
    size,
    keyA: testKey("alice").privateKey,
    keyB: testKey("bob").privateKey,
  });
  return {
    op,
    n: r.n,
    totalUs: r.totalUs,
    usPerOp: r.usPerOp,
    opsPerSecond: 1e6 / r.usPerOp,
    version,
    size: r.size,
    deliveries: r.deliveries,
    libotr,
  };
}

async function once(op: LibotrBenchResult["op"], n: number, version: 2 | 3, size: number): Promise<LibotrBenchResult> {
  const proc = PeerProcess.libotr();
  try {
    return await run(proc, op, n, version, size);
  } finally {
    proc.close();
  }
}

export function libotrAke(options: { n?: number; version?: 2 | 3 } = {}): Promise<LibotrBenchResult> {
  return once("ake", options.n ?? 20, options.version ?? 3, 100);
}

export function libotrDataOneWay(
  options: { n?: number; size?: number; version?: 2 | 3 } = {},
): Promise<LibotrBenchResult> {
  return once("data", options.n ?? 2000, options.version ?? 3, options.size ?? 100);
}

export function libotrPingPong(
  options: { n?: number; size?: number; version?: 2 | 3 } = {},
): Promise<LibotrBenchResult> {
  return once("pingpong", options.n ?? 400, options.version ?? 3, options.size ?? 100);
}

export function libotrSmp(options: { n?: number; version?: 2 | 3 } = {}): Promise<LibotrBenchResult> {
  return once("smp", options.n ?? 10, options.version ?? 3, 100);
}

export async function libotrBenchAll(
  options: { scale?: number } = {},
): Promise<Record<LibotrBenchResult["op"], LibotrBenchResult>> {
  const scale = options.scale ?? 1;
  const count = (n: number) => Math.max(1, Math.round(n * scale));
  const proc = PeerProcess.libotr();
  try {
    return {
      ake: await run(proc, "ake", count(20), 3, 100),
      data: await run(proc, "data", count(2000), 3, 100),
      pingpong: await run(proc, "pingpong", count(400), 3, 100),
      smp: await run(proc, "smp", count(10), 3, 100),
    };
  } finally {
    proc.close();
  }
}
