// The SDK's sources run in browsers too: no Node built-ins, no Node globals, no dependencies.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const SRC = new URL("../src/", import.meta.url);
const sources = readdirSync(SRC).filter((f) => f.endsWith(".ts"));

describe("src/ is browser-safe", () => {
  it.each(sources)("%s imports only ./ modules and uses no Node globals", (file) => {
    const text = readFileSync(new URL(file, SRC), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    const imports = [...text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(\s*"([^"]+)"/g)].map((m) => m[1] ?? m[2]);
    for (const specifier of imports) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    expect(text).not.toMatch(/\b(process|Buffer|require|__dirname|setImmediate)\b/);
  });

  it("covers the client", () => {
    expect(sources).toEqual(expect.arrayContaining(["client.ts", "index.ts", "protocol.ts", "results.ts"]));
  });
});
