/** The legacy OMEMO profile in a module of its own (profiles.ts says why). */
import { legacyOmemoX3dh } from "@parley/x3dh";
import { libsignalCodec } from "./codecs.js";
import { DEFAULT_LIMITS, ascii, registerBuiltinProfile, type RatchetProfile } from "./profiles.js";

/** Legacy OMEMO (eu.siacs.conversations.axolotl): libsignal protocol v3 (docs/libsignal-wire-format.md §2-§4). */
export const legacyOmemo: RatchetProfile = /* @__PURE__ */ Object.freeze({
  name: "legacyOmemo",
  x3dh: legacyOmemoX3dh,
  rootInfo: /* @__PURE__ */ ascii("WhisperRatchet"),
  messageKeyInfo: /* @__PURE__ */ ascii("WhisperMessageKeys"),
  macLength: 8,
  wire: "libsignal",
  codec: libsignalCodec,
  // python-oldmemo sends the paper's count; libsignal sends count − 1 and never reads PN. We send
  // the count (python reads it) and read PN inclusively (libsignal writes count − 1).
  previousCounter: "lastIndex",
  macIdentityOrder: "senderReceiver",
  headerEncryption: false,
  limits: DEFAULT_LIMITS,
});

registerBuiltinProfile(legacyOmemo);
