import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

// The trust store, emitter, URI parsing and fingerprint maths in a real headless Chromium: no Node APIs in src/.
export default defineConfig({
  test: {
    include: ["test/**/*.browser.test.ts"],
    testTimeout: 60_000,
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
