/**
 * Device-list bookkeeping as pure functions. The cached list of an account is the union of every id
 * ever seen, each marked active when the latest published list names it (python-omemo keeps ids the
 * same way and encrypts only to active ones). Our own device is never dropped: a list of our account
 * that lacks it is republished with it added (XEP-0384 v0.8.3 §5.3.1; python-omemo does the same).
 */
import { constantTimeEqual } from "@parley/crypto";
import { MAX_CACHED_DEVICES } from "./consts.js";
import type { ListedDevice } from "./namespaces.js";
import type { CachedDevice, DeviceListRecord } from "./records.js";

export interface MergeResult {
  readonly record: DeviceListRecord;
  /** Ids active now that were not active before. */
  readonly added: readonly number[];
  /** Ids active before that the new list lacks. */
  readonly removed: readonly number[];
}

/** Applies a newly published list to the cached one. */
export function mergeDeviceList(cached: DeviceListRecord | undefined, listed: readonly ListedDevice[]): MergeResult {
  const now = new Map<number, ListedDevice>();
  for (const d of listed) if (!now.has(d.id)) now.set(d.id, d);
  const before = new Map<number, CachedDevice>((cached?.devices ?? []).map((d) => [d.id, d]));
  const added: number[] = [];
  const removed: number[] = [];
  const devices: CachedDevice[] = [];
  for (const [id, d] of now) {
    if (before.get(id)?.active !== true) added.push(id);
    devices.push(
      d.label === undefined
        ? { id, active: true }
        : { id, active: true, label: d.label, ...(d.labelsig === undefined ? {} : { labelsig: d.labelsig }) },
    );
  }
  for (const [id, d] of before) {
    if (now.has(id)) continue;
    if (d.active) removed.push(id);
    devices.push({ ...d, active: false });
  }
  // Inactive ids beyond the limit go first (oldest knowledge, never encrypted to).
  const bounded =
    devices.length <= MAX_CACHED_DEVICES
      ? devices
      : [...devices.filter((d) => d.active), ...devices.filter((d) => !d.active)].slice(0, MAX_CACHED_DEVICES);
  return { record: { devices: bounded }, added, removed };
}

/**
 * The list to republish when `listed` (our account's) lacks our device, or names it without the
 * label we publish (`own.label`, with its `labelsig`); null when it is as it should be. Without a
 * label of ours, our entry is left as it is, label or not.
 */
export function withOwnDevice(listed: readonly ListedDevice[], own: ListedDevice): ListedDevice[] | null {
  const at = listed.findIndex((d) => d.id === own.id);
  if (at < 0) return [...listed, own];
  if (own.label === undefined) return null;
  const d = listed[at]!;
  if (
    d.label === own.label &&
    d.labelsig !== undefined &&
    own.labelsig !== undefined &&
    constantTimeEqual(d.labelsig, own.labelsig)
  )
    return null;
  return listed.map((x, i) => (i === at ? own : x));
}

export function activeIds(record: DeviceListRecord | undefined): number[] {
  return (record?.devices ?? []).filter((d) => d.active).map((d) => d.id);
}
