import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // *.postgres.test.ts need a server: `pnpm test:postgres` (vitest.postgres.config.ts) starts one.
    exclude: ["test/**/*.browser.test.ts", "test/**/*.postgres.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
