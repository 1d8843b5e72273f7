// The trust store, emitter, URI parsing and fingerprint maths in a real headless Chromium: no Node APIs in src/.
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default browserTestConfig();
