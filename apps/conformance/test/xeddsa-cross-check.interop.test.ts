// The XEdDSA vectors recomputed by an independent implementation, Debian's python3-xeddsa (libxeddsa, C),
// through scripts/cross_check_xeddsa.py: keys, signatures byte for byte from the same nonce, and every
// verification's answer; the only differences are the ones the vectors name. `pnpm test:interop` installs
// python3-xeddsa with apt when missing.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { XeddsaVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR } from "./helpers.js";

const FILE = join(PACKAGE_DIR, "vectors/xeddsa-v1.json");
const run = (...args: string[]) =>
  spawnSync("/usr/bin/python3", ["scripts/cross_check_xeddsa.py", ...args], { cwd: PACKAGE_DIR, encoding: "utf8" });
const load = (): XeddsaVectorFile => JSON.parse(readFileSync(FILE, "utf8")) as XeddsaVectorFile;

/** A copy of the vector file, changed by `edit`, in a temporary directory. */
function copy(edit: (file: XeddsaVectorFile) => void): string {
  const file = load();
  edit(file);
  const path = join(mkdtempSync(join(tmpdir(), "xeddsa-vectors-")), "xeddsa.json");
  writeFileSync(path, JSON.stringify(file, null, 2));
  return path;
}

interface Line {
  ok?: boolean;
  knownDifference?: string;
  failures?: number;
}
const lines = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Line & Record<string, unknown>);

/** The crossChecked entry without its date (the run's day). */
const undated = (entry: string) => entry.replace(/\d{4}-\d{2}-\d{2}/, "<date>");

describe("vectors/xeddsa-v1.json against python3-xeddsa (libxeddsa)", () => {
  it("every key, signature and verification agrees; the differences are the known ones", () => {
    const file = load();
    const r = run("vectors/xeddsa-v1.json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = lines(r.stdout);
    const summary = out.at(-1)!;
    expect(summary).toMatchObject({
      keys: `${file.keys.length} of ${file.keys.length}`,
      signatures: `${file.signatures.length} of ${file.signatures.length}`,
      verifications: `${file.verifications.length} of ${file.verifications.length}`,
      failures: 0,
    });
    expect(out.slice(0, -1).every((l) => l.ok === true)).toBe(true);
    // Known differences: libxeddsa refuses s + L (4 vectors) and the forgeries for low-order keys (10), and
    // its own XEdDSA signing hashes the unreduced k for keys of sign bit 0 (8 signatures, which verify).
    const known = out.filter((l) => l.knownDifference !== undefined);
    expect(known.filter((l) => "verification" in l).map((l) => l["verification"])).toEqual(
      file.verifications.filter((v) => v.knownDifference !== undefined).map((v) => v.name),
    );
    // The spec's u >= p step decides u + p for the key with u = 9: libxeddsa alone would accept it.
    expect(out.filter((l) => "withoutUCheck" in l).map((l) => l["verification"])).toEqual(["xeddsa u9: u + p"]);
    expect(known.filter((l) => "signature" in l).map((l) => l["signature"])).toEqual(
      file.signatures.filter((s) => s.knownDifference !== undefined).map((s) => s.name),
    );
    expect(summary).toMatchObject({
      signaturesOwnSigning: "27 of 35",
      knownDifferences: 14,
      lowOrderForgeriesRefused: 10,
      decidedByUCheck: 1,
    });
    expect(file.signatures).toHaveLength(35);
    expect(file.verifications).toHaveLength(78);
  });

  it("the file's provenance.crossChecked records this result (rerun with --record after a change)", () => {
    const path = copy(() => undefined);
    const r = run("--record", path);
    expect(r.status).toBe(0);
    const recorded = (JSON.parse(readFileSync(path, "utf8")) as XeddsaVectorFile).provenance.crossChecked;
    const entries = load().provenance.crossChecked.filter((c) => c.startsWith("Debian python3-xeddsa"));
    expect(entries).toHaveLength(1);
    expect(recorded.map(undated)).toEqual(load().provenance.crossChecked.map(undated));
  });

  it("the check notices a wrong signature, a wrong verdict and an unexplained difference", () => {
    const cases: [string, (f: XeddsaVectorFile) => void][] = [
      [
        "a signature byte",
        (f) => {
          const s = f.signatures.find((x) => x.knownDifference === undefined)!;
          s.signature = (s.signature.startsWith("00") ? "01" : "00") + s.signature.slice(2);
        },
      ],
      [
        "a verdict",
        (f) => {
          const v = f.verifications.find((x) => !x.valid)!;
          v.valid = true;
        },
      ],
      [
        "s + L without its knownDifference",
        (f) => {
          delete f.verifications.find((x) => x.nonCanonicalS)!.knownDifference;
        },
      ],
      [
        "a low-order forgery without its knownDifference",
        (f) => {
          delete f.verifications.find((x) => x.knownDifference !== undefined && !x.nonCanonicalS)!.knownDifference;
        },
      ],
      [
        "no u + p vector (the u >= p step untested)",
        (f) => {
          f.verifications = f.verifications.filter((x) => x.name !== "xeddsa u9: u + p");
        },
      ],
      [
        "a sign-bit-0 spec signature without its knownDifference",
        (f) => {
          delete f.signatures.find((x) => x.knownDifference !== undefined)!.knownDifference;
        },
      ],
      [
        "a key's sign bit",
        (f) => {
          f.keys[0]!.signBit = f.keys[0]!.signBit === 0 ? 1 : 0;
        },
      ],
    ];
    for (const [what, edit] of cases) {
      const r = run(copy(edit));
      expect({ what, status: r.status }).toEqual({ what, status: 1 });
      expect(lines(r.stdout).at(-1)).toMatchObject({ failures: 1 });
    }
  });
});
