// The README's schema tables are generated from src/protocol.ts and must be current; its minimal adapter
// example is the file it links, under 60 lines, and speaks the protocol (every case skipped, none failed).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runConformance } from "../src/runner.js";
import { withSchema } from "../scripts/schema.js";
import { PACKAGE_DIR } from "./helpers.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const protocol = fileURLToPath(new URL("../src/protocol.ts", import.meta.url));
const example = readFileSync(new URL("../examples/minimal_adapter.py", import.meta.url), "utf8");
// python3 is on every machine that builds Parley (node-gyp needs it for better-sqlite3).

describe("README", () => {
  it("has the schema tables generated from src/protocol.ts (run `pnpm readme` after changing it)", async () => {
    expect(await withSchema(readme, protocol)).toBe(readme);
  });

  it("shows examples/minimal_adapter.py verbatim, under 60 lines", () => {
    expect(readme).toContain(`\`\`\`python\n${example}\`\`\``);
    expect(example.trimEnd().split("\n").length).toBeLessThan(60);
  });

  it("the minimal adapter speaks the protocol: every case is skipped, none fails", async () => {
    const report = await runConformance({
      adapter: "python3 examples/minimal_adapter.py",
      cwd: PACKAGE_DIR,
      suites: ["x3dh"],
    });
    expect(report.summary).toMatchObject({ failed: 0, passed: 0 });
    expect(report.adapter.hello?.implementation).toBe("my-omemo");
  });
});
