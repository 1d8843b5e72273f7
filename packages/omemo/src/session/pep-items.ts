/**
 * Reading what `OmemoTransport.fetch` answers: which item of a node holds the device list or bundle,
 * and which answers mean "unknown" rather than "empty". A device list read as empty by mistake is
 * dangerous: our own list is republished with only us in it, and the singleton node then drops our
 * other devices. So only `null` (item-not-found, as the interface says) and a node without items are
 * empty; anything else the transport hands back that we cannot read is an error.
 */
import type { Element } from "ltx";
import { CURRENT_ITEM_ID, NS_PUBSUB, NS_PUBSUB_EVENT } from "../consts.js";
import { OmemoError } from "../errors.js";
import { attr, childElements, isElement, localName, namespaceOf } from "../xml.js";
import { io } from "./failures.js";
import type { OmemoTransport } from "./io.js";

/** One item of a node: its id, when the transport or the notification gave it, and its payload. */
export interface NodeItem {
  readonly id?: string | undefined;
  readonly payload?: Element | undefined;
}

/**
 * The item to read of a node that should hold one: the one with id `current` (XEP-0384 v0.3.0 §4.3
 * and v0.8.3 §5.3.1 recommend it), else the last one. Deployed clients use other ids in legacy
 * OMEMO: Dino publishes its bundles as item `1` and republishes its device list under whatever id it
 * read (server-assigned when the node was created).
 */
export function pickItem<T extends { readonly id?: string | undefined }>(items: readonly T[]): T | undefined {
  return items.find((i) => i.id === CURRENT_ITEM_ID) ?? items[items.length - 1];
}

/**
 * The transport's answer as items: `null` stays null (the node or item does not exist). Each element
 * is a payload, or a pubsub `<item id>` around one (a transport that keeps item ids may hand those).
 * Anything else is IO_FAILED: the answer is unknown, never an empty node.
 */
export function nodeItems(answer: unknown): NodeItem[] | null {
  if (answer === null) return null;
  if (!Array.isArray(answer)) {
    throw new OmemoError("IO_FAILED", "the transport's fetch answered neither an array of elements nor null");
  }
  return answer.map((e: unknown) => {
    if (!isElement(e)) throw new OmemoError("IO_FAILED", "the transport's fetch answered something not an element");
    const ns = namespaceOf(e);
    // No OMEMO payload is called <item>: one without a namespace is taken for the pubsub wrapper too.
    if (localName(e) !== "item" || (ns !== undefined && ns !== NS_PUBSUB && ns !== NS_PUBSUB_EVENT)) {
      return { payload: e };
    }
    const children = childElements(e);
    if (children.length > 1) throw new OmemoError("IO_FAILED", "a fetched pubsub <item> holds several payloads");
    return { id: attr(e, "id"), payload: children[0] };
  });
}

/**
 * Fetches one payload of `jid`'s node: item `itemId` when given (OMEMO 2 names its items), else the
 * whole node (legacy, v0.3.0 Example 4) and the item {@link pickItem} picks. Null when the node or
 * item does not exist or the node has no items; IO_FAILED when the transport failed, or when the
 * item picked has no payload (a server that withheld it: unknown, not empty).
 */
export async function fetchPayload(
  transport: OmemoTransport,
  jid: string,
  node: string,
  itemId: string | undefined,
  what: string,
): Promise<Element | null> {
  const answer = await io(what, () =>
    itemId === undefined ? transport.fetch(jid, node) : transport.fetch(jid, node, itemId),
  );
  const items = nodeItems(answer);
  if (items === null || items.length === 0) return null;
  // Asked for one item: one that names another id is not it (a transport that ignored the id).
  const item =
    itemId === undefined
      ? pickItem(items)
      : (items.find((i) => i.id === itemId) ?? items.find((i) => i.id === undefined));
  if (item === undefined) return null;
  if (item.payload === undefined) throw new OmemoError("IO_FAILED", `${what}: the item came without its payload`);
  return item.payload;
}
