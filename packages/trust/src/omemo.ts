import type { SeenKey, TrustStore } from "./store.js";
import type { TrustHistoryEntry, TrustRecord } from "./types.js";

/** A device as @parley/omemo's session manager describes it to its trust decider (structurally its `DeviceIdentity`). */
export interface OmemoDevice {
  /** Bare JID of the device's account. */
  readonly jid: string;
  readonly deviceId: number;
  /** 64 hex digits, the Curve25519 form clients show (the same in both OMEMO namespaces). */
  readonly fingerprint: string;
}

/**
 * What @parley/omemo asks of a trust decider (structurally its `TrustDecider`; this package does not
 * depend on the OMEMO package). `trusted`: encrypt to / read from it; `undecided`: read, marked; `untrusted`: refuse.
 */
export interface OmemoTrustDecider {
  seen(devices: readonly OmemoDevice[]): Promise<void>;
  decide(device: OmemoDevice, purpose: "encrypt" | "decrypt"): Promise<"trusted" | "undecided" | "untrusted">;
}

/** The latest user decision in a record's history, if any. */
function lastUserDecision(record: TrustRecord): TrustHistoryEntry | undefined {
  for (let i = record.history.length - 1; i >= 0; i--)
    if (record.history[i]!.cause.kind === "user") return record.history[i];
  return undefined;
}

/**
 * This trust store as an OMEMO session manager's trust decider, under the store's policy (TOFU by
 * default): every device the manager asks about is a key seen (protocol `"omemo"`, for both OMEMO
 * namespaces: their fingerprints are the same Curve25519 form, and `applyUri` stores `omemo-sid-` and
 * `omemo2-sid-` devices there too). The devices an encrypt meets together (`seen`, one account's devices at
 * first contact) are recorded as one batch, so all of a new contact's devices are its first keys; a device
 * met by decrypting (`decide(…, "decrypt")`) before we ever encrypted to the contact joins that first batch
 * (`keysSeen`'s `incoming`). Encrypt only to keys the policy trusts; read from keys not trusted yet, marked
 * `undecided` (XEP-0384 §8 lets a client read them), unless the store was made with `acceptUntrusted: false`;
 * never from a compromised key. A verification or compromise an earlier version stored under `"omemo2"`
 * (from an `omemo2-sid-` URI) is taken over the first time the decider meets the key.
 *
 * ```ts
 * const manager = await SessionManager.create({ jid, store, transport, trust: omemoTrustDecider(trustStore, jid) });
 * ```
 */
export function omemoTrustDecider(store: TrustStore, account: string): OmemoTrustDecider {
  const key = (d: OmemoDevice): SeenKey => ({ fingerprint: d.fingerprint, deviceId: d.deviceId });
  const adopted = new Set<string>();
  /** Earlier versions stored omemo2-sid- scans under "omemo2", where this decider never looked: take them over once. */
  async function adoptOmemo2Decision(record: TrustRecord): Promise<void> {
    const id = JSON.stringify([record.contact, record.fingerprint]);
    if (adopted.has(id)) return;
    adopted.add(id);
    const old = await store.getRecord(account, record.contact, "omemo2", record.fingerprint);
    const decision = old === undefined ? undefined : lastUserDecision(old);
    if (decision === undefined || decision.state === "tofu" || decision.state === record.state) return;
    const own = lastUserDecision(record);
    if (own !== undefined && own.at >= decision.at) return;
    const { cause } = decision;
    if (cause.kind !== "user") return;
    await store.setTrust(account, record.contact, "omemo", record.fingerprint, decision.state, {
      ...(cause.method === undefined ? {} : { method: cause.method }),
      ...(cause.actor === undefined ? {} : { actor: cause.actor }),
    });
  }
  return {
    async seen(devices) {
      const first = devices[0];
      if (first === undefined) return;
      await store.keysSeen(account, first.jid, "omemo", devices.map(key));
    },
    async decide(device, purpose) {
      const record = await store.keySeen(account, device.jid, "omemo", key(device), {
        incoming: purpose === "decrypt",
      });
      await adoptOmemo2Decision(record);
      if (purpose === "encrypt") {
        return (await store.shouldEncryptTo(account, device.jid, "omemo", device.fingerprint)).allowed
          ? "trusted"
          : "untrusted";
      }
      const d = await store.shouldAcceptFrom(account, device.jid, "omemo", device.fingerprint);
      return !d.allowed ? "untrusted" : d.trusted ? "trusted" : "undecided";
    },
  };
}
