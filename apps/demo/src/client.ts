/**
 * One device of one account, as a messenger app wires it: an encrypted @parley/storage store (SQLite)
 * holding the OMEMO state, the trust store and the OTR key; @parley/trust as the OMEMO trust decider;
 * the @parley/omemo session manager and @parley/otr sessions over a connection to the router. The
 * protocol work is the packages'; this file only routes stanzas to them.
 */
import { join } from "node:path";
import {
  decodeItems,
  formatFingerprint,
  NS_LEGACY,
  NS_PUBSUB_EVENT,
  NS_V2,
  OmemoError,
  SessionManager,
  V2_DEVICES_NODE,
  LEGACY_DEVICE_LIST_NODE,
  type OmemoNamespace,
} from "@parley/omemo";
import { DsaPrivateKey, generateDsaKey, OtrSession, type OtrEvent } from "@parley/otr";
import { EncryptedStore, type CreateStoreOptions } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { createTrustStore, omemoTrustDecider, type TrustStorage, type TrustStore } from "@parley/trust";
import { attr, element, type Connection, type Router, type Stanza } from "./router.js";

/** Demo-cheap scrypt (1 MiB, a few ms). The package default is N = 2^17, r = 8, p = 2: 128 MiB, about half a second. */
export const DEMO_KDF: NonNullable<CreateStoreOptions["kdf"]> = { N: 2 ** 10, r: 8, p: 1, dkLen: 32 };

const NS_RECEIPTS = "urn:xmpp:receipts";
const NS_SID = "urn:xmpp:sid:0";

/** What a device did with one incoming OMEMO message. */
export interface Received {
  /** The sender's full JID. */
  readonly from: string;
  readonly namespace: OmemoNamespace | undefined;
  /** "message", "empty" (automatic key exchange completion and the like), or "error". */
  readonly kind: "message" | "empty" | "error";
  readonly body?: string;
  /** The trust decision for the sender's device: trusted, or undecided (read and marked). */
  readonly trust?: string;
  readonly newSession?: boolean;
  /** OmemoError code for kind "error". */
  readonly error?: string;
}

export const nsName = (ns: OmemoNamespace | undefined): string =>
  ns === NS_V2 ? "OMEMO 2" : ns === NS_LEGACY ? "legacy OMEMO" : "?";

export const shortFingerprint = (hex: string): string => `${formatFingerprint(hex).slice(0, 17)}…`;

/** A TrustStorage in the store's "trust" namespace, transactions included (a batch of first keys is atomic). */
function trustStorageIn(db: EncryptedStore): TrustStorage {
  const ns = db.namespace("trust");
  return {
    get: (key) => ns.get(key),
    put: (key, value) => ns.put(key, value),
    delete: (key) => ns.delete(key),
    scan: (options) => ns.scan(options),
    transaction: (fn) => db.transaction((tx) => fn(tx.namespace("trust"))),
  };
}

export class Client {
  readonly name: string;
  readonly fullJid: string;
  readonly jid: string;
  readonly path: string;
  readonly connection: Connection;
  readonly inbox: Received[] = [];
  readonly otrEvents: OtrEvent[] = [];
  readonly #receiptListeners = new Set<(from: string, id: string) => void>();
  /** Our OMEMO device id (kept while the app is down, for display). */
  deviceId = 0;
  #otr: { session: OtrSession; peer: string } | undefined;
  #db: EncryptedStore | undefined;
  #trust: TrustStore | undefined;
  #omemo: SessionManager | undefined;

  private constructor(router: Router, name: string, fullJid: string, path: string) {
    this.name = name;
    this.fullJid = fullJid;
    this.jid = fullJid.split("/")[0] ?? fullJid;
    this.path = path;
    this.connection = router.connect(fullJid, {
      notify: [V2_DEVICES_NODE, LEGACY_DEVICE_LIST_NODE],
      onStanza: (stanza) => this.#onStanza(stanza),
    });
  }

  /** A first start: a new encrypted store, then the OMEMO account (device id, keys, bundles published). */
  static async create(router: Router, dir: string, name: string, fullJid: string, passphrase: string): Promise<Client> {
    const client = new Client(router, name, fullJid, join(dir, `${fullJid.replace(/[@/]/g, "-")}.db`));
    client.connection.goOffline(); // until the app is ready
    const db = await EncryptedStore.create(await openSqliteBackend(client.path), { passphrase, kdf: DEMO_KDF });
    await client.attach(db);
    return client;
  }

  get db(): EncryptedStore {
    if (this.#db === undefined) throw new Error(`${this.name} is not running`);
    return this.#db;
  }
  get trust(): TrustStore {
    if (this.#trust === undefined) throw new Error(`${this.name} is not running`);
    return this.#trust;
  }
  get omemo(): SessionManager {
    if (this.#omemo === undefined) throw new Error(`${this.name} is not running`);
    return this.#omemo;
  }

  /** Runs the app on an opened store: trust store, session manager (loads or creates the account), online. */
  async attach(db: EncryptedStore): Promise<void> {
    this.#db = db;
    this.#trust = createTrustStore({ storage: trustStorageIn(db) });
    this.connection.comeOnline();
    this.#omemo = await SessionManager.create({
      jid: this.jid,
      store: db,
      transport: this.connection.transport,
      trust: omemoTrustDecider(this.#trust, this.jid),
    });
    this.deviceId = this.#omemo.deviceId;
  }

  /** The app quits: offline, store closed (keys wiped from memory). */
  async shutdown(): Promise<void> {
    this.connection.goOffline();
    await this.#db?.close();
    this.#db = undefined;
    this.#trust = undefined;
    this.#omemo = undefined;
  }

  /** Messages (not empty ones) this device read, and errors. */
  messages(): Received[] {
    return this.inbox.filter((r) => r.kind !== "empty");
  }

  onReceipt(listener: (from: string, id: string) => void): () => void {
    this.#receiptListeners.add(listener);
    return () => this.#receiptListeners.delete(listener);
  }

  /** Our OTR long-term DSA key: generated once, kept in the encrypted store. */
  async otrKey(): Promise<DsaPrivateKey> {
    const ns = this.db.namespace("otr");
    const stored = await ns.get("dsa-key");
    if (stored !== undefined) return DsaPrivateKey.import(new TextDecoder().decode(stored));
    const key = generateDsaKey();
    await ns.put("dsa-key", new TextEncoder().encode(key.export()));
    return key;
  }

  /** An OTR session with `peer` (a full JID: OTR talks to one client of the contact). */
  async startOtr(peer: string): Promise<OtrSession> {
    const session = new OtrSession({
      account: this.jid,
      contact: peer.split("/")[0] ?? peer,
      privateKey: await this.otrKey(),
    });
    this.#otr = { session, peer };
    return session;
  }

  /** Sends what an OTR call returned, each line in its own `<message>` to the peer's full JID. */
  async sendOtr(lines: readonly string[]): Promise<void> {
    const otr = this.#otr;
    if (otr === undefined) throw new Error("no OTR session");
    for (const line of lines) {
      const message = element("message", { to: otr.peer, type: "chat" });
      message.c("body").t(line);
      message.c("private", { xmlns: "urn:xmpp:carbons:2" }); // one client's conversation: no carbon copies
      await this.connection.send(message);
    }
  }

  /**
   * Everything secret this device holds that must never be printed: the passphrase is the caller's;
   * here the OMEMO identity seed and prekey private keys (as the store keeps them) and the OTR DSA key.
   */
  async secrets(): Promise<string[]> {
    const out: string[] = [];
    const walk = (value: unknown): void => {
      if (typeof value !== "object" || value === null) return;
      for (const [k, v] of Object.entries(value)) {
        if ((k === "seed" || k === "privateKey" || k === "x") && typeof v === "string") out.push(v);
        else walk(v);
      }
    };
    const omemo = this.db.namespace("omemo");
    const records = [await omemo.get("account"), ...(await omemo.scan({ prefix: "prekeys/" })).map((e) => e.value)];
    const otrKey = await this.db.namespace("otr").get("dsa-key");
    for (const bytes of [...records, otrKey]) {
      if (bytes === undefined) continue;
      try {
        walk(JSON.parse(new TextDecoder().decode(bytes)));
      } catch {
        // not a JSON record
      }
    }
    return out;
  }

  async #onStanza(stanza: Stanza): Promise<void> {
    const from = attr(stanza, "from") ?? "";
    const event = stanza.getChild("event", NS_PUBSUB_EVENT);
    if (event !== undefined) {
      const items = decodeItems(stanza);
      await this.#omemo?.handlePubsubEvent(from, items.node, items.items);
      return;
    }
    const receipt = stanza.getChild("received", NS_RECEIPTS);
    if (receipt !== undefined) {
      for (const listener of this.#receiptListeners) listener(from, attr(receipt, "id") ?? "");
      return;
    }
    if (stanza.getChild("encrypted", NS_V2) !== undefined || stanza.getChild("encrypted", NS_LEGACY) !== undefined) {
      await this.#onOmemo(stanza, from);
      return;
    }
    const body = stanza.getChildText("body");
    if (body !== null && this.#otr !== undefined && from === this.#otr.peer) {
      const { events, replies } = this.#otr.session.receive(body);
      this.otrEvents.push(...events);
      await this.sendOtr(replies);
    }
  }

  async #onOmemo(stanza: Stanza, from: string): Promise<void> {
    if (this.#omemo === undefined) return;
    try {
      const r = await this.#omemo.decrypt(stanza);
      this.inbox.push({
        from,
        namespace: r.namespace,
        kind: r.kind,
        ...(r.body === undefined ? {} : { body: r.body }),
        trust: r.trust,
        newSession: r.newSession,
      });
      // XEP-0184: acknowledge what the sender asked a receipt for (not our own copies).
      const id = attr(stanza, "id");
      if (stanza.getChild("request", NS_RECEIPTS) !== undefined && id !== undefined && r.from !== this.jid) {
        const ack = element("message", { to: from });
        ack.c("received", { xmlns: NS_RECEIPTS, id });
        await this.connection.send(ack);
      }
    } catch (error) {
      // An automatic empty message (no payload: key exchange completion, heartbeat) goes to the whole
      // account, or reaches us as a carbon copy of one our other device sent: one without a key for us is
      // for another device, nothing to show.
      const encrypted = stanza.getChild("encrypted", NS_V2) ?? stanza.getChild("encrypted", NS_LEGACY);
      const empty = encrypted?.getChild("payload") === undefined;
      if (error instanceof OmemoError && error.code === "NO_KEY_FOR_US" && empty) return;
      const ns = stanza.getChild("encrypted", NS_V2) === undefined ? NS_LEGACY : NS_V2;
      this.inbox.push({
        from,
        namespace: ns,
        kind: "error",
        error: error instanceof OmemoError ? error.code : String(error),
      });
    }
  }
}

/** `<origin-id xmlns='urn:xmpp:sid:0' id='…'/>` (XEP-0359). */
export function originId(id: string): Stanza {
  return element("origin-id", { xmlns: NS_SID, id });
}
