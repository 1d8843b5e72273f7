/**
 * @parley/omemo's OmemoTransport over an @xmpp/client connection: PEP publish with publish-options
 * (XEP-0060 §7.1.5, XEP-0223), item fetches (§6.5), retractions with notification (§7.2, for
 * `unpublishOwnDevice`), and sending the stanzas the session manager builds.
 */
import type { Client } from "@xmpp/client";
import { xml } from "@xmpp/client";
import {
  decodeItems,
  encodeItemsRequest,
  encodePublish,
  NS_PUBSUB,
  type Element,
  type OmemoTransport,
  type PublishOptions,
} from "@parley/omemo";

/** The error condition of a failed iq (`item-not-found`, `conflict`, ...), if the error is a stanza error. */
export function stanzaErrorCondition(error: unknown): string | undefined {
  const condition = (error as { condition?: unknown } | null)?.condition;
  return typeof condition === "string" ? condition : undefined;
}

export function omemoTransport(xmpp: Client, options: { timeoutMs?: number } = {}): OmemoTransport {
  const timeout = options.timeoutMs ?? 30_000;
  return {
    async publish(node: string, itemId: string, payload: Element, publishOptions: PublishOptions): Promise<void> {
      const iq = xml("iq", { type: "set", id: `pub-${Math.random().toString(36).slice(2)}` });
      iq.cnode(encodePublish({ node, item: { id: itemId, payload }, options: publishOptions }));
      await xmpp.iqCaller.request(iq, timeout);
    },

    async fetch(jid: string, node: string, itemId?: string): Promise<readonly Element[] | null> {
      const iq = xml("iq", { type: "get", to: jid, id: `items-${Math.random().toString(36).slice(2)}` });
      iq.cnode(encodeItemsRequest({ node, ...(itemId !== undefined ? { itemIds: [itemId] } : {}) }));
      let result: Element;
      try {
        result = await xmpp.iqCaller.request(iq, timeout);
      } catch (e) {
        if (stanzaErrorCondition(e) === "item-not-found") return null;
        throw e;
      }
      const items = decodeItems(result).items.filter((i) => i.payload !== undefined);
      if (items.length === 0) return null;
      // With their ids, so that the session manager reads item "current" of a node that holds several
      // (a legacy node is fetched whole; deployed clients use other item ids there).
      return items.map((i) => (i.id === undefined ? i.payload! : xml("item", { id: i.id }, i.payload!)));
    },

    /**
     * Retracts an item of our own PEP node (XEP-0060 §7.2) with `notify='true'`, so that subscribers
     * (contacts with +notify) hear of it (§7.2.2.1). An item (or node) that is not there is already gone.
     */
    async retract(node: string, itemId: string): Promise<void> {
      const iq = xml(
        "iq",
        { type: "set", id: `retract-${Math.random().toString(36).slice(2)}` },
        xml("pubsub", { xmlns: NS_PUBSUB }, xml("retract", { node, notify: "true" }, xml("item", { id: itemId }))),
      );
      try {
        await xmpp.iqCaller.request(iq, timeout);
      } catch (e) {
        if (stanzaErrorCondition(e) === "item-not-found") return;
        throw e;
      }
    },

    async send(_to: string, message: Element): Promise<void> {
      await xmpp.send(message);
    },
  };
}
