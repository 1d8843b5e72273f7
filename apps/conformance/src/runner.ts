/** Runs suites against an adapter process and collects one result per case. */
import { AdapterProcess } from "./client.js";
import { AdapterError, AdapterFailure } from "./errors.js";
import { PROTOCOL_VERSION, type HelloResult, type ProfileName } from "./protocol.js";
import { ParleyImplementation } from "./reference.js";
import { traced, type Suite, type TestCase } from "./suite.js";
import { Mismatch } from "./suites/assert.js";
import { omemoSuite } from "./suites/omemo.js";
import { otrSuite } from "./suites/otr.js";
import { ratchetSuite } from "./suites/ratchet.js";
import { xeddsaSuite } from "./suites/xeddsa.js";
import { x3dhSuite } from "./suites/x3dh.js";

/** Every suite, in run order. Add a new one here (README "Adding a suite"). */
export const SUITES: readonly Suite[] = [xeddsaSuite, x3dhSuite, ratchetSuite, omemoSuite, otrSuite];

export type CaseStatus = "passed" | "failed" | "skipped";

export interface CaseResult {
  suite: string;
  name: string;
  profile: ProfileName | null;
  status: CaseStatus;
  durationMs: number;
  /** Why it failed (the first difference, or the error) or why it was skipped. */
  detail?: string;
  /** For a failed comparison: what was compared, and the first difference. */
  difference?: { what: string; expected: string; got: string };
}

export interface RunReport {
  kit: { name: "@parley/conformance"; protocol: number };
  adapter: { command: string; hello: HelloResult | null; restarts: number };
  startedAt: string;
  durationMs: number;
  summary: { passed: number; failed: number; skipped: number; total: number };
  results: CaseResult[];
}

export interface RunOptions {
  /** The adapter's shell command. */
  readonly adapter: string;
  /** Only these suites (default: all). */
  readonly suites?: readonly string[];
  /** Only cases of these profiles (cases without a profile always run). */
  readonly profiles?: readonly ProfileName[];
  /** Only cases whose "suite name" contains this text (case-sensitive). */
  readonly grep?: string;
  /** Per-request timeout in milliseconds (default 10 s). */
  readonly timeoutMs?: number;
  /** Timeout for `hello`, which includes the adapter's start-up (default 30 s, at least `timeoutMs`). */
  readonly startupTimeoutMs?: number;
  readonly cwd?: string;
  /** How often a crashed or hung adapter is restarted for the next case (default 3). */
  readonly maxRestarts?: number;
  /** Called after each case (for progress output). */
  readonly onResult?: (result: CaseResult) => void;
  /** The adapter's stderr (default: kept for failure messages only). */
  readonly onStderr?: (chunk: string) => void;
}

/** The cases selected by suite and profile names; unknown names throw. */
export function selectCases(suites?: readonly string[], profiles?: readonly ProfileName[], grep?: string): TestCase[] {
  for (const s of suites ?? []) {
    if (!SUITES.some((x) => x.name === s)) {
      throw new Error(`unknown suite ${JSON.stringify(s)}: one of ${SUITES.map((x) => x.name).join(", ")}`);
    }
  }
  return SUITES.filter((s) => !suites || suites.length === 0 || suites.includes(s.name))
    .flatMap((s) => s.cases())
    .filter((c) => !profiles || profiles.length === 0 || c.profile === undefined || profiles.includes(c.profile))
    .filter((c) => grep === undefined || `${c.suite} ${c.name}`.includes(grep));
}

function describeError(e: unknown): Pick<CaseResult, "detail" | "difference"> {
  if (e instanceof Mismatch) {
    return { detail: e.message, difference: { what: e.what, expected: e.expected, got: e.got } };
  }
  if (e instanceof AdapterError) return { detail: `unexpected error ${e.code}: ${e.message}` };
  if (e instanceof AdapterFailure) return { detail: `adapter failure: ${e.message}` };
  return { detail: `error: ${e instanceof Error ? e.message : String(e)}` };
}

async function startAdapter(
  options: RunOptions,
  timeoutMs: number,
): Promise<{ process: AdapterProcess; hello: HelloResult }> {
  const process = new AdapterProcess({
    command: options.adapter,
    timeoutMs,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.onStderr ? { onStderr: options.onStderr } : {}),
  });
  try {
    const startup = Math.max(options.startupTimeoutMs ?? 30_000, timeoutMs);
    const hello = await process.call("hello", { protocol: PROTOCOL_VERSION }, startup);
    if (!Array.isArray(hello.ops) || !Array.isArray(hello.profiles)) {
      throw new AdapterFailure("hello must return ops and profiles arrays");
    }
    if (
      hello.otrVersions !== undefined &&
      (!Array.isArray(hello.otrVersions) || !hello.otrVersions.every((v) => Number.isSafeInteger(v)))
    ) {
      throw new AdapterFailure("hello's otrVersions must be an array of integers");
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new AdapterFailure(`the adapter speaks protocol ${String(hello.protocol)}, the runner ${PROTOCOL_VERSION}`);
    }
    return { process, hello };
  } catch (e) {
    process.kill();
    await process.close(100);
    throw e instanceof AdapterFailure || e instanceof AdapterError
      ? new AdapterFailure(`hello failed: ${e instanceof AdapterError ? `${e.code}: ` : ""}${e.message}`)
      : e;
  }
}

export async function runConformance(options: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxRestarts = options.maxRestarts ?? 3;
  const cases = selectCases(options.suites, options.profiles, options.grep);
  const results: CaseResult[] = [];
  let adapter: { process: AdapterProcess; hello: HelloResult } | undefined;
  let hello: HelloResult | null = null;
  let restarts = -1;
  let unavailable: string | undefined;

  const record = (r: CaseResult) => {
    results.push(r);
    options.onResult?.(r);
  };

  for (const c of cases) {
    const base = { suite: c.suite, name: c.name, profile: c.profile ?? null };
    if (c.skip !== undefined) {
      record({ ...base, status: "skipped", durationMs: 0, detail: c.skip });
      continue;
    }
    if (!adapter?.process.alive && unavailable === undefined) {
      if (adapter) await adapter.process.close(100);
      adapter = undefined;
      if (restarts >= maxRestarts) unavailable = `the adapter failed ${restarts + 1} times; giving up`;
      else {
        restarts++;
        try {
          adapter = await startAdapter(options, timeoutMs);
          hello = adapter.hello;
        } catch (e) {
          unavailable = e instanceof Error ? e.message : String(e);
        }
      }
    }
    if (!adapter || unavailable !== undefined) {
      record({ ...base, status: "failed", durationMs: 0, detail: `adapter failure: ${unavailable ?? "not running"}` });
      continue;
    }
    const missing = c.ops.filter((op) => !adapter!.hello.ops.includes(op));
    if (c.profile !== undefined && !adapter.hello.profiles.includes(c.profile)) {
      record({
        ...base,
        status: "skipped",
        durationMs: 0,
        detail: `the adapter does not support profile ${c.profile}`,
      });
      continue;
    }
    if (missing.length > 0) {
      record({
        ...base,
        status: "skipped",
        durationMs: 0,
        detail: `the adapter does not support ${missing.join(", ")}`,
      });
      continue;
    }
    const unmet = c.requires?.(adapter.hello);
    if (unmet !== undefined) {
      record({ ...base, status: "skipped", durationMs: 0, detail: unmet });
      continue;
    }
    const t0 = Date.now();
    try {
      await c.run({
        iut: traced(adapter.process, "IUT"),
        ref: traced(new ParleyImplementation(), "Parley (reference)"),
      });
      record({ ...base, status: "passed", durationMs: Date.now() - t0 });
    } catch (e) {
      record({ ...base, status: "failed", durationMs: Date.now() - t0, ...describeError(e) });
    }
  }
  if (adapter) await adapter.process.close();

  const count = (s: CaseStatus) => results.filter((r) => r.status === s).length;
  return {
    kit: { name: "@parley/conformance", protocol: PROTOCOL_VERSION },
    adapter: { command: options.adapter, hello, restarts: Math.max(restarts, 0) },
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary: { passed: count("passed"), failed: count("failed"), skipped: count("skipped"), total: results.length },
    results,
  };
}
