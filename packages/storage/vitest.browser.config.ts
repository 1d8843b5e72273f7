// The IndexedDB backend in a real headless Chromium.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig({ testTimeout: 120_000 });
