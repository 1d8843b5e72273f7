/**
 * OMEMO 2, `urn:xmpp:omemo:2` (XEP-0384 v0.8.3, v0.9.1): typed stanzas and their codec, the PEP
 * nodes, the SCE envelope of the payload (XEP-0420) and opt-out. Import as `@parley/omemo/v2`.
 * @packageDocumentation
 */
export { NS_V2 as NS } from "../consts.js";
export type { Bundle, PreKeyPublic } from "../types.js";
export { decodeEncryptedMessage, encodeEncryptedMessage, encryptedMessageToString, isEmptyMessage } from "./message.js";
export type { EncryptedMessage, Key, Keys } from "./message.js";
export type { DecodeKeysOptions } from "../message.js";
export { decodeDeviceList, deviceListToString, encodeDeviceList } from "./device-list.js";
export type { Device, DeviceList } from "./device-list.js";
export { bundleToString, decodeBundle, encodeBundle } from "./bundle.js";
export {
  BUNDLES_NODE,
  BUNDLES_PUBLISH_OPTIONS,
  DEVICES_NODE,
  DEVICES_PUBLISH_OPTIONS,
  bundleItemId,
  bundleRequest,
  deviceIdOfBundleItem,
  deviceListRequest,
  publishBundle,
  publishDeviceList,
} from "./pep.js";
export { decodeOptOut, encodeOptOut, isOptOut } from "./opt-out.js";
export type { OptOut } from "./opt-out.js";
export { createEnvelope, decodeEnvelope, encodeEnvelope, envelopeToString } from "../sce.js";
export type { CreateEnvelopeOptions, Envelope, EnvelopeExpectations } from "../sce.js";
