/**
 * @parley/otr: Off-the-Record messaging v3 (and v2) with SMP, in TypeScript, interoperable with libotr.
 *
 * ```ts
 * const alice = new OtrSession({ account: "alice@x", contact: "bob@y", privateKey: aliceKey });
 * const wire: string[] = alice.send("hi");            // outgoing plaintext -> wire messages
 * const { events, replies } = alice.receive(line);    // incoming wire message -> events + replies to send
 * alice.startAke();                                   // -> ["?OTRv23?"]
 * alice.smp.start("secret", "question?");             // SMP; smp.respond(secret); smp.abort()
 * alice.end();                                        // -> disconnect message
 * ```
 * @packageDocumentation
 */
export { OtrSession } from "./session.js";
export { OtrConversation } from "./conversation.js";
export type { ConversationReceiveResult } from "./conversation.js";
export { DEFAULT_POLICY } from "./types.js";
export type {
  AuthState,
  MessageState,
  OtrEvent,
  OtrPolicy,
  OtrSessionOptions,
  OtrTrust,
  ReceiveResult,
  SmpResult,
} from "./types.js";
export type { SmpExpect } from "./smp.js";
export { DsaPrivateKey, DsaPublicKey, generateDsaKey } from "./dsa.js";
export type { GenerateDsaKeyOptions } from "./dsa.js";
export { exportLibotrPrivateKeys, importLibotrPrivateKeys } from "./privkey.js";
export type { LibotrAccountKey } from "./privkey.js";
export { createEngine, createBigintEngine, createNativeEngine } from "./engine.js";
export type { EngineChoice, OtrEngine, RandomSource } from "./engine.js";
export { OtrError, isOtrError } from "./errors.js";
export type { OtrErrorCode } from "./errors.js";
export { recordSmpResult } from "./trust.js";
export {
  TLV_DISCONNECTED,
  TLV_EXTRA_KEY,
  TLV_PADDING,
  TLV_SMP1,
  TLV_SMP1Q,
  TLV_SMP2,
  TLV_SMP3,
  TLV_SMP4,
  TLV_SMP_ABORT,
} from "./wire.js";
export type { OtrVersion, Tlv } from "./wire.js";
export { deriveSessionKeys } from "./keys.js";
export type { DeriveSessionKeysOptions, OtrSessionKeys } from "./keys.js";
export { MODP_P, MODP_G } from "./group.js";
export * as limits from "./consts.js";
