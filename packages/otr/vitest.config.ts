import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/**/*.interop.test.ts", "test/**/*.browser.test.ts"],
    testTimeout: 60_000,
  },
});
