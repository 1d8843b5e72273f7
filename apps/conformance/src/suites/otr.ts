/** The otr suite (cases come with the otr ops of protocol-otr.ts). */
import type { Suite } from "../suite.js";

export const otrSuite: Suite = {
  name: "otr",
  description: "otr: not written yet",
  cases() {
    return [];
  },
};
