/**
 * Cross-checks the OMEMO vector files against an independent implementation, Debian's python-omemo family
 * through adapters/python_omemo.py, by running the omemo suite's vector cases with it:
 * - vectors/omemo-malformed-v1.json: every stanza refused as MALFORMED_STANZA (by oldmemo.etree /
 *   twomemo.etree and their XML schemas, or by the adapter's stanza handling when there is no OMEMO
 *   `<encrypted>` at all), and the conversation's next message still read;
 * - vectors/omemo-v1.json: every known answer read by a device built from the fixed keys with python-x3dh and
 *   python-doubleratchet in python-oldmemo's / python-twomemo's configurations, payloads opened by their
 *   `decrypt_plaintext`, and a tampered payload refused.
 * On success each file's provenance.crossChecked records it. Run: `pnpm exec tsx scripts/cross_check_omemo.ts`
 * (test/python-omemo-adapter.interop.test.ts requires the records and runs the same cases).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AdapterProcess } from "../src/client.js";
import { AdapterError } from "../src/errors.js";
import { runConformance } from "../src/runner.js";
import type { OmemoMalformedFile, OmemoVectorFile } from "../src/vectors.js";

const MALFORMED = new URL("../vectors/omemo-malformed-v1.json", import.meta.url);
const KNOWN = new URL("../vectors/omemo-v1.json", import.meta.url);

const report = await runConformance({
  adapter: "/usr/bin/python3 adapters/python_omemo.py",
  cwd: fileURLToPath(new URL("..", import.meta.url)),
  suites: ["omemo"],
  grep: "vectors/",
});
if (report.summary.passed !== 4 || report.summary.failed !== 0) {
  console.error(JSON.stringify(report.results, null, 2));
  throw new Error("python-omemo did not pass every vector case");
}
const who = `python-omemo (${report.adapter.hello?.version ?? "?"}, Debian) through adapters/python_omemo.py`;
const day = new Date().toISOString().slice(0, 10);

const malformed = JSON.parse(readFileSync(MALFORMED, "utf8")) as OmemoMalformedFile;
// Where each refusal comes from, measured: every vector to a fresh python-omemo device, and the
// exception its parser raised (the adapter's message starts with the exception's type; refusals of the
// adapter's own stanza handling, before python-omemo sees the <encrypted>, have no type).
const adapter = new AdapterProcess({
  command: "/usr/bin/python3 adapters/python_omemo.py",
  cwd: fileURLToPath(new URL("..", import.meta.url)),
  timeoutMs: 30_000,
});
const by = new Map<string, string[]>();
try {
  await adapter.call("hello", { protocol: 1 });
  for (const profile of ["legacyOmemo", "omemo2"] as const) {
    const { device } = await adapter.call("omemo.createDevice", { jid: "bob@vectors.example", profiles: [profile] });
    for (const v of malformed.vectors.filter((x) => x.profile === profile)) {
      let how: string;
      try {
        await adapter.call("omemo.decrypt", { device, stanza: v.stanza });
        how = "accepted";
      } catch (e) {
        if (!(e instanceof AdapterError)) throw e;
        const type = /^([A-Za-z]+(?:Error|Exception)): /.exec(e.message)?.[1];
        how = `${e.code}${type ? ` (${type})` : " (the adapter's stanza handling)"}`;
      }
      by.set(how, [...(by.get(how) ?? []), v.name]);
    }
  }
} finally {
  await adapter.close();
}
const refusedBy = [...by.entries()]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([how, names]) => `${names.length} ${how}${names.length <= 3 ? `: ${names.join(", ")}` : ""}`)
  .join("; ");
if (by.has("accepted")) throw new Error(`python-omemo accepted a malformed vector: ${refusedBy}`);
const malformedEntry = `${who}: all ${malformed.vectors.length} vectors refused in the suite's conversations (MALFORMED_STANZA, or NO_KEY_FOR_US where a vector allows it), the next message still read; to a fresh device: ${refusedBy} (${day})`;
malformed.provenance.crossChecked = [
  ...malformed.provenance.crossChecked.filter((c) => !c.startsWith("python-omemo ")),
  malformedEntry,
];
writeFileSync(MALFORMED, `${JSON.stringify(malformed, null, 2)}\n`);

const known = JSON.parse(readFileSync(KNOWN, "utf8")) as OmemoVectorFile;
const knownEntry = `${who}: all ${known.vectors.length} vectors read to the recorded bodies by a device built from the fixed keys with python-x3dh and python-doubleratchet as python-oldmemo / python-twomemo configure them, payloads opened by Oldmemo/Twomemo.decrypt_plaintext; a flipped <key> or <payload> bit refused (BAD_MAC), a repeated stanza refused (DUPLICATE_MESSAGE) (${day})`;
known.provenance.crossChecked = [
  ...known.provenance.crossChecked.filter((c) => !c.startsWith("python-omemo ")),
  knownEntry,
];
writeFileSync(KNOWN, `${JSON.stringify(known, null, 2)}\n`);
console.log(`${malformedEntry}\n${knownEntry}`);
