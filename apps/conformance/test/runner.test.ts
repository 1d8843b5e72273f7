// The runner against our reference adapter, spawned as a real process: everything passes, and the CLI
// prints the table, writes JUnit and JSON and exits 0.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runConformance, selectCases, type RunReport } from "../src/runner.js";
import { PACKAGE_DIR, PARLEY_ADAPTER, tsxCommand } from "./helpers.js";

describe("the reference adapter", () => {
  it("passes every case of every suite (only the header-encryption vectors are skipped, by design)", async () => {
    const report = await runConformance({ adapter: PARLEY_ADAPTER, cwd: PACKAGE_DIR });
    const notPassed = report.results.filter((r) => r.status !== "passed");
    expect(notPassed.map((r) => `${r.name}: ${r.detail ?? ""}`)).toEqual([
      "signalHeaderEncrypted: vectors: header encryption draws a random nonce per header: no byte-exact vectors",
    ]);
    expect(report.summary).toEqual({ passed: 172, failed: 0, skipped: 1, total: 173 });
    expect(report.adapter.restarts).toBe(0);
    expect(report.adapter.hello?.implementation).toBe("parley");
    expect(selectCases(["xeddsa"]).length).toBe(15);
    expect(selectCases(["x3dh"]).length).toBe(31);
    expect(selectCases(["ratchet"]).length).toBe(68);
    expect(selectCases(["omemo"]).length).toBe(30);
    expect(selectCases(["otr"]).length).toBe(29);
  });

  it("CLI: prints the table, writes JUnit XML and JSON, exits 0; a broken adapter exits 1; bad usage exits 2", () => {
    const dir = mkdtempSync(join(tmpdir(), "conformance-"));
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { cwd: PACKAGE_DIR, encoding: "utf8" });
    const ok = cli(
      "run",
      "--adapter",
      tsxCommand("src/cli.ts", "reference-adapter"), // the CLI's own subcommand, the same adapter
      "--suite",
      "x3dh",
      "--profile",
      "omemo2",
      "--junit",
      join(dir, "out", "x.xml"),
      "--json",
      join(dir, "x.json"),
    );
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^suite\s+case\s+result$/m);
    expect(ok.stdout).toMatch(/^x3dh\s+omemo2: a forged signed-prekey signature is BAD_SIGNATURE\s+pass$/m);
    expect(ok.stdout).toMatch(/parley 0\.0\.0: 9 passed, 0 failed, 0 skipped of 9/);
    const xml = readFileSync(join(dir, "out", "x.xml"), "utf8");
    expect(xml).toContain('<testsuites name="parley-conformance" tests="9" failures="0" skipped="0"');
    expect(xml).toContain(
      '<testcase classname="conformance.x3dh" name="omemo2: vector omemo2-4dh: as initiator, fixed keys give the known SK and AD"',
    );
    const json = JSON.parse(readFileSync(join(dir, "x.json"), "utf8")) as RunReport;
    expect(json.summary).toEqual({ passed: 9, failed: 0, skipped: 0, total: 9 });
    expect(json.results.every((r) => r.profile === "omemo2")).toBe(true);

    const bad = cli(
      "run",
      "--adapter",
      tsxCommand("test/fixtures/broken-adapter.ts", "wrong-code"),
      "--suite",
      "ratchet",
      "--profile",
      "signal",
      "--grep",
      "duplicate",
      "--junit",
      join(dir, "bad.xml"),
    );
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/a duplicate is DUPLICATE_MESSAGE and the session stays usable\s+FAIL/);
    expect(readFileSync(join(dir, "bad.xml"), "utf8")).toMatch(
      /<failure message="IUT decrypts a message a second time: expected error DUPLICATE_MESSAGE, got error BAD_MAC/,
    );

    expect(cli("run").status).toBe(2);
    expect(() => selectCases(["nope"])).toThrow('unknown suite "nope": one of xeddsa, x3dh, ratchet, omemo, otr');
    expect(cli("list", "--suite", "x3dh").stdout.trim().split("\n")).toHaveLength(31);
  });
});
