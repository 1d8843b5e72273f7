/**
 * One XMPP account of parley-chat: an @xmpp/client connection and a @parley/omemo SessionManager on it.
 * It announces the device-list nodes with `+notify` in its entity capabilities (XEP-0115) so the server
 * sends PEP notifications (XEP-0163 §4), hands them to the session manager, decrypts incoming OMEMO
 * messages of either namespace and emits them; it never logs or prints a plaintext by itself.
 */
import { createHash } from "node:crypto";
import { client, xml, type Client } from "@xmpp/client";
import {
  decodeItems,
  isOmemoError,
  memoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  SessionManager,
  type DecryptResult,
  type Element,
  type EncryptResult,
  type OmemoNamespace,
  type OmemoStore,
  type TrustDecider,
} from "@parley/omemo";
import { omemoTransport } from "./transport.js";

const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_CAPS = "http://jabber.org/protocol/caps";
const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
const CAPS_NODE = "https://github.com/parley/parley-chat";
const IDENTITY = { category: "client", type: "pc", name: "parley-chat" };
const FEATURES = [
  NS_CAPS,
  NS_DISCO_INFO,
  "urn:xmpp:carbons:2",
  "urn:xmpp:eme:0",
  `${NS_LEGACY}.devicelist+notify`,
  `${NS_V2}:devices+notify`,
].sort();

/**
 * XEP-0115 §5.1 verification string of one identity (no xml:lang) and a feature list, without data
 * forms: base64(SHA-1("category/type//name<" + each sorted feature + "<")).
 */
export function capsVer(
  identity: { category: string; type: string; name: string } = IDENTITY,
  features: readonly string[] = FEATURES,
): string {
  const sorted = [...features].sort();
  const s = `${identity.category}/${identity.type}//${identity.name}<${sorted.map((f) => `${f}<`).join("")}`;
  return createHash("sha1").update(s, "utf8").digest("base64");
}

export interface ChatAccountOptions {
  /** e.g. "xmpp://127.0.0.1:5222" */
  readonly service: string;
  /** Bare JID of the account. */
  readonly jid: string;
  readonly password: string;
  readonly resource?: string;
  /** Default: in memory (the chat client passes an opened @parley/storage store). */
  readonly store?: OmemoStore;
  /** Default: trust every device (tests); the chat client passes its TOFU trust store. */
  readonly trust?: TrustDecider;
  readonly namespaces?: readonly OmemoNamespace[];
}

export interface IncomingMessage {
  readonly from: string;
  readonly namespace: OmemoNamespace;
  readonly deviceId: number;
  readonly body: string | undefined;
  readonly result: DecryptResult;
}

type Listener<T> = (value: T) => void;

export class ChatAccount {
  readonly jid: string;
  readonly xmpp: Client;
  readonly omemo: SessionManager;
  readonly #messages = new Set<Listener<IncomingMessage>>();
  readonly #errors = new Set<Listener<unknown>>();
  #queue: Promise<void> = Promise.resolve();

  private constructor(jid: string, xmpp: Client, omemo: SessionManager) {
    this.jid = jid;
    this.xmpp = xmpp;
    this.omemo = omemo;
  }

  /** Connects and publishes our OMEMO device and bundles (then call {@link online}). */
  static async connect(options: ChatAccountOptions): Promise<ChatAccount> {
    const [local, domain] = options.jid.split("@") as [string, string];
    const xmpp = client({
      service: options.service,
      domain,
      username: local,
      password: options.password,
      resource: options.resource ?? "parley-chat",
    });
    xmpp.on("error", () => {
      // reported through start() or the reconnect logic; the account's own errors go to onError
    });
    xmpp.iqCallee.get(NS_DISCO_INFO, "query", () =>
      xml(
        "query",
        { xmlns: NS_DISCO_INFO },
        xml("identity", IDENTITY),
        ...FEATURES.map((f) => xml("feature", { var: f })),
      ),
    );
    await xmpp.start();
    const omemo = await SessionManager.create({
      jid: options.jid,
      store: options.store ?? memoryOmemoStore(),
      transport: omemoTransport(xmpp),
      trust: options.trust ?? { decide: () => "trusted" },
      ...(options.namespaces ? { namespaces: options.namespaces } : {}),
    });
    const account = new ChatAccount(options.jid, xmpp, omemo);
    xmpp.on("stanza", (stanza) => {
      account.#onStanza(stanza);
    });
    return account;
  }

  /**
   * Initial presence with our capabilities: from now on the server delivers messages stored while we
   * were offline and PEP notifications. Attach `onMessage` listeners first.
   */
  async online(): Promise<void> {
    await this.xmpp.send(
      xml("presence", {}, xml("c", { xmlns: NS_CAPS, hash: "sha-1", node: CAPS_NODE, ver: capsVer() })),
    );
    // A round trip: once answered, the server has processed the presence (a session's stanzas are handled in
    // order), so messages to the bare JID reach this resource from now on.
    await this.xmpp.iqCaller.request(xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  }

  onMessage(listener: Listener<IncomingMessage>): () => void {
    this.#messages.add(listener);
    return () => this.#messages.delete(listener);
  }

  /** Failures to decrypt or to apply a notification (typed OmemoErrors); nothing of the stanza is included. */
  onError(listener: Listener<unknown>): () => void {
    this.#errors.add(listener);
    return () => this.#errors.delete(listener);
  }

  /** Encrypts `body` to every device of `to` (and our own other devices) and sends it. */
  send(to: string, body: string, options: { namespace?: OmemoNamespace } = {}): Promise<EncryptResult> {
    return this.omemo.send(to, { body }, options.namespace ? { namespaces: [options.namespace] } : {});
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.xmpp.stop();
  }

  /** Stanzas are handled one at a time, in arrival order (a notification before the message that needs it). */
  #onStanza(stanza: Element): void {
    this.#queue = this.#queue
      .then(() => this.#handle(stanza))
      .catch((e: unknown) => {
        this.#emitError(e);
      });
  }

  async #handle(stanza: Element): Promise<void> {
    if (stanza.name !== "message") return;
    const from = stanza.attrs["from"] as string | undefined;
    if (stanza.getChild("event", NS_PUBSUB_EVENT)) {
      if (from === undefined) return;
      const items = decodeItems(stanza);
      await this.omemo.handlePubsubEvent(from, items.node, items.items);
      return;
    }
    if (!stanza.getChild("encrypted", NS_V2) && !stanza.getChild("encrypted", NS_LEGACY)) return;
    // Group chat messages (room@service/nick) belong to GroupChats (src/muc.ts): they need the occupant's real JID.
    if (stanza.attrs["type"] === "groupchat") return;
    try {
      const result = await this.omemo.decrypt(stanza);
      if (result.kind !== "message") return;
      const message: IncomingMessage = {
        from: result.from,
        namespace: result.namespace,
        deviceId: result.deviceId,
        body: result.body,
        result,
      };
      for (const l of this.#messages) l(message);
    } catch (e) {
      if (isOmemoError(e, "DUPLICATE_MESSAGE")) return; // an archive or carbon replay: not news
      this.#emitError(e);
    }
  }

  #emitError(e: unknown): void {
    for (const l of this.#errors) l(e);
  }
}
