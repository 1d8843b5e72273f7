/**
 * @parley/double-ratchet: the Double Ratchet (Perrin & Marlinspike, rev. 1, 2016) as one engine with
 * profiles for legacy OMEMO (libsignal v3 wire format), OMEMO 2 (XEP-0384 v0.8) and the paper
 * itself (optionally with header encryption). Sessions are single-use values: an operation returns
 * the successor and spends the session it was given; a failed one changes nothing.
 * @packageDocumentation
 */
// One module per profile (profiles.ts): a bundle that imports only legacyOmemo carries no OMEMO 2 code.
export { legacyOmemo } from "./profile-legacy.js";
export { omemo2 } from "./profile-omemo2.js";
export { signal, signalHeaderEncrypted, createSignalProfile } from "./profile-signal.js";
export { withLimits } from "./profiles.js";
export type { RatchetProfile, Limits, SignalProfileOptions } from "./profiles.js";
export type { WireCodec } from "./codecs.js";
// The class, for `instanceof` and as a type; its constructor is private (state.ts).
export { Session } from "./state.js";
export {
  createInitiatorSession,
  acceptSession,
  encrypt,
  decrypt,
  inspectMessage,
  initiatorSessionFromAgreement,
  responderSessionFromAgreement,
} from "./ratchet.js";
export type {
  OperationOptions,
  DecryptOptions,
  MessageKind,
  EncryptResult,
  DecryptResult,
  AcceptResult,
  InitiatorOptions,
  AcceptOptions,
  KeyExchangeInfo,
  MessageInfo,
  RatchetHeaderInfo,
} from "./ratchet.js";
export { serializeSession, deserializeSession } from "./serialize.js";
export type { DeserializeOptions } from "./serialize.js";
export { DoubleRatchetError, isDoubleRatchetError } from "./errors.js";
export type { DoubleRatchetErrorCode } from "./errors.js";
// The default limits and the bounds on them (README "Limits"); the format version and the
// counter width stay inside.
export {
  MAX_SKIPPED_MESSAGE_KEYS,
  OMEMO2_MAX_SKIPPED_MESSAGE_KEYS,
  MAX_FORWARD_JUMP,
  MAX_SKIPPED_CHAINS,
  LIMIT_CEILINGS,
  LIMIT_FLOORS,
  MAX_PLAINTEXT_LENGTH,
  MAX_MESSAGE_LENGTH,
} from "./consts.js";
