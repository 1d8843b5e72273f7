#!/usr/bin/env node
// Re-runs the mutation tests listed in docs/MUTATIONS.md: every security check we rely on has an
// entry in its package's mutations.json naming the check (exact source text), a mutation that
// disables it, and the test that must catch it. For each entry this script
//   1. runs the named test on the unmodified source and requires it to pass (so a test that does
//      not exist, or matches nothing, cannot "catch" anything),
//   2. applies the mutation (the `find` text must occur exactly once: a list that no longer matches
//      the code fails loudly instead of silently testing nothing),
//   3. runs the test again and requires at least one failed assertion (a crash or an import error
//      is reported as "broken", not as caught),
//   4. restores the file byte for byte, also on Ctrl-C or an exception.
// Each package's results go to <package>/.reports/mutations.json in the shape of a vitest JSON
// report (caught = passed, survived or broken = failed), so the CI total counts them.
//
//   node scripts/mutations.mjs [--package crypto] [--id crypto/some-check]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vitest = join(root, "node_modules", ".bin", "vitest");
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const onlyPackage = option("--package");
const onlyId = option("--id");

/** Every mutations.json under packages/* and apps/*, with its entries validated. */
function loadLists() {
  const lists = [];
  for (const group of ["packages", "apps"]) {
    const groupDir = join(root, group);
    if (!existsSync(groupDir)) continue;
    for (const name of readdirSync(groupDir).sort()) {
      const file = join(groupDir, name, "mutations.json");
      if (!existsSync(file)) continue;
      if (onlyPackage && name !== onlyPackage) continue;
      const entries = JSON.parse(readFileSync(file, "utf8"));
      if (!Array.isArray(entries)) throw new Error(`${group}/${name}/mutations.json: not an array`);
      for (const e of entries) {
        for (const k of ["id", "file", "find", "replace", "test", "why"]) {
          if (typeof e[k] !== "string" || e[k] === "")
            throw new Error(`${group}/${name}/mutations.json: ${e.id ?? "?"} lacks "${k}"`);
        }
        if (e.find === e.replace) throw new Error(`${e.id}: replace equals find`);
      }
      lists.push({
        name,
        dir: join(groupDir, name),
        entries: onlyId ? entries.filter((e) => e.id === onlyId) : entries,
      });
    }
  }
  return lists;
}

const scratch = mkdtempSync(join(tmpdir(), "parley-mutations-"));
let reportCounter = 0;

/** Runs one test file (optionally filtered by name) and returns vitest's counts, or null if it crashed. */
function runTest(dir, entry) {
  const out = join(scratch, `r${reportCounter++}.json`);
  const argv = ["run", entry.test, "--reporter=json", `--outputFile=${out}`];
  // -t takes a regular expression: the name is a plain substring, so its special characters are escaped.
  if (entry.name) argv.push("-t", entry.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const run = spawnSync(vitest, argv, {
    cwd: dir,
    stdio: ["ignore", "ignore", "ignore"],
    env: { ...process.env, CI: "true" },
    timeout: 600_000,
  });
  if (run.error || !existsSync(out)) return null;
  const r = JSON.parse(readFileSync(out, "utf8"));
  // A file that failed to load has failed suites but no failed test: that is a crash, not a catch.
  if ((r.numFailedTests ?? 0) === 0 && (r.numFailedTestSuites ?? 0) > 0) return null;
  return { passed: r.numPassedTests ?? 0, failed: r.numFailedTests ?? 0, total: r.numTotalTests ?? 0 };
}

// Restore whatever is mutated when the process is interrupted.
let pending = null;
function restorePending() {
  if (pending) {
    writeFileSync(pending.path, pending.original);
    pending = null;
  }
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    restorePending();
    process.exit(130);
  });
}

const baselines = new Map();
const rows = [];
try {
  for (const list of loadLists()) {
    const results = [];
    for (const entry of list.entries) {
      const path = join(list.dir, entry.file);
      const started = Date.now();
      let verdict;
      let detail = "";
      const original = existsSync(path) ? readFileSync(path, "utf8") : null;
      const occurrences = original === null ? 0 : original.split(entry.find).length - 1;
      if (occurrences !== 1) {
        verdict = "stale";
        detail =
          original === null ? `${entry.file} does not exist` : `"find" occurs ${occurrences} times in ${entry.file}`;
      } else {
        const key = `${list.name}\0${entry.test}\0${entry.name ?? ""}`;
        if (!baselines.has(key)) baselines.set(key, runTest(list.dir, entry));
        const base = baselines.get(key);
        if (base === null || base.failed > 0 || base.passed === 0) {
          verdict = "no-baseline";
          detail =
            base === null
              ? "the test crashed on unmodified code"
              : `unmodified run: ${base.passed} passed, ${base.failed} failed`;
        } else {
          pending = { path, original };
          writeFileSync(
            path,
            original.replace(entry.find, () => entry.replace),
          );
          let mutated;
          try {
            mutated = runTest(list.dir, entry);
          } finally {
            restorePending();
          }
          if (readFileSync(path, "utf8") !== original) throw new Error(`could not restore ${path}`);
          if (mutated === null) {
            verdict = "broken";
            detail = "the mutated code crashed the test run (not an assertion failure)";
          } else if (mutated.failed > 0) {
            verdict = "caught";
            detail = `${mutated.failed} of ${mutated.total} tests failed`;
          } else {
            verdict = "survived";
            detail = `${mutated.passed} tests still pass`;
          }
        }
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `${verdict === "caught" ? "ok  " : "FAIL"} ${entry.id.padEnd(52)} ${verdict.padEnd(11)} ${detail} (${seconds} s)`,
      );
      results.push({ entry, verdict, detail });
    }
    const caught = results.filter((r) => r.verdict === "caught").length;
    rows.push({ name: list.name, caught, failed: results.length - caught });
    // Vitest-shaped so scripts/summarize.mjs counts each mutation as one check.
    const reports = join(list.dir, ".reports");
    mkdirSync(reports, { recursive: true });
    writeFileSync(
      join(reports, "mutations.json"),
      JSON.stringify(
        {
          numPassedTests: caught,
          numFailedTests: results.length - caught,
          numTotalTests: results.length,
          testResults: [],
          mutations: results.map((r) => ({ id: r.entry.id, verdict: r.verdict, detail: r.detail })),
        },
        null,
        2,
      ),
    );
  }
} finally {
  restorePending();
  rmSync(scratch, { recursive: true, force: true });
}
const total = rows.reduce((n, r) => n + r.caught + r.failed, 0);
const failed = rows.reduce((n, r) => n + r.failed, 0);
console.log(`\nmutations: ${total - failed} of ${total} caught`);
process.exit(failed === 0 ? 0 : 1);
