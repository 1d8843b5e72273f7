import { describe, expect, it, vi } from "vitest";

describe("README example (examples/quickstart.ts)", () => {
  it("runs and prints what the README says", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    try {
      await import("../examples/quickstart.js");
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual(["same secret: true", "signature valid: true", "decrypted: hello", "tampered: true", "true"]);
  });
});
