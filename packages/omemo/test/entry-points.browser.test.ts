// Every entry point of @parley/omemo loads in Chromium without a Node built-in. In the browser the dev
// server replaces a built-in (`events`, `node:crypto`, ...) by a stub that warns when it is used and
// is fetched as a `__vite-browser-external` module: both are looked for while the entry points load.
import { afterEach, describe, expect, it, vi } from "vitest";

const entryPoints: ReadonlyArray<readonly [string, () => Promise<Record<string, unknown>>]> = [
  ["@parley/omemo", () => import("@parley/omemo")],
  ["@parley/omemo/legacy", () => import("@parley/omemo/legacy")],
  ["@parley/omemo/v2", () => import("@parley/omemo/v2")],
  ["@parley/omemo/media", () => import("@parley/omemo/media")],
];

describe("@parley/omemo's entry points in a browser (Chromium)", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("each loads without reaching a Node built-in", async () => {
    const warnings: string[] = [];
    for (const level of ["warn", "error"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        warnings.push(args.map(String).join(" "));
      });
    }
    const failed: string[] = [];
    const exported: Record<string, number> = {};
    for (const [name, load] of entryPoints) {
      try {
        exported[name] = Object.keys(await load()).length;
      } catch (error) {
        failed.push(`${name}: ${String(error)}`);
      }
    }
    const stubs = performance
      .getEntriesByType("resource")
      .map((entry) => decodeURIComponent(entry.name))
      .filter((url) => url.includes("__vite-browser-external"));
    expect({
      builtIns: warnings.filter((w) => w.includes("externalized for browser compatibility")),
      stubs,
      failed,
    }).toEqual({ builtIns: [], stubs: [], failed: [] });
    for (const [name] of entryPoints) expect(exported[name], name).toBeGreaterThan(0);
  });
});
