import type { Element } from "ltx";
import { decodeBase64, encodeBase64 } from "../base64.js";
import { MAX_DEVICES_PER_LIST, MAX_LABEL_LENGTH, NS_V2, SIGNATURE_LENGTH } from "../consts.js";
import { isOmemoError } from "../errors.js";
import {
  assertArray,
  assertBytes,
  assertDeviceId,
  assertObject,
  decodeDeviceId,
  expectElement,
  invalidArgument,
  tooLarge,
} from "../fields.js";
import { payloadElement } from "../payload.js";
import { attr, childrenNamed, el, hasControlCharacter, serializeXml, type XmlInput } from "../xml.js";

/**
 * One device on an OMEMO 2 device list (XEP-0384 v0.8.3 §5.3.1, v0.9.1 §5.3.1). Since v0.9.0 a label
 * MUST come with `labelsig`, a signature of its UTF-8 bytes by the identity key, and a label without
 * a valid one MUST be ignored. Checking it needs the device's bundle, so it is the session manager's
 * job; this layer keeps both as sent.
 */
export interface Device {
  readonly id: number;
  readonly label?: string;
  readonly labelsig?: Uint8Array;
}

export interface DeviceList {
  readonly devices: readonly Device[];
}

/** Unicode code points, the unit of the XEP's label recommendation. */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if ((s.charCodeAt(i) & 0xfc00) !== 0xdc00) n++;
  return n;
}

/**
 * A label we can publish: 1 to MAX_LABEL_LENGTH code points, no control characters (labels are shown
 * in UIs; tabs and line ends would also not survive ltx's attribute serialization, which does not
 * escape them).
 */
export function assertLabel(label: unknown, where: string): asserts label is string {
  if (
    typeof label !== "string" ||
    label.length === 0 ||
    codePoints(label) > MAX_LABEL_LENGTH ||
    hasControlCharacter(label)
  ) {
    throw invalidArgument(`${where} must be 1 to ${MAX_LABEL_LENGTH} characters without control characters`);
  }
}

export function encodeDeviceList(list: DeviceList): Element {
  assertObject(list, "device list");
  // v0.9.1 §11 allows an empty list (python-twomemo, on v0.8.3's schema, does not).
  assertArray(list.devices, "deviceList.devices", 0, MAX_DEVICES_PER_LIST);
  const seen = new Set<number>();
  const devices = list.devices.map((device: unknown, i) => {
    const where = `deviceList.devices[${i}]`;
    assertObject(device, where);
    assertDeviceId(device.id, `${where}.id`);
    if (seen.has(device.id)) throw invalidArgument(`deviceList.devices has the id ${device.id} twice`);
    seen.add(device.id);
    const { label, labelsig } = device;
    if (label !== undefined) assertLabel(label, `${where}.label`);
    if (labelsig !== undefined) {
      if (label === undefined) throw invalidArgument(`${where}.labelsig needs a label`);
      assertBytes(labelsig, `${where}.labelsig`, SIGNATURE_LENGTH, SIGNATURE_LENGTH);
    }
    return el("device", {
      id: String(device.id),
      label,
      labelsig: labelsig === undefined ? undefined : encodeBase64(labelsig),
    });
  });
  return el("devices", { xmlns: NS_V2 }, ...devices);
}

export function deviceListToString(list: DeviceList): string {
  return serializeXml(encodeDeviceList(list));
}

/**
 * Decodes `<devices xmlns='urn:xmpp:omemo:2'>` or the pubsub `<item>` holding it. Empty lists are
 * accepted (v0.9.1); a repeated id is kept once (first position); an invalid id rejects the list. A
 * label is a cosmetic the XEP tells us to ignore when unsigned or badly signed, so a label longer than
 * MAX_LABEL_LENGTH, or one whose labelsig is not 64 bytes of base64, is dropped with its labelsig
 * instead of losing the whole list; a labelsig without a label is dropped.
 */
export function decodeDeviceList(input: XmlInput): DeviceList {
  const list = payloadElement(input);
  expectElement(list, "devices", NS_V2);
  const elements = childrenNamed(list, "device", NS_V2);
  if (elements.length > MAX_DEVICES_PER_LIST) throw tooLarge(`<devices> has more than ${MAX_DEVICES_PER_LIST} devices`);
  const seen = new Set<number>();
  const devices: Device[] = [];
  for (const element of elements) {
    const id = decodeDeviceId(element, "id", "<device>");
    if (seen.has(id)) continue;
    seen.add(id);
    const label = attr(element, "label");
    const sigText = attr(element, "labelsig");
    if (label === undefined || label.length === 0 || codePoints(label) > MAX_LABEL_LENGTH) {
      devices.push({ id });
      continue;
    }
    if (sigText === undefined) {
      devices.push({ id, label });
      continue;
    }
    let labelsig: Uint8Array;
    try {
      labelsig = decodeBase64(sigText, "<device> 'labelsig'", SIGNATURE_LENGTH);
    } catch (error) {
      if (!isOmemoError(error)) throw error;
      devices.push({ id });
      continue;
    }
    devices.push(labelsig.length === SIGNATURE_LENGTH ? { id, label, labelsig } : { id });
  }
  return { devices };
}
