// The PostgreSQL backend against a real server: test/postgres-setup.ts starts Debian's postgresql
// (installing it when missing) and sets PARLEY_TEST_POSTGRES; the backend-generic suites then run on it,
// with the multi-process tests (*.postgres.test.ts).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/store.test.ts",
      "test/model.test.ts",
      "test/media.test.ts",
      "test/bindings.test.ts",
      "test/verification.test.ts",
      "test/**/*.postgres.test.ts",
    ],
    globalSetup: ["test/postgres-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
