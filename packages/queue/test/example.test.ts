import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { main } from "../examples/quickstart.js";

describe("README example (examples/quickstart.ts)", () => {
  it("fails without a trusted device, then a resend is delivered over OMEMO, never in plaintext", async () => {
    const lines: string[] = [];
    await main((line) => lines.push(line));
    expect(lines).toEqual([
      "new -> queued",
      "queued -> failed (no-trusted-device)",
      "failed -> queued",
      "queued -> negotiating",
      "negotiating -> sending",
      "wire: omemo <encrypted xmlns='urn:xmpp:omemo:2'>19</encrypted>",
      "sending -> sent",
      "sent -> delivered",
    ]);
  });

  it("the README shows the example exactly (with the package's import path)", () => {
    const source = readFileSync(new URL("../examples/quickstart.ts", import.meta.url), "utf8");
    const region = /\/\/ #region example\n([\s\S]*?)\/\/ #endregion example/.exec(source)![1]!;
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain(region.replace('from "../src/index.js"', 'from "@parley/queue"'));
  });
});
