// API.md is generated from src/protocol.ts and src/results.ts (scripts/gen-docs.ts): the committed file
// must be what the generator makes of the current types.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_CLOSE, COMMAND_NAMES, PROTOCOL_VERSION } from "../src/index.js";
import { API_MD, generateApiDocs } from "../scripts/gen-docs.js";

describe("API.md", () => {
  it("is up to date (run `pnpm --filter @parley/sdk gen-docs` after changing the types)", async () => {
    expect(readFileSync(API_MD, "utf8")).toBe(await generateApiDocs());
  });

  it("documents every command, every close code and the protocol version", async () => {
    const md = await generateApiDocs();
    for (const name of COMMAND_NAMES) expect(md).toContain(`### \`${name}\``);
    for (const [name, code] of Object.entries(API_CLOSE))
      expect(md).toMatch(new RegExp(`\\| \`${name}\` +\\| ${code} `));
    expect(md).toContain(`Protocol version **${PROTOCOL_VERSION}**`);
    expect(md).toContain("### `message`");
    expect(md).toContain("| `BUSY`");
  });
});
