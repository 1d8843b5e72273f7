// The package's core in a real headless Chromium, on @parley/crypto's noble provider: no Node APIs in src/.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig();
