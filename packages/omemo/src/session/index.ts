/**
 * The OMEMO session manager (issue "Session manager"): keys, sessions, device lists and messages of
 * one device, both namespaces, over the app's transport, store and trust decisions.
 */
export { SessionManager } from "./manager.js";
export { wrapMessage } from "./stanza.js";
export type {
  DecryptOptions,
  DecryptResult,
  DeviceInfo,
  DeviceResult,
  DeviceStatus,
  EncryptOptions,
  EncryptResult,
  MessageContent,
  SessionInfo,
  SessionManagerOptions,
} from "./types.js";
export type {
  DeviceIdentity,
  OmemoKeyValue,
  OmemoNamespace,
  OmemoStore,
  OmemoStoreTransaction,
  OmemoTransport,
  TrustDecider,
  TrustLevel,
} from "./io.js";
export type { AutomaticMessageReason, SessionManagerEvents } from "./events.js";
export { MemoryOmemoStore, memoryOmemoStore } from "./memory-store.js";
export type { MemoryOmemoStoreData } from "./memory-store.js";
export { formatFingerprint } from "./identity.js";
// From the main entry only: @parley/omemo/legacy and /v2 stay free of crypto code (bundle budgets).
export { openLegacyPayload, openV2Payload } from "./payload.js";
export type { OpenPayloadOptions } from "./payload.js";
export {
  HEARTBEAT_CHAIN_LENGTH,
  ONE_TIME_PRE_KEYS,
  SIGNED_PRE_KEY_ROTATION_PERIOD_MS,
  OLD_SIGNED_PRE_KEY_GRACE_MS,
  SESSION_CACHE_SIZE,
} from "./consts.js";
export { MemoryXmppNetwork } from "./memory-network.js";
export type {
  Delivery,
  MemoryClient,
  MemoryClientHandlers,
  MemoryXmppNetworkOptions,
  Pending,
} from "./memory-network.js";
