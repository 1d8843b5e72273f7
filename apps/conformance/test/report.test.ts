import { describe, expect, it } from "vitest";
import { firstDifference } from "../src/suites/assert.js";
import { formatTable, toJUnit } from "../src/report.js";
import type { RunReport } from "../src/runner.js";

describe("first difference", () => {
  it("names the path and, for hex, the first differing byte", () => {
    expect(firstDifference({ a: { b: "00112233" } }, { a: { b: "00112a33" } })).toEqual([
      "a.b byte 2 of 4",
      "0x22 (…2233)",
      "0x2a (…2a33)",
    ]);
    expect(firstDifference(["aa", 1], ["aa", 2])).toEqual(["[1]", "1", "2"]);
    expect(firstDifference("aabb", "aabbcc")).toEqual([" length", "2 bytes", "3 bytes"]);
    expect(firstDifference({ x: 1 }, { x: 1, extra: true })).toBeUndefined();
  });
});

describe("reports", () => {
  const report: RunReport = {
    kit: { name: "@parley/conformance", protocol: 1 },
    adapter: { command: "x", hello: null, restarts: 0 },
    startedAt: "2026-12-02T00:00:00.000Z",
    durationMs: 1234,
    summary: { passed: 1, failed: 1, skipped: 1, total: 3 },
    results: [
      { suite: "s", name: "ok <1>", profile: null, status: "passed", durationMs: 1 },
      {
        suite: "s",
        name: "bad & \u0001",
        profile: "omemo2",
        status: "failed",
        durationMs: 2,
        detail: 'm: expected "a", got <b>',
        difference: { what: "m", expected: '"a"', got: "<b>" },
      },
      { suite: "s", name: "skip", profile: null, status: "skipped", durationMs: 0, detail: "why" },
    ],
  };
  it("JUnit XML escapes names and messages and counts failures and skips", () => {
    const xml = toJUnit(report);
    expect(xml).toContain('<testsuite name="s" tests="3" failures="1" skipped="1"');
    expect(xml).toContain('name="ok &lt;1&gt;" time="0.001"/>');
    expect(xml).toContain('name="bad &amp; ?"');
    expect(xml).toContain(
      '<failure message="m: expected &quot;a&quot;, got &lt;b&gt;">m\nexpected: &quot;a&quot;\ngot:      &lt;b&gt;</failure>',
    );
    expect(xml).toContain('<skipped message="why"/>');
  });
  it("the table shows the first difference under a failure", () => {
    const table = formatTable(report);
    expect(table).toContain('FAIL\n         m\n           expected: "a"\n           got:      <b>');
    expect(table).toContain("x: 1 passed, 1 failed, 1 skipped of 3 in 1.2 s");
  });
});
