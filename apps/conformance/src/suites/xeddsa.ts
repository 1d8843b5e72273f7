/** The xeddsa suite (cases come with the xeddsa ops of protocol-xeddsa.ts). */
import type { Suite } from "../suite.js";

export const xeddsaSuite: Suite = {
  name: "xeddsa",
  description: "xeddsa: not written yet",
  cases() {
    return [];
  },
};
