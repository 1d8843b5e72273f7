// Run with: pnpm exec tsx examples/quickstart.ts   (test/example.test.ts runs it too, so it stays true)
// Two fake protocols wired into the queue: OMEMO (works to offline contacts, needs a trusted device)
// and OTR (needs the contact online). The first send fails, the user trusts a device, resend() delivers.
// #region example
import {
  ManualTimers,
  memoryQueueStore,
  openQueue,
  type EncryptionProvider,
  type MessageState,
  type Queue,
  type TransportEvent,
} from "../src/index.js";

export async function main(print: (line: string) => void): Promise<void> {
  const romeo = "romeo@example.net";
  let romeoTrusted = false; // no trusted OMEMO device yet
  const romeoOnline = false; // so OTR cannot run its AKE either

  const omemo: EncryptionProvider = {
    availability: () =>
      Promise.resolve(
        romeoTrusted ? { available: true } : { available: false, transient: false, reason: "no-trusted-device" },
      ),
    negotiate: () => Promise.resolve({ ok: true }), // fetch the bundle, build the session
    encrypt: (m) =>
      Promise.resolve({ ok: true, payload: `<encrypted xmlns='urn:xmpp:omemo:2'>${m.body.length}</encrypted>` }),
  };
  const otr: EncryptionProvider = {
    availability: () =>
      Promise.resolve(
        romeoOnline
          ? { available: true }
          : { available: false, transient: false, reason: "contact-offline-otr-required" },
      ),
    negotiate: () => Promise.resolve({ ok: true }), // the AKE
    encrypt: (m) => Promise.resolve({ ok: true, payload: `?OTR:${m.body.length}.` }),
  };
  const listeners = new Set<(e: TransportEvent) => void>();
  const queue = await openQueue({
    account: "juliet@example.com",
    store: memoryQueueStore(), // or encryptedQueueStore(db) from "@parley/queue/storage"
    providers: { omemo, otr },
    policy: { getContactSettings: () => Promise.resolve({ defaultEncryption: "omemo" }) }, // or a TrustStore
    timers: new ManualTimers(), // or realTimers() in an app
    transport: {
      isOnline: () => true,
      subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
      send: (stanza) => {
        print(`wire: ${stanza.method} ${String(stanza.payload)}`);
        // Romeo's client acknowledges with a XEP-0184 receipt for our origin-id.
        setTimeout(() => {
          for (const l of listeners) l({ type: "receipt", from: `${romeo}/balcony`, id: stanza.originId });
        }, 0);
        return Promise.resolve({ ok: true });
      },
    },
  });
  queue.subscribe((event) => {
    if (event.type === "state") {
      const { previous, message } = event;
      print(`${previous ?? "new"} -> ${message.state}${message.reason ? ` (${message.reason})` : ""}`);
    }
  });

  const id = await queue.send(romeo, "Wherefore art thou?");
  await until(queue, id, "failed");

  romeoTrusted = true; // the user verified Romeo's fingerprint
  await queue.resend(id);
  await until(queue, id, "delivered");
  await queue.close();
}

/** Resolves when message `id` reaches `state`. */
function until(queue: Queue, id: string, state: MessageState): Promise<void> {
  return new Promise((resolve) => {
    const stop = queue.subscribe((e) => {
      if (e.type === "state" && e.message.id === id && e.message.state === state) {
        stop();
        resolve();
      }
    });
  });
}
// #endregion example

if (import.meta.url === `file://${process.argv[1]}`) {
  main(console.log).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
