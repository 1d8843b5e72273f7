import type { TrustDecider } from "@parley/omemo";
import type { SeenKey, TrustStore } from "@parley/trust";

/**
 * @parley/trust's store as the OMEMO session manager's trust decider: TOFU, so the first keys of a
 * contact are trusted (`tofu`) and later ones `untrusted` until the user verifies them.
 *
 * The manager asks about one device at a time, while @parley/trust's "first batch" is every key of a
 * contact seen together (`keysSeen`). For a contact with no keys yet, the devices the manager asks about
 * within one turn of the event loop (one encrypt call builds their sessions concurrently) are reported
 * as one batch; afterwards each new key is a later key.
 */
export function trustDecider(store: TrustStore, account: string): TrustDecider {
  const firstBatches = new Map<string, { keys: SeenKey[]; done: Promise<void> }>();

  async function seen(contact: string, key: SeenKey): Promise<void> {
    if ((await store.listRecords(account, contact, "omemo")).length > 0) {
      await store.keySeen(account, contact, "omemo", key);
      return;
    }
    let batch = firstBatches.get(contact);
    if (batch === undefined) {
      const keys: SeenKey[] = [];
      const done = new Promise((resolve) => setTimeout(resolve, 0)).then(async () => {
        firstBatches.delete(contact);
        const unique = keys.filter((k, i) => keys.findIndex((o) => o.fingerprint === k.fingerprint) === i);
        await store.keysSeen(account, contact, "omemo", unique);
      });
      batch = { keys, done };
      firstBatches.set(contact, batch);
    }
    batch.keys.push(key);
    await batch.done;
  }

  return {
    async decide(device, purpose) {
      await seen(device.jid, { fingerprint: device.fingerprint, deviceId: device.deviceId });
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
