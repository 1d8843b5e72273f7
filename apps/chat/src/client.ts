/**
 * ChatClient: everything parley-chat does, behind the commands and events of src/protocol.ts. It wires
 * the packages together and keeps no protocol logic of its own:
 *
 * - the account (src/account.ts: XMPP, roster, carbons, archive, receipts, OMEMO through @parley/omemo),
 * - OTR (src/otr.ts over @parley/otr), group chats (src/muc.ts), files (src/files.ts),
 * - the outgoing queue (@parley/queue) with OMEMO, OTR and (only where the contact's default says so)
 *   plaintext providers,
 * - the profile (src/profile.ts: @parley/storage's encrypted store, @parley/trust's TOFU trust store).
 *
 * The readline UI, `--json` and the WebSocket API all call {@link ChatClient.execute} and listen to
 * {@link ChatClient.on}. Every state lives in the profile's store: a restart goes on where it stopped.
 */
import { existsSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { xml } from "@xmpp/client";
import {
  isOmemoError,
  NS_LEGACY,
  NS_V2,
  type Element,
  type OmemoNamespace,
  type SessionManager,
  wrapMessage,
} from "@parley/omemo";
import { isOtrError } from "@parley/otr";
import {
  isQueueError,
  openQueue,
  realTimers,
  type EncryptionProvider,
  type Queue,
  type TransportEvent,
} from "@parley/queue";
import { encryptedQueueStore } from "@parley/queue/storage";
import { isStorageError } from "@parley/storage";
import { formatFingerprint, isTrustError, omemoTrustDecider, type TrustStore } from "@parley/trust";
import { ChatAccount, isChatAccountError, type IncomingMessage, type StanzaFate } from "./account.js";
import {
  discoverUploadService,
  isFileMessage,
  isFileTransferError,
  receiveFile,
  sendFile,
  type UploadService,
} from "./files.js";
import { GroupChats, isGroupChatError } from "./muc.js";
import { isOtrChatError, OtrChat } from "./otr.js";
import { StoredDuplicateFilter } from "./duplicates.js";
import { isProfileError, type Profile } from "./profile.js";
import { fingerprintUri, isShareError, parseFingerprintUri, renderQr } from "./share.js";
import {
  isProtocolError,
  PROTOCOL_VERSION,
  type ChatEvent,
  type Command,
  type Encryption,
  type ErrorInfo,
} from "@parley/sdk";

export interface ChatClientOptions {
  /** e.g. "xmpp://127.0.0.1:5222" */
  readonly service: string;
  /** Bare JID of the account. */
  readonly jid: string;
  readonly password: string;
  readonly resource?: string;
  /** The opened profile (its store holds every state; the client does not close it). */
  readonly profile: Profile;
  /** `host:port`s whose upload slots may be fetched over plain http (a test server on loopback). */
  readonly insecureHttpHosts?: readonly string[];
  /** Approve every subscription request (bots). */
  readonly autoApprove?: boolean;
}

export type ChatClientErrorCode =
  | "INVALID_ARGUMENT"
  | "CONTACT_OFFLINE"
  | "NOT_FOUND"
  | "NO_UPLOAD_SERVICE"
  /** OMEMO is off for this device (`/omemo off`): nothing is sent with it until `/omemo on`. */
  | "OMEMO_OFF";

export class ChatClientError extends Error {
  override readonly name = "ChatClientError";
  readonly code: ChatClientErrorCode;
  constructor(code: ChatClientErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const NAMESPACE_OF: Record<string, OmemoNamespace> = { omemo2: NS_V2, legacy: NS_LEGACY };
const NS_SID = "urn:xmpp:sid:0";
const NS_RECEIPTS = "urn:xmpp:receipts";
const NS_MARKERS = "urn:xmpp:chat-markers:0";
const NS_HINTS = "urn:xmpp:hints";
/** How long the OTR provider waits for the AKE (the queue's own negotiation timeout is longer). */
const OTR_AKE_TIMEOUT_MS = 20_000;

/** The error as the protocol reports it: a code, the package's code, and a message without secrets. */
export function describeError(e: unknown): ErrorInfo {
  if (isProtocolError(e)) return { code: e.code, message: e.message };
  const typed =
    isOmemoError(e) ||
    isOtrChatError(e) ||
    isOtrError(e) ||
    isTrustError(e) ||
    isQueueError(e) ||
    isStorageError(e) ||
    isProfileError(e) ||
    isGroupChatError(e) ||
    isFileTransferError(e) ||
    isShareError(e) ||
    isChatAccountError(e) ||
    e instanceof ChatClientError;
  if (typed) {
    const err = e as Error & { code: string };
    return { code: "FAILED", detail: err.code, message: err.message };
  }
  // A foreign error (the network, the XMPP library): its message names what failed, not our content.
  return { code: "FAILED", detail: "ERROR", message: e instanceof Error ? e.message : "unexpected failure" };
}

const encryptionOf = (ns: OmemoNamespace): Encryption => (ns === NS_V2 ? "omemo2" : "legacy");
const bareOf = (jid: string): string => {
  const slash = jid.indexOf("/");
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
};

export class ChatClient {
  readonly jid: string;
  readonly account: ChatAccount;
  readonly otr: OtrChat;
  readonly groups: GroupChats;
  readonly queue: Queue;
  readonly profile: Profile;
  readonly #listeners = new Set<(event: ChatEvent) => void>();
  readonly #transportListeners: Set<(event: TransportEvent) => void>;
  /** Origin-ids seen per sender (the queue's DEDUP_CAPACITY), kept in the profile's store across restarts. */
  readonly #duplicates: StoredDuplicateFilter;
  /** What #transmit put on the wire for a queued message ("omemo2", "legacy", "omemo" for both, "otr", "none"). */
  readonly #onWire = new Map<string, string>();
  /** Messages the queue sent before their history entry was written (the entry then says so at once). */
  readonly #sentBeforeRecorded = new Map<string, string>();
  /** Writes of the queue's messages to the history, one at a time: an entry is written before it is corrected. */
  #historyWrites: Promise<unknown> = Promise.resolve();
  readonly #insecureHttpHosts: readonly string[];
  #upload: Promise<UploadService | undefined> | undefined;
  /** The user's choice of OMEMO for this device, kept in the profile (`/omemo off`, `/omemo on`). */
  #omemoEnabled: boolean;
  #closed = false;

  private constructor(
    options: ChatClientOptions,
    account: ChatAccount,
    otr: OtrChat,
    groups: GroupChats,
    queue: Queue,
    transportListeners: Set<(event: TransportEvent) => void>,
    duplicates: StoredDuplicateFilter,
    omemoEnabled: boolean,
  ) {
    this.#omemoEnabled = omemoEnabled;
    this.#transportListeners = transportListeners;
    this.#duplicates = duplicates;
    this.jid = options.jid.toLowerCase();
    this.profile = options.profile;
    this.account = account;
    this.otr = otr;
    this.groups = groups;
    this.queue = queue;
    this.#insecureHttpHosts = options.insecureHttpHosts ?? [];
  }

  /**
   * Connects, publishes our OMEMO devices and opens the queue. Attach listeners ({@link on}), then call
   * {@link online}: messages stored while we were away and the archive's come after it. With OMEMO off
   * (the user's choice, kept in the profile) nothing here publishes: the session manager keeps its own
   * mark, and parley-chat never calls `publishOwnDevice` but for `/omemo on`.
   */
  static async start(options: ChatClientOptions): Promise<ChatClient> {
    const { profile } = options;
    const jid = options.jid.toLowerCase();
    const omemoEnabled = await profile.omemoEnabled();
    const account = await ChatAccount.connect({
      service: options.service,
      jid,
      password: options.password,
      ...(options.resource === undefined ? {} : { resource: options.resource }),
      store: profile.db,
      trust: omemoTrustDecider(profile.trust, jid),
      state: {
        get: async (key) => {
          const v = await profile.db.namespace("account").get(key);
          return v === undefined ? undefined : new TextDecoder().decode(v);
        },
        set: (key, value) => profile.db.namespace("account").put(key, new TextEncoder().encode(value)),
      },
      ...(options.autoApprove === undefined ? {} : { autoApprove: options.autoApprove }),
    });
    let otr: OtrChat | undefined;
    let groups: GroupChats | undefined;
    try {
      otr = await OtrChat.create({ xmpp: account.xmpp, jid, store: profile.db.namespace("otr"), trust: profile.trust });
      groups = new GroupChats(account);
      // The queue's transport and providers call into the client, which exists once the queue is open:
      // they wait for `clientReady`, resolved right after.
      let resolveClient!: (c: ChatClient) => void;
      const clientReady = new Promise<ChatClient>((resolve) => (resolveClient = resolve));
      const duplicates = await StoredDuplicateFilter.open(profile.db, {
        onError: (e) => {
          void clientReady.then((c) => {
            c.#emitError(e);
          });
        },
      });
      const transportListeners = new Set<(event: TransportEvent) => void>();
      const queue = await openQueue({
        account: jid,
        store: encryptedQueueStore(profile.db),
        policy: profile.trust,
        allowPlaintext: true, // only for contacts whose default the user set to "none"
        timers: realTimers(),
        providers: {
          omemo: omemoProvider(clientReady),
          otr: otrProvider(clientReady),
        },
        transport: {
          // Online with this session's stream management settled: what goes out is tracked (XEP-0198).
          isOnline: () => account.readyToSend,
          subscribe: (listener) => {
            transportListeners.add(listener);
            return () => transportListeners.delete(listener);
          },
          // Sent once the server acknowledged every stanza of the message (XEP-0198), or once written
          // when it offers no stream management; a stream lost before that is a transient "offline"
          // (the queue tries again with the same origin-id, which the receiver deduplicates).
          send: async (stanza, signal) => {
            const fates = await (
              await clientReady
            ).#transmit(stanza.to, stanza.originId, stanza.method, stanza.payload, signal);
            return fates.includes("lost") ? { ok: false, transient: true, reason: "offline" } : { ok: true };
          },
        },
      });
      // Before anything is sent (the transport waits for the client): history entries of messages a
      // previous run sent without correcting them (it stopped in between) are corrected now.
      await settleUnsentHistory(profile, queue).catch(() => undefined);
      const client = new ChatClient(options, account, otr, groups, queue, transportListeners, duplicates, omemoEnabled);
      resolveClient(client);
      client.#wire();
      return client;
    } catch (e) {
      await groups?.close().catch(() => undefined);
      await otr?.close().catch(() => undefined);
      await account.close().catch(() => undefined);
      throw e;
    }
  }

  /** Initial presence: the server delivers what waited for us; then the archive catch-up. */
  async online(): Promise<void> {
    await this.account.online();
  }

  on(listener: (event: ChatEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The `ready` event's content. */
  readyEvent(): Extract<ChatEvent, { event: "ready" }> {
    return {
      event: "ready",
      version: PROTOCOL_VERSION,
      jid: this.jid,
      deviceId: this.account.omemo.deviceId,
      fingerprint: this.account.omemo.fingerprint,
    };
  }

  /** Whether OMEMO is on for this device (the user's choice: `/omemo off`, `/omemo on`). */
  get omemoEnabled(): boolean {
    return this.#omemoEnabled;
  }

  /** Runs one command; resolves with its result (JSON-serialisable) or rejects with a typed error. */
  async execute(command: Command): Promise<unknown> {
    const trust = this.profile.trust;
    switch (command.cmd) {
      case "omemo":
        await this.#switchOmemo(command.enabled);
        return { omemo: this.#omemoEnabled ? "on" : "off", deviceId: this.account.omemo.deviceId };
      case "send": {
        if (command.namespace !== undefined) {
          this.#requireOmemo();
          // A pinned OMEMO namespace goes out at once (not through the queue, which follows the contact's default).
          const r = await this.account.send(command.to, command.body, { namespace: NAMESPACE_OF[command.namespace]! });
          await this.#record(command.to, "out", this.jid, command.body, command.namespace);
          return { devices: r.devices.map((d) => ({ jid: d.jid, deviceId: d.deviceId, status: d.status })) };
        }
        const id = await this.queue.send(command.to, command.body);
        // The message is queued (and stored): whatever fails from here is reported, and the id returned,
        // so that nobody sends it a second time (which would be a second message, with another origin-id).
        try {
          // The history shows the contact's default until the queue sent it, then what it went out with.
          const intended = (await trust.getContactSettings(this.jid, command.to)).defaultEncryption;
          const at = Date.now();
          await this.#historyWrite(async () => {
            const entry = {
              peer: bareOf(command.to),
              direction: "out" as const,
              from: this.jid,
              body: command.body,
              at,
            };
            const sent = this.#sentBeforeRecorded.get(id);
            this.#sentBeforeRecorded.delete(id);
            await this.profile.record(
              { ...entry, encryption: sent ?? intended },
              sent === undefined ? { messageId: id } : {},
            );
          });
        } catch (e) {
          this.#emitError(e);
        }
        return { id, state: this.queue.get(id)?.state ?? "queued" };
      }
      case "resend":
        await this.queue.resend(command.messageId);
        return { id: command.messageId, state: this.queue.get(command.messageId)?.state };
      case "cancel":
        await this.queue.cancel(command.messageId);
        return { id: command.messageId };
      case "queue":
        return this.queue
          .list()
          .filter((m) => m.state !== "delivered")
          .map((m) => ({ id: m.id, to: m.conversation, state: m.state, method: m.method, reason: m.reason }));
      case "history":
        return this.profile.history(command.peer, command.limit ?? 50);
      case "contacts": {
        const roster = await this.account.roster();
        return Promise.all(
          roster.map(async (item) => {
            const settings = await trust.getContactSettings(this.jid, item.jid);
            return {
              jid: item.jid,
              ...(item.name === undefined ? {} : { name: item.name }),
              subscription: item.subscription,
              online: this.account.presenceOf(item.jid).online,
              encryption: settings.defaultEncryption,
              muted: settings.muted,
            };
          }),
        );
      }
      case "add-contact":
        await this.account.subscribe(command.jid);
        return { jid: command.jid };
      case "approve":
        await this.account.approve(command.jid);
        return { jid: command.jid };
      case "remove-contact":
        await this.account.removeContact(command.jid);
        return { jid: command.jid };
      case "fingerprints":
        return command.jid === undefined ? this.#ownFingerprints() : this.#contactFingerprints(command.jid);
      case "verify": {
        const r = await trust.verify(this.jid, command.jid, command.protocol, command.fingerprint, {
          method: "fingerprint-compared",
        });
        return { jid: r.contact, protocol: r.protocol, fingerprint: r.fingerprint, state: r.state };
      }
      case "distrust": {
        const r = await trust.distrust(this.jid, command.jid, command.protocol, command.fingerprint, {
          method: "manual",
        });
        return { jid: r.contact, protocol: r.protocol, fingerprint: r.fingerprint, state: r.state };
      }
      case "share": {
        const uri = this.shareUri();
        return command.qr === true ? { uri, qr: await renderQr(uri) } : { uri };
      }
      case "scan": {
        // Conversations', Dino's, Monal's, Gajim's (omemo-sid-), Moxxy's (omemo2-sid-) and ChatSecure's
        // (otr-fingerprint) URIs: every fingerprint in it becomes verified for its JID.
        const parsed = parseFingerprintUri(command.uri);
        const contact = parsed.jid.toLowerCase();
        if (command.expectedContact !== undefined && contact !== command.expectedContact)
          throw new ChatClientError(
            "INVALID_ARGUMENT",
            `the code is for ${contact}, not for ${command.expectedContact}; nothing was verified`,
          );
        const action = { method: "qr" } as const;
        const records = [
          ...(await Promise.all(
            parsed.omemo.map((d) => trust.verify(this.jid, contact, "omemo", d.fingerprintHex, action)),
          )),
          ...(parsed.otr === undefined ? [] : [await trust.verify(this.jid, contact, "otr", parsed.otr, action)]),
        ];
        return records.map((r) => ({
          jid: r.contact,
          protocol: r.protocol,
          fingerprint: r.fingerprint,
          state: r.state,
        }));
      }
      case "set-encryption":
        return trust.setContactSettings(this.jid, command.jid, { defaultEncryption: command.encryption });
      case "mute":
        return trust.setContactSettings(this.jid, command.jid, { muted: command.muted });
      case "otr-start": {
        const peer = this.otrPeerFor(command.jid);
        await this.otr.start(peer);
        return { peer };
      }
      case "otr-end": {
        const peer = this.otrPeerFor(command.jid);
        await this.otr.end(peer);
        return { peer };
      }
      case "smp": {
        const peer = this.otrPeerFor(command.jid);
        await this.otr.smp(peer, command.secret, command.question);
        return { peer };
      }
      case "smp-answer": {
        const peer = this.otrPeerFor(command.jid);
        await this.otr.answerSmp(peer, command.secret);
        return { peer };
      }
      case "join": {
        const info = await this.groups.create(command.room, command.nick ?? this.jid.split("@")[0]!);
        return { room: info.room, created: info.created, nonAnonymous: info.nonAnonymous };
      }
      case "leave":
        await this.groups.leave(command.room);
        return { room: command.room };
      case "invite":
        await this.groups.invite(command.room, command.jid);
        return { room: command.room, jid: command.jid };
      case "room-send": {
        this.#requireOmemo();
        const r = await this.groups.send(command.room, command.body);
        await this.#record(command.room, "out", this.jid, command.body, "omemo");
        return { room: command.room, devices: r.devices.length };
      }
      case "send-file": {
        this.#requireOmemo();
        const service = await this.#uploadService();
        const sent = await sendFile(
          this.account,
          command.to,
          { path: command.path },
          {
            service,
            insecureHttpHosts: this.#insecureHttpHosts,
          },
        );
        await this.#record(command.to, "out", this.jid, `[file ${sent.uploadName}]`, "omemo");
        return { to: command.to, size: sent.size, uploadName: sent.uploadName };
      }
      case "files":
        return (await this.profile.db.media.list()).map((m) => ({
          mediaId: m.id,
          ...(m.name === undefined ? {} : { name: m.name }),
          size: m.size,
          at: m.createdAt,
        }));
      case "save-file": {
        const size = await this.#saveFile(command.mediaId, command.path);
        return { mediaId: command.mediaId, path: command.path, size };
      }
      case "delete-media":
        await this.profile.deleteAllMedia();
        return { deleted: true };
      case "change-passphrase":
        await this.profile.changePassphrase(command.current, command.next);
        return { changed: true };
      case "remember-passphrase":
        if (command.remember) {
          if (command.passphrase === undefined)
            throw new ChatClientError("INVALID_ARGUMENT", "remembering the passphrase needs it (passphrase)");
          await this.profile.rememberPassphrase(command.passphrase);
        } else {
          await this.profile.forgetPassphrase();
        }
        return { remembered: await this.profile.remembersPassphrase() };
      case "mark-read":
        await this.account.markDisplayed(command.jid, command.messageId);
        return { jid: command.jid, id: command.messageId };
      case "status":
        return {
          ...this.readyEvent(),
          event: undefined,
          otrFingerprint: this.otr.fingerprint,
          omemo: this.#omemoEnabled ? "on" : "off",
          online: this.account.xmpp.status === "online",
          pending: this.queue.list().filter((m) => m.state !== "delivered" && m.state !== "sent").length,
          remembersPassphrase: await this.profile.remembersPassphrase(),
        };
      case "quit":
        return { bye: true };
    }
  }

  /**
   * Turns OMEMO off for this device (it leaves our device lists, its bundles are retracted: contacts
   * stop encrypting to it, and nothing is sent with OMEMO from here) or back on (published again). The
   * choice is stored first, so that a failure half way (call it again to finish) or a restart keeps it.
   */
  async #switchOmemo(enabled: boolean): Promise<void> {
    await this.profile.setOmemoEnabled(enabled);
    this.#omemoEnabled = enabled;
    if (enabled) await this.account.omemo.publishOwnDevice({ reactivate: true });
    else await this.account.omemo.unpublishOwnDevice();
  }

  #requireOmemo(): void {
    if (!this.#omemoEnabled)
      throw new ChatClientError("OMEMO_OFF", "OMEMO is off for this device (/omemo on turns it back on)");
  }

  #ownFingerprints(): unknown {
    return {
      jid: this.jid,
      omemo: [
        {
          deviceId: this.account.omemo.deviceId,
          fingerprint: this.account.omemo.fingerprint,
          formatted: formatFingerprint(this.account.omemo.fingerprint, "omemo-legacy"),
        },
      ],
      otr: { fingerprint: this.otr.fingerprint, formatted: formatFingerprint(this.otr.fingerprint, "otr") },
    };
  }

  /** A contact's keys as the trust store knows them (every key any protocol reported, and its state). */
  async #contactFingerprints(contact: string): Promise<unknown> {
    const records = await this.profile.trust.listRecords(this.jid, contact);
    return records.map((r) => ({
      jid: r.contact,
      protocol: r.protocol,
      ...(r.deviceId === undefined ? {} : { deviceId: r.deviceId }),
      fingerprint: r.fingerprint,
      formatted: formatFingerprint(r.fingerprint, r.protocol === "otr" ? "otr" : "omemo-legacy"),
      state: r.state,
    }));
  }

  /** Our fingerprints as the `xmpp:` URI other clients scan (Conversations' format). */
  shareUri(): string {
    return fingerprintUri(this.jid, {
      omemo: [{ deviceId: this.account.omemo.deviceId, fingerprint: this.account.omemo.fingerprint }],
      otr: this.otr.fingerprint,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.queue.close().catch(() => undefined);
    await this.groups.close().catch(() => undefined);
    await this.otr.close().catch(() => undefined);
    try {
      await this.account.close();
    } finally {
      // What was received and sent until now is in the store before the caller closes the profile.
      await this.#historyWrites;
      await this.#duplicates.flush();
    }
  }

  // ------------------------------------------------------------------ wiring

  #emit(event: ChatEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  #emitError(e: unknown): void {
    this.#emit({ event: "error", error: describeError(e) });
  }

  #wire(): void {
    const { account, otr, groups, queue } = this;
    const trust = this.profile.trust;
    account.onMessage((m) => {
      this.#incoming(m).catch((e: unknown) => {
        this.#emitError(e);
      });
    });
    account.onUnencrypted((m) => {
      // A peer in an OTR conversation is OtrChat's (it reports plaintext from them itself).
      if (m.direction === "in" && m.resource !== undefined && otr.stateOf(`${m.from}/${m.resource}`) !== "plaintext")
        return;
      this.#deliver({
        from: m.from,
        to: m.direction === "out" ? (m.to ?? this.jid) : this.jid,
        direction: m.direction,
        body: m.body,
        encryption: "none",
        via: m.via,
        ...(m.id === undefined ? {} : { id: m.id }),
        at: m.timestamp.getTime(),
      }).catch((e: unknown) => {
        this.#emitError(e);
      });
    });
    // The store's full integrity check runs in the background after opening (@parley/storage): a store
    // altered at rest is reported as soon as it is found (and every later operation on it fails).
    this.profile.db.verification.catch((e: unknown) => {
      if (!this.#closed) this.#emitError(e);
    });
    account.onError((e) => {
      this.#emitError(e);
    });
    account.onReceipt((r) => {
      this.#emit({ event: "receipt", from: r.from, id: r.id });
      for (const l of this.#transportListeners) l({ type: "receipt", from: r.from, id: r.id });
    });
    account.onDisplayed((d) => {
      this.#emit({ event: "displayed", from: d.from, id: d.id });
    });
    account.onPresence((p) => {
      this.#emit({ event: "presence", jid: bareOf(p.jid), online: account.presenceOf(bareOf(p.jid)).online });
    });
    account.onSubscriptionRequest((r) => {
      this.#emit({ event: "subscription-request", from: r.from });
    });
    // The first "online" came before this wiring (connect); any later one is a reconnect: presence,
    // carbons and the archive catch-up are per session, so go online again.
    // Nothing goes out before the session's stream management is settled (ChatAccount.sessionSettled).
    account.xmpp.on("online", () => {
      account
        .sessionSettled()
        .then(() => {
          for (const l of this.#transportListeners) l({ type: "online" });
          return this.online();
        })
        .catch((e: unknown) => {
          this.#emitError(e);
        });
    });
    account.xmpp.on("offline", () => {
      for (const l of this.#transportListeners) l({ type: "offline" });
    });
    // A resumed session (XEP-0198) says no "online", but the queue waits for one after a lost connection.
    account.onResumed(() => {
      for (const l of this.#transportListeners) l({ type: "online" });
    });

    otr.on("message", (m) => {
      this.#deliver({
        from: bareOf(m.from),
        to: this.jid,
        direction: "in",
        body: m.text,
        encryption: m.encrypted ? "otr" : "none",
        via: "live",
        // What a displayed marker names (mark-read), as for OMEMO messages.
        ...(m.id === undefined ? {} : { id: m.id }),
        at: Date.now(),
      })
        // Acknowledged once stored, as OMEMO messages are (the account's receipt policy decides).
        .then(() => (m.receiptFor === undefined ? false : account.sendReceipt(m.from, m.receiptFor)))
        .catch((e: unknown) => {
          this.#emitError(e);
        });
    });
    otr.on("state", (s) => {
      this.#emit({
        event: "otr",
        jid: s.peer,
        state: s.state,
        ...(s.fingerprint === undefined ? {} : { fingerprint: s.fingerprint }),
        // What the trust store says of the key (untrusted or compromised: nothing is sent to it until verified).
        ...(s.trust === undefined ? {} : { trust: s.trust }),
        ...(s.trusted === undefined ? {} : { trusted: s.trusted }),
      });
    });
    otr.on("smp-request", (r) => {
      this.#emit({ event: "smp-request", jid: r.peer, ...(r.question === undefined ? {} : { question: r.question }) });
    });
    otr.on("smp-result", (r) => {
      this.#emit({ event: "smp-result", jid: r.peer, result: r.result });
    });
    otr.on("error", (e) => {
      this.#emit({ event: "error", error: { code: "FAILED", detail: e.code, message: e.message } });
    });

    groups.on("message", (m) => {
      if (m.body === undefined) return;
      this.#emit({ event: "room-message", room: m.room, nick: m.nick, from: m.from, body: m.body, at: Date.now() });
      this.#record(m.room, "in", m.from, m.body, encryptionOf(m.namespace)).catch((e: unknown) => {
        this.#emitError(e);
      });
    });
    groups.on("invite", (i) => {
      this.#emit({
        event: "invite",
        room: i.room,
        ...(i.from === undefined ? {} : { from: bareOf(i.from) }),
        ...(i.reason === undefined ? {} : { reason: i.reason }),
      });
    });
    groups.on("error", (e) => {
      this.#emit({ event: "error", error: { code: "FAILED", detail: e.code, message: e.message } });
    });

    queue.subscribe((e) => {
      if (e.type === "cancelled") {
        this.#onWire.delete(e.id);
        this.#historyWrite(() => this.profile.forgetUnsent(e.id)).catch((err: unknown) => {
          this.#emitError(err);
        });
      }
      if (e.type !== "state") return;
      const m = e.message;
      this.#queueStateToHistory(m.id, m.state, e.previous, m.method);
      this.#emit({
        event: "queue",
        id: m.id,
        to: m.conversation,
        state: m.state,
        ...(e.previous === undefined ? {} : { previous: e.previous }),
        ...(m.method === undefined ? {} : { method: m.method }),
        ...(m.reason === undefined ? {} : { reason: m.reason }),
      });
    });

    const trustEvent = (r: {
      contact: string;
      protocol: string;
      fingerprint: string;
      state: string;
      deviceId?: number;
    }) => {
      this.#emit({
        event: "trust",
        jid: r.contact,
        protocol: r.protocol,
        fingerprint: r.fingerprint,
        state: r.state,
        ...(r.deviceId === undefined ? {} : { deviceId: r.deviceId }),
      });
    };
    trust.on("keyAdded", (e) => {
      trustEvent(e.record);
    });
    trust.on("trustChanged", (e) => {
      trustEvent(e.record);
    });
  }

  /**
   * The queue sent a message (or a receipt says it arrived): its history entry, written with the
   * contact's default when it was queued, now says how it actually went out (the queue may have fallen
   * back from OTR to OMEMO or the reverse, and OMEMO may have gone out in one namespace or both).
   */
  #queueStateToHistory(id: string, state: string, previous: string | undefined, method: string | undefined): void {
    if (state === "failed") {
      this.#onWire.delete(id); // a resend may choose another method
      return;
    }
    if (state !== "sent" && !(state === "delivered" && previous !== "sent")) return;
    const used = this.#onWire.get(id) ?? method;
    this.#onWire.delete(id);
    if (used === undefined) return;
    this.#historyWrite(async () => {
      if (await this.profile.recordSent(id, used)) return;
      // Not recorded yet (the send command writes it after the queue took it): it will say `used` at once.
      this.#sentBeforeRecorded.set(id, used);
      if (this.#sentBeforeRecorded.size > 1000)
        this.#sentBeforeRecorded.delete(this.#sentBeforeRecorded.keys().next().value!);
    }).catch((e: unknown) => {
      this.#emitError(e);
    });
  }

  #historyWrite<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#historyWrites.then(write);
    this.#historyWrites = run.catch(() => undefined);
    return run;
  }

  async #incoming(m: IncomingMessage): Promise<void> {
    if (m.body === undefined) return;
    const peer = m.direction === "out" ? bareOf(m.to ?? this.jid) : bareOf(m.from);
    await this.#deliver({
      from: bareOf(m.from),
      to: m.direction === "out" ? peer : this.jid,
      direction: m.direction,
      body: m.body,
      encryption: encryptionOf(m.namespace),
      deviceId: m.deviceId,
      via: m.via,
      ...(m.id === undefined ? {} : { id: m.id }),
      at: m.timestamp.getTime(),
    });
  }

  /** Reports a message once (a resend carries the same origin-id), stores it, fetches its file. */
  async #deliver(message: Omit<Extract<ChatEvent, { event: "message" }>, "event" | "muted">): Promise<void> {
    if (message.id !== undefined && this.#duplicates.isDuplicate(message.from, message.id)) return;
    await this.#show(message);
    // Remembered across restarts once the message is stored (in the background: receiving does not
    // wait for it, and a failed write is only reported). Never before: a restart in between would drop
    // the resend of a message we never stored.
    if (message.id !== undefined) this.#duplicates.persist(message.from, message.id);
  }

  async #show(message: Omit<Extract<ChatEvent, { event: "message" }>, "event" | "muted">): Promise<void> {
    const peer = message.direction === "out" ? message.to : message.from;
    const { muted } = await this.profile.trust.getContactSettings(this.jid, peer);
    this.#emit({ event: "message", ...message, muted });
    // Files are fetched only from contacts in the roster: fetching a stranger's URL would tell them our address.
    if (
      message.encryption !== "none" &&
      message.direction === "in" &&
      isFileMessage(message.body) &&
      (await this.account.roster()).some((item) => item.jid === message.from)
    ) {
      const file = await receiveFile(
        message.body,
        { store: this.profile.db },
        {
          insecureHttpHosts: this.#insecureHttpHosts,
        },
      );
      if (file.kind === "stored") {
        this.#emit({ event: "file", from: message.from, mediaId: file.media.id, name: file.name, size: file.size });
        await this.#record(peer, message.direction, message.from, `[file ${file.media.id}]`, message.encryption);
        return;
      }
    }
    await this.#record(peer, message.direction, message.from, message.body, message.encryption, message.at);
  }

  async #record(
    peer: string,
    direction: "in" | "out",
    from: string,
    body: string,
    encryption: string,
    at: number = Date.now(),
  ): Promise<void> {
    await this.profile.record({ peer: bareOf(peer), direction, from: bareOf(from), body, encryption, at });
  }

  /**
   * Decrypts a stored file into a new file at `path` (written as `<path>.part`, mode 0600, renamed once
   * every chunk authenticated; removed on failure). An existing file is never overwritten.
   */
  async #saveFile(mediaId: string, path: string): Promise<number> {
    if (existsSync(path)) throw new ChatClientError("INVALID_ARGUMENT", "a file exists at that path: choose another");
    const part = `${path}.part`;
    const out = await open(part, "wx", 0o600);
    let size = 0;
    try {
      for await (const chunk of this.profile.db.media.read(mediaId)) {
        await out.write(chunk);
        size += chunk.length;
      }
      await out.sync();
      await out.close();
      await rename(part, path);
      return size;
    } catch (e) {
      await out.close().catch(() => undefined);
      await rm(part, { force: true });
      throw e;
    }
  }

  /** The full JID OTR talks to for a contact: the one we are in a conversation with, else an online resource. */
  otrPeerFor(jid: string): string {
    const bare = bareOf(jid);
    for (const peer of this.otr.peers) {
      if (bareOf(peer) === bare && this.otr.stateOf(peer) !== "plaintext") return peer;
    }
    const resource = this.account.presenceOf(bare).resources[0];
    if (resource === undefined) throw new ChatClientError("CONTACT_OFFLINE", "OTR needs the contact online");
    return `${bare}/${resource}`;
  }

  #uploadService(): Promise<UploadService> {
    this.#upload ??= discoverUploadService(this.account.xmpp, this.jid.split("@")[1]!).catch(() => undefined);
    return this.#upload.then((s) => {
      if (s === undefined) {
        this.#upload = undefined; // try again next time
        throw new ChatClientError("NO_UPLOAD_SERVICE", "the server offers no HTTP upload service (XEP-0363)");
      }
      return s;
    });
  }

  /**
   * The queue's transport: puts the protocol's payload on the wire with the stable origin-id, every
   * stanza in order, then waits for what became of each (see {@link ChatAccount.sendTracked}).
   */
  async #transmit(
    to: string,
    originId: string,
    method: string,
    payload: unknown,
    signal?: AbortSignal,
  ): Promise<StanzaFate[]> {
    const fates: Array<Promise<StanzaFate>> = [];
    // What the history will say once the queue reports it sent.
    if (method === "omemo") {
      const namespaces = new Set((payload as ReadonlyArray<{ namespace: OmemoNamespace }>).map((m) => m.namespace));
      this.#onWire.set(originId, namespaces.size === 1 ? encryptionOf([...namespaces][0]!) : "omemo");
    } else {
      this.#onWire.set(originId, method);
    }
    const send = async (stanza: Element): Promise<void> => {
      fates.push((await this.account.sendTracked(stanza, signal)).fate);
    };
    const extras = (): Element[] => [
      xml("origin-id", { xmlns: NS_SID, id: originId }),
      xml("request", { xmlns: NS_RECEIPTS }),
      xml("markable", { xmlns: NS_MARKERS }),
    ];
    if (method === "omemo") {
      const messages = payload as ReadonlyArray<{ namespace: OmemoNamespace; encrypted: Element }>;
      for (const m of messages) {
        const stanza = wrapMessage(to, m.namespace, m.encrypted);
        stanza.attrs["id"] = originId;
        for (const child of extras()) stanza.append(child);
        await send(stanza);
      }
    } else if (method === "otr") {
      const { peer, text } = payload as { peer: string; text: string };
      await this.otr.send(peer, text, { id: originId, sendStanza: send });
    } else {
      await send(
        xml(
          "message",
          { to, type: "chat", id: originId },
          xml("body", {}, String(payload)),
          xml("store", { xmlns: NS_HINTS }),
          ...extras(),
        ),
      );
    }
    return Promise.all(fates);
  }

  toString(): string {
    return `ChatClient(${this.jid})`;
  }
}

/**
 * At start, before the queue sends anything: outgoing messages whose history entry still shows the
 * intended encryption but that the queue sent (a previous run stopped before correcting it) get the
 * method the queue stored; those the queue no longer holds (cancelled, or delivered meanwhile) are no
 * longer waited for.
 */
async function settleUnsentHistory(profile: Profile, queue: Queue): Promise<void> {
  for (const id of await profile.unsentMessageIds()) {
    const m = queue.get(id);
    if (m === undefined) await profile.forgetUnsent(id);
    else if ((m.state === "sent" || m.state === "delivered") && m.method !== undefined)
      await profile.recordSent(id, m.method);
  }
}

/** What the queue's OMEMO provider uses of the client (ChatClient; tests pass a stand-in). */
export interface OmemoProviderHost {
  readonly jid: string;
  readonly omemoEnabled: boolean;
  readonly account: { readonly omemo: Pick<SessionManager, "devices" | "encrypt"> };
  readonly profile: { readonly trust: Pick<TrustStore, "listRecords"> };
}

/**
 * OMEMO for the queue: works to offline contacts; needs a device the trust store does not refuse, and
 * OMEMO on for this device (off: unavailable, so the queue falls back to OTR or fails the message).
 */
export function omemoProvider(client: Promise<OmemoProviderHost>): EncryptionProvider {
  return {
    async availability(contact) {
      const c = await client;
      if (!c.omemoEnabled) return { available: false, transient: false, reason: "no-encryption-available" };
      // A device that publishes in both namespaces (one id, one identity key) counts once.
      const ids = new Set<number>();
      for (const ns of [NS_V2, NS_LEGACY] as const) {
        try {
          for (const id of await c.account.omemo.devices(contact, ns)) ids.add(id);
        } catch (e) {
          if (!isOmemoError(e)) throw e;
        }
      }
      if (ids.size === 0) return { available: false, transient: false, reason: "no-trusted-device" };
      const records = await c.profile.trust.listRecords(c.jid, contact, "omemo");
      // Devices not seen yet are decided by the trust policy (TOFU) when the message is encrypted.
      const usable = ids.size > records.length || records.some((r) => r.state === "tofu" || r.state === "verified");
      return usable ? { available: true } : { available: false, transient: false, reason: "no-trusted-device" };
    },
    negotiate: () => Promise.resolve({ ok: true }), // sessions are built from bundles while encrypting
    async encrypt(message) {
      const c = await client;
      // Turned off since the queue chose OMEMO for this message.
      if (!c.omemoEnabled) return { ok: false, transient: false, reason: "no-encryption-available" };
      const r = await c.account.omemo.encrypt(message.to, {
        body: message.body,
        elements: [xml("origin-id", { xmlns: NS_SID, id: message.id })],
      });
      if (r.undeliverable.length > 0 || r.messages.length === 0)
        return { ok: false, transient: false, reason: "no-trusted-device" };
      return { ok: true, payload: r.messages };
    },
  };
}

/** What the queue's OTR provider uses of the client (ChatClient; tests pass a stand-in). */
export interface OtrProviderHost {
  readonly otr: Pick<OtrChat, "peers" | "stateOf" | "on" | "start" | "trustOf">;
  readonly account: Pick<ChatAccount, "presenceOf">;
  otrPeerFor(jid: string): string;
}

/**
 * OTR for the queue: needs the contact online; negotiating runs the AKE; encrypting needs a key the trust
 * store allows (as OMEMO's devices: a new key once verified, a compromised one never), else the message
 * fails with `no-trusted-device`.
 */
export function otrProvider(client: Promise<OtrProviderHost>): EncryptionProvider {
  const encryptedPeer = (c: OtrProviderHost, contact: string): string | undefined =>
    c.otr.peers.find((p) => bareOf(p) === bareOf(contact) && c.otr.stateOf(p) === "encrypted");
  return {
    async availability(contact) {
      const c = await client;
      const online = encryptedPeer(c, contact) !== undefined || c.account.presenceOf(bareOf(contact)).online;
      return online
        ? { available: true }
        : { available: false, transient: false, reason: "contact-offline-otr-required" };
    },
    async negotiate(contact, signal) {
      const c = await client;
      if (encryptedPeer(c, contact) !== undefined) return { ok: true };
      let peer: string;
      try {
        peer = c.otrPeerFor(contact);
      } catch {
        return { ok: false, transient: false, reason: "contact-offline-otr-required" };
      }
      const done = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          finish(false);
        }, OTR_AKE_TIMEOUT_MS);
        const stop = c.otr.on("state", (s) => {
          if (s.peer === peer && s.state === "encrypted") finish(true);
        });
        const onAbort = () => {
          finish(false);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        function finish(ok: boolean): void {
          clearTimeout(timer);
          stop();
          signal.removeEventListener("abort", onAbort);
          resolve(ok);
        }
      });
      await c.otr.start(peer);
      return (await done) ? { ok: true } : { ok: false, transient: true, reason: "session-failed" };
    },
    async encrypt(message) {
      const c = await client;
      const peer = encryptedPeer(c, message.to);
      if (peer === undefined) return { ok: false, transient: true, reason: "session-failed" };
      const trust = await c.otr.trustOf(peer);
      if (trust === undefined) return { ok: false, transient: true, reason: "session-failed" };
      if (!trust.allowed) return { ok: false, transient: false, reason: "no-trusted-device" };
      return { ok: true, payload: { peer, text: message.body } };
    },
  };
}
