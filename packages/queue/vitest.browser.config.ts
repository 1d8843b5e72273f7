// The queue with its in-memory store in a real headless Chromium.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig({ testTimeout: 60_000 });
