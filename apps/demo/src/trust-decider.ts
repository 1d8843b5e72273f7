import type { DeviceIdentity, TrustDecider } from "@parley/omemo";
import type { SeenKey, TrustStore } from "@parley/trust";

/**
 * @parley/trust's store as the OMEMO session manager's trust decider: TOFU, so the first keys of a
 * contact are trusted (`tofu`) and later ones `untrusted` until the user verifies them. The devices an
 * encrypt meets together (`seen`) are one batch, so a contact's devices at first contact are all its
 * first keys; every device asked about is a key seen.
 */
export function trustDecider(store: TrustStore, account: string): TrustDecider {
  const key = (d: DeviceIdentity): SeenKey => ({ fingerprint: d.fingerprint, deviceId: d.deviceId });
  return {
    async seen(devices) {
      await store.keysSeen(account, devices[0]!.jid, "omemo", devices.map(key));
    },
    async decide(device, purpose) {
      await store.keySeen(account, device.jid, "omemo", key(device));
      if (purpose === "encrypt") {
        const d = await store.shouldEncryptTo(account, device.jid, "omemo", device.fingerprint);
        return d.allowed ? "trusted" : "untrusted";
      }
      // XEP-0384 §8: read messages from keys not trusted yet, marked; refuse compromised ones.
      const d = await store.shouldAcceptFrom(account, device.jid, "omemo", device.fingerprint);
      return !d.allowed ? "untrusted" : d.trusted ? "trusted" : "undecided";
    },
  };
}
