/**
 * @parley/double-ratchet: the Double Ratchet (Perrin & Marlinspike, rev. 1, 2016) as one engine with
 * profiles for legacy OMEMO (libsignal v3 wire format), OMEMO 2 (XEP-0384 v0.8) and the paper
 * itself (optionally with header encryption). Sessions are immutable values; a failed decryption
 * never changes one.
 * @packageDocumentation
 */
export { legacyOmemo, omemo2, signal, signalHeaderEncrypted, createSignalProfile, withLimits } from "./profiles.js";
export type { RatchetProfile, Limits, SignalProfileOptions } from "./profiles.js";
export { Session } from "./state.js";
export {
  createInitiatorSession,
  acceptSession,
  encrypt,
  decrypt,
  inspectMessage,
  initiatorSessionFromAgreement,
  responderSessionFromAgreement,
  encodeRatchetKey,
} from "./ratchet.js";
export type {
  OperationOptions,
  DecryptOptions,
  MessageKind,
  EncryptResult,
  DecryptResult,
  AcceptResult,
  InitiatorOptions,
  KeyExchangeInfo,
  MessageInfo,
} from "./ratchet.js";
export { serializeSession, deserializeSession } from "./serialize.js";
export type { DeserializeOptions } from "./serialize.js";
export { DoubleRatchetError, isDoubleRatchetError } from "./errors.js";
export type { DoubleRatchetErrorCode } from "./errors.js";
export * from "./consts.js";
