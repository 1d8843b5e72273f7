/**
 * What differs between the two namespaces, behind one interface: ratchet profile, PEP nodes, and the
 * codecs of device lists, bundles and `<encrypted>` elements (the stanza layer's, used as they are).
 */
import { legacyOmemo, omemo2, type RatchetProfile } from "@parley/double-ratchet";
import type { Element } from "ltx";
import { CURRENT_ITEM_ID, NS_LEGACY, NS_V2 } from "../consts.js";
import { OmemoError } from "../errors.js";
import * as legacy from "../legacy/index.js";
import type { PublishOptions } from "../pubsub.js";
import type { Bundle } from "../types.js";
import * as v2 from "../v2/index.js";
import type { OmemoNamespace } from "./io.js";
import type { NamespaceTag } from "./records.js";

/** A device in a device list as both namespaces can carry it (labels only in OMEMO 2). */
export interface ListedDevice {
  readonly id: number;
  readonly label?: string;
  readonly labelsig?: Uint8Array;
}

/** One `<key>` of an `<encrypted>` element, whatever the namespace. */
export interface WireKey {
  /** Bare JID of the recipient (legacy keys carry none: the receiving account is meant). */
  readonly jid: string | undefined;
  readonly rid: number;
  readonly keyExchange: boolean;
  readonly data: Uint8Array;
}

export interface WireMessage {
  readonly sid: number;
  readonly keys: readonly WireKey[];
  /** Legacy only. */
  readonly iv?: Uint8Array;
  readonly payload?: Uint8Array;
}

export interface NamespaceAdapter {
  readonly namespace: OmemoNamespace;
  readonly tag: NamespaceTag;
  readonly profile: RatchetProfile;
  readonly deviceListNode: string;
  readonly deviceListOptions: PublishOptions;
  readonly bundleOptions: PublishOptions;
  /** Where our bundle is published: node and item id. */
  bundleAddress(deviceId: number): { node: string; itemId: string };
  /**
   * The item id to fetch by, for an item we publish as `itemId` (device list: `current`; bundle:
   * `bundleAddress`'s): OMEMO 2 fixes its item ids (v0.8.3 §5.3.1, §5.3.2), so it is fetched by id.
   * Legacy recommends `current` only (v0.3.0 §4.3) and deployed clients use others (Dino: bundles as
   * `1`, its device list under the id it read): undefined, the whole node is fetched (v0.3.0 Example 4)
   * and item `current` taken if present, else the last one (pep-items.ts).
   */
  fetchItemId(itemId: string): string | undefined;
  encodeDeviceList(devices: readonly ListedDevice[]): Element;
  decodeDeviceList(payload: Element): ListedDevice[];
  encodeBundle(bundle: Bundle): Element;
  decodeBundle(payload: Element): Bundle;
  /** Builds `<encrypted>`; legacy keys are written once per device, OMEMO 2 keys grouped by JID. */
  encodeMessage(message: WireMessage): Element;
  /** Decodes `<encrypted>`; with `keysFor`, only the keys it selects (see DecodeKeysOptions). */
  decodeMessage(encrypted: Element, keysFor?: (jid: string | undefined, rid: number) => boolean): WireMessage;
}

const legacyAdapter: NamespaceAdapter = {
  namespace: NS_LEGACY,
  tag: "legacy",
  profile: legacyOmemo,
  deviceListNode: legacy.DEVICE_LIST_NODE,
  deviceListOptions: legacy.DEVICE_LIST_PUBLISH_OPTIONS,
  bundleOptions: legacy.BUNDLE_PUBLISH_OPTIONS,
  bundleAddress: (deviceId) => ({ node: legacy.bundleNode(deviceId), itemId: CURRENT_ITEM_ID }),
  fetchItemId: () => undefined,
  // Legacy lists carry ids only (python-oldmemo's schema refuses a label attribute).
  encodeDeviceList: (devices) => legacy.encodeDeviceList({ ids: devices.map((d) => d.id) }),
  decodeDeviceList: (payload) => legacy.decodeDeviceList(payload).ids.map((id) => ({ id })),
  encodeBundle: (bundle) => legacy.encodeBundle(bundle),
  decodeBundle: (payload) => legacy.decodeBundle(payload),
  encodeMessage: (m) => {
    if (m.iv === undefined) throw new OmemoError("INVALID_ARGUMENT", "a legacy message needs an IV");
    return legacy.encodeEncryptedMessage({
      sid: m.sid,
      keys: m.keys.map((k) => ({ rid: k.rid, prekey: k.keyExchange, data: k.data })),
      iv: m.iv,
      ...(m.payload === undefined ? {} : { payload: m.payload }),
    });
  },
  decodeMessage: (encrypted, keysFor) => {
    const m = legacy.decodeEncryptedMessage(encrypted, keysFor === undefined ? {} : { keysFor });
    return {
      sid: m.sid,
      keys: m.keys.map((k) => ({ jid: undefined, rid: k.rid, keyExchange: k.prekey, data: k.data })),
      iv: m.iv,
      ...(m.payload === undefined ? {} : { payload: m.payload }),
    };
  },
};

const v2Adapter: NamespaceAdapter = {
  namespace: NS_V2,
  tag: "v2",
  profile: omemo2,
  deviceListNode: v2.DEVICES_NODE,
  deviceListOptions: v2.DEVICES_PUBLISH_OPTIONS,
  bundleOptions: v2.BUNDLES_PUBLISH_OPTIONS,
  bundleAddress: (deviceId) => ({ node: v2.BUNDLES_NODE, itemId: v2.bundleItemId(deviceId) }),
  fetchItemId: (itemId) => itemId,
  encodeDeviceList: (devices) =>
    v2.encodeDeviceList({
      devices: devices.map((d) => ({
        id: d.id,
        ...(d.label === undefined ? {} : { label: d.label }),
        ...(d.label === undefined || d.labelsig === undefined ? {} : { labelsig: d.labelsig }),
      })),
    }),
  decodeDeviceList: (payload) => [...v2.decodeDeviceList(payload).devices],
  encodeBundle: (bundle) => v2.encodeBundle(bundle),
  decodeBundle: (payload) => v2.decodeBundle(payload),
  encodeMessage: (m) => {
    const groups = new Map<string, v2.Key[]>();
    for (const k of m.keys) {
      if (k.jid === undefined) throw new OmemoError("INVALID_ARGUMENT", "an OMEMO 2 key needs a JID");
      let group = groups.get(k.jid);
      if (group === undefined) {
        group = [];
        groups.set(k.jid, group);
      }
      group.push({ rid: k.rid, kex: k.keyExchange, data: k.data });
    }
    return v2.encodeEncryptedMessage({
      sid: m.sid,
      keys: [...groups].map(([jid, keys]) => ({ jid, keys })),
      ...(m.payload === undefined ? {} : { payload: m.payload }),
    });
  },
  decodeMessage: (encrypted, keysFor) => {
    const m = v2.decodeEncryptedMessage(encrypted, keysFor === undefined ? {} : { keysFor });
    return {
      sid: m.sid,
      keys: m.keys.flatMap((g) => g.keys.map((k) => ({ jid: g.jid, rid: k.rid, keyExchange: k.kex, data: k.data }))),
      ...(m.payload === undefined ? {} : { payload: m.payload }),
    };
  },
};

export function adapterFor(namespace: OmemoNamespace): NamespaceAdapter {
  return namespace === NS_LEGACY ? legacyAdapter : v2Adapter;
}

export const ALL_NAMESPACES: readonly OmemoNamespace[] = [NS_V2, NS_LEGACY];

/** Which namespace a device list node belongs to, if any. */
export function namespaceOfDeviceListNode(node: string): OmemoNamespace | undefined {
  if (node === legacy.DEVICE_LIST_NODE) return NS_LEGACY;
  if (node === v2.DEVICES_NODE) return NS_V2;
  return undefined;
}
