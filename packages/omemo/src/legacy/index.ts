/**
 * Legacy OMEMO, `eu.siacs.conversations.axolotl` (XEP-0384 v0.3.0): typed stanzas and their codec,
 * and the PEP nodes. Import as `@parley/omemo/legacy`.
 * @packageDocumentation
 */
export { NS_LEGACY as NS } from "../consts.js";
export type { Bundle, PreKeyPublic } from "../types.js";
export { decodeEncryptedMessage, encodeEncryptedMessage, encryptedMessageToString, isKeyTransport } from "./message.js";
export type { EncryptedMessage, Key } from "./message.js";
export type { DecodeKeysOptions } from "../message.js";
export { decodeDeviceList, deviceListToString, encodeDeviceList } from "./device-list.js";
export type { DeviceList } from "./device-list.js";
export { bundleToString, decodeBundle, encodeBundle } from "./bundle.js";
export {
  BUNDLE_PUBLISH_OPTIONS,
  DEVICE_LIST_NODE,
  DEVICE_LIST_PUBLISH_OPTIONS,
  bundleNode,
  bundleRequest,
  deviceIdOfBundleNode,
  deviceListRequest,
  publishBundle,
  publishDeviceList,
} from "./pep.js";
