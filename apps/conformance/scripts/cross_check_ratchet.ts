/**
 * Cross-checks vectors/ratchet-v1.json with an independent implementation: runs the conformance runner's
 * vector cases of suite `ratchet` against adapters/python_x3dh_doubleratchet.py (Debian's python3-x3dh
 * and python3-doubleratchet in python3-oldmemo's and python3-twomemo's OMEMO configurations), for the
 * profiles it implements, legacyOmemo and omemo2: in both roles it decrypts every recorded message,
 * reproduces its own messages byte for byte from the fixed keys, and `ratchet.inspect` reads every message
 * as recorded. Every one of those cases must pass; then the result goes into the file's
 * provenance.crossChecked (replacing an earlier entry of this script). The `signal` profile's vector is
 * Parley's own wire format, which no independent implementation speaks: not cross-checked.
 *
 * Run: `pnpm exec tsx scripts/cross_check_ratchet.ts` (needs python3-x3dh, python3-doubleratchet,
 * python3-oldmemo, python3-twomemo: `node ../../scripts/ensure-apt.mjs ...`). With `--check`, writes
 * nothing and exits 1 unless the file already records this result (up to the date).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runConformance } from "../src/runner.js";
import type { RatchetVectorFile } from "../src/vectors.js";

const FILE = new URL("../vectors/ratchet-v1.json", import.meta.url);
const ADAPTER = "/usr/bin/python3 adapters/python_x3dh_doubleratchet.py";
const PROFILES = ["legacyOmemo", "omemo2"] as const;
const ENTRY_PREFIX = "Debian python3-doubleratchet";
const undated = (entry: string) => entry.replace(/\d{4}-\d{2}-\d{2}/, "<date>");

const report = await runConformance({
  adapter: ADAPTER,
  cwd: fileURLToPath(new URL("..", import.meta.url)),
  suites: ["ratchet"],
  profiles: [...PROFILES],
  grep: "vector",
});
const file = JSON.parse(readFileSync(FILE, "utf8")) as RatchetVectorFile;
const names = file.vectors.filter((v) => (PROFILES as readonly string[]).includes(v.profile)).map((v) => v.name);
const notChecked = file.vectors.filter((v) => !names.includes(v.name)).map((v) => v.name);
const bad = report.results.filter((r) => r.status !== "passed");
// 5 cases per vector: decrypt and reproduce as initiator and as responder, inspect.
if (bad.length > 0 || report.results.length !== 5 * names.length) {
  for (const r of bad) console.error(`${r.status}: ${r.name}: ${r.detail ?? ""}`);
  console.error(`cross-check failed: ${report.summary.passed} of ${report.results.length} vector cases passed`);
  process.exit(1);
}
// hello's version: "x3dh 1.0.3, doubleratchet 1.0.3, oldmemo 1.0.3, twomemo 1.0.3, ...".
const versions = new Map(
  (report.adapter.hello?.version ?? "").split(", ").map((part) => part.split(" ") as [string, string]),
);
const entry =
  `${ENTRY_PREFIX} ${versions.get("doubleratchet")}, python3-x3dh ${versions.get("x3dh")}, python3-oldmemo ${versions.get("oldmemo")}, python3-twomemo ${versions.get("twomemo")} ` +
  "(in python-omemo's configurations, through adapters/python_x3dh_doubleratchet.py): the conversations " +
  `${names.join(" and ")} replayed by scripts/cross_check_ratchet.ts (the runner's vector cases of suite ratchet), ` +
  "as initiator and as responder: every recorded message decrypted, every own message reproduced byte for byte from the fixed keys, " +
  `every message read as recorded by ratchet.inspect; ${new Date().toISOString().slice(0, 10)}, ${report.summary.passed} of ${report.results.length} cases passed. ` +
  `Not cross-checked: ${notChecked.join(", ")} (Parley's own wire format, which no independent implementation speaks).`;

const others = file.provenance.crossChecked.filter((c) => !c.startsWith(ENTRY_PREFIX));
if (process.argv.includes("--check")) {
  const recorded = file.provenance.crossChecked.find((c) => c.startsWith(ENTRY_PREFIX));
  if (recorded === undefined || undated(recorded) !== undated(entry)) {
    console.error(`vectors/ratchet-v1.json does not record this result; expected:\n${entry}`);
    process.exit(1);
  }
  console.log(`recorded: ${entry}`);
} else {
  file.provenance.crossChecked = [...others, entry];
  writeFileSync(FILE, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`wrote vectors/ratchet-v1.json provenance.crossChecked: ${entry}`);
}
