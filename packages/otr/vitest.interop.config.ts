import { defineConfig } from "vitest/config";

// Interop against real independent implementations (installed with apt by `pnpm test:interop`).
export default defineConfig({
  test: { include: ["test/**/*.interop.test.ts"], testTimeout: 120_000, fileParallelism: false },
});
