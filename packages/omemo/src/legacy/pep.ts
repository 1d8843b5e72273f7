import type { Element } from "ltx";
import { CURRENT_ITEM_ID, LEGACY_BUNDLES_NODE_PREFIX, LEGACY_DEVICE_LIST_NODE } from "../consts.js";
import { assertDeviceId } from "../fields.js";
import type { ItemsRequest, Publish, PublishOptions } from "../pubsub.js";
import type { Bundle } from "../types.js";
import { encodeBundle } from "./bundle.js";
import { encodeDeviceList, type DeviceList } from "./device-list.js";

/**
 * PEP nodes of legacy OMEMO. XEP-0384 v0.3.0 does not configure the nodes; Conversations publishes
 * both with access_model=open through publish-options, so that contacts without a presence
 * subscription can start a session, and OMEMO 2 makes it a requirement (v0.8.3 §5.3). We do the same.
 */
export const DEVICE_LIST_NODE = LEGACY_DEVICE_LIST_NODE;

/** `eu.siacs.conversations.axolotl.bundles:<device id>`, one node per device (§4.3). */
export function bundleNode(deviceId: number): string {
  assertDeviceId(deviceId, "deviceId");
  return `${LEGACY_BUNDLES_NODE_PREFIX}${deviceId}`;
}

const NODE_ID = /^[1-9][0-9]{0,9}$/;

/** The device id in a bundle node name, or undefined if `node` is not a legacy bundle node. */
export function deviceIdOfBundleNode(node: string): number | undefined {
  if (typeof node !== "string" || !node.startsWith(LEGACY_BUNDLES_NODE_PREFIX)) return undefined;
  const rest = node.slice(LEGACY_BUNDLES_NODE_PREFIX.length);
  if (!NODE_ID.test(rest)) return undefined;
  const id = Number(rest);
  return id <= 0x7fffffff ? id : undefined;
}

export const DEVICE_LIST_PUBLISH_OPTIONS: PublishOptions = Object.freeze({ "pubsub#access_model": "open" });
export const BUNDLE_PUBLISH_OPTIONS: PublishOptions = Object.freeze({ "pubsub#access_model": "open" });

/** Publishes the device list to item "current" (XEP-0060 §12.20, as §4.3 recommends). */
export function publishDeviceList(list: DeviceList): Publish {
  return {
    node: DEVICE_LIST_NODE,
    item: { id: CURRENT_ITEM_ID, payload: encodeDeviceList(list) },
    options: DEVICE_LIST_PUBLISH_OPTIONS,
  };
}

/** Publishes a device's bundle to its own node, item "current". */
export function publishBundle(deviceId: number, bundle: Bundle): Publish {
  const payload: Element = encodeBundle(bundle);
  return { node: bundleNode(deviceId), item: { id: CURRENT_ITEM_ID, payload }, options: BUNDLE_PUBLISH_OPTIONS };
}

/** Fetches a contact's device list (XEP-0384 v0.3.0 §4.2). */
export function deviceListRequest(): ItemsRequest {
  return { node: DEVICE_LIST_NODE };
}

/** Fetches one device's bundle (XEP-0384 v0.3.0 §4.4, Example 4: the whole node, no item id). */
export function bundleRequest(deviceId: number): ItemsRequest {
  return { node: bundleNode(deviceId) };
}
