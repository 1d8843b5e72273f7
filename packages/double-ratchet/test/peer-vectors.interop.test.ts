// The peer vectors are reproducible: interop/generate_peer_vectors.py, run now against the Debian
// python peers (python-oldmemo / python-twomemo), writes exactly the checked-in
// vectors/peer-omemo-python.json. The vectors themselves are checked by peer-vectors.test.ts (unit).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEBIAN_PYTHON, ensureApt } from "../interop/peers.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const VECTORS = here("../vectors/peer-omemo-python.json");

describe("the peer vectors are reproducible", () => {
  it("interop/generate_peer_vectors.py run now writes exactly the checked-in file", () => {
    ensureApt("python3-x3dh", "python3-doubleratchet", "python3-oldmemo", "python3-twomemo", "python3-xmlschema");
    const out = mkdtempSync(join(tmpdir(), "parley-dr-vectors-"));
    try {
      execFileSync(DEBIAN_PYTHON, [here("../interop/generate_peer_vectors.py"), out], { encoding: "utf8" });
      expect(readFileSync(join(out, "peer-omemo-python.json"), "utf8")).toBe(readFileSync(VECTORS, "utf8"));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
