#!/usr/bin/env node
/**
 * parley-conformance run --adapter "<command>" [--suite x3dh|ratchet]... [--profile legacyOmemo]...
 *   [--grep text] [--junit out.xml] [--json out.json] [--timeout ms] [--verbose]
 * parley-conformance list [--suite ...] [--profile ...]
 * parley-conformance reference-adapter   (Parley's adapter, the same as dist/adapters/parley.js)
 * Exit code: 0 when no case failed, 1 when one did, 2 for a usage error.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { killAllAdapters } from "./client.js";
import { PROFILES, type ProfileName } from "./protocol.js";
import { ParleyImplementation } from "./reference.js";
import { formatTable, toJson, toJUnit } from "./report.js";
import { runConformance, selectCases, SUITES } from "./runner.js";
import { serve } from "./serve.js";

const USAGE = `Usage:
  parley-conformance run --adapter "<command>" [options]   run the suites against an adapter
  parley-conformance list [--suite s] [--profile p]        list the cases
  parley-conformance reference-adapter                     serve Parley as an adapter on stdin/stdout

Options:
  --adapter <command>   shell command that starts the adapter (JSON lines on stdin/stdout)
  --suite <name>        only this suite (repeatable): ${SUITES.map((s) => s.name).join(", ")}
  --profile <name>      only this profile (repeatable): ${PROFILES.join(", ")}
  --grep <text>         only cases whose "suite name" contains the text
  --junit <file>        write JUnit XML
  --json <file>         write the full report as JSON
  --timeout <ms>        per-request timeout (default 10000)
  --verbose             pass the adapter's stderr through
`;

function write(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      adapter: { type: "string" },
      suite: { type: "string", multiple: true },
      profile: { type: "string", multiple: true },
      grep: { type: "string" },
      junit: { type: "string" },
      json: { type: "string" },
      timeout: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const profiles = values.profile ?? [];
  for (const p of profiles) {
    if (!PROFILES.includes(p as ProfileName))
      throw new UsageError(`unknown profile ${p}: one of ${PROFILES.join(", ")}`);
  }
  const selection = {
    suites: values.suite ?? [],
    profiles: profiles as ProfileName[],
    ...(values.grep !== undefined ? { grep: values.grep } : {}),
  };
  if (command === "reference-adapter") {
    const parley = new ParleyImplementation();
    await serve((op, args) => parley.handle(op, args as never));
    return 0;
  }
  if (command === "list") {
    for (const c of selectCases(selection.suites, selection.profiles, selection.grep))
      process.stdout.write(`${c.suite}\t${c.name}\n`);
    return 0;
  }
  if (command !== "run") throw new UsageError(`unknown command ${command}`);
  if (values.adapter === undefined || values.adapter.trim() === "") throw new UsageError("run needs --adapter");
  const timeoutMs = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout must be a positive integer");
  // Unknown suite names, or a selection without cases, fail before the adapter starts.
  if (selectCases(selection.suites, selection.profiles, selection.grep).length === 0) {
    throw new UsageError("no case matches --suite, --profile and --grep");
  }

  const report = await runConformance({
    adapter: values.adapter,
    ...selection,
    timeoutMs,
    ...(values.verbose ? { onStderr: (chunk: string) => process.stderr.write(chunk) } : {}),
  });
  process.stdout.write(`${formatTable(report)}\n`);
  if (values.junit !== undefined) write(values.junit, toJUnit(report));
  if (values.json !== undefined) write(values.json, toJson(report));
  return report.summary.failed > 0 ? 1 : 0;
}

class UsageError extends Error {}

// Adapters run in their own process groups: a Ctrl-C of the runner must take them along.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllAdapters();
    process.exit(130);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const usage = e instanceof UsageError || (e instanceof Error && e.message.startsWith("unknown suite"));
    process.stderr.write(`parley-conformance: ${e instanceof Error ? e.message : String(e)}\n`);
    if (usage) process.stderr.write(USAGE);
    process.exitCode = usage ? 2 : 1;
  },
);
