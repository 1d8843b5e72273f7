// The stanza codec, SCE envelopes, the session manager over the in-memory network and store, and
// XEP-0454 media in a real headless Chromium, on the noble provider, imported through the package's
// entry points (dist/: build first). No failure screenshots: the page has no UI to show, and they
// would be left as untracked files in the package.
import { mergeConfig } from "vitest/config";
import { browserTestConfig } from "../../vitest.browser.shared.js";

export default mergeConfig(browserTestConfig(), { test: { browser: { screenshotFailures: false } } });
