import { describe, expect, it } from "vitest";
import { main } from "../examples/quickstart.js";

describe("README example (examples/quickstart.ts)", () => {
  it("prints first key TOFU, second untrusted, verified after a scan, and a compromised key refused", async () => {
    const lines: string[] = [];
    await main((line) => lines.push(line));
    expect(lines).toEqual([
      "first key:  tofu",
      "warning: new key for romeo@example.net: 44afeb6e 69c09ccb 0db769cb a844a8ea b246066e 54147eab b65590d3 ad90e411",
      "second key: untrusted, encrypt? false",
      "after scan: verified, encrypt? true",
      "phone key:  accept? false (compromised)",
    ]);
  });
});
