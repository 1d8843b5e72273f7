/**
 * OMEMO group chats (XEP-0045 multi-user chat) for parley-chat, over a {@link ChatAccount}.
 *
 * OMEMO in a room (XEP-0384 v0.8.3 §5.6 / v0.3.0 §5): the room must be non-anonymous, so that every
 * occupant sees every other occupant's real JID; a message is encrypted to every device of every
 * occupant's real bare JID (and our own other devices), its OMEMO 2 envelope addressed (`<to>`) to the
 * room, and sent as one `<message type='groupchat'>` per namespace. An incoming message comes from
 * `room@service/nick`: the nick is mapped to the occupant's real JID taken from the room's presence, and
 * that JID is what the session manager decrypts from.
 *
 * `create` configures a new room as OMEMO needs it (non-anonymous, members-only, persistent); `invite`
 * adds the invitee as a member (members-only) and sends a mediated invitation. Every stanza (presence
 * and message) of a joined room is handled one at a time, in arrival order. Nothing here logs, and no
 * event or error carries a plaintext or a key.
 */
import { randomUUID } from "node:crypto";
import { xml } from "@xmpp/client";
import {
  isOmemoError,
  NS_LEGACY,
  NS_V2,
  OmemoError,
  wrapMessage,
  type DeviceResult,
  type Element,
  type OmemoNamespace,
  type TrustLevel,
} from "@parley/omemo";
import type { ChatAccount } from "./account.js";
import { stanzaErrorCondition } from "./transport.js";

export const NS_MUC = "http://jabber.org/protocol/muc";
export const NS_MUC_USER = `${NS_MUC}#user`;
export const NS_MUC_OWNER = `${NS_MUC}#owner`;
export const NS_MUC_ADMIN = `${NS_MUC}#admin`;
export const NS_MUC_ROOMCONFIG = `${NS_MUC}#roomconfig`;
const NS_DATA = "jabber:x:data";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_SID = "urn:xmpp:sid:0";
const NS_DELAY = "urn:xmpp:delay";
const NS_CONFERENCE = "jabber:x:conference";

/** The room configuration OMEMO needs (muc#roomconfig fields, XEP-0045 §10.1.3 / §16.5.2). */
export const OMEMO_ROOM_CONFIG: Readonly<Record<string, readonly string[]>> = {
  "muc#roomconfig_whois": ["anyone"],
  "muc#roomconfig_membersonly": ["1"],
  "muc#roomconfig_persistentroom": ["1"],
};

const DEFAULT_TIMEOUT_MS = 20_000;
/** Ids of our own sent messages remembered per room to recognise their reflection. */
const MAX_SENT_IDS = 1000;

export type GroupChatErrorCode =
  | "INVALID_ARGUMENT"
  /** We are not in that room (join it first). */
  | "NOT_JOINED"
  | "ALREADY_JOINED"
  /** The room refused us (`condition`: registration-required, conflict, forbidden, item-not-found, ...). */
  | "JOIN_FAILED"
  | "TIMEOUT"
  /** The room could not be configured as OMEMO needs (`condition` when the server said why). */
  | "CONFIG_FAILED"
  /** Real JIDs are not visible in this room: OMEMO cannot be used there. */
  | "ROOM_ANONYMOUS"
  /** A message from a nick whose real JID we do not know. */
  | "UNKNOWN_OCCUPANT"
  /** Nobody else is in the room. */
  | "NO_RECIPIENTS"
  /** Some occupants have no device that could get a key (`undeliverable` lists them); nothing was sent. */
  | "NO_ELIGIBLE_DEVICES"
  | "INVITE_FAILED";

/** The one error class of this module. Messages name what failed, never message content or keys. */
export class GroupChatError extends Error {
  override readonly name = "GroupChatError";
  readonly code: GroupChatErrorCode;
  /** The XMPP error condition, when the server gave one. */
  readonly condition: string | undefined;
  /** NO_ELIGIBLE_DEVICES: the occupants' bare JIDs none of whose devices got a key. */
  readonly undeliverable: readonly string[];

  constructor(
    code: GroupChatErrorCode,
    message: string,
    options: { condition?: string | undefined; undeliverable?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.condition = options.condition;
    this.undeliverable = options.undeliverable ?? [];
  }
}

export function isGroupChatError(e: unknown, code?: GroupChatErrorCode): e is GroupChatError {
  return e instanceof GroupChatError && (code === undefined || e.code === code);
}

// ------------------------------------------------------------------ pure parts

/** `room@service/nick` → bare part (lower case, NFC) and resource (as is). */
export function splitJid(jid: string): { bare: string; resource: string | undefined } {
  const slash = jid.indexOf("/");
  const bare = (slash === -1 ? jid : jid.slice(0, slash)).normalize("NFC").toLowerCase();
  return { bare, resource: slash === -1 ? undefined : jid.slice(slash + 1) };
}

function isRoomJid(room: string): boolean {
  return /^[^@/\s]+@[^@/\s]+$/.test(room);
}

function isBareJid(jid: string): boolean {
  return /^(?:[^@/\s]+@)?[^@/\s]+$/.test(jid);
}

function attr(element: Element, name: string): string | undefined {
  const v: unknown = element.attrs[name];
  return typeof v === "string" ? v : undefined;
}

/** The XMPP error condition of an error stanza (`<error><conflict xmlns='…stanzas'/></error>`). */
export function errorCondition(stanza: Element): string | undefined {
  const error = stanza.getChild("error");
  if (error === undefined) return undefined;
  const condition = error.children.find(
    (c): c is Element =>
      typeof c === "object" && c.attrs["xmlns"] === "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name !== "text",
  );
  return condition?.name;
}

export interface MucItem {
  /** The occupant's real JID (full), when the room shows it to us. */
  readonly jid: string | undefined;
  readonly affiliation: string | undefined;
  readonly role: string | undefined;
  /** A nick change (status 303): the new nick. */
  readonly nick: string | undefined;
}

export interface MucPresence {
  /** The room's bare JID, lower case. */
  readonly room: string;
  readonly nick: string | undefined;
  readonly type: "available" | "unavailable" | "error";
  readonly statuses: ReadonlySet<number>;
  readonly item: MucItem | undefined;
  /** type "error": the condition. */
  readonly condition: string | undefined;
}

/** A room presence (XEP-0045 §7.2): its occupant item and status codes; undefined for any other presence. */
export function parseMucPresence(stanza: Element): MucPresence | undefined {
  if (stanza.name !== "presence") return undefined;
  const from = attr(stanza, "from");
  if (from === undefined) return undefined;
  const type = attr(stanza, "type");
  const { bare, resource } = splitJid(from);
  if (type === "error") {
    return {
      room: bare,
      nick: resource,
      type: "error",
      statuses: new Set(),
      item: undefined,
      condition: errorCondition(stanza) ?? "undefined-condition",
    };
  }
  if (type !== undefined && type !== "unavailable") return undefined;
  const x = stanza.getChild("x", NS_MUC_USER);
  if (x === undefined) return undefined;
  const statuses = new Set<number>();
  for (const s of x.getChildren("status")) {
    const code = Number(attr(s, "code"));
    if (Number.isInteger(code)) statuses.add(code);
  }
  const i = x.getChild("item");
  const item: MucItem | undefined =
    i === undefined
      ? undefined
      : { jid: attr(i, "jid"), affiliation: attr(i, "affiliation"), role: attr(i, "role"), nick: attr(i, "nick") };
  return {
    room: bare,
    nick: resource,
    type: type === "unavailable" ? "unavailable" : "available",
    statuses,
    item,
    condition: undefined,
  };
}

/**
 * A `<x xmlns='jabber:x:data' type='submit'>` answering the room's configuration form: every field of
 * the form with its current value, `overrides` replacing values. Throws CONFIG_FAILED when the form
 * lacks a field of `overrides` (the server cannot make the room what we need).
 */
export function configSubmit(form: Element, overrides: Readonly<Record<string, readonly string[]>>): Element {
  const submit = xml("x", { xmlns: NS_DATA, type: "submit" });
  const seen = new Set<string>();
  for (const field of form.getChildren("field")) {
    const name = attr(field, "var");
    if (name === undefined || attr(field, "type") === "fixed" || seen.has(name)) continue;
    seen.add(name);
    const values = overrides[name] ?? field.getChildren("value").map((v) => v.getText());
    if (name === "FORM_TYPE") {
      submit.cnode(xml("field", { var: name, type: "hidden" }, xml("value", {}, NS_MUC_ROOMCONFIG)));
      continue;
    }
    submit.cnode(xml("field", { var: name }, ...values.map((v) => xml("value", {}, v))));
  }
  if (!seen.has("FORM_TYPE")) {
    submit.children.unshift(xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_MUC_ROOMCONFIG)));
  }
  for (const name of Object.keys(overrides)) {
    if (!seen.has(name))
      throw new GroupChatError("CONFIG_FAILED", `the room's configuration form has no field ${name}`);
  }
  return submit;
}

const MEMBER_AFFILIATIONS = new Set(["owner", "admin", "member"]);

function noteAffiliation(state: { readonly members: Map<string, string> }, jid: string, affiliation: string): void {
  const bare = splitJid(jid).bare;
  if (MEMBER_AFFILIATIONS.has(affiliation)) state.members.set(bare, affiliation);
  else state.members.delete(bare);
}

// ------------------------------------------------------------------ events

export interface Occupant {
  readonly nick: string;
  /** Real full JID, when visible. */
  readonly jid: string | undefined;
  readonly affiliation: string | undefined;
  readonly role: string | undefined;
  readonly self: boolean;
}

export interface GroupMessage {
  readonly room: string;
  readonly nick: string;
  /** The sender's real bare JID (what the message was decrypted as). */
  readonly from: string;
  readonly namespace: OmemoNamespace;
  readonly deviceId: number;
  readonly body: string | undefined;
  readonly trust: TrustLevel;
  /** The stanza's id (the sender's), if any. */
  readonly id: string | undefined;
  /** Sent earlier (a `<delay>`: room history). */
  readonly delayed: boolean;
}

export interface OccupantEvent {
  readonly room: string;
  readonly kind: "joined" | "left";
  readonly occupant: Occupant;
  /** Seen while we were entering the room (the occupants already there). */
  readonly initial: boolean;
  /** Status codes of the presence (e.g. 307 kicked, 301 banned, 321/322 affiliation change, 303 nick change). */
  readonly statuses: readonly number[];
}

export interface GroupChatErrorEvent {
  /** Undefined for a failure not tied to a room. */
  readonly room: string | undefined;
  readonly nick: string | undefined;
  /** An OmemoError or GroupChatError code, or "UNKNOWN". */
  readonly code: string;
  readonly message: string;
}

export interface Invitation {
  readonly room: string;
  /** Who invited us (a real JID). */
  readonly from: string | undefined;
  readonly reason: string | undefined;
  readonly password: string | undefined;
  readonly kind: "mediated" | "direct";
}

export interface GroupChatEvents {
  /** A decrypted OMEMO message of another occupant (or of another device of ours). */
  message: GroupMessage;
  /** One of our own messages came back from the room (`id` as {@link SendResult.ids} has it). */
  reflected: { readonly room: string; readonly id: string };
  occupant: OccupantEvent;
  /** An invitation to a room (nothing joined: ask the user). */
  invite: Invitation;
  /** A groupchat message without OMEMO (someone sent in the clear). Shown as such, never as encrypted. */
  unencrypted: { readonly room: string; readonly nick: string | undefined; readonly body: string };
  /** We are out of the room: we left, were kicked (307), banned (301), or removed (321, 322, 332). */
  left: { readonly room: string; readonly statuses: readonly number[] };
  /** The room's configuration changed (104) or its anonymity (172 non-anonymous, 173/174 not). */
  config: { readonly room: string; readonly nonAnonymous: boolean; readonly statuses: readonly number[] };
  error: GroupChatErrorEvent;
}

export interface RoomInfo {
  readonly room: string;
  readonly nick: string;
  /** The room was created by this join (status 201) and configured by us. */
  readonly created: boolean;
  readonly nonAnonymous: boolean;
  readonly membersOnly: boolean | undefined;
  readonly persistent: boolean | undefined;
  /**
   * The room let us read its member lists: messages go to every member, present or not. When false,
   * only to the occupants (a member who is away cannot read them later).
   */
  readonly memberListVisible: boolean;
}

export interface SendResult {
  /** Id of the first `<message>`; `ids` has one per namespace sent. */
  readonly id: string;
  readonly ids: readonly string[];
  readonly namespaces: readonly OmemoNamespace[];
  /** Per device: encrypted, untrusted, undecided or failed. */
  readonly devices: readonly DeviceResult[];
  readonly undeliverable: readonly string[];
}

export interface SendOptions {
  /** Only this namespace (default: each device in its preferred one, so possibly one message per namespace). */
  readonly namespace?: OmemoNamespace;
  /** Send even if some recipients have no device that got a key (default: NO_ELIGIBLE_DEVICES, nothing sent). */
  readonly allowUndeliverable?: boolean;
  /**
   * "members" (default): the occupants and every owner, admin and member of the room, present or not,
   * so that members read it later from the room's archive (XEP-0384 v0.8.3 §5.8); "occupants": those
   * present only.
   */
  readonly recipients?: "members" | "occupants";
}

export interface JoinOptions {
  /** Room history to ask for (`<history maxstanzas>`); default 0. */
  readonly history?: number;
  /**
   * Ask for the history since this time instead (`<history since>`, XEP-0045 §7.2.15): what a rejoin
   * after a lost connection asks for, so that messages sent meanwhile arrive.
   */
  readonly historySince?: Date;
  readonly password?: string;
  readonly timeoutMs?: number;
}

interface PendingJoin {
  readonly resolve: (statuses: ReadonlySet<number>) => void;
  readonly reject: (e: unknown) => void;
}

interface RoomState {
  readonly jid: string;
  nick: string;
  joined: boolean;
  nonAnonymous: boolean;
  membersOnly: boolean | undefined;
  persistent: boolean | undefined;
  created: boolean;
  readonly occupants: Map<string, Occupant>;
  /** Bare JID → owner, admin or member (XEP-0384 v0.8.3 §5.8: encrypt to every member, present or not). */
  readonly members: Map<string, string>;
  /** Whether the room let us read at least one affiliation list. */
  membersKnown: boolean;
  readonly sent: Set<string>;
  pending: PendingJoin | undefined;
  leaving: (() => void) | undefined;
}

type Listener<T> = (value: T) => void;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new GroupChatError("TIMEOUT", `${what}: no answer in ${ms} ms`));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new GroupChatError("TIMEOUT", `${what} failed`, { cause: e }));
      },
    );
  });
}

function errorCode(e: unknown): string {
  if (e instanceof OmemoError || e instanceof GroupChatError) return e.code;
  return "UNKNOWN";
}

/** Messages of our own errors only: an OmemoError's and ours carry no content; anything else is summarised. */
function errorMessage(e: unknown): string {
  if (e instanceof OmemoError || e instanceof GroupChatError) return e.message;
  return "an unexpected error while handling a group chat stanza";
}

/**
 * The group chats of one account. Create one per {@link ChatAccount} right after connecting; it listens
 * to the account's stanzas (presence and `type='groupchat'` messages of joined rooms, invitations).
 */
export class GroupChats {
  readonly account: ChatAccount;
  readonly #rooms = new Map<string, RoomState>();
  readonly #listeners = new Map<keyof GroupChatEvents, Set<Listener<never>>>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  /** When the connection was lost (the first `disconnect` since we were last online). */
  #disconnectedAt: Date | undefined;

  constructor(account: ChatAccount) {
    this.account = account;
    account.xmpp.on("stanza", (stanza: Element) => {
      if (this.#closed) return;
      this.#queue = this.#queue
        .then(() => this.#handle(stanza))
        .catch((e: unknown) => {
          this.#emitError(undefined, undefined, e);
        });
    });
    // A lost connection takes us out of every room (the server sends the room our unavailable
    // presence). xmpp.js reconnects and says "online" again: enter the rooms we were in once more,
    // asking for what was said meanwhile (duplicates are dropped by OMEMO and by our sent ids).
    account.xmpp.on("disconnect", () => {
      this.#disconnectedAt ??= new Date();
    });
    // A session that xmpp.js resumed (XEP-0198) never left its rooms: the server kept the session and
    // delivers what the rooms said meanwhile. No rejoin then, and the next loss counts from its own time.
    account.xmpp.streamManagement?.on("resumed", () => {
      this.#disconnectedAt = undefined;
    });
    account.xmpp.on("online", () => {
      if (this.#closed) return;
      const since = this.#disconnectedAt;
      this.#disconnectedAt = undefined;
      void this.account.sessionSettled().then(() => this.#rejoinAll(since));
    });
  }

  /** Enters again every room we were in (same nick); one that refuses us is reported (`error`, then `left`). */
  async #rejoinAll(since: Date | undefined): Promise<void> {
    const rooms = [...this.#rooms.values()].filter((r) => r.joined);
    for (const state of rooms) {
      if (this.#closed || this.#rooms.get(state.jid) !== state) continue;
      this.#rooms.delete(state.jid);
      try {
        await this.join(state.jid, state.nick, since === undefined ? {} : { historySince: since });
      } catch (e) {
        this.#emitError(state.jid, state.nick, e);
        this.#emit("left", { room: state.jid, statuses: [] });
      }
    }
  }

  on<K extends keyof GroupChatEvents>(event: K, listener: Listener<GroupChatEvents[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Rooms we are in (bare JIDs). */
  rooms(): string[] {
    return [...this.#rooms.values()].filter((r) => r.joined).map((r) => r.jid);
  }

  /** The room as we know it, or undefined when we are not in it. */
  room(room: string): RoomInfo | undefined {
    const state = this.#rooms.get(splitJid(room).bare);
    return state?.joined === true ? this.#info(state) : undefined;
  }

  occupants(room: string): Occupant[] {
    return [...(this.#rooms.get(splitJid(room).bare)?.occupants.values() ?? [])];
  }

  /**
   * Joins `room` as `nick`, creating it if it does not exist; a room we created (status 201) is
   * configured as OMEMO needs it ({@link OMEMO_ROOM_CONFIG}) before anyone else can enter it (rooms are
   * locked until configured). An existing room is joined as it is (`created: false`).
   */
  async create(room: string, nick: string, options: JoinOptions = {}): Promise<RoomInfo> {
    const state = await this.#enter(room, nick, options);
    if (state.created) {
      try {
        await this.#configure(state, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      } catch (e) {
        await this.leave(state.jid).catch(() => undefined);
        throw e;
      }
    }
    await this.#refreshInfo(state);
    await this.#refreshMembers(state);
    return this.#info(state);
  }

  /** Joins an existing room. Rejects with JOIN_FAILED (`condition`) when the room refuses us. */
  async join(room: string, nick: string, options: JoinOptions = {}): Promise<RoomInfo> {
    const state = await this.#enter(room, nick, options);
    await this.#refreshInfo(state);
    await this.#refreshMembers(state);
    return this.#info(state);
  }

  /**
   * Makes `jid` a member of the room (muc#admin, so it may enter a members-only room; skipped when it
   * is already an owner or admin, and left to the server's invitation handling when we may not edit the
   * member list) and sends a mediated invitation (XEP-0045 §7.8.2). Returns whether we set the affiliation.
   */
  async invite(
    room: string,
    jid: string,
    options: { reason?: string; timeoutMs?: number } = {},
  ): Promise<{ member: boolean }> {
    const state = this.#joined(room);
    const bare = splitJid(jid).bare;
    if (!isBareJid(bare)) throw new GroupChatError("INVALID_ARGUMENT", "the invitee must be a JID");
    const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let member = false;
    const higher = await Promise.all(
      ["owner", "admin"].map((a) =>
        this.affiliations(state.jid, a, { timeoutMs: timeout }).catch(() => [] as string[]),
      ),
    );
    if (!higher.flat().includes(bare)) {
      try {
        await this.setAffiliation(state.jid, bare, "member", { timeoutMs: timeout });
        member = true;
      } catch (e) {
        const condition = isGroupChatError(e) ? e.condition : undefined;
        if (condition !== "forbidden" && condition !== "not-allowed") {
          throw new GroupChatError("INVITE_FAILED", "the room refused to add the member", { condition, cause: e });
        }
      }
    }
    const invite = xml("invite", { to: bare });
    if (options.reason !== undefined) invite.cnode(xml("reason", {}, options.reason));
    await this.account.xmpp.send(
      xml("message", { to: state.jid, id: `inv-${randomUUID()}` }, xml("x", { xmlns: NS_MUC_USER }, invite)),
    );
    return { member };
  }

  /**
   * Sets a user's affiliation (muc#admin, XEP-0045 §9 / §10): "member" lets them into a members-only
   * room, "none" takes membership away (and, in a members-only room, them out), "outcast" bans. Needs
   * admin or owner rights; rejects with INVITE_FAILED and the server's `condition` otherwise.
   */
  async setAffiliation(
    room: string,
    jid: string,
    affiliation: "owner" | "admin" | "member" | "none" | "outcast",
    options: { reason?: string; timeoutMs?: number } = {},
  ): Promise<void> {
    const roomJid = splitJid(room).bare;
    const bare = splitJid(jid).bare;
    if (!isBareJid(bare)) throw new GroupChatError("INVALID_ARGUMENT", "the user must be a JID");
    const item = xml("item", { affiliation, jid: bare });
    if (options.reason !== undefined) item.cnode(xml("reason", {}, options.reason));
    try {
      await this.account.xmpp.iqCaller.request(
        xml("iq", { type: "set", to: roomJid, id: `aff-${randomUUID()}` }, xml("query", { xmlns: NS_MUC_ADMIN }, item)),
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
    } catch (e) {
      throw new GroupChatError("INVITE_FAILED", "the room refused the affiliation change", {
        condition: stanzaErrorCondition(e),
        cause: e,
      });
    }
    const state = this.#rooms.get(roomJid);
    if (state !== undefined) noteAffiliation(state, bare, affiliation);
  }

  /**
   * The room's members as we know them (owners, admins and members: bare JIDs), from the affiliation
   * lists read on joining and the changes the room announced since; empty if the room did not let us
   * read them.
   */
  members(room: string): Array<{ jid: string; affiliation: string }> {
    const state = this.#rooms.get(splitJid(room).bare);
    return [...(state?.members.entries() ?? [])].map(([jid, affiliation]) => ({ jid, affiliation }));
  }

  /** Bare JIDs with that affiliation (muc#admin, XEP-0045 §9.5 / §10.5): needs the right to see the list. */
  async affiliations(room: string, affiliation: string, options: { timeoutMs?: number } = {}): Promise<string[]> {
    const jid = splitJid(room).bare;
    const result = await this.account.xmpp.iqCaller.request(
      xml(
        "iq",
        { type: "get", to: jid, id: `affs-${randomUUID()}` },
        xml("query", { xmlns: NS_MUC_ADMIN }, xml("item", { affiliation })),
      ),
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    const query = result.getChild("query", NS_MUC_ADMIN);
    return (query?.getChildren("item") ?? [])
      .map((i) => attr(i, "jid"))
      .filter((j): j is string => j !== undefined)
      .map((j) => splitJid(j).bare);
  }

  /** Leaves the room (unavailable presence) and forgets it; resolves once the room confirmed or after the timeout. */
  async leave(room: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const jid = splitJid(room).bare;
    const state = this.#rooms.get(jid);
    if (state === undefined) throw new GroupChatError("NOT_JOINED", "not in that room");
    const gone = new Promise<void>((resolve) => {
      state.leaving = resolve;
    });
    await this.account.xmpp.send(xml("presence", { to: `${jid}/${state.nick}`, type: "unavailable" }));
    await withTimeout(gone, options.timeoutMs ?? 10_000, "leaving the room").catch(() => undefined);
    if (this.#rooms.get(jid) === state) this.#rooms.delete(jid);
  }

  /**
   * Encrypts `body` to every device of every other occupant's real JID (and our own other devices) and
   * sends one `<message type='groupchat'>` per namespace. Refuses (ROOM_ANONYMOUS) in a room that does
   * not show real JIDs; NO_ELIGIBLE_DEVICES, sending nothing, if an occupant has no device that got a
   * key (unless `allowUndeliverable`).
   */
  async send(room: string, body: string, options: SendOptions = {}): Promise<SendResult> {
    const state = this.#joined(room);
    if (typeof body !== "string" || body.length === 0)
      throw new GroupChatError("INVALID_ARGUMENT", "the body must be a non-empty string");
    if (!state.nonAnonymous) {
      throw new GroupChatError(
        "ROOM_ANONYMOUS",
        "the room does not show real JIDs to its occupants: OMEMO needs a non-anonymous room",
      );
    }
    const own = splitJid(this.account.jid).bare;
    const recipients: string[] = [];
    for (const o of state.occupants.values()) {
      if (o.self) continue;
      if (o.jid === undefined) {
        throw new GroupChatError("ROOM_ANONYMOUS", "an occupant's real JID is not visible to us");
      }
      const bare = splitJid(o.jid).bare;
      if (bare !== own && !recipients.includes(bare)) recipients.push(bare);
    }
    if (options.recipients !== "occupants") {
      for (const bare of state.members.keys()) {
        if (bare !== own && !recipients.includes(bare)) recipients.push(bare);
      }
    }
    if (recipients.length === 0) throw new GroupChatError("NO_RECIPIENTS", "nobody else is in the room");
    const result = await this.account.omemo.encrypt(
      recipients,
      { body },
      { envelopeTo: state.jid, ...(options.namespace !== undefined ? { namespaces: [options.namespace] } : {}) },
    );
    if (result.undeliverable.length > 0 && options.allowUndeliverable !== true) {
      throw new GroupChatError(
        "NO_ELIGIBLE_DEVICES",
        `${result.undeliverable.length} occupant(s) have no device this message could be encrypted for`,
        { undeliverable: result.undeliverable },
      );
    }
    const base = randomUUID();
    const ids: string[] = [];
    const namespaces: OmemoNamespace[] = [];
    for (const [i, m] of result.messages.entries()) {
      const id = result.messages.length === 1 ? base : `${base}-${i}`;
      const stanza = wrapMessage(state.jid, m.namespace, m.encrypted);
      stanza.attrs["type"] = "groupchat";
      stanza.attrs["id"] = id;
      stanza.cnode(xml("origin-id", { xmlns: NS_SID, id }));
      this.#remember(state, id);
      await this.account.xmpp.send(stanza);
      ids.push(id);
      namespaces.push(m.namespace);
    }
    return { id: ids[0] ?? base, ids, namespaces, devices: result.devices, undeliverable: result.undeliverable };
  }

  /** Stops handling stanzas (rooms are not left: call {@link leave} first, or close the account). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  // -------------------------------------------------------------- internals

  #joined(room: string): RoomState {
    const state = this.#rooms.get(splitJid(room).bare);
    if (state === undefined || !state.joined) throw new GroupChatError("NOT_JOINED", "not in that room");
    return state;
  }

  #info(state: RoomState): RoomInfo {
    return {
      room: state.jid,
      nick: state.nick,
      created: state.created,
      nonAnonymous: state.nonAnonymous,
      membersOnly: state.membersOnly,
      persistent: state.persistent,
      memberListVisible: state.membersKnown,
    };
  }

  #remember(state: RoomState, id: string): void {
    state.sent.add(id);
    if (state.sent.size > MAX_SENT_IDS) {
      const oldest = state.sent.values().next();
      if (oldest.done !== true) state.sent.delete(oldest.value);
    }
  }

  async #enter(room: string, nick: string, options: JoinOptions): Promise<RoomState> {
    const jid = splitJid(room).bare;
    if (!isRoomJid(jid) || room.includes("/"))
      throw new GroupChatError("INVALID_ARGUMENT", "the room must be a bare JID room@service");
    // eslint-disable-next-line no-control-regex
    if (typeof nick !== "string" || nick.length === 0 || nick.length > 1023 || /[\u0000-\u001f\u007f]/.test(nick)) {
      throw new GroupChatError("INVALID_ARGUMENT", "the nick must be a non-empty string without control characters");
    }
    if (this.#rooms.has(jid)) throw new GroupChatError("ALREADY_JOINED", "already in (or entering) that room");
    const history = options.history ?? 0;
    if (!Number.isInteger(history) || history < 0)
      throw new GroupChatError("INVALID_ARGUMENT", "history must be a count");
    const since = options.historySince;
    if (since !== undefined && (!(since instanceof Date) || Number.isNaN(since.getTime())))
      throw new GroupChatError("INVALID_ARGUMENT", "historySince must be a valid Date");
    let pending: PendingJoin | undefined;
    const entered = new Promise<ReadonlySet<number>>((resolve, reject) => {
      pending = { resolve, reject };
    });
    const state: RoomState = {
      jid,
      nick,
      joined: false,
      nonAnonymous: false,
      membersOnly: undefined,
      persistent: undefined,
      created: false,
      occupants: new Map(),
      members: new Map(),
      membersKnown: false,
      sent: new Set(),
      pending,
      leaving: undefined,
    };
    this.#rooms.set(jid, state);
    const x = xml(
      "x",
      { xmlns: NS_MUC },
      xml("history", since === undefined ? { maxstanzas: String(history) } : { since: since.toISOString() }),
    );
    if (options.password !== undefined) x.cnode(xml("password", {}, options.password));
    try {
      await this.account.xmpp.send(xml("presence", { to: `${jid}/${nick}` }, x));
      const statuses = await withTimeout(entered, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, "entering the room");
      state.created = statuses.has(201);
      return state;
    } catch (e) {
      if (this.#rooms.get(jid) === state) this.#rooms.delete(jid);
      // No answer in time: should the room let us in after all, we leave rather than sit there unseen.
      if (isGroupChatError(e, "TIMEOUT")) {
        await this.account.xmpp
          .send(xml("presence", { to: `${jid}/${nick}`, type: "unavailable" }))
          .catch(() => undefined);
      }
      throw e;
    }
  }

  async #configure(state: RoomState, timeout: number): Promise<void> {
    const xmpp = this.account.xmpp;
    let form: Element | undefined;
    try {
      const reply = await xmpp.iqCaller.request(
        xml("iq", { type: "get", to: state.jid, id: `cfg-${randomUUID()}` }, xml("query", { xmlns: NS_MUC_OWNER })),
        timeout,
      );
      form = reply.getChild("query", NS_MUC_OWNER)?.getChild("x", NS_DATA);
    } catch (e) {
      throw new GroupChatError("CONFIG_FAILED", "the room's configuration form could not be fetched", {
        condition: stanzaErrorCondition(e),
        cause: e,
      });
    }
    if (form === undefined) throw new GroupChatError("CONFIG_FAILED", "the room sent no configuration form");
    const submit = configSubmit(form, OMEMO_ROOM_CONFIG);
    try {
      await xmpp.iqCaller.request(
        xml(
          "iq",
          { type: "set", to: state.jid, id: `cfg-${randomUUID()}` },
          xml("query", { xmlns: NS_MUC_OWNER }, submit),
        ),
        timeout,
      );
    } catch (e) {
      throw new GroupChatError("CONFIG_FAILED", "the room refused the configuration", {
        condition: stanzaErrorCondition(e),
        cause: e,
      });
    }
  }

  /** The room's disco#info features: muc_nonanonymous, muc_membersonly, muc_persistent (XEP-0045 §6.4). */
  async #refreshInfo(state: RoomState): Promise<void> {
    let reply: Element;
    try {
      reply = await this.account.xmpp.iqCaller.request(
        xml("iq", { type: "get", to: state.jid, id: `info-${randomUUID()}` }, xml("query", { xmlns: NS_DISCO_INFO })),
        DEFAULT_TIMEOUT_MS,
      );
    } catch {
      return; // the presence status codes (100, 172) stay what we go by
    }
    const features = new Set(
      (reply.getChild("query", NS_DISCO_INFO)?.getChildren("feature") ?? []).map((f) => attr(f, "var")),
    );
    if (features.has("muc_nonanonymous")) state.nonAnonymous = true;
    else if (features.has("muc_semianonymous") || features.has("muc_fullyanonymous")) state.nonAnonymous = false;
    if (features.has("muc_membersonly")) state.membersOnly = true;
    else if (features.has("muc_open")) state.membersOnly = false;
    if (features.has("muc_persistent")) state.persistent = true;
    else if (features.has("muc_temporary")) state.persistent = false;
  }

  /** The owner, admin and member lists (XEP-0384 v0.8.3 §5.8: fetched on join); lists we may not read are skipped. */
  async #refreshMembers(state: RoomState): Promise<void> {
    const lists = await Promise.all(
      ["owner", "admin", "member"].map((a) =>
        this.affiliations(state.jid, a).then(
          (jids) => ({ a, jids }),
          () => undefined,
        ),
      ),
    );
    if (lists.every((l) => l === undefined)) return;
    state.membersKnown = true;
    for (const l of lists) {
      if (l === undefined) continue;
      for (const [jid, aff] of [...state.members]) if (aff === l.a) state.members.delete(jid);
      for (const jid of l.jids) state.members.set(jid, l.a);
    }
  }

  async #handle(stanza: Element): Promise<void> {
    if (stanza.name === "presence") {
      this.#onPresence(stanza);
    } else if (stanza.name === "message") {
      await this.#onMessage(stanza);
    }
  }

  #onPresence(stanza: Element): void {
    const p = parseMucPresence(stanza);
    if (p === undefined) return;
    const state = this.#rooms.get(p.room);
    if (state === undefined) return;
    if (p.type === "error") {
      if (state.pending !== undefined && (p.nick === undefined || p.nick === state.nick)) {
        const pending = state.pending;
        state.pending = undefined;
        this.#rooms.delete(state.jid);
        pending.reject(
          new GroupChatError("JOIN_FAILED", `the room refused us (${p.condition ?? "undefined-condition"})`, {
            condition: p.condition,
          }),
        );
      }
      return;
    }
    if (p.nick === undefined) return;
    if (p.item?.jid !== undefined && p.item.affiliation !== undefined)
      noteAffiliation(state, p.item.jid, p.item.affiliation);
    const self = p.statuses.has(110);
    const statuses = [...p.statuses];
    if (p.type === "unavailable") {
      if (self) {
        this.#rooms.delete(state.jid);
        state.joined = false;
        state.leaving?.();
        this.#emit("left", { room: state.jid, statuses });
        return;
      }
      const occupant = state.occupants.get(p.nick);
      if (occupant === undefined) return;
      state.occupants.delete(p.nick);
      this.#emit("occupant", { room: state.jid, kind: "left", occupant, initial: !state.joined, statuses });
      return;
    }
    const occupant: Occupant = {
      nick: p.nick,
      jid: p.item?.jid,
      affiliation: p.item?.affiliation,
      role: p.item?.role,
      self,
    };
    const known = state.occupants.has(p.nick);
    state.occupants.set(p.nick, occupant);
    if (self) {
      state.nick = p.nick; // the room may have changed it (210)
      if (p.statuses.has(100)) state.nonAnonymous = true;
      if (state.pending !== undefined) {
        const pending = state.pending;
        state.pending = undefined;
        state.joined = true;
        pending.resolve(p.statuses);
      }
      return;
    }
    if (!known) this.#emit("occupant", { room: state.jid, kind: "joined", occupant, initial: !state.joined, statuses });
  }

  async #onMessage(stanza: Element): Promise<void> {
    const from = attr(stanza, "from");
    if (from === undefined) return;
    const type = attr(stanza, "type");
    const { bare: room, resource: nick } = splitJid(from);
    if (type === "error") return;
    if (type !== "groupchat") {
      const announced = nick === undefined ? this.#rooms.get(room) : undefined;
      if (announced !== undefined) this.#onAffiliationAnnouncement(announced, stanza);
      this.#onInvite(stanza, room);
      return;
    }
    const state = this.#rooms.get(room);
    if (state === undefined) return;
    if (nick === undefined) {
      this.#onRoomStatus(state, stanza);
      return;
    }
    const encrypted = stanza.getChild("encrypted", NS_V2) ?? stanza.getChild("encrypted", NS_LEGACY);
    if (encrypted === undefined) {
      const body = stanza.getChildText("body");
      if (body !== null && stanza.getChild("subject") === undefined) this.#emit("unencrypted", { room, nick, body });
      return;
    }
    const id = attr(stanza, "id");
    const originId = stanza.getChild("origin-id", NS_SID);
    const ids = [id, originId === undefined ? undefined : attr(originId, "id")].filter(
      (v): v is string => v !== undefined,
    );
    if (nick === state.nick) {
      const ours = ids.find((i) => state.sent.has(i));
      if (ours !== undefined) {
        state.sent.delete(ours);
        this.#emit("reflected", { room, id: ours });
        return;
      }
    }
    const delayed = stanza.getChild("delay", NS_DELAY) !== undefined;
    const realJid = this.#realJid(state, nick, stanza, delayed);
    if (realJid === undefined) {
      this.#emit("error", {
        room,
        nick,
        code: "UNKNOWN_OCCUPANT",
        message: "a message from an occupant whose real JID we do not know",
      });
      return;
    }
    const own = splitJid(realJid).bare === splitJid(this.account.jid).bare;
    try {
      const result = await this.account.omemo.decrypt(stanza, { from: splitJid(realJid).bare });
      if (result.kind !== "message") return;
      this.#emit("message", {
        room,
        nick,
        from: result.from,
        namespace: result.namespace,
        deviceId: result.deviceId,
        body: result.body,
        trust: result.trust,
        id: ids[ids.length - 1] ?? id,
        delayed,
      });
    } catch (e) {
      if (isOmemoError(e, "DUPLICATE_MESSAGE")) return; // a replay (history, archive): not news
      // Our own message from this device (reflected after a restart forgot its id): nothing to read.
      if (own && isOmemoError(e, "NO_KEY_FOR_US")) return;
      this.#emitError(room, nick, e);
    }
  }

  /** The occupant's real JID: from the room's presence, or for history the `<x><item jid>` the room adds. */
  #realJid(state: RoomState, nick: string, stanza: Element, delayed: boolean): string | undefined {
    const embedded = state.nonAnonymous ? stanza.getChild("x", NS_MUC_USER)?.getChild("item") : undefined;
    const embeddedJid = embedded === undefined ? undefined : attr(embedded, "jid");
    const present = state.occupants.get(nick)?.jid;
    return delayed ? (embeddedJid ?? present) : (present ?? embeddedJid);
  }

  #onRoomStatus(state: RoomState, stanza: Element): void {
    const x = stanza.getChild("x", NS_MUC_USER);
    if (x === undefined) return;
    const statuses = x
      .getChildren("status")
      .map((s) => Number(attr(s, "code")))
      .filter((c) => Number.isInteger(c));
    if (statuses.includes(172)) state.nonAnonymous = true;
    if (statuses.includes(173) || statuses.includes(174)) state.nonAnonymous = false;
    if (statuses.some((c) => c === 104 || c === 172 || c === 173 || c === 174)) {
      this.#emit("config", { room: state.jid, nonAnonymous: state.nonAnonymous, statuses });
      if (statuses.includes(104)) {
        void Promise.all([this.#refreshInfo(state), this.#refreshMembers(state)]).then(() => {
          this.#emit("config", { room: state.jid, nonAnonymous: state.nonAnonymous, statuses: [] });
        });
      }
    }
  }

  /** An affiliation change of someone not in the room (XEP-0045 §9.3, example 195 of v1.31.2). */
  #onAffiliationAnnouncement(state: RoomState, stanza: Element): void {
    for (const item of stanza.getChild("x", NS_MUC_USER)?.getChildren("item") ?? []) {
      const jid = attr(item, "jid");
      const affiliation = attr(item, "affiliation");
      if (jid !== undefined && affiliation !== undefined) noteAffiliation(state, jid, affiliation);
    }
  }

  #onInvite(stanza: Element, fromBare: string): void {
    const x = stanza.getChild("x", NS_MUC_USER);
    const invite = x?.getChild("invite");
    if (x !== undefined && invite !== undefined) {
      if (!isRoomJid(fromBare)) return;
      const inviter = attr(invite, "from");
      this.#emit("invite", {
        room: fromBare,
        from: inviter === undefined ? undefined : splitJid(inviter).bare,
        reason: invite.getChildText("reason") ?? undefined,
        password: x.getChildText("password") ?? undefined,
        kind: "mediated",
      });
      return;
    }
    const direct = stanza.getChild("x", NS_CONFERENCE);
    const room = direct === undefined ? undefined : attr(direct, "jid");
    if (direct !== undefined && room !== undefined && isRoomJid(splitJid(room).bare)) {
      this.#emit("invite", {
        room: splitJid(room).bare,
        from: fromBare,
        reason: attr(direct, "reason"),
        password: attr(direct, "password"),
        kind: "direct",
      });
    }
  }

  #emit<K extends keyof GroupChatEvents>(event: K, value: GroupChatEvents[K]): void {
    for (const l of this.#listeners.get(event) ?? []) {
      try {
        (l as Listener<GroupChatEvents[K]>)(value);
      } catch (e) {
        if (event !== "error") this.#emitError(undefined, undefined, e);
      }
    }
  }

  #emitError(room: string | undefined, nick: string | undefined, e: unknown): void {
    this.#emit("error", { room, nick, code: errorCode(e), message: errorMessage(e) });
  }
}
