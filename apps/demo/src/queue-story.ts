import { NS_V2, wrapMessage, type EncryptResult } from "@parley/omemo";
import {
  openQueue,
  realTimers,
  type EncryptionProvider,
  type MessageState,
  type Queue,
  type TransportEvent,
} from "@parley/queue";
import { encryptedQueueStore } from "@parley/queue/storage";
import { originId, type Client } from "./client.js";
import { element } from "./router.js";
import { BOB, type Print, type World } from "./world.js";

export interface QueueStoryResult {
  /** Every state each message went through, in order. */
  readonly states: { readonly offline: readonly MessageState[]; readonly failed: readonly MessageState[] };
  /** Messages in Bob's offline storage while he was away. */
  readonly heldOffline: number;
  /** Why the second message failed before the resend. */
  readonly failure: {
    readonly reason: string | undefined;
    readonly lastError: string | undefined;
    readonly attempts: number;
  };
  /** What Bob's phone read, in order. */
  readonly bobRead: readonly string[];
}

/** The queue's OMEMO provider: the session manager behind the three calls the queue makes. */
function omemoProvider(client: Client): EncryptionProvider {
  return {
    async availability(contact) {
      const trusted = await client.trust.trustedRecords(client.jid, contact, "omemo");
      return trusted.length > 0
        ? { available: true }
        : { available: false, transient: false, reason: "no-trusted-device" };
    },
    async negotiate(contact) {
      await client.omemo.devices(contact, NS_V2); // device list known; sessions are built just before sending
      return { ok: true };
    },
    async encrypt(message) {
      // The origin-id inside the OMEMO 2 envelope too (XEP-0420), so only Alice can mark her messages duplicates.
      const r = await client.omemo.encrypt(message.to, { body: message.body, elements: [originId(message.id)] });
      if (r.undeliverable.length > 0) return { ok: false, transient: false, reason: "no-trusted-device" };
      return { ok: true, payload: r.messages };
    },
  };
}

/** (d) Alice's outgoing queue: a message while Bob is offline, and one lost to a dropped link, resent. */
export async function queueStory(
  world: World,
  print: Print,
  clients: { alicePhone: Client; bobPhone: Client; bobTablet: Client },
): Promise<QueueStoryResult> {
  const { alicePhone, bobPhone, bobTablet } = clients;
  const listeners = new Set<(e: TransportEvent) => void>();
  const stopReceipts = alicePhone.onReceipt((from, id) => {
    for (const l of listeners) l({ type: "receipt", from, id });
  });
  const queue = await openQueue({
    account: alicePhone.jid,
    store: encryptedQueueStore(alicePhone.db, "queue"), // durable, in Alice's encrypted store
    providers: { omemo: omemoProvider(alicePhone) },
    policy: alicePhone.trust, // Bob's default encryption: OMEMO (@parley/trust's contact settings)
    timers: realTimers(),
    limits: { maxAttempts: 2, backoffBaseMs: 20, backoffMaxMs: 40 }, // short, for the demo
    transport: {
      isOnline: () => alicePhone.connection.online,
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      async send(stanza) {
        const payload = stanza.payload as EncryptResult["messages"]; // what our provider's encrypt returned
        try {
          for (const m of payload) {
            const message = wrapMessage(stanza.to, m.namespace, m.encrypted);
            message.attrs["id"] = stanza.originId;
            message.cnode(originId(stanza.originId));
            message.cnode(element("request", { xmlns: "urn:xmpp:receipts" }));
            await alicePhone.connection.send(message);
          }
          return { ok: true };
        } catch {
          return { ok: false, transient: true, reason: "ack-timeout" };
        }
      },
    },
  });

  const labels = new Map<string, string>();
  const history = new Map<string, MessageState[]>();
  queue.subscribe((e) => {
    if (e.type !== "state") return;
    if (!labels.has(e.message.id)) labels.set(e.message.id, `msg ${labels.size + 1}`);
    const list = history.get(e.message.id) ?? [];
    list.push(e.message.state);
    history.set(e.message.id, list);
    const why =
      e.message.reason ?? (e.message.state === "queued" && e.previous !== undefined ? e.message.lastError : undefined);
    print(
      `    [${labels.get(e.message.id) ?? "?"}] ${e.previous ?? "new"} → ${e.message.state}${why === undefined ? "" : ` (${why})`}`,
    );
  });

  bobPhone.connection.goOffline();
  bobTablet.connection.goOffline();
  print("Bob's phone and tablet go offline.");
  const bobReadBefore = bobPhone.messages().length;
  print(`Alice queues msg 1 "Call me when you land."`);
  const first = await queue.send(BOB, "Call me when you land.");
  await until(queue, history, first, "sent");
  const heldOffline = world.router.offlineCount(BOB);
  print(`    the server acknowledged it and holds ${heldOffline} message for Bob in offline storage`);

  alicePhone.connection.failNextSends(2);
  print("Alice's link starts dropping stanzas (2 sends lost).");
  print(`Alice queues msg 2 "Bring the map."`);
  const second = await queue.send(BOB, "Bring the map.");
  await until(queue, history, second, "failed");
  const info = queue.get(second);
  const failure = { reason: info?.reason, lastError: info?.lastError, attempts: info?.attempts ?? 0 };
  print(`    msg 2 failed after ${failure.attempts} attempts: the app shows it with a resend button`);

  print("Bob's phone comes back online: the server hands over his offline messages.");
  bobPhone.connection.comeOnline();
  await world.router.idle();
  await until(queue, history, first, "delivered");

  print("Alice taps resend on msg 2.");
  await queue.resend(second);
  await until(queue, history, second, "delivered");
  await world.router.idle();
  const bobRead = bobPhone
    .messages()
    .slice(bobReadBefore)
    .flatMap((r) => (r.body === undefined ? [] : [r.body]));
  print(`Bob's phone read: "${bobRead.join('", "')}" (receipts sent back: both delivered)`);
  await queue.close();
  stopReceipts();
  bobTablet.connection.comeOnline();
  await world.router.idle();
  return {
    states: { offline: history.get(first) ?? [], failed: history.get(second) ?? [] },
    heldOffline,
    failure,
    bobRead,
  };
}

/**
 * Resolves when message `id` reached `state` (already, or later); rejects after 5 s. `seen` is the
 * states recorded so far: a delivered message is gone from `queue.get`.
 */
function until(
  queue: Queue,
  seen: ReadonlyMap<string, readonly MessageState[]>,
  id: string,
  state: MessageState,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (seen.get(id)?.includes(state) === true) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`message never reached ${state}`));
    }, 5000);
    const stop = queue.subscribe((e) => {
      if (e.type === "state" && e.message.id === id && e.message.state === state) {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });
  });
}
