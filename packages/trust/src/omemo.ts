import type { SeenKey, TrustStore } from "./store.js";

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

/**
 * This trust store as an OMEMO session manager's trust decider, under the store's policy (TOFU by
 * default): every device the manager asks about is a key seen (protocol `"omemo"`), and the devices an
 * encrypt meets together (`seen`, one account's devices at first contact) are recorded as one batch, so
 * all of a new contact's devices are its first keys. Encrypt only to keys the policy trusts; read from
 * keys not trusted yet, marked `undecided` (XEP-0384 §8 lets a client read them), unless the store was
 * made with `acceptUntrusted: false`; never from a compromised key.
 *
 * ```ts
 * const manager = await SessionManager.create({ jid, store, transport, trust: omemoTrustDecider(trustStore, jid) });
 * ```
 */
export function omemoTrustDecider(store: TrustStore, account: string): OmemoTrustDecider {
  const key = (d: OmemoDevice): SeenKey => ({ fingerprint: d.fingerprint, deviceId: d.deviceId });
  return {
    async seen(devices) {
      const first = devices[0];
      if (first === undefined) return;
      await store.keysSeen(account, first.jid, "omemo", devices.map(key));
    },
    async decide(device, purpose) {
      await store.keySeen(account, device.jid, "omemo", key(device));
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
