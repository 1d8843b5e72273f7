import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

// The IndexedDB backend in a real headless Chromium (Debian's, installed by `pnpm test:browser`).
export default defineConfig({
  test: {
    include: ["test/**/*.browser.test.ts"],
    testTimeout: 120_000,
    browser: {
      enabled: true,
      headless: true,
      instances: [{ browser: "chromium" }],
      provider: playwright({
        launchOptions: {
          executablePath: "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
          ],
        },
      }),
    },
  },
});
