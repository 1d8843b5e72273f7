/** The signal profiles (the papers as written) in a module of their own (profiles.ts says why). */
import { createSignalX3dhProfile } from "@parley/x3dh";
import { signalCodec } from "./codecs.js";
import {
  DEFAULT_LIMITS,
  ascii,
  checkedLimits,
  registerBuiltinProfile,
  type RatchetProfile,
  type SignalProfileOptions,
} from "./profiles.js";

/** The papers as written (X3DH + Double Ratchet §5.2 recommended algorithms), optionally with header encryption. */
export function createSignalProfile(options: SignalProfileOptions = {}): RatchetProfile {
  const app = options.application ?? "Parley";
  return Object.freeze({
    name: "signal",
    x3dh: createSignalX3dhProfile(`${app} X3DH`),
    rootInfo: ascii(`${app} Root Chain`),
    messageKeyInfo: ascii(`${app} Message Keys`),
    macLength: 32,
    wire: "signal",
    codec: signalCodec,
    previousCounter: "count",
    macIdentityOrder: "initiatorResponder",
    headerEncryption: options.headerEncryption ?? false,
    limits: checkedLimits(DEFAULT_LIMITS, options.limits ?? {}),
  });
}

/** The papers as written, without header encryption. */
export const signal: RatchetProfile = /* @__PURE__ */ createSignalProfile();

/** The papers as written, with header encryption (Double Ratchet §4). */
export const signalHeaderEncrypted: RatchetProfile = /* @__PURE__ */ createSignalProfile({ headerEncryption: true });

registerBuiltinProfile(signal);
registerBuiltinProfile(signalHeaderEncrypted);
