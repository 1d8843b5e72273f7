import { describe, expect, it } from "vitest";
import { main } from "../examples/postgres.js";
import { FAST_KDF, freshTable, POSTGRES_URL } from "./helpers.js";

describe("README example (examples/postgres.ts)", () => {
  it("creates the store once, then each run queues the next message under the conversation's lock", async () => {
    const table = freshTable();
    const lines: string[] = [];
    const print = (line: string) => lines.push(line);
    await main(print, { connection: POSTGRES_URL!, table, kdf: FAST_KDF });
    await main(print, { connection: POSTGRES_URL!, table, kdf: FAST_KDF });
    expect(lines).toEqual(["queued message 0", "outbox: 1", "queued message 1", "outbox: 2"]);
  });
});
