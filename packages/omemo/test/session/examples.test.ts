import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { twoAccounts } from "../../examples/session-two-accounts.js";

describe("README example (examples/session-two-accounts.ts)", () => {
  it("two accounts exchange a message each way over the in-memory XMPP world", async () => {
    const lines: string[] = [];
    await twoAccounts((line) => lines.push(line));
    expect(lines.slice(0, 2)).toEqual([
      'bob@example.net read "Hi Bob!" from alice@example.org',
      'alice@example.org read "Hi Alice!" from bob@example.net',
    ]);
    expect(lines[2]).toMatch(/^Alice's fingerprint: ([0-9a-f]{8} ){7}[0-9a-f]{8}$/);
    expect(lines).toHaveLength(3);
  });

  it("the README shows the example file exactly, and it is under 40 lines", () => {
    const file = readFileSync(new URL("../../examples/session-two-accounts.ts", import.meta.url), "utf8");
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(readme).toContain("```ts\n" + file + "```");
    expect(file.trimEnd().split("\n").length).toBeLessThan(40);
  });
});
