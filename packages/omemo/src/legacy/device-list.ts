import type { Element } from "ltx";
import { MAX_DEVICES_PER_LIST, NS_LEGACY } from "../consts.js";
import {
  assertArray,
  assertDeviceId,
  assertObject,
  decodeDeviceId,
  expectElement,
  invalidArgument,
  tooLarge,
} from "../fields.js";
import { payloadElement } from "../payload.js";
import { childrenNamed, el, serializeXml, type XmlInput } from "../xml.js";

/** The legacy device list (XEP-0384 v0.3.0 §4.2–4.3): `<list><device id/>…</list>`. */
export interface DeviceList {
  readonly ids: readonly number[];
}

export function encodeDeviceList(list: DeviceList): Element {
  assertObject(list, "device list");
  // v0.3.0 §10's schema needs at least one device; python-oldmemo's parser enforces it.
  assertArray(list.ids, "deviceList.ids", 1, MAX_DEVICES_PER_LIST);
  const seen = new Set<number>();
  const devices = list.ids.map((id: unknown, i) => {
    assertDeviceId(id, `deviceList.ids[${i}]`);
    if (seen.has(id)) throw invalidArgument(`deviceList.ids has ${id} twice`);
    seen.add(id);
    return el("device", { id: String(id) });
  });
  return el("list", { xmlns: NS_LEGACY }, ...devices);
}

export function deviceListToString(list: DeviceList): string {
  return serializeXml(encodeDeviceList(list));
}

/**
 * Decodes `<list xmlns='eu.siacs.conversations.axolotl'>` or the pubsub `<item>` holding it. An empty
 * list is accepted; a repeated id is kept once (first position); any invalid id rejects the list.
 */
export function decodeDeviceList(input: XmlInput): DeviceList {
  const list = payloadElement(input);
  expectElement(list, "list", NS_LEGACY);
  const devices = childrenNamed(list, "device", NS_LEGACY);
  if (devices.length > MAX_DEVICES_PER_LIST) throw tooLarge(`<list> has more than ${MAX_DEVICES_PER_LIST} devices`);
  const ids = new Set<number>();
  for (const device of devices) ids.add(decodeDeviceId(device, "id", "<device>"));
  return { ids: [...ids] };
}
