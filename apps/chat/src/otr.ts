/**
 * OTR conversations for a parley-chat account, all protocol work in @parley/otr.
 *
 * OTR talks to one client of a contact, so conversations are keyed by the contact's full JID: one
 * `OtrConversation` (an `OtrSession` per instance of that client, v3 instance tags, plus libotr's master
 * session for v2 and Query messages) per peer full JID. Our long-term DSA key and our instance tag are
 * generated once and kept in a small key-value store, so our fingerprint stays the same across restarts.
 * Fingerprints the peers present are reported to an optional @parley/trust store (protocol "otr", so TOFU
 * applies) and SMP results are recorded in it. With a store, the store decides as it does for OMEMO: nothing
 * is sent to a key it does not allow (`shouldEncryptTo`: a later key stays untrusted until verified, by SMP
 * or by comparing fingerprints; a compromised key never), and a message from a key it refuses
 * (`shouldAcceptFrom`: compromised) is dropped with an error event, never shown; one from a key it accepts
 * without trusting it is shown with a warning. Nothing here logs or prints a plaintext, a key or a secret:
 * error events carry a code and a fixed text, never message content.
 *
 * Outgoing OTR messages are `<message type='chat'>` to the peer's full JID with the OTR text as `<body>`,
 * `<private/>` (XEP-0280) and `<no-copy/>` (XEP-0334): our other clients could not read them anyway;
 * `<no-permanent-store/>` (XEP-0334 §3.3, "off the record" messages): no archive (MAM) keeps them, since no
 * key will ever read them again; and `<encryption/>` (XEP-0380) naming OTR.
 */
import { xml } from "@xmpp/client";
import type { Element } from "@parley/omemo";
import {
  DsaPrivateKey,
  generateDsaKey,
  isOtrError,
  OtrConversation,
  OtrSession,
  recordSmpResult,
  type MessageState,
  type OtrEvent,
  type OtrPolicy,
  type OtrVersion,
  type SmpResult,
} from "@parley/otr";
import type { TrustStore, TrustState } from "@parley/trust";

export const NS_CARBONS = "urn:xmpp:carbons:2";
export const NS_HINTS = "urn:xmpp:hints";
export const NS_EME = "urn:xmpp:eme:0";
/** XEP-0380's namespace for OTR. */
export const NS_EME_OTR = "urn:xmpp:otr:0";
export const NS_RECEIPTS = "urn:xmpp:receipts";
const NS_SID = "urn:xmpp:sid:0";

/** The OTR whitespace tag's fixed prefix (spec, "Tagged plaintext messages"). */
const WHITESPACE_TAG = " \t  \t\t\t\t \t \t \t  ";
const KEY_DSA = "dsa-key";
const KEY_INSTANCE_TAG = "instance-tag";
/** Conversations kept at most (a peer could otherwise open one per resource name it makes up). */
export const MAX_OTR_PEERS = 256;

/** The part of an @xmpp/client `Client` OtrChat uses. */
export interface OtrXmppClient {
  send(stanza: Element): Promise<unknown>;
  on(event: "stanza", listener: (stanza: Element) => void): unknown;
}

/** A small key-value store (the app passes @parley/storage's `db.namespace("otr")`). */
export interface OtrKeyValueStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
}

/** What OtrChat needs of @parley/trust's TrustStore. */
export type OtrChatTrust = Pick<TrustStore, "keySeen" | "shouldEncryptTo" | "shouldAcceptFrom" | "verify">;

export interface OtrChatOptions {
  readonly xmpp: OtrXmppClient;
  /** Our bare JID (the account). */
  readonly jid: string;
  readonly store: OtrKeyValueStore;
  readonly trust?: OtrChatTrust;
  /** Default: libotr's (v2 and v3, opportunistic, AKE on whitespace tag and on error). */
  readonly policy?: Partial<OtrPolicy>;
  /** Largest outgoing body in characters (fragmented above it); 0 (default): never fragment. */
  readonly maxFragmentSize?: number;
}

export type OtrChatErrorCode =
  /** Not a full JID (`local@domain/resource`). */
  | "INVALID_JID"
  /** No encrypted OTR session with that peer: nothing is sent, never as plaintext. */
  | "NOT_ENCRYPTED"
  /**
   * The trust store does not allow encrypting to the peer's key (a new key not verified yet, or one marked
   * compromised): nothing is sent. Verify it (SMP, or the fingerprint compared) to send.
   */
  | "UNTRUSTED_KEY"
  /** No SMP question from that peer waits for an answer. */
  | "NO_SMP_REQUEST"
  /** An argument of the wrong type or size (a message id). */
  | "INVALID_ARGUMENT"
  /** The DSA key or instance tag in the store cannot be read. */
  | "INVALID_STORED_KEY"
  /** The OtrChat was closed. */
  | "CLOSED";

/** Errors of OtrChat's own calls. Its message names no secret and no content. */
export class OtrChatError extends Error {
  override readonly name = "OtrChatError";
  readonly code: OtrChatErrorCode;
  constructor(code: OtrChatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isOtrChatError(e: unknown, code?: OtrChatErrorCode): e is OtrChatError {
  return e instanceof OtrChatError && (code === undefined || e.code === code);
}

export interface OtrChatMessage {
  /** The peer's full JID. */
  readonly from: string;
  readonly text: string;
  /** False for a whitespace-tagged plaintext, or plaintext while the session is encrypted (see warning). */
  readonly encrypted: boolean;
  /**
   * `unencrypted`: plaintext that arrived while the conversation is encrypted or finished. `untrusted-key`:
   * encrypted with a key the trust store accepts without trusting it (a new key not verified yet; shown, as
   * OMEMO shows a not-yet-trusted device's messages). Warn the user either way.
   */
  readonly warning?: "unencrypted" | "untrusted-key";
  /**
   * The sender asked for a delivery receipt (XEP-0184) for the stanza with this id: an encrypted message
   * that we decrypted. The app answers it, or not, by its receipt policy.
   */
  readonly receiptFor?: string;
  /**
   * The id of the stanza that carried the text (its last fragment), when it had one: what a displayed
   * marker (XEP-0333, `ChatAccount.markDisplayed`) names.
   */
  readonly id?: string;
}

/** The stanza's id (1 to 256 characters), and the same id when it asked for a receipt. */
interface StanzaMarks {
  readonly id?: string | undefined;
  readonly receiptFor?: string | undefined;
}

/** How {@link OtrChat.send} marks the message it sends. */
export interface OtrSendOptions {
  /**
   * The stanza id (also its XEP-0359 origin-id) of the message carrying the text (the last one, when
   * OTR fragments it), with a delivery receipt request (XEP-0184): the receipt names this id.
   */
  readonly id?: string;
  /**
   * How this message's stanzas go out, in order (default: the connection's `send`). The chat client
   * passes one that also learns whether the server acknowledged each (XEP-0198).
   */
  readonly sendStanza?: (stanza: Element) => Promise<unknown>;
}

export interface OtrChatState {
  readonly peer: string;
  readonly state: MessageState;
  readonly previous: MessageState;
  /** Protocol version of the encrypted session. */
  readonly version?: OtrVersion;
  /** The peer's fingerprint (40 lowercase hex) when encrypted; show it with formatFingerprint(fp, "otr"). */
  readonly fingerprint?: string;
  /** The trust store's state of that fingerprint (`untrusted`/`compromised`: warn), when a store is given. */
  readonly trust?: TrustState;
  /** Whether the store's policy trusts that fingerprint, when a store is given. */
  readonly trusted?: boolean;
  readonly reason: "ake" | "refresh" | "peer-ended" | "local-end";
}

/** What the trust store says of the key of an encrypted conversation (see {@link OtrChat.trustOf}). */
export interface OtrPeerTrust {
  /** The peer's fingerprint (40 lowercase hex). */
  readonly fingerprint: string;
  /** The store's state of it, when it has a record. */
  readonly state?: TrustState;
  /** Whether the store's policy trusts it. */
  readonly trusted: boolean;
  /** Whether messages may be encrypted to it (`shouldEncryptTo`); `send` refuses (UNTRUSTED_KEY) otherwise. */
  readonly allowed: boolean;
}

export interface OtrChatSmpRequest {
  readonly peer: string;
  /** The peer's question (its text, as sent). */
  readonly question?: string;
}

export interface OtrChatSmpResult {
  readonly peer: string;
  readonly result: SmpResult;
  /** The peer fingerprint the result is about. */
  readonly fingerprint: string;
  /** Whether the result was recorded in the trust store (only `verified` is). */
  readonly recorded: boolean;
}

export interface OtrChatErrorEvent {
  readonly peer: string;
  /**
   * An @parley/otr error code (`MALFORMED_MESSAGE`, `BAD_MAC`, ...) for a rejected incoming message, or
   * `PEER_ERROR` (the peer's client sent `?OTR Error:`), `DELIVERY_FAILED` (the server bounced an OTR
   * message), `TRUST_STORE` (the trust store failed), `UNTRUSTED_KEY` (a message from a key the trust
   * store refuses was dropped), `SEND_FAILED` (a reply could not be sent),
   * `TOO_MANY_PEERS`, `INTERNAL`.
   */
  readonly code: string;
  readonly message: string;
}

export interface OtrChatEvents {
  message: OtrChatMessage;
  state: OtrChatState;
  "smp-request": OtrChatSmpRequest;
  "smp-result": OtrChatSmpResult;
  error: OtrChatErrorEvent;
}

type Listener<T> = (value: T) => void;

interface Peer {
  readonly conv: OtrConversation;
  /** The session that last asked us an SMP question. */
  smpFrom: OtrSession | undefined;
  queue: Promise<void>;
}

/** `local@domain/resource` (or `domain/resource`) with the bare part lowercased, else undefined. */
function normalizeFullJid(jid: string): string | undefined {
  const slash = jid.indexOf("/");
  if (slash <= 0 || slash === jid.length - 1) return undefined;
  const bare = jid.slice(0, slash);
  if (/[\s<>"'&]/.test(bare) || bare.startsWith("@") || bare.endsWith("@")) return undefined;
  return `${bare.toLowerCase()}${jid.slice(slash)}`;
}

function bareOf(fullJid: string): string {
  return fullJid.slice(0, fullJid.indexOf("/"));
}

function isOtrText(body: string): boolean {
  return body.startsWith("?OTR") || body.includes(WHITESPACE_TAG);
}

export class OtrChat {
  /** Our bare JID. */
  readonly jid: string;
  readonly #xmpp: OtrXmppClient;
  readonly #key: DsaPrivateKey;
  readonly #instanceTag: number;
  readonly #trust: OtrChatTrust | undefined;
  readonly #policy: Partial<OtrPolicy> | undefined;
  readonly #maxFragmentSize: number;
  readonly #peers = new Map<string, Peer>();
  readonly #listeners: { [K in keyof OtrChatEvents]: Set<Listener<OtrChatEvents[K]>> } = {
    message: new Set(),
    state: new Set(),
    "smp-request": new Set(),
    "smp-result": new Set(),
    error: new Set(),
  };
  #closed = false;

  private constructor(options: OtrChatOptions, key: DsaPrivateKey, instanceTag: number) {
    this.jid = options.jid.toLowerCase();
    this.#xmpp = options.xmpp;
    this.#key = key;
    this.#instanceTag = instanceTag;
    this.#trust = options.trust;
    this.#policy = options.policy;
    this.#maxFragmentSize = options.maxFragmentSize ?? 0;
    options.xmpp.on("stanza", (stanza) => {
      this.#onStanza(stanza);
    });
  }

  /**
   * Loads our DSA key and instance tag from `store` (generating and storing them the first time) and
   * starts handling incoming OTR messages on `xmpp`.
   */
  static async create(options: OtrChatOptions): Promise<OtrChat> {
    const { store } = options;
    let key: DsaPrivateKey;
    const storedKey = await store.get(KEY_DSA);
    if (storedKey === undefined) {
      key = generateDsaKey();
      await store.put(KEY_DSA, new TextEncoder().encode(key.export()));
    } else {
      try {
        key = DsaPrivateKey.import(new TextDecoder("utf-8", { fatal: true }).decode(storedKey));
      } catch (e) {
        throw new OtrChatError("INVALID_STORED_KEY", "the stored OTR key cannot be read", { cause: e });
      }
    }
    let tag: number;
    const storedTag = await store.get(KEY_INSTANCE_TAG);
    if (storedTag === undefined) {
      tag = OtrSession.randomInstanceTag();
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, tag);
      await store.put(KEY_INSTANCE_TAG, bytes);
    } else {
      if (storedTag.length !== 4) throw new OtrChatError("INVALID_STORED_KEY", "the stored instance tag is invalid");
      tag = new DataView(storedTag.buffer, storedTag.byteOffset, 4).getUint32(0);
      if (tag < 0x100) throw new OtrChatError("INVALID_STORED_KEY", "the stored instance tag is invalid");
    }
    return new OtrChat(options, key, tag);
  }

  /** Our OTR fingerprint, 40 lowercase hex (display with @parley/trust's formatFingerprint(fp, "otr")). */
  get fingerprint(): string {
    return this.#key.fingerprintHex();
  }

  /** Our instance tag (kept in the store). */
  get instanceTag(): number {
    return this.#instanceTag;
  }

  /** Full JIDs we have an OTR conversation with (in any state). */
  get peers(): string[] {
    return [...this.#peers.keys()];
  }

  /** The message state of the conversation with `peer` ("plaintext" when there is none). */
  stateOf(peer: string): MessageState {
    const p = this.#peers.get(this.#peerJid(peer));
    return p?.conv.current.messageState ?? "plaintext";
  }

  /** The peer's fingerprint (40 lowercase hex) in the current session, once the AKE completed. */
  peerFingerprint(peer: string): string | undefined {
    return this.#peers.get(this.#peerJid(peer))?.conv.current.theirFingerprint;
  }

  /**
   * What the trust store says of `peer`'s key in the current session: undefined unless it is encrypted.
   * Without a trust store every key is allowed (and not trusted).
   */
  async trustOf(peer: string): Promise<OtrPeerTrust | undefined> {
    const jid = this.#peerJid(peer);
    const s = this.#peers.get(jid)?.conv.current;
    if (s?.messageState !== "encrypted") return undefined;
    return this.#encryptDecision(jid, s);
  }

  /** The OTR protocol version of the current session with `peer`, once the AKE completed. */
  versionOf(peer: string): OtrVersion | undefined {
    const s = this.#peers.get(this.#peerJid(peer))?.conv.current;
    return s?.messageState === "encrypted" ? s.version : undefined;
  }

  on<K extends keyof OtrChatEvents>(event: K, listener: Listener<OtrChatEvents[K]>): () => void {
    const set = this.#listeners[event] as Set<Listener<OtrChatEvents[K]>>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Whether OtrChat takes this stanza: a `<message>` (chat or normal) from a full JID whose body is an
   * OTR message (or carries the whitespace tag), or any body from a peer we are in an encrypted or finished
   * OTR conversation with. The app should not show such a stanza's body itself.
   */
  handles(stanza: Element): boolean {
    return this.#route(stanza) !== undefined;
  }

  /** Sends an OTR Query message (v3 and v2 as the policy allows) to `peer`, a full JID. */
  async start(peer: string): Promise<void> {
    const jid = this.#peerJid(peer);
    await this.#run(jid, async (p) => {
      await this.#sendLines(jid, p.conv.startAke());
    });
  }

  /**
   * Encrypts `text` to `peer`. NOT_ENCRYPTED (nothing is sent) unless the session is encrypted;
   * UNTRUSTED_KEY (nothing is sent) when the trust store does not allow the peer's key.
   */
  async send(peer: string, text: string, options: OtrSendOptions = {}): Promise<void> {
    const jid = this.#peerJid(peer);
    const id = options.id;
    if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > 256))
      throw new OtrChatError("INVALID_ARGUMENT", "the message id must be a string of 1 to 256 characters");
    if (options.sendStanza !== undefined && typeof options.sendStanza !== "function")
      throw new OtrChatError("INVALID_ARGUMENT", "sendStanza must be a function");
    await this.#run(jid, async (p) => {
      if (p.conv.current.messageState !== "encrypted")
        throw new OtrChatError(
          "NOT_ENCRYPTED",
          p.conv.current.messageState === "finished"
            ? "the contact ended the private conversation: end it or start a new one"
            : "no private conversation with this contact: start OTR first",
        );
      const decision = await this.#encryptDecision(jid, p.conv.current);
      if (decision?.allowed !== true)
        throw new OtrChatError(
          "UNTRUSTED_KEY",
          decision?.state === "compromised"
            ? "the contact's OTR key is marked compromised: nothing was sent"
            : "the contact's OTR key is not trusted (a new key): verify it (SMP or the fingerprint) before sending",
        );
      // (Nothing else runs for this peer meanwhile: `current` is still the session decided about.)
      await this.#sendLines(jid, p.conv.send(text), id, options.sendStanza);
    });
  }

  /** Ends the private conversation with `peer` (a Disconnected TLV if encrypted); back to plaintext. */
  async end(peer: string): Promise<void> {
    const jid = this.#peerJid(peer);
    await this.#run(jid, async (p) => {
      const sessions = [p.conv.master, ...p.conv.instances.map((t) => p.conv.session(t)!)];
      for (const s of sessions) {
        const previous = s.messageState;
        const lines = s.end();
        if (previous !== "plaintext")
          this.#emit("state", { peer: jid, state: "plaintext", previous, reason: "local-end" });
        await this.#sendLines(jid, lines);
      }
      p.smpFrom = undefined;
    });
  }

  /** Starts SMP with `peer` (NOT_ENCRYPTED unless encrypted); the result comes as an `smp-result` event. */
  async smp(peer: string, secret: string, question?: string): Promise<void> {
    const jid = this.#peerJid(peer);
    await this.#run(jid, async (p) => {
      const s = p.conv.current;
      if (s.messageState !== "encrypted") throw new OtrChatError("NOT_ENCRYPTED", "SMP needs an encrypted session");
      await this.#sendLines(jid, s.smp.start(secret, question));
    });
  }

  /** Answers the peer's SMP question (an `smp-request` event) with our secret. */
  async answerSmp(peer: string, secret: string): Promise<void> {
    const jid = this.#peerJid(peer);
    await this.#run(jid, async (p) => {
      const s = p.smpFrom;
      if (s === undefined || !s.smpState.awaitingSecret)
        throw new OtrChatError("NO_SMP_REQUEST", "no SMP question from this contact waits for an answer");
      if (s.messageState !== "encrypted") throw new OtrChatError("NOT_ENCRYPTED", "SMP needs an encrypted session");
      p.smpFrom = undefined;
      await this.#sendLines(jid, s.smp.respond(secret));
    });
  }

  /** Aborts an SMP run with `peer`, ours or theirs. */
  async abortSmp(peer: string): Promise<void> {
    const jid = this.#peerJid(peer);
    await this.#run(jid, async (p) => {
      const s = p.smpFrom ?? p.conv.current;
      p.smpFrom = undefined;
      if (s.messageState !== "encrypted") return;
      await this.#sendLines(jid, s.smp.abort());
    });
  }

  /**
   * Ends every encrypted conversation (so peers know) and stops handling stanzas. Call before closing the
   * XMPP connection.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const jid of this.#peers.keys()) {
      if (this.stateOf(jid) === "encrypted") await this.end(jid).catch(() => undefined);
    }
    this.#closed = true;
    await Promise.all([...this.#peers.values()].map((p) => p.queue));
  }

  /** The store's word on encrypting to `session`'s key (any key without a store); undefined without a key. */
  async #encryptDecision(jid: string, session: OtrSession): Promise<OtrPeerTrust | undefined> {
    const fingerprint = session.theirFingerprint;
    if (fingerprint === undefined) return undefined;
    if (this.#trust === undefined) return { fingerprint, trusted: false, allowed: true };
    const d = await this.#trust.shouldEncryptTo(this.jid, bareOf(jid), "otr", fingerprint);
    return {
      fingerprint,
      ...(d.state === undefined ? {} : { state: d.state }),
      trusted: d.trusted,
      allowed: d.allowed,
    };
  }

  #peerJid(peer: string): string {
    const jid = typeof peer === "string" ? normalizeFullJid(peer) : undefined;
    if (jid === undefined) throw new OtrChatError("INVALID_JID", "OTR needs the contact's full JID (with a resource)");
    return jid;
  }

  #peer(jid: string): Peer {
    let p = this.#peers.get(jid);
    if (p === undefined) {
      p = {
        conv: new OtrConversation({
          account: this.jid,
          contact: bareOf(jid),
          privateKey: this.#key,
          instanceTag: this.#instanceTag,
          ...(this.#policy ? { policy: this.#policy } : {}),
          maxFragmentSize: this.#maxFragmentSize,
        }),
        smpFrom: undefined,
        queue: Promise.resolve(),
      };
      this.#peers.set(jid, p);
    }
    return p;
  }

  /** Runs `fn` after everything queued for `jid` (stanzas and local calls, in order); rejects with its error. */
  #run(jid: string, fn: (p: Peer) => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new OtrChatError("CLOSED", "OTR is closed"));
    const p = this.#peer(jid);
    const result = p.queue.then(() => fn(p));
    p.queue = result.catch(() => undefined);
    return result;
  }

  /** The peer full JID and body of a stanza OtrChat takes, or undefined. */
  #route(stanza: Element): { peer: string; body: string; bounced: boolean; marks?: StanzaMarks } | undefined {
    if (stanza.name !== "message") return undefined;
    const type = (stanza.attrs["type"] as string | undefined) ?? "normal";
    if (type !== "chat" && type !== "normal" && type !== "error") return undefined;
    const from = stanza.attrs["from"] as unknown;
    if (typeof from !== "string") return undefined;
    const peer = normalizeFullJid(from);
    if (peer === undefined) return undefined;
    const body = stanza.getChildText("body");
    if (body === null) return undefined;
    if (type === "error") {
      return body.startsWith("?OTR") && this.#peers.has(peer) ? { peer, body, bounced: true } : undefined;
    }
    const attr = stanza.attrs["id"] as unknown;
    const id = typeof attr === "string" && attr.length > 0 && attr.length <= 256 ? attr : undefined;
    const receiptFor = id !== undefined && stanza.getChild("request", NS_RECEIPTS) ? id : undefined;
    const marks: StanzaMarks = { id, receiptFor };
    if (isOtrText(body)) return { peer, body, bounced: false, marks };
    const p = this.#peers.get(peer);
    if (p !== undefined && p.conv.current.messageState !== "plaintext") return { peer, body, bounced: false, marks };
    return undefined;
  }

  #onStanza(stanza: Element): void {
    if (this.#closed) return;
    const route = this.#route(stanza);
    if (route === undefined) return;
    const { peer, body, bounced, marks = {} } = route;
    if (bounced) {
      this.#emit("error", { peer, code: "DELIVERY_FAILED", message: "the server could not deliver an OTR message" });
      return;
    }
    if (!this.#peers.has(peer) && this.#peers.size >= MAX_OTR_PEERS && !this.#evictOne()) {
      this.#emit("error", { peer, code: "TOO_MANY_PEERS", message: "too many OTR conversations; message ignored" });
      return;
    }
    void this.#run(peer, (p) => this.#receive(peer, p, body, marks)).catch((e: unknown) => {
      this.#emit("error", {
        peer,
        code: "INTERNAL",
        message: isOtrError(e) || isOtrChatError(e) ? e.message : "an OTR message could not be handled",
      });
    });
  }

  /** Drops one conversation that is in plaintext with nothing in progress; false if there is none. */
  #evictOne(): boolean {
    for (const [jid, p] of this.#peers) {
      const sessions = [p.conv.master, ...p.conv.instances.map((t) => p.conv.session(t)!)];
      if (sessions.every((s) => s.messageState === "plaintext" && s.authState === "none")) {
        this.#peers.delete(jid);
        return true;
      }
    }
    return false;
  }

  async #receive(peer: string, p: Peer, body: string, marks: StanzaMarks): Promise<void> {
    const { events, replies, instanceTag } = p.conv.receive(body);
    const session = (instanceTag === 0 ? undefined : p.conv.session(instanceTag)) ?? p.conv.master;
    // Replies first (the peer's AKE or SMP continues), then what the user sees.
    try {
      await this.#sendLines(peer, replies);
    } catch {
      this.#emit("error", { peer, code: "SEND_FAILED", message: "an OTR reply could not be sent" });
    }
    for (const e of events) await this.#event(peer, p, session, e, marks);
  }

  async #event(peer: string, p: Peer, session: OtrSession, e: OtrEvent, marks: StanzaMarks): Promise<void> {
    switch (e.type) {
      case "message": {
        let warning: OtrChatMessage["warning"] = e.warning;
        if (e.encrypted && this.#trust !== undefined) {
          // As OMEMO: never from a key the store refuses (compromised), marked from one it does not trust.
          const fingerprint = session.theirFingerprint;
          let accepted: { allowed: boolean; trusted: boolean } | undefined;
          try {
            accepted =
              fingerprint === undefined
                ? undefined
                : await this.#trust.shouldAcceptFrom(this.jid, bareOf(peer), "otr", fingerprint);
          } catch {
            this.#emit("error", {
              peer,
              code: "TRUST_STORE",
              message: "the trust store failed: an OTR message was dropped",
            });
            return;
          }
          if (accepted?.allowed !== true) {
            this.#emit("error", {
              peer,
              code: "UNTRUSTED_KEY",
              message: "a message from an OTR key the trust store refuses (compromised) was dropped",
            });
            return;
          }
          if (!accepted.trusted) warning ??= "untrusted-key";
        }
        this.#emit("message", {
          from: peer,
          text: e.text,
          encrypted: e.encrypted,
          ...(warning ? { warning } : {}),
          // Only a message that decrypted is acknowledged (a forged or plaintext one is not).
          ...(marks.receiptFor !== undefined && e.encrypted ? { receiptFor: marks.receiptFor } : {}),
          ...(marks.id === undefined ? {} : { id: marks.id }),
        });
        return;
      }
      case "state": {
        let trust: TrustState | undefined;
        let trusted: boolean | undefined;
        if (e.state === "encrypted" && e.fingerprint !== undefined && this.#trust !== undefined) {
          try {
            const record = await this.#trust.keySeen(this.jid, bareOf(peer), "otr", e.fingerprint);
            trust = record.state;
            trusted = (await this.#trust.shouldEncryptTo(this.jid, bareOf(peer), "otr", e.fingerprint)).trusted;
          } catch {
            this.#emit("error", { peer, code: "TRUST_STORE", message: "the trust store could not record the key" });
          }
        }
        if (e.state !== "encrypted") p.smpFrom = undefined;
        this.#emit("state", {
          peer,
          state: e.state,
          previous: e.previous,
          ...(e.version !== undefined ? { version: e.version } : {}),
          ...(e.fingerprint !== undefined ? { fingerprint: e.fingerprint } : {}),
          ...(trust !== undefined ? { trust } : {}),
          ...(trusted !== undefined ? { trusted } : {}),
          reason: e.reason,
        });
        return;
      }
      case "smp-request":
        p.smpFrom = session;
        this.#emit("smp-request", { peer, ...(e.question !== undefined ? { question: e.question } : {}) });
        return;
      case "smp-result": {
        let recorded = false;
        if (this.#trust !== undefined) {
          try {
            recorded = await recordSmpResult(this.#trust, session, e);
          } catch {
            this.#emit("error", { peer, code: "TRUST_STORE", message: "the trust store could not record SMP" });
          }
        }
        if (p.smpFrom === session) p.smpFrom = undefined;
        this.#emit("smp-result", { peer, result: e.result, fingerprint: e.fingerprint, recorded });
        return;
      }
      case "peer-error":
        this.#emit("error", { peer, code: "PEER_ERROR", message: "the contact's OTR client reported an error" });
        return;
      case "error":
        this.#emit("error", { peer, code: e.error.code, message: e.error.message });
        return;
      default:
        return; // heartbeat, smp-progress, extra-key: nothing to show
    }
  }

  /** One `<message>` per line; with `id`, the last one carries it (and its origin-id) and asks for a receipt. */
  async #sendLines(
    peer: string,
    lines: readonly string[],
    id?: string,
    send: (stanza: Element) => Promise<unknown> = (stanza) => this.#xmpp.send(stanza),
  ): Promise<void> {
    for (const [i, line] of lines.entries()) {
      const marked = id !== undefined && i === lines.length - 1;
      await send(
        xml(
          "message",
          { to: peer, type: "chat", id: marked ? id : `otr-${Math.random().toString(36).slice(2)}` },
          xml("body", {}, line),
          xml("private", { xmlns: NS_CARBONS }),
          xml("no-copy", { xmlns: NS_HINTS }),
          xml("no-permanent-store", { xmlns: NS_HINTS }),
          xml("encryption", { xmlns: NS_EME, namespace: NS_EME_OTR, name: "OTR" }),
          ...(marked ? [xml("origin-id", { xmlns: NS_SID, id }), xml("request", { xmlns: NS_RECEIPTS })] : []),
        ),
      );
    }
  }

  #emit<K extends keyof OtrChatEvents>(event: K, value: OtrChatEvents[K]): void {
    for (const l of this.#listeners[event] as Set<Listener<OtrChatEvents[K]>>) {
      try {
        l(value);
      } catch {
        // a listener's failure is the app's; it must not stop the others or the conversation
      }
    }
  }

  toString(): string {
    return `OtrChat(${this.jid}, ${this.fingerprint})`;
  }

  toJSON(): unknown {
    return { type: "OtrChat", jid: this.jid, fingerprint: this.fingerprint, peers: this.peers.length };
  }
}
