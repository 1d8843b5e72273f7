import { CURRENT_ITEM_ID, V2_BUNDLES_NODE, V2_DEVICES_NODE } from "../consts.js";
import { assertDeviceId } from "../fields.js";
import type { ItemsRequest, Publish, PublishOptions } from "../pubsub.js";
import type { Bundle } from "../types.js";
import { encodeBundle } from "./bundle.js";
import { encodeDeviceList, type DeviceList } from "./device-list.js";

/** XEP-0384 v0.8.3 §5.3.1: the device list node, single item "current". */
export const DEVICES_NODE = V2_DEVICES_NODE;
/** XEP-0384 v0.8.3 §5.3.2: all bundles in one node, one item per device. */
export const BUNDLES_NODE = V2_BUNDLES_NODE;

/** §5.3.1: the devices node MUST be open, set through publish-options. */
export const DEVICES_PUBLISH_OPTIONS: PublishOptions = Object.freeze({ "pubsub#access_model": "open" });

/**
 * §5.3.2: the bundles node keeps one item per device, so `pubsub#max_items` MUST be "max" (§7.1 says
 * "pubsub#persist_items", evidently meaning max_items), and it is REQUIRED to be open. Order as in
 * Example 4.
 */
export const BUNDLES_PUBLISH_OPTIONS: PublishOptions = Object.freeze({
  "pubsub#max_items": "max",
  "pubsub#access_model": "open",
});

/** §5.3.2: the bundle item id is the device id. */
export function bundleItemId(deviceId: number): string {
  assertDeviceId(deviceId, "deviceId");
  return String(deviceId);
}

const ITEM_ID = /^[1-9][0-9]{0,9}$/;

/** The device id of a bundles-node item id, or undefined if it is not one. */
export function deviceIdOfBundleItem(itemId: string): number | undefined {
  if (typeof itemId !== "string" || !ITEM_ID.test(itemId)) return undefined;
  const id = Number(itemId);
  return id <= 0x7fffffff ? id : undefined;
}

export function publishDeviceList(list: DeviceList): Publish {
  return {
    node: DEVICES_NODE,
    item: { id: CURRENT_ITEM_ID, payload: encodeDeviceList(list) },
    options: DEVICES_PUBLISH_OPTIONS,
  };
}

export function publishBundle(deviceId: number, bundle: Bundle): Publish {
  return {
    node: BUNDLES_NODE,
    item: { id: bundleItemId(deviceId), payload: encodeBundle(bundle) },
    options: BUNDLES_PUBLISH_OPTIONS,
  };
}

export function deviceListRequest(): ItemsRequest {
  return { node: DEVICES_NODE };
}

/** §5.4 Example 5: fetch one item of the bundles node. */
export function bundleRequest(deviceId: number): ItemsRequest {
  return { node: BUNDLES_NODE, itemIds: [bundleItemId(deviceId)] };
}
