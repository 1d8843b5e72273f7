/**
 * @parley/x3dh: the X3DH key agreement (Marlinspike & Perrin, rev. 1, 2016) as one engine with
 * profiles for legacy OMEMO (libsignal v3), OMEMO 2 (XEP-0384 v0.8) and the paper itself.
 * @packageDocumentation
 */
export { legacyOmemoX3dh, omemo2X3dh, signalX3dh, createSignalX3dhProfile, createX3dhProfile } from "./profiles.js";
export type { X3dhProfile, X3dhProfileOptions, ProfileName } from "./profiles.js";
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
// The figures a device needs to publish and rotate its prekeys. X3DH_F_LENGTH and
// SHARED_SECRET_LENGTH are internal to the key agreement and stay in consts.ts.
export {
  MAX_PRE_KEY_ID,
  DEFAULT_ONE_TIME_PRE_KEY_COUNT,
  MIN_ONE_TIME_PRE_KEY_COUNT,
  MAX_ONE_TIME_PRE_KEYS_PER_CALL,
  SIGNED_PRE_KEY_ROTATION_MS,
  OLD_SIGNED_PRE_KEY_KEEP_MS,
} from "./consts.js";
