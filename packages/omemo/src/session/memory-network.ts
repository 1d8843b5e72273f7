/**
 * An in-memory XMPP world for tests and examples: one PEP service per account (XEP-0163) and a
 * message router, behind the OmemoTransport interface. Nothing is delivered until `flush()` (or
 * `deliver()`), so a test decides what arrives, twice, late or never. Not a server: no presence,
 * no access control, every client gets every PEP notification (as with +notify for all).
 */
import type { Element } from "ltx";
import { NS_PUBSUB } from "../consts.js";
import { bareJid, bareJidKey } from "../jid.js";
import type { PublishOptions } from "../pubsub.js";
import { childElements, cloneElement, el } from "../xml.js";
import type { OmemoTransport } from "./io.js";

export interface MemoryClientHandlers {
  /** A `<message>` for this client (its `from` is the sender's full JID). */
  message?(stanza: Element): unknown;
  /** A PEP notification: `from`'s node got these items (XEP-0060 §7.1.2.1). */
  pubsub?(from: string, node: string, items: ReadonlyArray<{ id: string; payload: Element }>): unknown;
  /** A PEP retraction notification: `from` retracted these items of its node (XEP-0060 §7.2.2.1). */
  retract?(from: string, node: string, itemIds: readonly string[]): unknown;
}

export interface MemoryClient {
  /** The full JID. */
  readonly jid: string;
  readonly transport: OmemoTransport;
}

/** A stanza waiting in the network, for the test to deliver, drop, duplicate or reorder. */
export interface Pending {
  readonly to: MemoryClient;
  readonly kind: "message" | "pubsub" | "retract";
  /** The `<message>`, the pubsub `<item id>` published, or the `<retract id>` of a retraction. */
  readonly stanza: Element;
  /** For "pubsub" and "retract": the publishing account and node. */
  readonly from: string;
  readonly node: string;
}

/** What happened to one delivery: the handler's return value, or what it threw. */
export interface Delivery {
  readonly pending: Pending;
  readonly result?: unknown;
  readonly error?: unknown;
}

export interface MemoryXmppNetworkOptions {
  /**
   * Transports answer fetches with the pubsub `<item id>` elements (a transport that keeps item ids)
   * instead of their payloads (default false, what `@xmpp/client` transports built on `decodeItems`
   * hand back).
   */
  readonly fetchItems?: boolean;
}

interface Connection {
  readonly client: MemoryClient;
  readonly handlers: MemoryClientHandlers;
}

export class MemoryXmppNetwork {
  /** account (bareJidKey) → node → item id → payload. Insertion order is publication order. */
  readonly #pep = new Map<string, Map<string, Map<string, Element>>>();
  readonly #connections: Connection[] = [];
  /** Stanzas sent or notifications raised but not delivered yet, in order. */
  readonly queue: Pending[] = [];
  /** Every publication, in order: `${account} ${node} ${itemId}`. */
  readonly publications: string[] = [];
  /** Every retraction of an existing item, in order: `${account} ${node} ${itemId}`. */
  readonly retractions: string[] = [];
  readonly #fetchItems: boolean;

  constructor(options: MemoryXmppNetworkOptions = {}) {
    this.#fetchItems = options.fetchItems === true;
  }

  /** A client (one resource) of `fullJid`'s account. Its transport publishes to that account's PEP. */
  connect(fullJid: string, handlers: MemoryClientHandlers = {}): MemoryClient {
    const account = bareJid(fullJid);
    const client: MemoryClient = {
      jid: fullJid,
      transport: {
        publish: (node, itemId, payload, options) => {
          this.#publish(client, account, node, itemId, payload, options);
          return Promise.resolve();
        },
        fetch: (jid, node, itemId) =>
          Promise.resolve(this.#fetchItems ? this.fetchItems(jid, node, itemId) : this.fetch(jid, node, itemId)),
        send: (to, message) => {
          this.#send(client, to, message);
          return Promise.resolve();
        },
        retract: (node, itemId) => {
          this.#retract(client, account, node, itemId);
          return Promise.resolve();
        },
      },
    };
    this.#connections.push({ client, handlers });
    return client;
  }

  /** Stops routing to `client` (its queued stanzas stay queued and are dropped on delivery). */
  disconnect(client: MemoryClient): void {
    const i = this.#connections.findIndex((c) => c.client === client);
    if (i >= 0) this.#connections.splice(i, 1);
  }

  /** Replaces a client's handlers (a restarted app on the same connection). */
  setHandlers(client: MemoryClient, handlers: MemoryClientHandlers): void {
    const i = this.#connections.findIndex((c) => c.client === client);
    if (i >= 0) this.#connections[i] = { client, handlers };
  }

  /** The payloads of `jid`'s node (one item, if given), or null if there is none. */
  fetch(jid: string, node: string, itemId?: string): Element[] | null {
    const items = this.#pep.get(bareJidKey(jid))?.get(node);
    if (items === undefined || items.size === 0) return null;
    if (itemId === undefined) return [...items.values()].map(cloneElement);
    const item = items.get(itemId);
    return item === undefined ? null : [cloneElement(item)];
  }

  /**
   * The items of `jid`'s node (one item, if given) as pubsub `<item id>` elements in publication
   * order, or null if there is none.
   */
  fetchItems(jid: string, node: string, itemId?: string): Element[] | null {
    const items = this.#pep.get(bareJidKey(jid))?.get(node);
    if (items === undefined || items.size === 0) return null;
    const out: Element[] = [];
    for (const [id, payload] of items) {
      if (itemId === undefined || id === itemId) out.push(el("item", { xmlns: NS_PUBSUB, id }, cloneElement(payload)));
    }
    return out.length === 0 ? null : out;
  }

  /**
   * Stores an item as if `jid`'s account published it (under any item id: a server-assigned one, or
   * Dino's `1` for legacy bundles), and notifies every client. The node keeps only this item unless
   * `options` say `pubsub#max_items` `max`.
   */
  put(jid: string, node: string, itemId: string, payload: Element, options: PublishOptions = {}): void {
    this.#publish(undefined, bareJid(jid), node, itemId, payload, options);
  }

  /** Removes an item as if `jid`'s account retracted it, notifying every client. */
  retractForTest(jid: string, node: string, itemId: string): void {
    this.#retract(undefined, bareJid(jid), node, itemId);
  }

  /** Delivers the first `count` queued stanzas (all by default), in order; later ones queued meanwhile wait. */
  async deliver(count = this.queue.length): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const pending of this.queue.splice(0, count)) out.push(await this.#deliverOne(pending));
    return out;
  }

  /** Delivers the queued stanzas `predicate` picks, in order, and leaves the others queued. */
  async deliverWhere(predicate: (pending: Pending) => boolean): Promise<Delivery[]> {
    const picked: Pending[] = [];
    for (let i = 0; i < this.queue.length;) {
      if (predicate(this.queue[i]!)) picked.push(...this.queue.splice(i, 1));
      else i++;
    }
    const out: Delivery[] = [];
    for (const pending of picked) out.push(await this.#deliverOne(pending));
    return out;
  }

  /** Delivers until nothing is queued (automatic replies included), at most `maxRounds` rounds. */
  async flush(maxRounds = 100): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (let round = 0; round < maxRounds && this.queue.length > 0; round++) out.push(...(await this.deliver()));
    return out;
  }

  async #deliverOne(pending: Pending): Promise<Delivery> {
    const connection = this.#connections.find((c) => c.client === pending.to);
    if (connection === undefined) return { pending };
    try {
      const result =
        pending.kind === "message"
          ? await connection.handlers.message?.(cloneElement(pending.stanza))
          : pending.kind === "retract"
            ? await connection.handlers.retract?.(pending.from, pending.node, [attr(pending.stanza, "id") ?? ""])
            : await connection.handlers.pubsub?.(pending.from, pending.node, [
                { id: attr(pending.stanza, "id") ?? "", payload: cloneElement(childElements(pending.stanza)[0]!) },
              ]);
      return { pending, result };
    } catch (error) {
      return { pending, error };
    }
  }

  #publish(
    from: MemoryClient | undefined,
    account: string,
    node: string,
    itemId: string,
    payload: Element,
    options: PublishOptions,
  ): void {
    const key = bareJidKey(account);
    let nodes = this.#pep.get(key);
    if (nodes === undefined) {
      nodes = new Map();
      this.#pep.set(key, nodes);
    }
    let items = nodes.get(node);
    if (items === undefined) {
      items = new Map();
      nodes.set(node, items);
    }
    // PEP nodes keep one item unless max_items says more (XEP-0163 §4; OMEMO 2 bundles use "max").
    if (options["pubsub#max_items"] !== "max") items.clear();
    items.delete(itemId);
    items.set(itemId, cloneElement(payload));
    this.publications.push(`${account} ${node} ${itemId}`);
    const wrapper = el("item", { id: itemId }, cloneElement(payload));
    for (const c of this.#connections) {
      if (c.client === from) continue;
      this.queue.push({ to: c.client, kind: "pubsub", stanza: wrapper, from: account, node });
    }
  }

  /** Removes an item (nothing happens when there is none, as item-not-found) and notifies every other client. */
  #retract(from: MemoryClient | undefined, account: string, node: string, itemId: string): void {
    const items = this.#pep.get(bareJidKey(account))?.get(node);
    if (items === undefined || !items.delete(itemId)) return;
    this.retractions.push(`${account} ${node} ${itemId}`);
    const stanza = el("retract", { id: itemId });
    for (const c of this.#connections) {
      if (c.client === from) continue;
      this.queue.push({ to: c.client, kind: "retract", stanza, from: account, node });
    }
  }

  #send(from: MemoryClient, to: string, message: Element): void {
    const stanza = cloneElement(message);
    stanza.attrs["from"] = from.jid;
    stanza.attrs["to"] = to;
    const toKey = bareJidKey(to);
    const fromKey = bareJidKey(from.jid);
    for (const c of this.#connections) {
      const account = bareJidKey(c.client.jid);
      // The recipient's clients, and our own other clients as carbons (XEP-0280).
      if (account === toKey || (account === fromKey && c.client !== from)) {
        this.queue.push({ to: c.client, kind: "message", stanza, from: bareJid(from.jid), node: "" });
      }
    }
  }
}

function attr(element: Element, name: string): string | undefined {
  const v: unknown = element.attrs[name];
  return typeof v === "string" ? v : undefined;
}
