// The same primitives in a real headless Chromium, where "auto" must choose noble.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig();
