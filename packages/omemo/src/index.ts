/**
 * @parley/omemo: OMEMO for XMPP, legacy (`eu.siacs.conversations.axolotl`, XEP-0384 v0.3.0) and
 * OMEMO 2 (`urn:xmpp:omemo:2`, XEP-0384 v0.8.3 / v0.9.1): the stanza layer (typed objects and a
 * hardened XML codec, PEP helpers, SCE envelopes), the session manager for both namespaces on one
 * identity (`SessionManager`), and XEP-0454 media sharing (`media`).
 *
 * Per namespace: `import * as legacy from "@parley/omemo/legacy"`, `import * as v2 from "@parley/omemo/v2"`,
 * or the `legacy` and `v2` namespaces exported here.
 * @packageDocumentation
 */
export * as legacy from "./legacy/index.js";
export * as v2 from "./v2/index.js";
export { OmemoError, isOmemoError } from "./errors.js";
export type { OmemoErrorCode } from "./errors.js";
export * from "./consts.js";
export type { Bundle, PreKeyPublic } from "./types.js";
export { decodeBase64, encodeBase64 } from "./base64.js";
export { cloneElement, parseXml, serializeXml } from "./xml.js";
export type { Element, XmlInput } from "./xml.js";
export type { DecodeKeysOptions } from "./message.js";
export { bareJid, sameBareJid } from "./jid.js";
export {
  decodeItems,
  decodeItemsRequest,
  decodePublish,
  decodePublishOptions,
  encodeItem,
  encodeItemsRequest,
  encodePublish,
  encodePublishOptions,
} from "./pubsub.js";
export type { Items, ItemsRequest, Publish, PublishOptions, PubsubItem } from "./pubsub.js";
export { createEnvelope, decodeEnvelope, encodeEnvelope, envelopeToString, storeHint } from "./sce.js";
export type { CreateEnvelopeOptions, Envelope, EnvelopeExpectations } from "./sce.js";
export { decodeAnyEncryptedMessage } from "./any.js";
export type { AnyEncryptedMessage } from "./any.js";
// The session manager (src/session/).
export * from "./session/index.js";
export * as media from "./media/index.js";
