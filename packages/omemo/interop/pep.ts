// An in-memory stand-in for the PEP services of all accounts in a test: it keeps the last item of every
// (account, node, item id) and forwards every publication to every member (device) except the publisher, as
// PEP notifications would. Members are python-omemo peers or, later, our own session manager behind the same
// small interface. The test decides when publications happen; nothing here runs on its own.
import type { PepItem } from "./python-omemo.js";

/** A device that receives PEP items: notifications for device lists, and the items it could fetch. */
export interface PepMember {
  readonly jid: string;
  /**
   * Receives one item published by someone else. What the member publishes in reaction (python-omemo
   * republishes its account's device list when an update lacks its own device id) comes back in `published`
   * and is relayed in turn.
   */
  pepPut(item: PepItem): Promise<{ published?: readonly PepItem[] } | undefined>;
}

function key(jid: string, node: string, itemId: string): string {
  return `${jid}\u0000${node}\u0000${itemId}`;
}

export class PepRelay {
  /** Insertion order is publication order: a republished item moves to the end. */
  readonly #items = new Map<string, PepItem>();
  readonly #members: PepMember[] = [];
  /** Every publication in order, retractions included (`xml` null). */
  readonly log: PepItem[] = [];

  /**
   * Adds a device and gives it every item stored so far, in publication order, like the PEP notifications
   * and fetches of a client that comes online. Join before a python peer's `create`, so that a second
   * device of an account sees the account's device list.
   */
  async join(member: PepMember): Promise<void> {
    this.#members.push(member);
    const reactions: PepItem[] = [];
    for (const item of [...this.#items.values()]) {
      const answer = await member.pepPut(item);
      if (answer?.published) reactions.push(...answer.published);
    }
    await this.publish(reactions, member);
  }

  leave(member: PepMember): void {
    const i = this.#members.indexOf(member);
    if (i >= 0) this.#members.splice(i, 1);
  }

  /**
   * Stores items published by `from` (or by the test, when `from` is undefined) and forwards each one to
   * every other member, then relays whatever those members publish in reaction, until nothing new comes.
   */
  async publish(items: readonly PepItem[], from?: PepMember): Promise<void> {
    const queue: Array<{ item: PepItem; from: PepMember | undefined }> = items.map((item) => ({ item, from }));
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { item } = next;
      const k = key(item.jid, item.node, item.itemId);
      this.#items.delete(k);
      if (item.xml !== null) this.#items.set(k, item);
      this.log.push(item);
      for (const member of this.#members) {
        if (member === next.from) continue;
        const answer = await member.pepPut(item);
        for (const reaction of answer?.published ?? []) queue.push({ item: reaction, from: member });
      }
    }
  }

  /** The current XML of one item, if published and not retracted. */
  get(jid: string, node: string, itemId: string): string | undefined {
    return this.#items.get(key(jid, node, itemId))?.xml ?? undefined;
  }

  /** The current items, optionally of one account and node. */
  items(jid?: string, node?: string): PepItem[] {
    return [...this.#items.values()].filter(
      (item) => (jid === undefined || item.jid === jid) && (node === undefined || item.node === node),
    );
  }
}
