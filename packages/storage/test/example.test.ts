import { describe, expect, it } from "vitest";
import { main } from "../examples/quickstart.js";
import { FAST_KDF, tempDir } from "./helpers.js";

describe("README example (examples/quickstart.ts)", () => {
  it("runs and prints what the README says", async () => {
    const { dir, cleanup } = tempDir();
    const lines: string[] = [];
    try {
      await main((line) => lines.push(line), { dir, kdf: FAST_KDF });
    } finally {
      cleanup();
    }
    expect(lines).toEqual([
      "wrong passphrase refused",
      "trust record: verified",
      "opened from keystore, sessions: 1",
      "media before: photo.jpg",
      "media after: 0, photo gone: true",
      "keystore off: passphrase needed",
    ]);
  });
});
