import { defineConfig } from "vitest/config";

// Against a real Prosody started by scripts/prosody.mjs (`pnpm test:e2e` installs it with apt when missing).
export default defineConfig({
  test: { include: ["test/**/*.e2e.test.ts"], testTimeout: 120_000, hookTimeout: 60_000, fileParallelism: false },
});
