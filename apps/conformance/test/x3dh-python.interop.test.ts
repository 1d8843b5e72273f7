// The X3DH vectors recomputed by an independent implementation, Debian's python3-x3dh
// (scripts/cross_check_x3dh.py), in both roles. `pnpm test:interop` installs it with apt when missing.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { X3dhVectorFile } from "../src/vectors.js";
import { PACKAGE_DIR } from "./helpers.js";

const run = (file: string) =>
  spawnSync("/usr/bin/python3", ["scripts/cross_check_x3dh.py", file], { cwd: PACKAGE_DIR, encoding: "utf8" });

describe("vectors/x3dh-v1.json against python3-x3dh", () => {
  it("every vector's SK and AD come out the same, as responder and as initiator", () => {
    const r = run("vectors/x3dh-v1.json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { ok?: boolean; failures?: number });
    expect(lines.filter((l) => l.ok === true)).toHaveLength(10);
    expect(lines.at(-1)).toMatchObject({ checked: 5, failures: 0 });
  });

  it("the check notices a wrong value", () => {
    const file = JSON.parse(readFileSync(join(PACKAGE_DIR, "vectors/x3dh-v1.json"), "utf8")) as X3dhVectorFile;
    const v = file.vectors[0]!;
    v.sharedSecret = (v.sharedSecret.startsWith("00") ? "01" : "00") + v.sharedSecret.slice(2);
    const copy = join(mkdtempSync(join(tmpdir(), "x3dh-vectors-")), "x3dh.json");
    writeFileSync(copy, JSON.stringify(file));
    const r = run(copy);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('"failures": 2');
  });
});
