import { defineConfig } from "vitest/config";

// Property runs take seconds on a loaded CI machine: a generous per-test timeout (times are never asserted).
export default defineConfig({
  test: { include: ["test/**/*.test.ts"], exclude: ["test/**/*.e2e.test.ts"], testTimeout: 60_000 },
});
