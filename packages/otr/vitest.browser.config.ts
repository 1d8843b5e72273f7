// AKE, data messages and SMP on the BigInt path in a real headless Chromium: no Node APIs in src/.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig();
