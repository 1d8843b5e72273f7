/** "queue: no protocol dependency" (docs/ARCHITECTURE.md), and a root import free of @parley/storage. */
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as Record<string, unknown>;
const srcDir = new URL("../src/", import.meta.url);

describe("dependencies", () => {
  it("has no runtime or peer dependency", () => {
    expect(pkg["dependencies"]).toBeUndefined();
    expect(pkg["peerDependencies"]).toBeUndefined();
  });

  it("src imports only its own modules (no @parley package, no Node API)", () => {
    const files = readdirSync(srcDir).filter((f) => f.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(new URL(file, srcDir), "utf8");
      const specifiers = [...source.matchAll(/\bfrom\s+"([^"]+)"/g)].map((m) => m[1]!);
      for (const s of specifiers) expect(s, `${file} imports ${s}`).toMatch(/^\.\/[a-z-]+\.js$/);
    }
  });
});
