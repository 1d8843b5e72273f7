#!/usr/bin/env node
// Sums every vitest JSON report under packages/*/.reports and apps/*/.reports into the one
// closing line CI recognises: "N passed, N failed". Checks that are not test files (build,
// lint, typecheck) are passed in as extra results by test-all.mjs via --check name=ok|fail.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Each workspace member's `.reports` folder (where its vitest runs write JSON), existing or not. */
export function reportDirs() {
  const out = [];
  for (const group of ["packages", "apps"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const pkg of readdirSync(dir).sort()) out.push({ name: `${group}/${pkg}`, dir: join(dir, pkg, ".reports") });
  }
  return out;
}

export function collectReports() {
  const rows = [];
  for (const { name, dir } of reportDirs()) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) {
      if (!file.endsWith(".json")) continue;
      const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
      // A test file that failed without a failing test (an import error, a crash) counts once;
      // numFailedTestSuites would also count every describe block around a failing test.
      const brokenFiles = (report.testResults ?? []).filter(
        (f) => f.status === "failed" && !(f.assertionResults ?? []).some((a) => a.status === "failed"),
      ).length;
      rows.push({
        suite: `${name}:${file.replace(/\.json$/, "")}`,
        passed: report.numPassedTests ?? 0,
        failed: (report.numFailedTests ?? 0) + brokenFiles,
        skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
      });
    }
  }
  return rows;
}

export function summarize(checks = []) {
  const rows = [...collectReports(), ...checks];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const r of rows) {
    console.log(
      `  ${r.suite.padEnd(48)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed${r.skipped ? ` ${r.skipped} skipped` : ""}`,
    );
    passed += r.passed;
    failed += r.failed;
    skipped += r.skipped ?? 0;
  }
  return { passed, failed, skipped };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { passed, failed } = summarize();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
