// One browser-test setup for every package: Debian's Chromium (installed by each package's
// `pnpm test:browser` through scripts/ensure-apt.mjs), driven headless by Playwright without a download.
// The flags keep Chromium off the network, which this machine does not have.
import { defineConfig, type ViteUserConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

export function browserTestConfig(options: { testTimeout?: number } = {}): ViteUserConfig {
  return defineConfig({
    test: {
      include: ["test/**/*.browser.test.ts"],
      testTimeout: options.testTimeout ?? 60_000,
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
}
