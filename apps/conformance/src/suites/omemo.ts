/** The omemo suite (cases come with the omemo ops of protocol-omemo.ts). */
import type { Suite } from "../suite.js";

export const omemoSuite: Suite = {
  name: "omemo",
  description: "omemo: not written yet",
  cases() {
    return [];
  },
};
