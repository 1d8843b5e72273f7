/**
 * An in-memory XMPP-like server for the demo: accounts with resources, a PEP service per account
 * (XEP-0163, publish-options honoured), message routing to online resources with carbon copies to the
 * sender's other resources (XEP-0280), and offline storage delivered when a resource comes back.
 *
 * Everything crosses it as XML text: clients serialize with @parley/omemo's codec, the router parses
 * what it receives, and each client parses what it is handed, as with a real server. Not a server:
 * no presence, no rosters, no authentication, one process.
 */
import {
  bareJid,
  decodeItems,
  decodeItemsRequest,
  decodePublish,
  encodeItem,
  encodeItemsRequest,
  encodePublish,
  NS_PUBSUB,
  NS_PUBSUB_EVENT,
  parseXml,
  serializeXml,
  type OmemoTransport,
  type PublishOptions,
} from "@parley/omemo";

/** An XML element as @parley/omemo's codec produces and parses it (ltx). */
export type Stanza = ReturnType<typeof parseXml>;

/** A string attribute of an element, or undefined. */
export function attr(element: Stanza, name: string): string | undefined {
  const value: unknown = element.attrs[name];
  return typeof value === "string" ? value : undefined;
}

/** A new element, `<name attrs…/>`, built without string templates (the codec escapes on output). */
export function element(name: string, attrs: Record<string, string> = {}): Stanza {
  const e = parseXml(`<${name}/>`);
  for (const [k, v] of Object.entries(attrs)) e.attrs[k] = v;
  return e;
}

const NS_CARBONS = "urn:xmpp:carbons:2";

interface Resource {
  readonly jid: string;
  online: boolean;
  /** PEP nodes this client wants notifications of (XEP-0163 +notify). */
  readonly notify: ReadonlySet<string>;
  readonly onStanza: (stanza: Stanza) => Promise<void>;
  /** Fail this many of the client's next message sends (a dropped link: no acknowledgement). */
  failSends: number;
}

interface PepNode {
  options: PublishOptions;
  /** item id → payload XML, in publication order. */
  readonly items: Map<string, string>;
}

interface Account {
  readonly resources: Map<string, Resource>;
  readonly pep: Map<string, PepNode>;
  /** Messages for the account while no resource was online (XML). */
  readonly offline: string[];
}

/** A client's connection: its OMEMO transport, message sending, and going offline and back. */
export interface Connection {
  readonly jid: string;
  /** What @parley/omemo's SessionManager needs: PEP publish and fetch as `<iq>`s, and `<message>` sending. */
  readonly transport: OmemoTransport;
  /** Sends a `<message>`; resolves when the server accepted it (XEP-0198 ack), throws if the link dropped. */
  send(message: Stanza): Promise<void>;
  readonly online: boolean;
  goOffline(): void;
  /** Back online: the server hands over the account's offline messages. */
  comeOnline(): void;
  /** Drop the link for the next `count` message sends. */
  failNextSends(count: number): void;
}

export class Router {
  readonly #accounts = new Map<string, Account>();
  readonly #queue: Array<{ to: Resource; xml: string; storable: boolean }> = [];
  #pumping: Promise<void> | undefined;
  #nextId = 1;
  /** Every stanza that crossed the router, as XML text, in order (for the wire sample and counts). */
  readonly wire: string[] = [];
  /** Errors thrown by client handlers (a client bug; the server goes on). */
  readonly handlerErrors: unknown[] = [];

  connect(
    fullJid: string,
    options: { notify?: readonly string[]; onStanza: (stanza: Stanza) => Promise<void> },
  ): Connection {
    const account = this.#account(fullJid);
    const resource: Resource = {
      jid: fullJid,
      online: true,
      notify: new Set(options.notify ?? []),
      onStanza: options.onStanza,
      failSends: 0,
    };
    account.resources.set(fullJid, resource);
    // An <iq> round trip: the request and the response cross as XML text.
    const iq = async (type: "get" | "set", to: string | undefined, payload: Stanza): Promise<Stanza> => {
      await Promise.resolve(); // answered in a later turn, as over a network
      if (!resource.online) throw new Error("not connected");
      const request = element("iq", { type, id: `iq${this.#nextId++}`, ...(to === undefined ? {} : { to }) });
      request.cnode(payload);
      return parseXml(this.#log(this.#iq(resource, this.#log(serializeXml(request)))));
    };
    const transport: OmemoTransport = {
      publish: async (node, itemId, payload, publishOptions) => {
        const response = await iq(
          "set",
          undefined,
          encodePublish({ node, item: { id: itemId, payload }, options: publishOptions }),
        );
        if (attr(response, "type") !== "result") throw new Error("PEP publish refused");
      },
      fetch: async (jid, node, itemId) => {
        const request = encodeItemsRequest({ node, ...(itemId === undefined ? {} : { itemIds: [itemId] }) });
        const response = await iq("get", jid, request);
        if (attr(response, "type") !== "result") return null; // item-not-found
        const items = decodeItems(response).items.flatMap((i) => (i.payload === undefined ? [] : [i.payload]));
        return items.length === 0 ? null : items;
      },
      send: (to, message) => this.#send(resource, to, message),
    };
    return {
      jid: fullJid,
      transport,
      send: (message) => this.#send(resource, attr(message, "to") ?? "", message),
      get online() {
        return resource.online;
      },
      goOffline: () => {
        resource.online = false;
      },
      comeOnline: () => {
        resource.online = true;
        for (const xml of account.offline.splice(0)) this.#enqueue(resource, xml, true);
      },
      failNextSends: (count) => {
        resource.failSends = count;
      },
    };
  }

  /** Messages waiting in `jid`'s offline storage. */
  offlineCount(jid: string): number {
    return this.#account(jid).offline.length;
  }

  /** Resolves once every stanza in flight was handed over (and whatever that caused, too). */
  async idle(): Promise<void> {
    while (this.#pumping !== undefined) await this.#pumping;
  }

  #account(jid: string): Account {
    const key = bareJid(jid);
    let account = this.#accounts.get(key);
    if (account === undefined) {
      account = { resources: new Map(), pep: new Map(), offline: [] };
      this.#accounts.set(key, account);
    }
    return account;
  }

  #log(xml: string): string {
    this.wire.push(xml);
    return xml;
  }

  /** PEP: publish to the sender's own account, or read anyone's node (open access model only). */
  #iq(from: Resource, xml: string): string {
    const request = parseXml(xml);
    const reply = element("iq", { id: attr(request, "id") ?? "", to: from.jid });
    const owner = bareJid(attr(request, "to") ?? from.jid);
    if (attr(request, "type") === "set") {
      const publish = decodePublish(request);
      const id = publish.item.id ?? `item${this.#nextId++}`;
      const pep = this.#account(owner).pep;
      const node = pep.get(publish.node) ?? { options: {}, items: new Map<string, string>() };
      pep.set(publish.node, node);
      node.options = { ...node.options, ...publish.options }; // publish-options configure the node
      // A PEP node keeps one item unless `pubsub#max_items` says more (OMEMO 2's bundles node: "max").
      if (node.options["pubsub#max_items"] !== "max") node.items.clear();
      node.items.delete(id);
      node.items.set(id, publish.item.payload === undefined ? "" : serializeXml(publish.item.payload));
      this.#notify(from, owner, publish.node, id, node.items.get(id) ?? "");
      reply.attrs["type"] = "result";
      return serializeXml(reply);
    }
    const request_ = decodeItemsRequest(request);
    const node = this.#account(owner).pep.get(request_.node);
    const open = node?.options["pubsub#access_model"] === "open" || bareJid(from.jid) === owner;
    const ids = request_.itemIds ?? [...(node?.items.keys() ?? [])];
    const found = ids.flatMap((id) => {
      const payload = node?.items.get(id);
      return payload === undefined || payload === "" ? [] : [{ id, payload: parseXml(payload) }];
    });
    if (node === undefined || !open || found.length === 0) {
      reply.attrs["type"] = "error";
      reply.c("error", { type: "cancel" }).c("item-not-found", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" });
      return serializeXml(reply);
    }
    reply.attrs["type"] = "result";
    const items = reply.c("pubsub", { xmlns: NS_PUBSUB }).c("items", { node: request_.node });
    for (const item of found) items.cnode(encodeItem(item));
    return serializeXml(reply);
  }

  /** A PEP notification to every online resource that asked for this node (+notify). */
  #notify(publisher: Resource, owner: string, node: string, id: string, payload: string): void {
    for (const account of this.#accounts.values()) {
      for (const resource of account.resources.values()) {
        if (resource === publisher || !resource.online || !resource.notify.has(node)) continue;
        const message = element("message", { from: owner, to: resource.jid, type: "headline" });
        const items = message.c("event", { xmlns: NS_PUBSUB_EVENT }).c("items", { node });
        items.cnode(encodeItem({ id, ...(payload === "" ? {} : { payload: parseXml(payload) }) }));
        this.#enqueue(resource, this.#log(serializeXml(message)), false);
      }
    }
  }

  /**
   * Routes a `<message>`: to a full JID, that resource if online; to a bare JID, every online
   * resource; nobody online: offline storage. Chat messages are copied to the sender's other online
   * resources (carbons), unless marked `<private xmlns='urn:xmpp:carbons:2'/>`.
   */
  #send(from: Resource, to: string, message: Stanza): Promise<void> {
    if (!from.online) return Promise.reject(new Error("not connected"));
    if (from.failSends > 0) {
      from.failSends--;
      return Promise.reject(new Error("the link dropped before the server acknowledged the stanza"));
    }
    const stanza = parseXml(serializeXml(message));
    stanza.attrs["from"] = from.jid;
    stanza.attrs["to"] = to;
    const xml = this.#log(serializeXml(stanza));
    const account = this.#account(to);
    const exact = account.resources.get(to);
    const targets = exact?.online === true ? [exact] : [...account.resources.values()].filter((r) => r.online);
    if (targets.length === 0) account.offline.push(xml);
    for (const r of targets) this.#enqueue(r, xml, true);
    const isPrivate = stanza.getChild("private", NS_CARBONS) !== undefined;
    if (attr(stanza, "type") === "chat" && !isPrivate) {
      for (const r of this.#account(from.jid).resources.values()) {
        if (r !== from && r.online && !targets.includes(r)) this.#enqueue(r, xml, false);
      }
    }
    return Promise.resolve();
  }

  #enqueue(to: Resource, xml: string, storable: boolean): void {
    this.#queue.push({ to, xml, storable });
    this.#pumping ??= this.#pump();
  }

  async #pump(): Promise<void> {
    await Promise.resolve(); // hand over after the sender's call returned, like a network would
    for (let next = this.#queue.shift(); next !== undefined; next = this.#queue.shift()) {
      if (!next.to.online) {
        // Gone meanwhile: a message for the account waits in offline storage; notifications and copies are dropped.
        if (next.storable) this.#account(next.to.jid).offline.push(next.xml);
        continue;
      }
      try {
        await next.to.onStanza(parseXml(next.xml));
      } catch (error) {
        this.handlerErrors.push(error);
      }
    }
    this.#pumping = undefined;
  }
}
