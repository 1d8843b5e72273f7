/**
 * Roster and presence (RFC 6121) for a parley-chat account: JID checks (RFC 7622, without PRECIS
 * tables), the roster items of a roster result or push, a roster that stays bounded, and a presence
 * table of who is online with which resources. Pure code: {@link ChatAccount} (src/account.ts) sends
 * and receives the stanzas. A peer controls how many contacts ask us and how many resources they use:
 * every table here is bounded, and what does not fit is dropped.
 */
import type { Element } from "@parley/omemo";

export const NS_ROSTER = "jabber:iq:roster";
const NS_MUC_USER = "http://jabber.org/protocol/muc#user";

/** Roster items kept at most (a server push beyond it is ignored). */
export const MAX_ROSTER_ITEMS = 5000;
/** Resources remembered per contact (further resources are not tracked). */
export const MAX_RESOURCES_PER_CONTACT = 16;
/** Accounts whose presence is tracked at most. */
export const MAX_PRESENCE_CONTACTS = 5000;
/** Longest roster item name kept (longer names are cut). */
export const MAX_NAME_CHARS = 1024;
const MAX_PART_BYTES = 1023;

export type Subscription = "none" | "to" | "from" | "both";
export type Show = "away" | "chat" | "dnd" | "xa";

export interface RosterItem {
  /** Bare JID, lower case. */
  readonly jid: string;
  readonly name?: string;
  readonly subscription: Subscription;
  /** Our subscription request waits for the contact's answer. */
  readonly ask?: "subscribe";
}

/** A roster item that changed (a roster push): `removed` when the contact left the roster. */
export interface RosterChange {
  readonly item: RosterItem;
  readonly removed: boolean;
}

export interface SubscriptionRequest {
  /** The bare JID that asks to see our presence. */
  readonly from: string;
}

export interface PresenceEvent {
  /** Bare JID, lower case. */
  readonly jid: string;
  /** undefined: a presence of the bare JID (unavailable: every resource went offline). */
  readonly resource: string | undefined;
  readonly available: boolean;
  readonly show?: Show;
}

export interface PresenceOf {
  readonly online: boolean;
  readonly resources: readonly string[];
}

// ------------------------------------------------------------------ JIDs

export interface Jid {
  /** Lower case. */
  readonly local: string | undefined;
  /** Lower case. */
  readonly domain: string;
  /** As is. */
  readonly resource: string | undefined;
  /** `local@domain` (or `domain`), lower case. */
  readonly bare: string;
}

const encoder = new TextEncoder();
const bytes = (s: string): number => encoder.encode(s).length;
// RFC 7622 §3.3.1: these may not appear in a localpart; no space or control character anywhere but the resource's spaces.
// eslint-disable-next-line no-control-regex
const LOCAL_FORBIDDEN = /[\s"&'/:<>@\u0000-\u001f\u007f]/u;
// eslint-disable-next-line no-control-regex
const DOMAIN_FORBIDDEN = /[\s"&'/:<>@\\\u0000-\u001f\u007f]/u;
// eslint-disable-next-line no-control-regex
const RESOURCE_FORBIDDEN = /[\u0000-\u001f\u007f]/u;

/**
 * A JID (`[local@]domain[/resource]`) checked against RFC 7622's structure: each part 1 to 1023 bytes,
 * no characters a localpart or domain may not hold, no control characters. Undefined when not a JID.
 * Local and domain parts are lower-cased (and NFC), the resource kept as is.
 */
export function parseJid(jid: unknown): Jid | undefined {
  if (typeof jid !== "string" || jid.length === 0 || jid.length > 3071) return undefined;
  const slash = jid.indexOf("/");
  const head = slash === -1 ? jid : jid.slice(0, slash);
  const resource = slash === -1 ? undefined : jid.slice(slash + 1);
  const at = head.indexOf("@");
  const local = at === -1 ? undefined : head.slice(0, at).normalize("NFC").toLowerCase();
  const domain = (at === -1 ? head : head.slice(at + 1)).normalize("NFC").toLowerCase();
  if (local !== undefined && (local.length === 0 || bytes(local) > MAX_PART_BYTES || LOCAL_FORBIDDEN.test(local)))
    return undefined;
  if (domain.length === 0 || bytes(domain) > MAX_PART_BYTES || DOMAIN_FORBIDDEN.test(domain)) return undefined;
  if (domain.startsWith(".") || domain.endsWith(".") || domain.includes("..")) return undefined;
  if (
    resource !== undefined &&
    (resource.length === 0 || bytes(resource) > MAX_PART_BYTES || RESOURCE_FORBIDDEN.test(resource))
  )
    return undefined;
  return { local, domain, resource, bare: local === undefined ? domain : `${local}@${domain}` };
}

/** The bare JID of a JID, lower case; undefined when not a JID. */
export function bareOf(jid: unknown): string | undefined {
  return parseJid(jid)?.bare;
}

/** A bare JID of an account (`local@domain`, no resource), lower case; undefined otherwise. */
export function accountJid(jid: unknown): string | undefined {
  const j = parseJid(jid);
  return j === undefined || j.local === undefined || j.resource !== undefined ? undefined : j.bare;
}

function attr(element: Element, name: string): string | undefined {
  const v: unknown = element.attrs[name];
  return typeof v === "string" ? v : undefined;
}

// ------------------------------------------------------------------ roster items

/** One `<item>` of a roster result or push: undefined when malformed (no JID, a full JID, a bad subscription). */
export function parseRosterItem(item: Element): { readonly item: RosterItem; readonly removed: boolean } | undefined {
  const jid = parseJid(attr(item, "jid"));
  if (jid === undefined || jid.resource !== undefined) return undefined;
  const sub = attr(item, "subscription") ?? "none";
  const removed = sub === "remove";
  if (!removed && sub !== "none" && sub !== "to" && sub !== "from" && sub !== "both") return undefined;
  const rawName = attr(item, "name");
  const name = rawName === undefined || rawName.length === 0 ? undefined : rawName.slice(0, MAX_NAME_CHARS);
  const ask = attr(item, "ask") === "subscribe" ? "subscribe" : undefined;
  const out: RosterItem = {
    jid: jid.bare,
    subscription: removed ? "none" : sub,
    ...(name !== undefined ? { name } : {}),
    ...(ask !== undefined ? { ask } : {}),
  };
  return { item: out, removed };
}

/** The items of a roster result's `<query xmlns='jabber:iq:roster'>` (malformed ones skipped, at most MAX_ROSTER_ITEMS). */
export function parseRosterResult(query: Element | undefined): RosterItem[] {
  if (query === undefined) return [];
  const out: RosterItem[] = [];
  const seen = new Set<string>();
  for (const i of query.getChildren("item")) {
    if (out.length >= MAX_ROSTER_ITEMS) break;
    const p = parseRosterItem(i);
    if (p === undefined || p.removed || seen.has(p.item.jid)) continue;
    seen.add(p.item.jid);
    out.push(p.item);
  }
  return out;
}

/**
 * A roster push (RFC 6121 §2.1.6): an `<iq type='set'>` with one `<query xmlns='jabber:iq:roster'>` of
 * exactly one item, from our own bare JID or with no `from` (anything else is a forgery and ignored).
 * Undefined when `stanza` is not a valid push for `ownBareJid`.
 */
export function parseRosterPush(stanza: Element, ownBareJid: string): RosterChange | undefined {
  if (stanza.name !== "iq" || attr(stanza, "type") !== "set") return undefined;
  if (!isFromOwnAccount(stanza, ownBareJid)) return undefined;
  const query = stanza.getChild("query", NS_ROSTER);
  if (query === undefined) return undefined;
  const items = query.getChildren("item");
  if (items.length !== 1) return undefined;
  return parseRosterItem(items[0]!);
}

/** `from` absent, or our bare JID (a server's stanza on behalf of our account). */
export function isFromOwnAccount(stanza: Element, ownBareJid: string): boolean {
  const from = attr(stanza, "from");
  if (from === undefined) return true;
  const j = parseJid(from);
  return j !== undefined && j.resource === undefined && j.bare === ownBareJid;
}

/** The roster of one account: at most MAX_ROSTER_ITEMS items, in insertion order. */
export class Roster {
  readonly #items = new Map<string, RosterItem>();
  #loaded = false;

  get loaded(): boolean {
    return this.#loaded;
  }

  replace(items: readonly RosterItem[]): void {
    this.#items.clear();
    for (const i of items.slice(0, MAX_ROSTER_ITEMS)) this.#items.set(i.jid, i);
    this.#loaded = true;
  }

  /** Applies a push; false when it was dropped (roster full). */
  apply(change: RosterChange): boolean {
    if (change.removed) {
      this.#items.delete(change.item.jid);
      return true;
    }
    if (!this.#items.has(change.item.jid) && this.#items.size >= MAX_ROSTER_ITEMS) return false;
    this.#items.set(change.item.jid, change.item);
    return true;
  }

  get(bareJid: string): RosterItem | undefined {
    return this.#items.get(bareJid);
  }

  items(): readonly RosterItem[] {
    return [...this.#items.values()];
  }
}

// ------------------------------------------------------------------ presence

export type ParsedPresence =
  | { readonly kind: "availability"; readonly event: PresenceEvent }
  | { readonly kind: "subscribe"; readonly from: string }
  | {
      readonly kind: "subscribed" | "unsubscribe" | "unsubscribed";
      readonly from: string;
    };

/**
 * A presence of a contact: availability (available or `unavailable`, with `<show>`), or a subscription
 * request or answer. Undefined for anything else: errors, probes, no or an invalid `from`, and room
 * occupants' presence (with a muc#user `<x>`: GroupChats in src/muc.ts reads those).
 */
export function parsePresence(stanza: Element): ParsedPresence | undefined {
  if (stanza.name !== "presence") return undefined;
  const from = parseJid(attr(stanza, "from"));
  if (from === undefined) return undefined;
  const type = attr(stanza, "type");
  if (type === "subscribe" || type === "subscribed" || type === "unsubscribe" || type === "unsubscribed") {
    if (from.local === undefined) return undefined;
    return { kind: type, from: from.bare };
  }
  if (type !== undefined && type !== "unavailable") return undefined;
  if (stanza.getChild("x", NS_MUC_USER) !== undefined) return undefined;
  const showText = stanza.getChildText("show");
  const show =
    showText === "away" || showText === "chat" || showText === "dnd" || showText === "xa" ? showText : undefined;
  const available = type === undefined;
  return {
    kind: "availability",
    event: {
      jid: from.bare,
      resource: from.resource,
      available,
      ...(available && show !== undefined ? { show } : {}),
    },
  };
}

/** Who is online with which resources, bounded (MAX_PRESENCE_CONTACTS, MAX_RESOURCES_PER_CONTACT). */
export class PresenceTable {
  readonly #contacts = new Map<string, Map<string, Show | undefined>>();

  /** Applies an availability event; false when it was not tracked (a table limit). */
  apply(event: PresenceEvent): boolean {
    let resources = this.#contacts.get(event.jid);
    if (!event.available) {
      if (resources === undefined) return true;
      if (event.resource === undefined) resources.clear();
      else resources.delete(event.resource);
      if (resources.size === 0) this.#contacts.delete(event.jid);
      return true;
    }
    const resource = event.resource ?? "";
    if (resources === undefined) {
      if (this.#contacts.size >= MAX_PRESENCE_CONTACTS) return false;
      resources = new Map();
      this.#contacts.set(event.jid, resources);
    }
    if (!resources.has(resource) && resources.size >= MAX_RESOURCES_PER_CONTACT) return false;
    resources.set(resource, event.show);
    return true;
  }

  of(bareJid: string): PresenceOf {
    const resources = this.#contacts.get(bareJid);
    return { online: resources !== undefined && resources.size > 0, resources: resources ? [...resources.keys()] : [] };
  }

  clear(): void {
    this.#contacts.clear();
  }
}
