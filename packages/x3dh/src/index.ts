/**
 * @parley/x3dh: the X3DH key agreement (Marlinspike & Perrin, rev. 1, 2016) as one engine with
 * profiles for legacy OMEMO (libsignal v3), OMEMO 2 (XEP-0384 v0.8) and the paper itself.
 * @packageDocumentation
 */
export { legacyOmemo, omemo2, signal, createSignalProfile } from "./profiles.js";
export type { X3dhProfile, ProfileName } from "./profiles.js";
export {
  generateIdentityKeyPair,
  generateSignedPreKey,
  generateOneTimePreKeys,
  createBundle,
  verifySignedPreKey,
  encodePublicKey,
  decodePublicKey,
  encodeIdentityKey,
  identityKeyToX25519,
  DJB_TYPE,
} from "./keys.js";
export type { Bundle, SignedPreKey, OneTimePreKey } from "./keys.js";
export { initiate, respond, InMemoryPreKeyStore } from "./x3dh.js";
export type {
  InitiatorResult,
  ResponderResult,
  InitialMessageHeader,
  PreKeyStore,
  InitiateOptions,
  RespondOptions,
} from "./x3dh.js";
export { X3dhError, isX3dhError } from "./errors.js";
export type { X3dhErrorCode } from "./errors.js";
export * from "./consts.js";
