import { describe, expect, it } from "vitest";
import { main } from "../examples/two-parties.js";

describe("README example (examples/two-parties.ts)", () => {
  it("does the AKE, exchanges messages both ways, verifies with SMP and ends", () => {
    const lines: string[] = [];
    main((line) => lines.push(line));
    expect(lines).toEqual([
      "alice is encrypted (v3)",
      "bob is encrypted (v3)",
      "bob reads: Hi Bob, this is private.",
      "alice reads: Hi Alice!",
      "bob is asked: Where did we meet?",
      "bob: SMP verified",
      "alice: SMP verified",
      "bob is finished (v-)",
      "bob is now finished; alice is plaintext",
    ]);
  });
});
