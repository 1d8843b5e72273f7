import { defineConfig } from "vitest/config";

// Cross-checks against independent implementations (Debian python peers), installed by `pnpm test:interop`.
export default defineConfig({
  test: { include: ["test/**/*.interop.test.ts"], testTimeout: 120_000, fileParallelism: false },
});
