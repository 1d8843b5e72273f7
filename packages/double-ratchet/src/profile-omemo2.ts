/** The OMEMO 2 profile in a module of its own (profiles.ts says why). */
import { omemo2X3dh } from "@parley/x3dh";
import { omemo2Codec } from "./codecs.js";
import { MAX_FORWARD_JUMP, MAX_SKIPPED_CHAINS, OMEMO2_MAX_SKIPPED_MESSAGE_KEYS } from "./consts.js";
import { ascii, registerBuiltinProfile, type RatchetProfile } from "./profiles.js";

/** OMEMO 2 (urn:xmpp:omemo:2), XEP-0384 v0.8.3 §4.3. */
export const omemo2: RatchetProfile = /* @__PURE__ */ Object.freeze({
  name: "omemo2",
  x3dh: omemo2X3dh,
  rootInfo: /* @__PURE__ */ ascii("OMEMO Root Chain"),
  messageKeyInfo: /* @__PURE__ */ ascii("OMEMO Message Key Material"),
  macLength: 16,
  wire: "omemo2",
  codec: omemo2Codec,
  previousCounter: "count",
  macIdentityOrder: "initiatorResponder",
  headerEncryption: false,
  // Spelled out, not { ...DEFAULT_LIMITS, ... }: a bundler cannot prove a spread free of side effects.
  limits: /* @__PURE__ */ Object.freeze({
    maxSkippedKeys: OMEMO2_MAX_SKIPPED_MESSAGE_KEYS,
    maxForwardJump: MAX_FORWARD_JUMP,
    maxSkippedChains: MAX_SKIPPED_CHAINS,
  }),
});

registerBuiltinProfile(omemo2);
