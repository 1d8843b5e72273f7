#!/usr/bin/env node
// Every check, in order: build, bundle sizes, lint, typecheck, the API reference (TypeDoc, any warning
// fails), unit + property tests, the mutation list (docs/MUTATIONS.md: each security check disabled in
// turn must fail a named test), interop against real peers (installed with apt), PostgreSQL, end to end
// against a real Prosody (apps/chat), browser tests in headless Chromium, the pack check. Each vitest run writes a JSON
// report to <package>/.reports/; the last line printed is the total over all of them:
// "N passed, N failed". A step that fails without a failing test counted (a build or lint error,
// a crashed runner) counts as one failure, so the total never hides it.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { collectReports, reportDirs, summarize } from "./summarize.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
for (const { dir } of reportDirs()) rmSync(dir, { recursive: true, force: true });

const steps = [
  ["build", ["pnpm", "run", "build"]],
  ["bundle", ["pnpm", "run", "bundle-size"]],
  ["lint", ["pnpm", "run", "lint"]],
  ["typecheck", ["pnpm", "run", "typecheck"]],
  ["docs", ["pnpm", "run", "docs"]],
  ["unit", ["pnpm", "run", "test:unit"]],
  ["mutations", ["pnpm", "run", "test:mutations"]],
  ["interop", ["pnpm", "run", "test:interop"]],
  ["postgres", ["pnpm", "run", "test:postgres"]],
  ["e2e", ["pnpm", "run", "test:e2e"]],
  ["browser", ["pnpm", "run", "test:browser"]],
  ["pack", ["pnpm", "run", "test:pack"]],
];
const checks = [];
for (const [name, [cmd, ...args]] of steps) {
  const before = collectReports().reduce((n, r) => n + r.failed, 0);
  const started = Date.now();
  console.log(`\n=== ${name}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  const after = collectReports().reduce((n, r) => n + r.failed, 0);
  console.log(`=== ${name}: exit ${r.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (r.status !== 0 && after === before)
    checks.push({ suite: `step:${name} (exit ${r.status})`, passed: 0, failed: 1 });
}
console.log("\nSummary:");
const { passed, failed, skipped } = summarize(checks);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
