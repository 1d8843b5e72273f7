// adapters/python_omemo.py (Debian's python-omemo 1.0.2 with python-oldmemo / python-twomemo 1.0.3, real
// SessionManager devices, XML through their own etree parsers and schemas) under the runner: the whole omemo
// suite, both namespaces, passes (with the known answers and malformed stanzas of the vector files, whose
// provenance records this cross-check: scripts/cross_check_omemo.ts).
// `pnpm test:interop` installs python3-omemo, python3-oldmemo, python3-twomemo and python3-xmlschema with apt.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { runConformance, type RunReport } from "../src/runner.js";
import { PACKAGE_DIR, failed } from "./helpers.js";

const ADAPTER = "/usr/bin/python3 adapters/python_omemo.py";

describe("adapters/python_omemo.py under the runner", () => {
  let report: RunReport;
  beforeAll(async () => {
    report = await runConformance({ adapter: ADAPTER, cwd: PACKAGE_DIR, suites: ["omemo"] });
  }, 300_000);

  it("answers hello with both OMEMO profiles and the omemo ops", () => {
    const hello = report.adapter.hello;
    expect(hello?.implementation).toBe("python-omemo");
    expect(hello?.version).toMatch(/^omemo 1\.0\.\d+, oldmemo 1\.0\.\d+, twomemo 1\.0\.\d+$/);
    expect(hello?.profiles).toEqual(["legacyOmemo", "omemo2"]);
    expect([...(hello?.ops ?? [])].sort()).toEqual(
      ["hello", "omemo.createDevice", "omemo.decrypt", "omemo.decryptWithKeys", "omemo.encrypt", "omemo.pepPut"].sort(),
    );
    expect(report.adapter.restarts).toBe(0);
  });

  it("passes every case of the omemo suite in both namespaces", () => {
    expect(failed(report)).toEqual([]);
    expect(report.summary).toEqual({ passed: 30, failed: 0, skipped: 0, total: 30 });
  });

  it("passes the vector cases, as the vector files' provenance records", () => {
    const cases = report.results.filter((r) => r.name.includes("vectors/"));
    expect(cases.map((r) => r.status)).toEqual(["passed", "passed", "passed", "passed"]);
    for (const name of ["omemo-malformed-v1.json", "omemo-v1.json"]) {
      const file = JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8")) as {
        provenance: { crossChecked: string[] };
        vectors: unknown[];
      };
      const entry = file.provenance.crossChecked.find((c) => c.startsWith("python-omemo "));
      expect(entry, name).toContain(`${report.adapter.hello?.version}, Debian`);
      expect(entry, name).toContain(`all ${file.vectors.length} vectors`);
    }
  });
});
