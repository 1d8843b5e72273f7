/** The readable table, JUnit XML and JSON forms of a {@link RunReport}. */
import type { CaseResult, RunReport } from "./runner.js";

const MARK = { passed: "pass", failed: "FAIL", skipped: "skip" } as const;

function pad(s: string, width: number): string {
  return s.length >= width ? s : s + " ".repeat(width - s.length);
}

/** One line per case (suite, case, result) and, under a failure, its first difference or error. */
export function formatTable(report: RunReport): string {
  const rows = report.results;
  const suiteWidth = Math.max(5, ...rows.map((r) => r.suite.length));
  const caseWidth = Math.min(110, Math.max(4, ...rows.map((r) => r.name.length)));
  const lines = [`${pad("suite", suiteWidth)}  ${pad("case", caseWidth)}  result`];
  lines.push(`${"-".repeat(suiteWidth)}  ${"-".repeat(caseWidth)}  ------`);
  for (const r of rows) {
    lines.push(`${pad(r.suite, suiteWidth)}  ${pad(r.name, caseWidth)}  ${MARK[r.status]}`);
    if (r.status === "failed") {
      if (r.difference) {
        lines.push(`${" ".repeat(suiteWidth + 2)}  ${r.difference.what}`);
        lines.push(`${" ".repeat(suiteWidth + 2)}    expected: ${r.difference.expected}`);
        lines.push(`${" ".repeat(suiteWidth + 2)}    got:      ${r.difference.got}`);
      } else lines.push(`${" ".repeat(suiteWidth + 2)}  ${r.detail ?? ""}`);
    }
  }
  const s = report.summary;
  const hello = report.adapter.hello;
  const who = hello ? `${hello.implementation} ${hello.version}` : report.adapter.command;
  const restarts = report.adapter.restarts > 0 ? `, adapter restarted ${report.adapter.restarts} time(s)` : "";
  const skippedWhy = summarizeSkips(rows);
  lines.push("");
  lines.push(
    `${who}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped of ${s.total} in ${(report.durationMs / 1000).toFixed(1)} s${restarts}`,
  );
  if (skippedWhy) lines.push(`skipped: ${skippedWhy}`);
  return lines.join("\n");
}

function summarizeSkips(rows: readonly CaseResult[]): string {
  const why = new Map<string, number>();
  for (const r of rows) if (r.status === "skipped") why.set(r.detail ?? "", (why.get(r.detail ?? "") ?? 0) + 1);
  return [...why].map(([reason, n]) => `${n} × ${reason}`).join("; ");
}

function xml(s: string): string {
  return (
    s
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      // Control characters are not allowed in XML 1.0.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "?")
  );
}

/** JUnit XML: one testsuite per conformance suite, one testcase per case. */
export function toJUnit(report: RunReport): string {
  const bySuite = new Map<string, CaseResult[]>();
  for (const r of report.results) bySuite.set(r.suite, [...(bySuite.get(r.suite) ?? []), r]);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const s = report.summary;
  out.push(
    `<testsuites name="parley-conformance" tests="${s.total}" failures="${s.failed}" skipped="${s.skipped}" time="${(report.durationMs / 1000).toFixed(3)}">`,
  );
  for (const [suite, rows] of bySuite) {
    const failures = rows.filter((r) => r.status === "failed").length;
    const skipped = rows.filter((r) => r.status === "skipped").length;
    const time = rows.reduce((t, r) => t + r.durationMs, 0) / 1000;
    out.push(
      `  <testsuite name="${xml(suite)}" tests="${rows.length}" failures="${failures}" skipped="${skipped}" time="${time.toFixed(3)}" timestamp="${report.startedAt}">`,
    );
    for (const r of rows) {
      const open = `    <testcase classname="conformance.${xml(suite)}" name="${xml(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
      if (r.status === "passed") out.push(`${open}/>`);
      else if (r.status === "skipped") out.push(`${open}><skipped message="${xml(r.detail ?? "")}"/></testcase>`);
      else {
        const body = r.difference
          ? `${r.difference.what}\nexpected: ${r.difference.expected}\ngot:      ${r.difference.got}`
          : (r.detail ?? "");
        out.push(`${open}><failure message="${xml(r.detail ?? "failed")}">${xml(body)}</failure></testcase>`);
      }
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>");
  return `${out.join("\n")}\n`;
}

export function toJson(report: RunReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
