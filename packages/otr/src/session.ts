/**
 * One OTR session: us (account, instance tag) with one instance of a contact. Turns outgoing plaintext
 * into wire messages and incoming wire messages into events and replies. Every operation works on a
 * copy of the state and commits it only on success: a rejected message changes nothing.
 */
import { constantTimeEqual } from "@parley/crypto";
import { bytesToBigint, bytesToHex, concat, EMPTY, mpi, Reader, utf8Encode, Writer } from "./bytes.js";
import {
  DH_PRIVATE_BITS,
  MAX_FRAGMENTS,
  MAX_PENDING_OLD_MAC_KEYS,
  MAX_REASSEMBLY_CHARS,
  MAX_SMP_QUESTION_BYTES,
  MAX_STATE_CHARS,
  MIN_FRAGMENT_SIZE,
  MIN_INSTANCE_TAG,
  STATE_VERSION,
} from "./consts.js";
import { DsaPublicKey, type DsaPrivateKey } from "./dsa.js";
import { createEngine, randomBits, type OtrEngine } from "./engine.js";
import { isOtrError, OtrError } from "./errors.js";
import { isValidGroupElement, MODP_G, MODP_P } from "./group.js";
import {
  decodeMpis,
  encodeMpis,
  SMP_INITIAL,
  smpCheck1,
  smpSecret,
  smpStep1,
  smpStep2,
  smpStep3,
  smpStep4,
  smpStep5,
  type SmpExpect,
  type SmpState,
} from "./smp.js";
import {
  DEFAULT_POLICY,
  type AuthState,
  type MessageState,
  type OtrEvent,
  type OtrPolicy,
  type OtrSessionOptions,
  type ReceiveResult,
} from "./types.js";
import {
  armor,
  classify,
  decodeUtf8,
  encodeDataAuthenticated,
  encodeDataMessage,
  encodeDhCommit,
  encodeDhKey,
  encodePlaintext,
  encodeRevealSig,
  encodeSig,
  FLAG_IGNORE_UNREADABLE,
  fragment as fragmentMessage,
  MSG_DH_COMMIT,
  MSG_DH_KEY,
  MSG_REVEAL_SIG,
  MSG_SIG,
  parseBinary,
  parsePlaintext,
  queryMessage,
  TLV_DISCONNECTED,
  TLV_EXTRA_KEY,
  TLV_PADDING,
  TLV_SMP1,
  TLV_SMP1Q,
  TLV_SMP2,
  TLV_SMP3,
  TLV_SMP4,
  TLV_SMP_ABORT,
  whitespaceTag,
  type AkeMessage,
  type DataMessage,
  type Fragment,
  type OtrVersion,
  type Tlv,
} from "./wire.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const ZERO16 = new Uint8Array(16);
/** The largest DH key id: a 32-bit counter that must never wrap. */
const MAX_KEY_ID = 0xffffffff;

interface DhPair {
  id: number;
  priv: bigint;
  pub: bigint;
}

interface KeySlot {
  sendAes: Uint8Array;
  sendMac: Uint8Array;
  recvAes: Uint8Array;
  recvMac: Uint8Array;
  extra: Uint8Array;
  sendCtr: bigint;
  recvCtr: bigint;
  macUsed: boolean;
}

interface EncryptedState {
  version: OtrVersion;
  theirKey: { p: bigint; q: bigint; g: bigint; y: bigint };
  theirFp: Uint8Array;
  ssid: Uint8Array;
  /** We sent the Reveal-Signature message (our half of the ssid is the first). */
  weRevealed: boolean;
  ourKeyId: number;
  ourCur: DhPair;
  ourPrev: DhPair;
  theirKeyId: number;
  theirCur: bigint;
  theirPrev: bigint | null;
  slots: Record<string, KeySlot>;
}

interface AuthInfo {
  state: AuthState;
  version: OtrVersion;
  ourDh?: DhPair | undefined;
  r?: Uint8Array | undefined;
  commitMsg?: string | undefined;
  dhKeyMsg?: string | undefined;
  revealMsg?: string | undefined;
  theirEncGx?: Uint8Array | undefined;
  theirHashGx?: Uint8Array | undefined;
  theirGy?: bigint | undefined;
  /** This AKE is the master's (OtrConversation), taken over by a D-H Key that answered the master's D-H Commit. */
  fromMaster?: true | undefined;
  /**
   * The AKE this session answered with a D-H Key (AWAITING_REVEALSIG) before it took the master's over: its
   * Reveal Signature is still accepted (a peer like libotr takes its master's AKE over too; see #dhKeyAke).
   */
  responder?: Responder | undefined;
}

interface Responder {
  ourDh: DhPair;
  theirEncGx: Uint8Array;
  theirHashGx: Uint8Array;
}

interface FragmentBuffer {
  senderTag: number;
  n: number;
  pieces: (string | null)[];
  chars: number;
  count: number;
}

interface State {
  generation: number;
  msgState: MessageState;
  theirTag: number;
  auth: AuthInfo;
  enc: EncryptedState | null;
  /** Their fingerprint from the last finished session, kept for FINISHED-state events. */
  smp: SmpState;
  oldMacKeys: Uint8Array[];
  fragments: FragmentBuffer | null;
  whitespaceSuppressed: boolean;
  pending: string[];
  lastSent: number;
}

type Work = { s: State; events: OtrEvent[]; replies: string[] };

/** What OtrConversation tells a session about a message it routes to it. */
interface ReceiveContext {
  /** The message state plaintext is judged on (the conversation's current instance); default this session's. */
  readonly shown?: MessageState | undefined;
  /** The master session's AKE (awaiting a D-H Key), which a D-H Key may answer (see #dhKeyAke). */
  readonly akeFrom?: AuthInfo | undefined;
}

function dataLen(d: Uint8Array): Uint8Array {
  return new Writer().data(d).finish();
}

function ctrBytes(v: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

/** The OTR session. See the README for the flow; every method is synchronous. */
export class OtrSession {
  readonly account: string;
  readonly contact: string;
  readonly ourInstanceTag: number;
  readonly policy: OtrPolicy;
  readonly #key: DsaPrivateKey;
  readonly #engine: OtrEngine;
  readonly #maxFragment: number;
  readonly #heartbeat: number;
  readonly #now: () => number;
  readonly #name: string;
  #s: State;

  constructor(options: OtrSessionOptions) {
    if (typeof options !== "object" || options === null) throw new OtrError("INVALID_ARGUMENT", "options are required");
    const { account, contact, privateKey } = options;
    if (typeof account !== "string" || typeof contact !== "string")
      throw new OtrError("INVALID_ARGUMENT", "account and contact must be strings");
    if (typeof privateKey !== "object" || typeof privateKey.sign !== "function")
      throw new OtrError("INVALID_ARGUMENT", "privateKey must be a DsaPrivateKey");
    this.account = account;
    this.contact = contact;
    this.#key = privateKey;
    this.#engine = createEngine(options.engine ?? "auto", options.random);
    this.policy = Object.freeze({ ...DEFAULT_POLICY, ...(options.policy ?? {}) });
    if (!this.policy.allowV2 && !this.policy.allowV3)
      throw new OtrError("INVALID_ARGUMENT", "policy allows no version");
    const tag = options.instanceTag ?? OtrSession.randomInstanceTag(this.#engine);
    checkTag(tag, "instanceTag");
    this.ourInstanceTag = tag;
    const theirTag = options.theirInstanceTag ?? 0;
    if (theirTag !== 0) checkTag(theirTag, "theirInstanceTag");
    const mf = options.maxFragmentSize ?? 0;
    if (!Number.isSafeInteger(mf) || (mf !== 0 && mf < MIN_FRAGMENT_SIZE))
      throw new OtrError("INVALID_ARGUMENT", `maxFragmentSize must be 0 or at least ${MIN_FRAGMENT_SIZE}`);
    this.#maxFragment = mf;
    this.#heartbeat = options.heartbeatIntervalMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#name = options.displayName ?? account;
    this.#s = {
      generation: 0,
      msgState: "plaintext",
      theirTag,
      auth: { state: "none", version: 3 },
      enc: null,
      smp: { ...SMP_INITIAL },
      oldMacKeys: [],
      fragments: null,
      whitespaceSuppressed: false,
      pending: [],
      lastSent: 0,
    };
  }

  /** A random instance tag (>= 0x100). */
  static randomInstanceTag(engine: OtrEngine = createEngine()): number {
    for (;;) {
      const b = engine.randomBytes(4);
      const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      if (v >= MIN_INSTANCE_TAG) return v;
    }
  }

  // ---- getters ----------------------------------------------------------------------------------

  get messageState(): MessageState {
    return this.#s.msgState;
  }
  get authState(): AuthState {
    return this.#s.auth.state;
  }
  /** Protocol version of the encrypted session (undefined when none). */
  get version(): OtrVersion | undefined {
    return this.#s.enc?.version;
  }
  /** Their instance tag (0 while unknown or for v2). */
  get theirInstanceTag(): number {
    return this.#s.theirTag;
  }
  /** Grows with every operation that changed the state (for compare-and-swap in stores). */
  get generation(): number {
    return this.#s.generation;
  }
  /** Their long-term public key in the encrypted (or finished) session. */
  get theirPublicKey(): DsaPublicKey | undefined {
    const k = this.#s.enc?.theirKey;
    return k ? new DsaPublicKey(k.p, k.q, k.g, k.y) : undefined;
  }
  /** Their fingerprint (40 lowercase hex) in the encrypted (or finished) session. */
  get theirFingerprint(): string | undefined {
    const fp = this.#s.enc?.theirFp;
    return fp ? bytesToHex(fp) : undefined;
  }
  /** Our fingerprint (40 lowercase hex). */
  get ourFingerprint(): string {
    return this.#key.fingerprintHex(this.#engine);
  }
  /**
   * The secure session id (8 bytes) and which half is ours to read aloud ("first" if we sent the
   * Reveal-Signature message). Not secret once the session runs, but only meaningful when compared by voice.
   */
  get ssid(): { readonly bytes: Uint8Array; readonly boldHalf: "first" | "second" } | undefined {
    const e = this.#s.enc;
    return e ? { bytes: e.ssid.slice(), boldHalf: e.weRevealed ? "first" : "second" } : undefined;
  }
  /** Which SMP message we accept next, and whether a received request waits for respond(). */
  get smpState(): { readonly expect: SmpExpect; readonly awaitingSecret: boolean; readonly question?: string } {
    const sm = this.#s.smp;
    const q = sm.pending1?.question;
    return q === undefined
      ? { expect: sm.expect, awaitingSecret: sm.pending1 !== undefined }
      : { expect: sm.expect, awaitingSecret: true, question: q };
  }
  /** The engine in use ("native" or "bigint"). */
  get engine(): "native" | "bigint" {
    return this.#engine.name;
  }

  /** Whether a fragmented message is being reassembled (some of its fragments arrived). */
  get reassembling(): boolean {
    return this.#s.fragments !== null;
  }

  /**
   * Handles a message of one instance of the contact (OtrConversation's child sessions). A D-H Key (whole or
   * reassembled from fragments) arriving while this session has no AKE of its own answers the D-H Commit the
   * `master` session sent to every instance: this session takes over the master's AKE state (libotr's
   * otrl_auth_copy_on_key) in the same transaction, so a rejected D-H Key leaves it as it was. Only the AKE
   * state is copied, never keys, counters or queued texts. Not needed by applications.
   * @internal
   */
  receiveForInstance(message: string, master: OtrSession): ReceiveResult {
    const auth = master.#s.auth;
    return this.#receiveTx(message, auth.state === "awaiting-dhkey" ? { akeFrom: { ...auth } } : {});
  }

  /**
   * Handles a plaintext, whitespace-tagged or Query message that OtrConversation routed to this (master)
   * session while `shown` is the state of the conversation's current instance: the "unencrypted" warning and
   * the whitespace-started AKE are decided on that state, as libotr does on its best context.
   * @internal
   */
  receiveForConversation(message: string, shown: MessageState): ReceiveResult {
    return this.#receiveTx(message, { shown });
  }

  /**
   * Abandons an AKE in progress (the message state and its keys stay as they are). OtrConversation calls it on
   * its instances' sessions when the contact asked for a new AKE (a Query message or whitespace tag) and the
   * master answered with a new D-H Commit: the AKEs those sessions were in are then stale.
   * @internal
   */
  abandonAke(): void {
    if (this.#s.auth.state === "none") return;
    this.#run((w) => {
      w.s.auth = { state: "none", version: 3 };
    });
  }

  /** The texts send() queued until the AKE completes (requireEncryption policy), oldest first. */
  get queuedTexts(): readonly string[] {
    return this.#s.pending.slice();
  }

  /**
   * Removes and returns the queued texts (OtrConversation moves them to the instance that became encrypted).
   * @internal
   */
  takeQueuedTexts(): string[] {
    if (this.#s.pending.length === 0) return [];
    return this.#run((w) => {
      const texts = w.s.pending;
      w.s.pending = [];
      return texts;
    }).value;
  }

  // ---- transactions -----------------------------------------------------------------------------

  #run<T>(fn: (w: Work) => T): { value: T; work: Work } {
    const w: Work = { s: cloneState(this.#s), events: [], replies: [] };
    const value = fn(w);
    w.s.generation++;
    this.#s = w.s;
    return { value, work: w };
  }

  #versions(): OtrVersion[] {
    const v: OtrVersion[] = [];
    if (this.policy.allowV2) v.push(2);
    if (this.policy.allowV3) v.push(3);
    return v;
  }

  /** The Query message (`?OTRv23?` for the default policy) that asks the contact to start the AKE. */
  queryMessage(): string {
    return queryMessage(this.#versions());
  }

  /** Asks the contact to start OTR: returns the Query message to send. */
  startAke(): string[] {
    return [this.queryMessage()];
  }

  /**
   * Starts the AKE directly with a D-H Commit in the given version (default the best the policy allows),
   * without a Query round trip. Use it when you know the contact speaks that version.
   */
  sendDhCommit(version?: OtrVersion): string[] {
    const v = version ?? (this.policy.allowV3 ? 3 : 2);
    if (!this.#versions().includes(v)) throw new OtrError("UNSUPPORTED_VERSION", `policy does not allow version ${v}`);
    return this.#run((w) => {
      this.#startCommit(w, v);
      return w.replies;
    }).value;
  }

  /**
   * Turns a plaintext message into wire messages. ENCRYPTED: one data message (fragmented if needed).
   * PLAINTEXT: the text (with the whitespace tag if the policy says so), or, if the policy requires
   * encryption, a Query message while the text waits until the AKE completes. FINISHED: INVALID_STATE
   * (the contact ended; call end() or startAke()).
   */
  send(text: string, options: { readonly tlvs?: readonly Tlv[] } = {}): string[] {
    if (typeof text !== "string") throw new OtrError("INVALID_ARGUMENT", "text must be a string");
    // A NUL ends the human-readable part on the wire (TLVs follow it): it cannot be part of a message.
    if (text.includes("\0")) throw new OtrError("INVALID_ARGUMENT", "text must not contain NUL characters");
    const tlvs = options.tlvs ?? [];
    return this.#run((w) => {
      const s = w.s;
      if (s.msgState === "encrypted") {
        this.#sendData(w, utf8Encode(text), tlvs, 0);
      } else if (s.msgState === "finished") {
        throw new OtrError("INVALID_STATE", "the contact ended the private conversation: call end() or startAke()");
      } else if (this.policy.requireEncryption) {
        if (s.pending.length >= 100) throw new OtrError("TOO_LARGE", "too many messages wait for encryption");
        s.pending.push(text);
        w.replies.push(this.queryMessage());
      } else if (this.policy.sendWhitespaceTag && !s.whitespaceSuppressed) {
        w.replies.push(text + whitespaceTag(this.#versions()));
      } else {
        w.replies.push(text);
      }
      return w.replies;
    }).value;
  }

  /**
   * Ends the private conversation: ENCRYPTED sends a data message with the Disconnected TLV and goes
   * to PLAINTEXT; FINISHED goes to PLAINTEXT silently. Keys are forgotten, an AKE in progress is
   * abandoned (libotr's force-plaintext) and texts queued for encryption (see queuedTexts) are dropped.
   */
  end(): string[] {
    return this.#run((w) => {
      const s = w.s;
      if (s.msgState === "encrypted")
        this.#sendData(w, EMPTY, [{ type: TLV_DISCONNECTED, value: EMPTY }], FLAG_IGNORE_UNREADABLE);
      if (s.msgState !== "plaintext") {
        w.events.push({ type: "state", state: "plaintext", previous: s.msgState, reason: "local-end" });
        s.msgState = "plaintext";
      }
      s.enc = null;
      s.smp = { ...SMP_INITIAL };
      s.oldMacKeys = [];
      s.auth = { state: "none", version: 3 };
      s.pending = [];
      return w.replies;
    }).value;
  }

  /**
   * Sends TLV 8 and returns the extra symmetric key of the keys that message uses (spec, "Extra symmetric
   * key"). `use` is the 4-byte use indication, `data` the use-specific bytes.
   */
  extraSymmetricKey(use: number, data: Uint8Array = EMPTY): { key: Uint8Array; messages: string[] } {
    if (!Number.isInteger(use) || use < 0 || use > 0xffffffff)
      throw new OtrError("INVALID_ARGUMENT", "use must be a 32-bit unsigned integer");
    return this.#run((w) => {
      if (w.s.msgState !== "encrypted")
        throw new OtrError("INVALID_STATE", "the extra symmetric key needs an encrypted session");
      const value = new Writer().int(use).raw(data).finish();
      const slot = this.#sendData(w, EMPTY, [{ type: TLV_EXTRA_KEY, value }], FLAG_IGNORE_UNREADABLE);
      return { key: slot.extra.slice(), messages: w.replies };
    }).value;
  }

  /** SMP: start (optionally with a question), respond to a request, abort. Each returns wire messages. */
  readonly smp = {
    start: (secret: string | Uint8Array, question?: string): string[] => this.#smpStart(secret, question),
    respond: (secret: string | Uint8Array): string[] => this.#smpRespond(secret),
    abort: (): string[] => this.#smpAbort(),
  };

  // ---- receive ----------------------------------------------------------------------------------

  /**
   * Handles one incoming message (a whole line as received). Never throws for bad input: a rejected
   * message yields an `error` event with a typed OtrError and leaves the state unchanged.
   */
  receive(message: string): ReceiveResult {
    return this.#receiveTx(message, {});
  }

  #receiveTx(message: string, ctx: ReceiveContext): ReceiveResult {
    try {
      const { work } = this.#run((w) => {
        this.#receive(w, message, undefined, ctx);
      });
      return { events: work.events, replies: work.replies };
    } catch (error) {
      if (!isOtrError(error)) throw error;
      const replies: string[] = [];
      if (error.code !== "WRONG_INSTANCE" && this.#unreadableReply) {
        replies.push(`?OTR Error: ${this.#unreadableReply}`);
      }
      this.#unreadableReply = undefined;
      return { events: [{ type: "error", error }], replies };
    }
  }

  #unreadableReply: string | undefined;

  /** `from`: the fragment that completed `message` (reassembled), else undefined. */
  #receive(w: Work, message: string, from: Fragment | undefined, ctx: ReceiveContext): void {
    const shown = ctx.shown;
    this.#unreadableReply = undefined;
    const c = classify(message);
    const s = w.s;
    if (c.kind !== "fragment") s.fragments = null;
    // A v3 fragment was routed (OtrConversation) and checked by its header's instance tags: what it carries must
    // be a v3 message from that same sender instance, or it could bind this session to another instance.
    if (from?.version === 3 && c.kind !== "encoded" && c.kind !== "fragment")
      throw new OtrError("MALFORMED_MESSAGE", "a v3 fragmented message that is not an OTR-encoded message");
    switch (c.kind) {
      case "fragment": {
        if (from) throw new OtrError("MALFORMED_MESSAGE", "a fragment inside a fragmented message");
        const whole = this.#reassemble(w, c.fragment);
        if (whole !== undefined) this.#receive(w, whole, c.fragment, ctx);
        return;
      }
      case "encoded": {
        const msg = parseBinary(c.bytes);
        if (from?.version === 3 && (msg.version !== 3 || msg.senderTag !== from.senderTag))
          throw new OtrError("WRONG_INSTANCE", "a fragmented message from another instance than its fragments");
        this.#checkVersionAndTags(w, msg.version, msg.type, msg.senderTag, msg.receiverTag);
        if (msg.type === 0x03) this.#receiveData(w, msg);
        else this.#receiveAke(w, msg, ctx.akeFrom);
        return;
      }
      case "error":
        w.events.push({ type: "peer-error", text: c.text });
        if (this.policy.errorStartAke) w.replies.push(this.queryMessage());
        return;
      case "query": {
        const v = this.#bestVersion(c.versions);
        if (v !== undefined) this.#startCommit(w, v);
        return;
      }
      case "tagged": {
        this.#plaintextReceived(w, c.text, shown);
        const v = this.#bestVersion(c.versions);
        if (v !== undefined && this.policy.whitespaceStartAke && (shown ?? s.msgState) === "plaintext")
          this.#startCommit(w, v);
        return;
      }
      case "plain":
        this.#plaintextReceived(w, c.text, shown);
        return;
    }
  }

  #plaintextReceived(w: Work, text: string, shown?: MessageState): void {
    const s = w.s;
    s.whitespaceSuppressed = true;
    if (s.msgState !== "plaintext" || (shown ?? s.msgState) !== "plaintext" || this.policy.requireEncryption)
      w.events.push({ type: "message", text, encrypted: false, warning: "unencrypted", tlvs: [] });
    else w.events.push({ type: "message", text, encrypted: false, tlvs: [] });
  }

  #bestVersion(offered: readonly number[]): OtrVersion | undefined {
    if (this.policy.allowV3 && offered.includes(3)) return 3;
    if (this.policy.allowV2 && offered.includes(2)) return 2;
    return undefined;
  }

  #checkVersionAndTags(w: Work, version: OtrVersion, type: number, senderTag: number, receiverTag: number): void {
    if ((version === 3 && !this.policy.allowV3) || (version === 2 && !this.policy.allowV2))
      throw new OtrError("UNSUPPORTED_VERSION", `policy does not allow version ${version}`);
    if (version !== 3) return;
    if (receiverTag === 0 ? type !== MSG_DH_COMMIT : receiverTag !== this.ourInstanceTag)
      throw new OtrError("WRONG_INSTANCE", "message addressed to another instance");
    if (w.s.theirTag !== 0 && senderTag !== w.s.theirTag)
      throw new OtrError("WRONG_INSTANCE", "message from another instance of the contact");
  }

  /**
   * The spec's "Receiving Fragments": fragment 1 starts a message (forgetting any stored one), fragment K+1 of
   * the same count N (and the same sender) is appended, anything else forgets the stored fragments; the message
   * is whole when K == N. So a lost or reordered fragment loses its own message only. Bounded by MAX_FRAGMENTS
   * (parseFragment) and MAX_REASSEMBLY_CHARS.
   */
  #reassemble(w: Work, f: Fragment): string | undefined {
    const s = w.s;
    if (f.version === 3) {
      if (f.receiverTag !== 0 && f.receiverTag !== this.ourInstanceTag)
        throw new OtrError("WRONG_INSTANCE", "fragment addressed to another instance");
      if (f.senderTag < MIN_INSTANCE_TAG || (s.theirTag !== 0 && f.senderTag !== s.theirTag))
        throw new OtrError("WRONG_INSTANCE", "fragment from another instance");
    }
    let b = s.fragments;
    if (f.k === 1) {
      b = { senderTag: f.senderTag, n: f.n, pieces: new Array<string | null>(f.n).fill(null), chars: 0, count: 0 };
    } else if (!b || b.n !== f.n || b.senderTag !== f.senderTag || f.k !== b.count + 1 || !storedInOrder(b)) {
      // Not the next fragment of the stored message (one was lost or reordered): forget it (spec).
      s.fragments = null;
      return undefined;
    }
    if (b.chars + f.piece.length > MAX_REASSEMBLY_CHARS) {
      throw new OtrError("TOO_LARGE", "reassembled message is too large");
    }
    b.pieces[f.k - 1] = f.piece;
    b.chars += f.piece.length;
    b.count = f.k;
    if (b.count === b.n) {
      s.fragments = null;
      return b.pieces.join("");
    }
    s.fragments = b;
    return undefined;
  }

  // ---- output -------------------------------------------------------------------------------------

  #emit(w: Work, armored: string, version: OtrVersion): void {
    const out =
      this.#maxFragment > 0
        ? fragmentMessage(armored, this.#maxFragment, version, this.ourInstanceTag, w.s.theirTag)
        : [armored];
    w.replies.push(...out);
    w.s.lastSent = this.#now();
  }

  #header(w: Work, version: OtrVersion): { version: OtrVersion; senderTag: number; receiverTag: number } {
    return version === 3
      ? { version, senderTag: this.ourInstanceTag, receiverTag: w.s.theirTag }
      : { version, senderTag: 0, receiverTag: 0 };
  }

  #newDh(id: number): DhPair {
    const priv = randomBits(this.#engine.randomBytes, DH_PRIVATE_BITS) | (1n << BigInt(DH_PRIVATE_BITS - 1));
    return { id, priv, pub: this.#engine.modPow(MODP_G, priv, MODP_P) };
  }

  // ---- AKE ----------------------------------------------------------------------------------------

  #startCommit(w: Work, version: OtrVersion): void {
    const e = this.#engine;
    const ourDh = this.#newDh(1);
    const r = e.randomBytes(16);
    const gxmpi = mpi(ourDh.pub);
    const encGx = e.aesCtr(r, ZERO16, gxmpi);
    const hashGx = e.sha256(gxmpi);
    const commitMsg = armor(encodeDhCommit(this.#header(w, version), encGx, hashGx));
    w.s.auth = { state: "awaiting-dhkey", version, ourDh, r, commitMsg };
    this.#emit(w, commitMsg, version);
  }

  #sendDhKey(w: Work, version: OtrVersion, encGx: Uint8Array, hashGx: Uint8Array, reuse: boolean): void {
    const a = w.s.auth;
    const ourDh = reuse && a.ourDh && a.dhKeyMsg && a.version === version ? a.ourDh : this.#newDh(1);
    const dhKeyMsg =
      reuse && a.dhKeyMsg && a.version === version
        ? a.dhKeyMsg
        : armor(encodeDhKey(this.#header(w, version), ourDh.pub));
    w.s.auth = { state: "awaiting-revealsig", version, ourDh, dhKeyMsg, theirEncGx: encGx, theirHashGx: hashGx };
    this.#emit(w, dhKeyMsg, version);
  }

  /** `akeFrom`: the master's AKE (awaiting a D-H Key), which a D-H Key may answer (OtrConversation, #dhKeyAke). */
  #receiveAke(w: Work, msg: AkeMessage, akeFrom?: AuthInfo): void {
    const s = w.s;
    const a = s.auth;
    const bind = () => {
      if (msg.version === 3) s.theirTag = msg.senderTag;
    };
    switch (msg.type) {
      case MSG_DH_COMMIT: {
        bind();
        if (a.state === "awaiting-dhkey" && a.ourDh && a.commitMsg) {
          // Both sides sent a commit: the one with the larger hash wins (spec, AUTHSTATE_AWAITING_DHKEY).
          if (this.#commitWins(a.ourDh, msg.hashGx)) {
            this.#emit(w, a.commitMsg, a.version);
            return;
          }
        }
        if (a.state === "awaiting-revealsig") this.#sendDhKey(w, msg.version, msg.encGx, msg.hashGx, true);
        else this.#sendDhKey(w, msg.version, msg.encGx, msg.hashGx, false);
        return;
      }
      case MSG_DH_KEY: {
        if (!isValidGroupElement(msg.gy)) throw new OtrError("INVALID_GROUP_ELEMENT", "D-H Key g^y is outside 2..p-2");
        // The master's AKE is taken over only by an accepted D-H Key: s.auth is assigned on these paths alone.
        const k = this.#dhKeyAke(a, akeFrom, msg.version, msg.gy);
        if (k.state === "awaiting-dhkey" && k.ourDh && k.r && k.version === msg.version) {
          bind();
          const revealMsg = this.#buildRevealSig(w, msg.version, k.ourDh, k.r, msg.gy);
          s.auth = { ...k, state: "awaiting-sig", theirGy: msg.gy, revealMsg };
          this.#emit(w, revealMsg, msg.version);
        } else if (k.state === "awaiting-sig" && k.theirGy === msg.gy && k.revealMsg) {
          this.#emit(w, k.revealMsg, k.version);
        }
        return;
      }
      case MSG_REVEAL_SIG: {
        // AWAITING_REVEALSIG, or AWAITING_SIG after taking the master's AKE over from it (a.responder).
        const r = a.state === "awaiting-revealsig" ? a : a.state === "awaiting-sig" ? a.responder : undefined;
        if (!r?.ourDh || !r.theirEncGx || !r.theirHashGx || a.version !== msg.version) return;
        this.#receiveRevealSig(w, msg, r.ourDh, r.theirEncGx, r.theirHashGx);
        return;
      }
      case MSG_SIG: {
        if (a.state !== "awaiting-sig" || !a.ourDh || a.theirGy === undefined || a.version !== msg.version) return;
        this.#receiveSig(w, msg, a.ourDh, a.theirGy);
        return;
      }
    }
  }

  /** Whether our D-H Commit (of g^x) wins over theirs (hashGx): the larger hash of g^x wins (spec). */
  #commitWins(ourDh: DhPair, theirHashGx: Uint8Array): boolean {
    return bytesToBigint(this.#engine.sha256(mpi(ourDh.pub))) > bytesToBigint(theirHashGx);
  }

  /**
   * The AKE a received D-H Key answers. A plain session has one AKE. An instance's session (OtrConversation) may
   * also be answered for the master's D-H Commit, which went to every instance (`master`, awaiting a D-H Key):
   * - no AKE of its own: the master's (libotr's otrl_auth_copy_on_key);
   * - AWAITING_DHKEY: its own D-H Commit;
   * - AWAITING_SIG: a retransmission of the D-H Key it answered goes to its own AKE; another D-H Key, or any once
   *   the master has sent a newer D-H Commit than the one this session took over, to the master's (libotr copies
   *   the master's AKE unless the instance is in AWAITING_DHKEY);
   * - AWAITING_REVEALSIG: two AKEs crossed (each side answered the other's D-H Commit with a D-H Key, as when both
   *   start OTR at once). The spec's collision rule decides, on both sides alike: the larger hash of g^x wins. If
   *   the master's D-H Commit wins, this session takes the master's AKE over and sends its Reveal Signature,
   *   keeping what it needs to accept the peer's Reveal Signature as well (libotr takes its master's AKE over
   *   whatever the hashes, and then sends one); if it loses, it ignores the D-H Key and waits for the peer's
   *   Reveal Signature, which the peer, having won, sends.
   */
  #dhKeyAke(a: AuthInfo, master: AuthInfo | undefined, version: OtrVersion, gy: bigint): AuthInfo {
    if (master?.state !== "awaiting-dhkey" || !master.ourDh || !master.r || master.version !== version) return a;
    const takeOver = (responder: Responder | undefined): AuthInfo => ({
      state: "awaiting-dhkey",
      version: master.version,
      ourDh: master.ourDh,
      r: master.r,
      commitMsg: master.commitMsg,
      fromMaster: true,
      responder,
    });
    switch (a.state) {
      case "none":
        return takeOver(undefined);
      case "awaiting-dhkey":
        return a;
      case "awaiting-sig":
        return a.theirGy === gy && (!a.fromMaster || a.commitMsg === master.commitMsg) ? a : takeOver(a.responder);
      case "awaiting-revealsig": {
        if (!a.ourDh || !a.theirEncGx || !a.theirHashGx) return takeOver(undefined);
        if (this.#commitWins(master.ourDh, a.theirHashGx))
          return takeOver({ ourDh: a.ourDh, theirEncGx: a.theirEncGx, theirHashGx: a.theirHashGx });
        return a;
      }
    }
  }

  #akeKeys(s: bigint) {
    const e = this.#engine;
    const sec = mpi(s);
    const h2 = (b: number) => e.sha256(concat(Uint8Array.of(b), sec));
    const h1 = h2(1);
    return {
      ssid: h2(0).slice(0, 8),
      c: h1.slice(0, 16),
      c2: h1.slice(16, 32),
      m1: h2(2),
      m2: h2(3),
      m1b: h2(4),
      m2b: h2(5),
    };
  }

  /** X = pub || keyid || sig(HMAC(m1, ownDh || otherDh || pub || keyid)), encrypted with c; MAC'd with m2. */
  #signedPart(ownDh: bigint, otherDh: bigint, c: Uint8Array, m1: Uint8Array, m2: Uint8Array) {
    const e = this.#engine;
    const pub = this.#key.publicKey.encoded;
    const keyid = new Writer().int(1).finish();
    const m = e.hmacSha256(m1, concat(mpi(ownDh), mpi(otherDh), pub, keyid));
    const x = concat(pub, keyid, this.#key.sign(m, e));
    const encSig = e.aesCtr(c, ZERO16, x);
    const mac = e.hmacSha256(m2, dataLen(encSig)).slice(0, 20);
    return { encSig, mac };
  }

  #buildRevealSig(w: Work, version: OtrVersion, ourDh: DhPair, r: Uint8Array, gy: bigint): string {
    const k = this.#akeKeys(this.#engine.modPow(gy, ourDh.priv, MODP_P));
    const { encSig, mac } = this.#signedPart(ourDh.pub, gy, k.c, k.m1, k.m2);
    return armor(encodeRevealSig(this.#header(w, version), r, encSig, mac));
  }

  /** Checks their signed part; returns their key and key id. */
  #checkSigned(
    encSig: Uint8Array,
    mac: Uint8Array,
    theirDh: bigint,
    ourDhPub: bigint,
    c: Uint8Array,
    m1: Uint8Array,
    m2: Uint8Array,
  ) {
    const e = this.#engine;
    const expected = e.hmacSha256(m2, dataLen(encSig)).slice(0, 20);
    if (!constantTimeEqual(expected, mac)) throw new OtrError("BAD_MAC", "AKE signature MAC does not verify");
    const x = e.aesCtr(c, ZERO16, encSig);
    const r = new Reader(x, "AKE signature");
    const start = r.offset;
    const shape = DsaPublicKey.read(r);
    const pubBytes = x.slice(start, r.offset);
    const keyid = r.int();
    // 0 is invalid (spec); 0xffffffff could never be followed by a next key id (it would wrap to 0).
    if (keyid === 0 || keyid === MAX_KEY_ID)
      throw new OtrError("MALFORMED_MESSAGE", `AKE key id ${keyid} is out of range 1..${MAX_KEY_ID - 1}`);
    const sig = r.raw(40);
    r.end();
    const pub = DsaPublicKey.validated(shape.p, shape.q, shape.g, shape.y, e);
    const m = e.hmacSha256(m1, concat(mpi(theirDh), mpi(ourDhPub), pubBytes, new Writer().int(keyid).finish()));
    if (!pub.verify(m, sig, e)) throw new OtrError("BAD_SIGNATURE", "AKE signature does not verify");
    return { pub, keyid };
  }

  #receiveRevealSig(
    w: Work,
    msg: Extract<AkeMessage, { type: 0x11 }>,
    ourDh: DhPair,
    encGx: Uint8Array,
    hashGx: Uint8Array,
  ): void {
    const e = this.#engine;
    const gxmpi = e.aesCtr(msg.r, ZERO16, encGx);
    if (!constantTimeEqual(e.sha256(gxmpi), hashGx))
      throw new OtrError("BAD_COMMITMENT", "revealed g^x does not match its commitment");
    const rd = new Reader(gxmpi, "committed g^x");
    const gx = rd.mpi();
    rd.end();
    if (!isValidGroupElement(gx)) throw new OtrError("INVALID_GROUP_ELEMENT", "g^x is outside 2..p-2");
    const sharedS = e.modPow(gx, ourDh.priv, MODP_P);
    const k = this.#akeKeys(sharedS);
    const their = this.#checkSigned(msg.encSig, msg.mac, gx, ourDh.pub, k.c, k.m1, k.m2);
    const { encSig, mac } = this.#signedPart(ourDh.pub, gx, k.c2, k.m1b, k.m2b);
    const sigMsg = armor(encodeSig(this.#header(w, msg.version), encSig, mac));
    w.s.auth = { state: "none", version: msg.version };
    this.#emit(w, sigMsg, msg.version);
    this.#goEncrypted(w, msg.version, their.pub, their.keyid, gx, ourDh, k.ssid, false);
  }

  #receiveSig(w: Work, msg: Extract<AkeMessage, { type: 0x12 }>, ourDh: DhPair, gy: bigint): void {
    const k = this.#akeKeys(this.#engine.modPow(gy, ourDh.priv, MODP_P));
    const their = this.#checkSigned(msg.encSig, msg.mac, gy, ourDh.pub, k.c2, k.m1b, k.m2b);
    w.s.auth = { state: "none", version: msg.version };
    this.#goEncrypted(w, msg.version, their.pub, their.keyid, gy, ourDh, k.ssid, true);
  }

  #goEncrypted(
    w: Work,
    version: OtrVersion,
    pub: DsaPublicKey,
    theirKeyId: number,
    theirDh: bigint,
    ourDh: DhPair,
    ssid: Uint8Array,
    weRevealed: boolean,
  ): void {
    const s = w.s;
    const previous = s.msgState;
    s.enc = {
      version,
      theirKey: { p: pub.p, q: pub.q, g: pub.g, y: pub.y },
      theirFp: pub.fingerprint(this.#engine),
      ssid,
      weRevealed,
      ourKeyId: 2,
      ourPrev: { ...ourDh, id: 1 },
      ourCur: this.#newDh(2),
      theirKeyId,
      theirCur: theirDh,
      theirPrev: null,
      slots: {},
    };
    s.oldMacKeys = [];
    s.msgState = "encrypted";
    s.smp = { ...SMP_INITIAL };
    w.events.push({
      type: "state",
      state: "encrypted",
      previous,
      version,
      fingerprint: bytesToHex(s.enc.theirFp),
      reason: previous === "encrypted" ? "refresh" : "ake",
    });
    const pending = s.pending;
    s.pending = [];
    for (const text of pending) this.#sendData(w, utf8Encode(text), [], 0);
  }

  // ---- data messages ------------------------------------------------------------------------------

  #slot(enc: EncryptedState, our: DhPair, theirId: number, theirPub: bigint): KeySlot {
    const id = `${our.id}:${theirId}`;
    let slot = enc.slots[id];
    if (!slot) {
      slot = { ...deriveDataKeys(this.#engine, our.priv, our.pub, theirPub), sendCtr: 0n, recvCtr: 0n, macUsed: false };
      enc.slots[id] = slot;
    }
    return slot;
  }

  #sendData(w: Work, text: Uint8Array, tlvs: readonly Tlv[], flags: number): KeySlot {
    const s = w.s;
    const enc = s.enc;
    if (!enc || s.msgState !== "encrypted") throw new OtrError("INVALID_STATE", "no encrypted session");
    const e = this.#engine;
    const slot = this.#slot(enc, enc.ourPrev, enc.theirKeyId, enc.theirCur);
    slot.sendCtr++;
    const ctr = ctrBytes(slot.sendCtr);
    const plain = encodePlaintext(text, tlvs);
    const encrypted = e.aesCtr(slot.sendAes, concat(ctr, new Uint8Array(8)), plain);
    const authenticated = encodeDataAuthenticated(
      this.#header(w, enc.version),
      flags,
      enc.ourPrev.id,
      enc.theirKeyId,
      enc.ourCur.pub,
      ctr,
      encrypted,
    );
    const mac = e.hmacSha1(slot.sendMac, authenticated);
    const old = concat(...s.oldMacKeys);
    s.oldMacKeys = [];
    this.#emit(w, armor(encodeDataMessage(authenticated, mac, old)), enc.version);
    return slot;
  }

  #forgetSlots(s: State, enc: EncryptedState, match: (ourId: number, theirId: number) => boolean): void {
    const kept: Record<string, KeySlot> = {};
    for (const [id, slot] of Object.entries(enc.slots)) {
      const [o, t] = id.split(":").map(Number) as [number, number];
      if (!match(o, t)) kept[id] = slot;
      else if (slot.macUsed && s.oldMacKeys.length < MAX_PENDING_OLD_MAC_KEYS) s.oldMacKeys.push(slot.recvMac);
    }
    enc.slots = kept;
  }

  #receiveData(w: Work, msg: DataMessage): void {
    const s = w.s;
    const enc = s.enc;
    this.#unreadableReply =
      msg.flags & FLAG_IGNORE_UNREADABLE ? undefined : `You sent an unreadable encrypted message to ${this.#name}.`;
    if (!enc || s.msgState !== "encrypted") {
      if (!(msg.flags & FLAG_IGNORE_UNREADABLE))
        this.#unreadableReply = `You sent encrypted data to ${this.#name}, who wasn't expecting it.`;
      throw new OtrError("NOT_ENCRYPTED", "encrypted data arrived but there is no encrypted session");
    }
    if (msg.version !== enc.version)
      throw new OtrError("UNSUPPORTED_VERSION", "data message version differs from the session's");
    const { senderKeyId: sid, recipientKeyId: rid } = msg;
    let our: DhPair;
    if (rid === enc.ourKeyId && rid > 0) our = enc.ourCur;
    else if (rid === enc.ourKeyId - 1 && rid > 0) our = enc.ourPrev;
    else throw new OtrError("UNKNOWN_KEY", "data message for a key of ours we do not have");
    let theirPub: bigint;
    if (sid === enc.theirKeyId && sid > 0) theirPub = enc.theirCur;
    else if (sid === enc.theirKeyId - 1 && sid > 0 && enc.theirPrev !== null) theirPub = enc.theirPrev;
    else throw new OtrError("UNKNOWN_KEY", "data message with a key of theirs we do not have");
    const e = this.#engine;
    const slot = this.#slot(enc, our, sid, theirPub);
    if (!constantTimeEqual(e.hmacSha1(slot.recvMac, msg.authenticated), msg.mac))
      throw new OtrError("BAD_MAC", "data message MAC does not verify");
    const ctr = bytesToBigint(msg.ctr);
    if (ctr <= slot.recvCtr) throw new OtrError("REPLAY", "data message counter did not increase");
    if (!isValidGroupElement(msg.nextDh)) throw new OtrError("INVALID_GROUP_ELEMENT", "next D-H key is outside 2..p-2");
    const plain = e.aesCtr(slot.recvAes, concat(msg.ctr, new Uint8Array(8)), msg.encrypted);
    const { message, tlvs } = parsePlaintext(plain);
    this.#unreadableReply = undefined;
    slot.recvCtr = ctr;
    slot.macUsed = true;
    // Rotation (spec, "When you receive a Data Message").
    // Key ids are 32-bit: at 0xffffffff we keep the current keys instead of wrapping (never reached in practice:
    // the AKE refuses 0xffffffff and each step needs a message).
    if (rid === enc.ourKeyId && enc.ourKeyId < MAX_KEY_ID) {
      const forget = enc.ourPrev.id;
      this.#forgetSlots(s, enc, (o) => o === forget);
      enc.ourPrev = enc.ourCur;
      enc.ourKeyId++;
      enc.ourCur = this.#newDh(enc.ourKeyId);
    }
    if (sid === enc.theirKeyId && enc.theirKeyId < MAX_KEY_ID) {
      const forget = enc.theirKeyId - 1;
      this.#forgetSlots(s, enc, (_o, t) => t === forget);
      enc.theirPrev = enc.theirCur;
      enc.theirCur = msg.nextDh;
      enc.theirKeyId++;
    }
    const text = decodeUtf8(message);
    const other: Tlv[] = [];
    let disconnected = false;
    const smpTlvs: Tlv[] = [];
    for (const t of tlvs) {
      if (t.type === TLV_PADDING) continue;
      if (t.type === TLV_DISCONNECTED) disconnected = true;
      else if (t.type >= TLV_SMP1 && t.type <= TLV_SMP1Q) smpTlvs.push(t);
      else if (t.type === TLV_EXTRA_KEY) {
        if (t.value.length < 4)
          throw new OtrError("MALFORMED_MESSAGE", "extra symmetric key TLV is shorter than 4 bytes");
        const use = new Reader(t.value).int();
        w.events.push({ type: "extra-key", key: slot.extra.slice(), use, data: t.value.slice(4) });
      } else other.push(t);
    }
    if (message.length > 0) w.events.push({ type: "message", text, encrypted: true, tlvs: other });
    else if (tlvs.length === 0) w.events.push({ type: "heartbeat" });
    for (const t of smpTlvs) this.#smpReceive(w, t);
    if (disconnected) {
      s.msgState = "finished";
      s.smp = { ...SMP_INITIAL };
      w.events.push({ type: "state", state: "finished", previous: "encrypted", reason: "peer-ended" });
      return;
    }
    if (
      message.length > 0 &&
      this.#heartbeat > 0 &&
      w.replies.length === 0 &&
      this.#now() - s.lastSent >= this.#heartbeat
    ) {
      this.#sendData(w, EMPTY, [], FLAG_IGNORE_UNREADABLE);
    }
  }

  // ---- SMP ----------------------------------------------------------------------------------------

  #smpSecret(secret: string | Uint8Array, weInitiate: boolean, enc: EncryptedState): bigint {
    const bytes = typeof secret === "string" ? utf8Encode(secret) : secret;
    if (!(bytes instanceof Uint8Array)) throw new OtrError("INVALID_ARGUMENT", "secret must be a string or Uint8Array");
    const ours = this.#key.fingerprint(this.#engine);
    return weInitiate
      ? smpSecret(this.#engine, ours, enc.theirFp, enc.ssid, bytes)
      : smpSecret(this.#engine, enc.theirFp, ours, enc.ssid, bytes);
  }

  #requireEncrypted(s: State): EncryptedState {
    if (s.msgState !== "encrypted" || !s.enc) throw new OtrError("INVALID_STATE", "SMP needs an encrypted session");
    return s.enc;
  }

  #smpStart(secret: string | Uint8Array, question?: string): string[] {
    return this.#run((w) => {
      const enc = this.#requireEncrypted(w.s);
      const restart = w.s.smp.expect !== 1 || w.s.smp.pending1 !== undefined;
      const x = this.#smpSecret(secret, true, enc);
      const { mpis, state } = smpStep1(this.#engine, x, question);
      let value = encodeMpis(mpis);
      if (question !== undefined) {
        const qb = utf8Encode(question);
        if (qb.length > MAX_SMP_QUESTION_BYTES || qb.includes(0))
          throw new OtrError(
            "INVALID_ARGUMENT",
            `question must be at most ${MAX_SMP_QUESTION_BYTES} bytes without NUL`,
          );
        value = concat(qb, Uint8Array.of(0), value);
      }
      // A run in progress is aborted in a Data Message of its own, before the new SMP 1 (as libotr does): libotr
      // reads the TLVs of one message by type in a fixed order, abort last, so an abort next to SMP 1 would
      // cancel the new request.
      if (restart) this.#sendData(w, EMPTY, [{ type: TLV_SMP_ABORT, value: EMPTY }], FLAG_IGNORE_UNREADABLE);
      w.s.smp = state;
      this.#sendData(
        w,
        EMPTY,
        [{ type: question === undefined ? TLV_SMP1 : TLV_SMP1Q, value }],
        FLAG_IGNORE_UNREADABLE,
      );
      w.events.push({ type: "smp-progress", step: 1 });
      return w.replies;
    }).value;
  }

  #smpRespond(secret: string | Uint8Array): string[] {
    return this.#run((w) => {
      const enc = this.#requireEncrypted(w.s);
      const p1 = w.s.smp.pending1;
      if (!p1) throw new OtrError("INVALID_STATE", "no SMP request waits for an answer");
      const y = this.#smpSecret(secret, false, enc);
      const { mpis, state } = smpStep2(this.#engine, y, p1.g2a, p1.g3a);
      w.s.smp = state;
      this.#sendData(w, EMPTY, [{ type: TLV_SMP2, value: encodeMpis(mpis) }], FLAG_IGNORE_UNREADABLE);
      w.events.push({ type: "smp-progress", step: 2 });
      return w.replies;
    }).value;
  }

  #smpAbort(): string[] {
    return this.#run((w) => {
      const inProgress = w.s.smp.expect !== 1 || w.s.smp.pending1 !== undefined;
      w.s.smp = { ...SMP_INITIAL };
      if (w.s.msgState === "encrypted")
        this.#sendData(w, EMPTY, [{ type: TLV_SMP_ABORT, value: EMPTY }], FLAG_IGNORE_UNREADABLE);
      if (inProgress && w.s.enc)
        w.events.push({
          type: "smp-result",
          result: "aborted",
          fingerprint: bytesToHex(w.s.enc.theirFp),
          initiator: true,
        });
      return w.replies;
    }).value;
  }

  #smpReceive(w: Work, t: Tlv): void {
    const s = w.s;
    const enc = s.enc!;
    const fp = bytesToHex(enc.theirFp);
    const sm = s.smp;
    const result = (result: "verified" | "failed" | "aborted", initiator: boolean) =>
      w.events.push({ type: "smp-result", result, fingerprint: fp, initiator });
    const abort = (error?: OtrError) => {
      const wasInitiator = sm.initiator ?? false;
      s.smp = { ...SMP_INITIAL };
      this.#sendData(w, EMPTY, [{ type: TLV_SMP_ABORT, value: EMPTY }], FLAG_IGNORE_UNREADABLE);
      if (error) w.events.push({ type: "error", error });
      result("aborted", wasInitiator);
    };
    if (t.type === TLV_SMP_ABORT) {
      const inProgress = sm.expect !== 1 || sm.pending1 !== undefined;
      s.smp = { ...SMP_INITIAL };
      if (inProgress) result("aborted", sm.initiator ?? false);
      return;
    }
    const expected: Record<number, SmpExpect> = {
      [TLV_SMP1]: 1,
      [TLV_SMP1Q]: 1,
      [TLV_SMP2]: 2,
      [TLV_SMP3]: 3,
      [TLV_SMP4]: 4,
    };
    if (sm.expect !== expected[t.type]) {
      abort(new OtrError("SMP_CHECK_FAILED", "SMP message out of order"));
      return;
    }
    try {
      switch (t.type) {
        case TLV_SMP1:
        case TLV_SMP1Q: {
          let body = t.value;
          let question: string | undefined;
          if (t.type === TLV_SMP1Q) {
            const nul = body.indexOf(0);
            if (nul < 0 || nul > MAX_SMP_QUESTION_BYTES)
              throw new OtrError("SMP_CHECK_FAILED", "SMP question is not NUL-terminated");
            question = decodeUtf8(body.subarray(0, nul));
            body = body.subarray(nul + 1);
          }
          const { g2a, g3a } = smpCheck1(this.#engine, decodeMpis(body, 6));
          s.smp = {
            expect: 1,
            pending1: question === undefined ? { g2a, g3a } : { g2a, g3a, question },
            initiator: false,
          };
          w.events.push(question === undefined ? { type: "smp-request" } : { type: "smp-request", question });
          return;
        }
        case TLV_SMP2: {
          const { mpis, state } = smpStep3(this.#engine, sm, decodeMpis(t.value, 11));
          s.smp = state;
          this.#sendData(w, EMPTY, [{ type: TLV_SMP3, value: encodeMpis(mpis) }], FLAG_IGNORE_UNREADABLE);
          w.events.push({ type: "smp-progress", step: 3 });
          return;
        }
        case TLV_SMP3: {
          const { mpis, verified } = smpStep4(this.#engine, sm, decodeMpis(t.value, 8));
          s.smp = { ...SMP_INITIAL };
          this.#sendData(w, EMPTY, [{ type: TLV_SMP4, value: encodeMpis(mpis) }], FLAG_IGNORE_UNREADABLE);
          w.events.push({ type: "smp-progress", step: 4 });
          result(verified ? "verified" : "failed", false);
          return;
        }
        case TLV_SMP4: {
          const verified = smpStep5(this.#engine, sm, decodeMpis(t.value, 3));
          s.smp = { ...SMP_INITIAL };
          result(verified ? "verified" : "failed", true);
          return;
        }
      }
    } catch (error) {
      if (!isOtrError(error)) throw error;
      abort(error);
    }
  }

  // ---- persistence --------------------------------------------------------------------------------

  /**
   * The whole session state (keys included) as a versioned string, for the app's encrypted storage.
   * Restore with OtrSession.restore(state, options) using the same privateKey and instanceTag.
   */
  exportState(): string {
    const fp = this.ourFingerprint;
    return JSON.stringify({ v: STATE_VERSION, tag: this.ourInstanceTag, fp, s: this.#s }, (_k, value: unknown) => {
      if (typeof value === "bigint") return { $b: value.toString(16) };
      if (value instanceof Uint8Array) return { $u: bytesToHex(value) };
      return value;
    });
  }

  /** Rebuilds a session from exportState(); CORRUPT_STATE or UNSUPPORTED_STATE_VERSION when it cannot. */
  static restore(state: string, options: OtrSessionOptions): OtrSession {
    if (typeof state !== "string" || state.length > MAX_STATE_CHARS)
      throw new OtrError("CORRUPT_STATE", "state is not a string or too large");
    let parsed: { v?: unknown; tag?: unknown; fp?: unknown; s?: unknown };
    try {
      parsed = JSON.parse(state, (_k, value: unknown) => {
        if (value && typeof value === "object" && !Array.isArray(value)) {
          const o = value as Record<string, unknown>;
          const keys = Object.keys(o);
          if (keys.length === 1 && typeof o["$b"] === "string") {
            if (!/^[0-9a-f]{1,1024}$/.test(o["$b"])) throw new OtrError("CORRUPT_STATE", "bad integer");
            return BigInt("0x" + o["$b"]);
          }
          if (keys.length === 1 && typeof o["$u"] === "string") {
            if (!/^([0-9a-f]{2})*$/.test(o["$u"])) throw new OtrError("CORRUPT_STATE", "bad bytes");
            return Uint8Array.from((o["$u"].match(/../g) ?? []).map((h) => parseInt(h, 16)));
          }
        }
        return value;
      }) as typeof parsed;
    } catch (error) {
      if (isOtrError(error)) throw error;
      throw new OtrError("CORRUPT_STATE", "state is not valid JSON");
    }
    if (typeof parsed !== "object" || parsed === null || typeof parsed.v !== "number")
      throw new OtrError("CORRUPT_STATE", "state lacks its version");
    if (parsed.v > STATE_VERSION)
      throw new OtrError("UNSUPPORTED_STATE_VERSION", `state version ${parsed.v} is newer than ${STATE_VERSION}`);
    const s = parsed.s;
    if (!isState(s)) throw new OtrError("CORRUPT_STATE", "state has the wrong shape");
    if (typeof parsed.tag !== "number" || (options.instanceTag !== undefined && options.instanceTag !== parsed.tag))
      throw new OtrError("CORRUPT_STATE", "state belongs to another instance tag");
    const session = new OtrSession({ ...options, instanceTag: parsed.tag });
    if (parsed.fp !== undefined && parsed.fp !== session.ourFingerprint)
      throw new OtrError("CORRUPT_STATE", "state belongs to another private key");
    session.#s = s;
    return session;
  }

  toJSON(): unknown {
    return {
      type: "OtrSession",
      account: this.account,
      contact: this.contact,
      ourInstanceTag: this.ourInstanceTag,
      theirInstanceTag: this.#s.theirTag,
      messageState: this.#s.msgState,
      authState: this.#s.auth.state,
      version: this.version,
      theirFingerprint: this.theirFingerprint,
    };
  }
  toString(): string {
    return `OtrSession(${this.account} -> ${this.contact}, ${this.#s.msgState})`;
  }
  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * The data-message keys of one (our key, their key) pair (spec, "Computing AES keys, MAC keys"): the
 * "high" end has the numerically larger public key and sends with h1(0x01).
 */
export function deriveDataKeys(engine: OtrEngine, ourPriv: bigint, ourPub: bigint, theirPub: bigint) {
  const sec = mpi(engine.modPow(theirPub, ourPriv, MODP_P));
  const high = ourPub > theirPub;
  const h1 = (b: number) => engine.sha1(concat(Uint8Array.of(b), sec));
  const sendAes = h1(high ? 1 : 2).slice(0, 16);
  const recvAes = h1(high ? 2 : 1).slice(0, 16);
  return {
    sendAes,
    sendMac: engine.sha1(sendAes),
    recvAes,
    recvMac: engine.sha1(recvAes),
    extra: engine.sha256(concat(Uint8Array.of(0xff), sec)),
    high,
  };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isBig = (v: unknown): v is bigint => typeof v === "bigint";
const isBytes = (v: unknown, len?: number): v is Uint8Array =>
  v instanceof Uint8Array && (len === undefined || v.length === len);
const isU32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
const isOpt = (v: unknown, check: (x: unknown) => boolean): boolean => v === undefined || v === null || check(v);
const isDh = (v: unknown): boolean => isObj(v) && isU32(v["id"]) && isBig(v["priv"]) && isBig(v["pub"]);
const isVersion = (v: unknown): boolean => v === 2 || v === 3;

function isSlot(v: unknown): boolean {
  return (
    isObj(v) &&
    isBytes(v["sendAes"], 16) &&
    isBytes(v["recvAes"], 16) &&
    isBytes(v["sendMac"], 20) &&
    isBytes(v["recvMac"], 20) &&
    isBytes(v["extra"], 32) &&
    isBig(v["sendCtr"]) &&
    isBig(v["recvCtr"]) &&
    typeof v["macUsed"] === "boolean"
  );
}

/** Checks every field an operation reads, so a restored state can only fail with typed errors later. */
function isState(v: unknown): v is State {
  if (!isObj(v)) return false;
  const { auth, enc, smp, fragments } = v;
  if (
    !["plaintext", "encrypted", "finished"].includes(v["msgState"] as string) ||
    !isU32(v["generation"]) ||
    !isU32(v["theirTag"]) ||
    typeof v["whitespaceSuppressed"] !== "boolean" ||
    typeof v["lastSent"] !== "number" ||
    !Array.isArray(v["oldMacKeys"]) ||
    !v["oldMacKeys"].every((k) => isBytes(k, 20)) ||
    v["oldMacKeys"].length > MAX_PENDING_OLD_MAC_KEYS ||
    !Array.isArray(v["pending"]) ||
    !v["pending"].every((t) => typeof t === "string")
  )
    return false;
  if (
    !isObj(auth) ||
    !["none", "awaiting-dhkey", "awaiting-revealsig", "awaiting-sig"].includes(auth["state"] as string) ||
    !isVersion(auth["version"]) ||
    !isOpt(auth["ourDh"], isDh) ||
    !isOpt(auth["r"], (x) => isBytes(x, 16)) ||
    !isOpt(auth["commitMsg"], (x) => typeof x === "string") ||
    !isOpt(auth["dhKeyMsg"], (x) => typeof x === "string") ||
    !isOpt(auth["revealMsg"], (x) => typeof x === "string") ||
    !isOpt(auth["theirEncGx"], isBytes) ||
    !isOpt(auth["theirHashGx"], (x) => isBytes(x, 32)) ||
    !isOpt(auth["theirGy"], isBig) ||
    !isOpt(auth["fromMaster"], (x) => x === true) ||
    !isOpt(
      auth["responder"],
      (x) => isObj(x) && isDh(x["ourDh"]) && isBytes(x["theirEncGx"]) && isBytes(x["theirHashGx"], 32),
    )
  )
    return false;
  if (v["msgState"] !== "plaintext" || enc !== null) {
    if (!isObj(enc)) return v["msgState"] === "plaintext" && enc === null;
    const k = enc["theirKey"];
    if (
      !isVersion(enc["version"]) ||
      !isObj(k) ||
      !isBig(k["p"]) ||
      !isBig(k["q"]) ||
      !isBig(k["g"]) ||
      !isBig(k["y"]) ||
      !isBytes(enc["theirFp"], 20) ||
      !isBytes(enc["ssid"], 8) ||
      typeof enc["weRevealed"] !== "boolean" ||
      !isU32(enc["ourKeyId"]) ||
      !isDh(enc["ourCur"]) ||
      !isDh(enc["ourPrev"]) ||
      !isU32(enc["theirKeyId"]) ||
      !isBig(enc["theirCur"]) ||
      !(enc["theirPrev"] === null || isBig(enc["theirPrev"])) ||
      !isObj(enc["slots"]) ||
      Object.keys(enc["slots"]).length > 4 ||
      !Object.entries(enc["slots"]).every(([id, slot]) => /^\d+:\d+$/.test(id) && isSlot(slot))
    )
      return false;
  }
  if (!isObj(smp) || ![1, 2, 3, 4].includes(smp["expect"] as number)) return false;
  for (const key of ["secret", "a2", "a3", "b3", "g2", "g3", "g3o", "pb", "qb", "paPb", "qaQb"])
    if (!isOpt(smp[key], isBig)) return false;
  const p1 = smp["pending1"];
  if (
    !isOpt(
      p1,
      (x) => isObj(x) && isBig(x["g2a"]) && isBig(x["g3a"]) && isOpt(x["question"], (q) => typeof q === "string"),
    )
  )
    return false;
  if (fragments !== null) {
    if (
      !isObj(fragments) ||
      !isU32(fragments["senderTag"]) ||
      !isU32(fragments["n"]) ||
      !isU32(fragments["chars"]) ||
      !isU32(fragments["count"])
    )
      return false;
    const pieces = fragments["pieces"];
    if (!Array.isArray(pieces) || pieces.length !== fragments["n"] || pieces.length > MAX_FRAGMENTS) return false;
    if (!pieces.every((x) => x === null || typeof x === "string")) return false;
  }
  return true;
}

/**
 * A copy of the state deep enough that no operation on the copy can reach the original: every object and
 * array an operation assigns into is copied; Uint8Arrays and bigints are never modified in place, so they
 * are shared.
 */
function cloneState(s: State): State {
  const enc = s.enc;
  const smp = s.smp;
  const a = s.auth;
  const f = s.fragments;
  return {
    generation: s.generation,
    msgState: s.msgState,
    theirTag: s.theirTag,
    auth: {
      state: a.state,
      version: a.version,
      ourDh: a.ourDh,
      r: a.r,
      commitMsg: a.commitMsg,
      dhKeyMsg: a.dhKeyMsg,
      revealMsg: a.revealMsg,
      theirEncGx: a.theirEncGx,
      theirHashGx: a.theirHashGx,
      theirGy: a.theirGy,
      fromMaster: a.fromMaster,
      responder: a.responder,
    },
    enc: enc && {
      version: enc.version,
      theirKey: enc.theirKey,
      theirFp: enc.theirFp,
      ssid: enc.ssid,
      weRevealed: enc.weRevealed,
      ourKeyId: enc.ourKeyId,
      ourCur: enc.ourCur,
      ourPrev: enc.ourPrev,
      theirKeyId: enc.theirKeyId,
      theirCur: enc.theirCur,
      theirPrev: enc.theirPrev,
      slots: cloneSlots(enc.slots),
    },
    smp: { ...smp, pending1: smp.pending1 && { ...smp.pending1 } },
    oldMacKeys: s.oldMacKeys.slice(),
    fragments: f && { senderTag: f.senderTag, n: f.n, pieces: f.pieces.slice(), chars: f.chars, count: f.count },
    whitespaceSuppressed: s.whitespaceSuppressed,
    pending: s.pending.slice(),
    lastSent: s.lastSent,
  };
}

function cloneSlots(slots: Record<string, KeySlot>): Record<string, KeySlot> {
  const out: Record<string, KeySlot> = {};
  for (const k in slots) {
    const v = slots[k]!;
    out[k] = {
      sendAes: v.sendAes,
      sendMac: v.sendMac,
      recvAes: v.recvAes,
      recvMac: v.recvMac,
      extra: v.extra,
      sendCtr: v.sendCtr,
      recvCtr: v.recvCtr,
      macUsed: v.macUsed,
    };
  }
  return out;
}

/**
 * Whether the stored fragments are 1..count in order, as #reassemble stores them (a state saved by an earlier
 * version, which kept fragments by number in any order, may hold others: such a buffer is forgotten).
 */
function storedInOrder(b: FragmentBuffer): boolean {
  for (let i = 0; i < b.pieces.length; i++) if ((b.pieces[i] !== null) !== i < b.count) return false;
  return true;
}

function checkTag(tag: number, name: string): void {
  if (!Number.isInteger(tag) || tag < MIN_INSTANCE_TAG || tag > 0xffffffff)
    throw new OtrError("INVALID_ARGUMENT", `${name} must be an integer from 0x100 to 0xffffffff`);
}
