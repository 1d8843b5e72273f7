/**
 * The durable outgoing queue: per-conversation FIFO, encryption negotiated through providers, retries
 * with capped exponential backoff and jitter, receipts, group-committed persistence.
 */
import { isWellFormed, utf8Length } from "./codec.js";
import {
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  MAX_ATTEMPTS,
  MAX_AWAITING_RECEIPT,
  MAX_BODY_BYTES,
  MAX_CONVERSATION_BYTES,
  MAX_PER_CONVERSATION,
  MAX_TOTAL,
  MAX_TOTAL_BYTES,
  NEGOTIATION_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
} from "./consts.js";
import { QueueError, isQueueError } from "./errors.js";
import { defaultRandom, newOriginId, randomUnit, type RandomBytes } from "./ids.js";
import { STEP_ERROR, readClock, storedTime, toAvailability, toEncryptOutcome, toStepOutcome } from "./outcomes.js";
import { realTimers } from "./timers.js";
import type {
  ContactPolicy,
  EncryptOutcome,
  EncryptionMethod,
  EncryptionProvider,
  FailureReason,
  MessageState,
  QueueStore,
  SendMethod,
  StepFailure,
  StepOutcome,
  StoredMessage,
  Timers,
  Transport,
  TransportEvent,
  TransientReason,
} from "./types.js";

/** Bounds and timings; each defaults to its constant in consts.ts and may only be lowered. */
export interface QueueLimits {
  readonly maxPerConversation: number;
  readonly maxTotal: number;
  readonly maxTotalBytes: number;
  readonly maxBodyBytes: number;
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly negotiationTimeoutMs: number;
  /** Deadline of each policy, availability, encrypt and transport call (STEP_TIMEOUT_MS). */
  readonly stepTimeoutMs: number;
  readonly maxAwaitingReceipt: number;
}

const CEILINGS: QueueLimits = {
  maxPerConversation: MAX_PER_CONVERSATION,
  maxTotal: MAX_TOTAL,
  maxTotalBytes: MAX_TOTAL_BYTES,
  maxBodyBytes: MAX_BODY_BYTES,
  maxAttempts: MAX_ATTEMPTS,
  backoffBaseMs: BACKOFF_BASE_MS,
  backoffMaxMs: BACKOFF_MAX_MS,
  negotiationTimeoutMs: NEGOTIATION_TIMEOUT_MS,
  stepTimeoutMs: STEP_TIMEOUT_MS,
  maxAwaitingReceipt: MAX_AWAITING_RECEIPT,
};

export interface QueueOptions {
  /** Our own account (bare JID): the ContactPolicy is asked for (account, contact). */
  readonly account: string;
  readonly store: QueueStore;
  readonly transport: Transport;
  /** The protocols wired in. A method without a provider is never chosen. */
  readonly providers: Partial<Record<EncryptionMethod, EncryptionProvider>>;
  /** Per-contact default encryption (a @parley/trust TrustStore satisfies it). */
  readonly policy: ContactPolicy;
  /**
   * Send plaintext to contacts whose default is `none`. Default false: such messages fail with
   * `plaintext-forbidden`. Nothing ever falls back from an encryption to plaintext.
   */
  readonly allowPlaintext?: boolean;
  /** When the contact's default encryption is unavailable, try the other one (both are encrypted). Default true. */
  readonly fallback?: boolean;
  readonly timers?: Timers;
  /** Randomness for origin-ids and jitter (default: the platform CSPRNG). */
  readonly random?: RandomBytes;
  readonly limits?: Partial<QueueLimits>;
  /**
   * Debug log: ids, states and reasons, never a body or an address. If it throws, the error goes to
   * `onListenerError` (the queue goes on as if it had not).
   */
  readonly log?: (line: string) => void;
  /** Subscribed before the store is loaded, so it sees the events of resumed messages too. */
  readonly onEvent?: (event: QueueEvent) => void;
  /** A listener (or `log`) threw; default console.error (without the event). If this throws too, it is ignored. */
  readonly onListenerError?: (error: unknown) => void;
}

/** A message as the app sees it in events and lists: everything but the body. */
export interface MessageInfo {
  readonly id: string;
  readonly conversation: string;
  readonly state: MessageState;
  /** Attempts started so far (including a running one). */
  readonly attempts: number;
  readonly createdAt: number;
  readonly method?: SendMethod;
  readonly reason?: FailureReason;
  readonly lastError?: TransientReason;
  /** When the next attempt is due (after a transient failure). */
  readonly retryAt?: number;
}

export type QueueEvent =
  /** Every state change; `previous` is undefined for a new message. */
  | { readonly type: "state"; readonly message: MessageInfo; readonly previous: MessageState | undefined }
  /** An attempt failed transiently; the next one is due at `retryAt`. */
  | {
      readonly type: "retry";
      readonly message: MessageInfo;
      readonly reason: TransientReason;
      readonly retryAt: number;
    }
  /** `cancel(id)` removed the message. */
  | { readonly type: "cancelled"; readonly id: string; readonly conversation: string }
  /** The queue stopped waiting for this sent message's receipt (MAX_AWAITING_RECEIPT); it stays sent. */
  | { readonly type: "forgotten"; readonly id: string; readonly conversation: string }
  /** A background store write failed; the state in memory is ahead of the store until the next write. */
  | { readonly type: "error"; readonly error: QueueError }
  /** At open: a stored record of another account was left alone (one queue per account per store). */
  | { readonly type: "skipped"; readonly id: string; readonly reason: "other-account" };

interface Entry {
  readonly id: string;
  readonly conversation: string;
  seq: number;
  /** Dropped ("") once sent: only the id and conversation are needed to match a receipt. */
  body: string;
  readonly bytes: number;
  /** `cancelled` (internal, never shown) once cancel() removed it: nothing may put it back. */
  state: MessageState | "cancelled";
  attempts: number;
  readonly createdAt: number;
  retryAt: number | undefined;
  method: SendMethod | undefined;
  reason: FailureReason | undefined;
  lastError: TransientReason | undefined;
  /** The contact's default was `none` at send() (or the last resend()): only then may it go out in plaintext. */
  mayBePlaintext: boolean;
  /** A cancel() whose delete is being stored: the message is blocked until it is stored (gone) or fails (back). */
  cancelling: Promise<void> | undefined;
  /** Bumped whenever a running attempt must be abandoned (cancel, receipt, resend). */
  token: number;
  /** The last store write of this entry: an attempt never starts before its reservation is stored. */
  durable: Promise<void>;
}

interface Conversation {
  readonly id: string;
  /** Queued and in-flight messages, ascending seq. The head is the only one ever in flight. */
  readonly line: Entry[];
  /** Messages held (line + failed + being stored). */
  held: number;
  running: boolean;
  /** A kick arrived while the pump was running. */
  again: boolean;
  cancelTimer: (() => void) | undefined;
  /**
   * The store write the next attempt in this conversation waits for: a failure or a cancellation of an
   * earlier message. Otherwise a crash could bring that message back behind a later one.
   */
  barrier: Promise<void>;
}

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** Group commit: writes issued while one batch is being stored go together in the next, in order. */
class Writer {
  readonly #store: QueueStore;
  /** A record may still be computed (a policy lookup at send()): its place in the order is taken now. */
  #pending = new Map<string, StoredMessage | Promise<StoredMessage> | null>();
  #waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  #active: Promise<void> | undefined;

  constructor(store: QueueStore) {
    this.#store = store;
  }

  write(id: string, record: StoredMessage | Promise<StoredMessage> | null): Promise<void> {
    // Re-inserting keeps the newest value of an id at its latest position.
    this.#pending.delete(id);
    this.#pending.set(id, record);
    const done = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
    this.#active ??= this.#drain();
    return done;
  }

  async #drain(): Promise<void> {
    // Let writes issued in this turn join the first batch.
    await Promise.resolve();
    while (this.#pending.size > 0) {
      const batch = this.#pending;
      const waiters = this.#waiters;
      this.#pending = new Map();
      this.#waiters = [];
      const puts: StoredMessage[] = [];
      const deletes: string[] = [];
      try {
        for (const [id, record] of batch) {
          if (record === null) deletes.push(id);
          else puts.push(record instanceof Promise ? await record : record);
        }
        await this.#store.write({ puts, deletes });
        for (const w of waiters) w.resolve();
      } catch (error) {
        const failure = isQueueError(error)
          ? error
          : new QueueError("STORE_FAILED", "the queue store failed to write; see `cause`", { cause: error });
        for (const w of waiters) w.reject(failure);
      }
    }
    this.#active = undefined;
  }

  idle(): Promise<void> {
    return this.#active ?? Promise.resolve();
  }
}

function checkString(value: unknown, what: string, maxBytes: number, allowEmpty: boolean): string {
  if (typeof value !== "string" || (!allowEmpty && value === ""))
    throw new QueueError("INVALID_ARGUMENT", `${what} must be a ${allowEmpty ? "" : "non-empty "}string`);
  if (!isWellFormed(value))
    throw new QueueError("INVALID_ARGUMENT", `${what} contains a lone surrogate (not valid Unicode text)`);
  if (utf8Length(value) > maxBytes)
    throw new QueueError("INVALID_ARGUMENT", `${what} is longer than ${maxBytes} bytes of UTF-8`);
  return value;
}

function bareJid(jid: string): string {
  const cut = jid.indexOf("/");
  return (cut < 0 ? jid : jid.slice(0, cut)).toLowerCase();
}

function resolveLimits(given: Partial<QueueLimits> | undefined): QueueLimits {
  if (given === undefined) return CEILINGS;
  if (typeof given !== "object" || given === null)
    throw new QueueError("INVALID_ARGUMENT", "limits must be an object of numbers");
  const out: Record<string, number> = { ...CEILINGS };
  for (const [key, ceiling] of Object.entries(CEILINGS) as Array<[keyof QueueLimits, number]>) {
    const v = given[key];
    if (v === undefined) continue;
    const min =
      key === "backoffBaseMs" || key === "negotiationTimeoutMs" || key === "stepTimeoutMs" || key === "backoffMaxMs"
        ? 0
        : 1;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > ceiling)
      throw new QueueError("INVALID_ARGUMENT", `limits.${key} must be an integer in [${min}, ${ceiling}]`);
    out[key] = v;
  }
  for (const key of Object.keys(given)) {
    if (!(key in CEILINGS)) throw new QueueError("INVALID_ARGUMENT", `limits.${key} is not a limit`);
  }
  return out as unknown as QueueLimits;
}

const OTHER: Record<EncryptionMethod, EncryptionMethod> = { omemo: "otr", otr: "omemo" };
const TIMED_OUT: StepFailure = STEP_ERROR;
const ACK_TIMEOUT: StepFailure = { ok: false, transient: true, reason: "ack-timeout" };

/**
 * Runs a step and checks what it returned with `check` (which builds a fresh outcome of the closed sets):
 * a thrown error or a malformed result is a transient `error` outcome (a foreign error is not inspected).
 */
async function step<T>(run: () => Promise<unknown>, check: (result: unknown) => T): Promise<T | StepFailure> {
  try {
    return check(await run());
  } catch {
    return STEP_ERROR;
  }
}

/**
 * The outgoing queue. Create it with `openQueue(options)`: it loads what the store holds and resumes.
 */
export class Queue {
  readonly #account: string;
  /** The account's bare JID, lower-case: what records are stored under. */
  readonly #owner: string;
  readonly #store: QueueStore;
  readonly #writer: Writer;
  readonly #transport: Transport;
  readonly #providers: Partial<Record<EncryptionMethod, EncryptionProvider>>;
  readonly #policy: ContactPolicy;
  readonly #allowPlaintext: boolean;
  readonly #fallback: boolean;
  readonly #timers: Timers;
  readonly #random: RandomBytes;
  readonly #limits: QueueLimits;
  readonly #log: ((line: string) => void) | undefined;
  readonly #onListenerError: (error: unknown) => void;
  readonly #listeners = new Set<(event: QueueEvent) => void>();
  readonly #entries = new Map<string, Entry>();
  readonly #conversations = new Map<string, Conversation>();
  /** Sent messages waiting for a receipt, oldest first. */
  readonly #awaiting = new Map<string, Entry>();
  #held = 0;
  #heldBytes = 0;
  #seq = 0;
  #closed = false;
  #unsubscribe: (() => void) | undefined;
  /** The last good clock reading (see `#now`). */
  #lastNow = 0;
  /** Every running provider, policy or transport call: aborts it (its signal, its deadline timer) at close(). */
  readonly #inFlight = new Set<() => void>();
  /** Waits before a failed write is stored again: each ends it early (retryNow, reconnect, close). */
  readonly #waits = new Set<() => void>();

  private constructor(options: QueueOptions, limits: QueueLimits) {
    this.#account = options.account;
    this.#owner = bareJid(options.account);
    this.#store = options.store;
    this.#writer = new Writer(options.store);
    this.#transport = options.transport;
    this.#providers = { ...options.providers };
    this.#policy = options.policy;
    this.#allowPlaintext = options.allowPlaintext ?? false;
    this.#fallback = options.fallback ?? true;
    this.#timers = options.timers ?? realTimers();
    this.#random = options.random ?? defaultRandom;
    this.#limits = limits;
    this.#log = options.log;
    this.#onListenerError =
      options.onListenerError ??
      ((error) => {
        console.error("@parley/queue: an event listener threw", error);
      });
    if (options.onEvent !== undefined) {
      if (typeof options.onEvent !== "function") throw new QueueError("INVALID_ARGUMENT", "onEvent must be a function");
      this.#listeners.add(options.onEvent);
    }
  }

  /** Loads the store and resumes: queued messages are sent, sent ones wait for receipts, failed ones stay failed. */
  static async open(options: QueueOptions): Promise<Queue> {
    if (typeof options !== "object" || options === null)
      throw new QueueError("INVALID_ARGUMENT", "openQueue needs { account, store, transport, providers, policy }");
    checkString(options.account, "account", MAX_CONVERSATION_BYTES, false);
    for (const [name, obj, methods] of [
      ["store", options.store, ["load", "write"]],
      ["transport", options.transport, ["isOnline", "send", "subscribe"]],
      ["policy", options.policy, ["getContactSettings"]],
    ] as const) {
      if (typeof obj !== "object" || obj === null || methods.some((m) => typeof (obj as never)[m] !== "function"))
        throw new QueueError("INVALID_ARGUMENT", `${name} must have ${methods.join(", ")}`);
    }
    for (const name of ["log", "onListenerError", "random"] as const) {
      if (options[name] !== undefined && typeof options[name] !== "function")
        throw new QueueError("INVALID_ARGUMENT", `${name} must be a function`);
    }
    if (options.timers !== undefined) {
      const t = options.timers as unknown as Record<string, unknown> | null;
      if (typeof t !== "object" || t === null || typeof t["now"] !== "function" || typeof t["schedule"] !== "function")
        throw new QueueError("INVALID_ARGUMENT", "timers must have now, schedule");
    }
    // Stored in every record: it must be what the decoder accepts (lower-casing may lengthen it).
    checkString(bareJid(options.account), "account (as a lower-case bare JID)", MAX_CONVERSATION_BYTES, false);
    if (typeof options.providers !== "object" || options.providers === null)
      throw new QueueError("INVALID_ARGUMENT", "providers must be an object { omemo?, otr? }");
    for (const key of Object.keys(options.providers)) {
      const p = (options.providers as Record<string, EncryptionProvider | undefined>)[key];
      if (key !== "omemo" && key !== "otr")
        throw new QueueError("INVALID_ARGUMENT", `providers.${key}: only omemo and otr are known`);
      if (
        p !== undefined &&
        (typeof p !== "object" ||
          p === null ||
          typeof p.availability !== "function" ||
          typeof p.negotiate !== "function" ||
          typeof p.encrypt !== "function")
      )
        throw new QueueError("INVALID_ARGUMENT", `providers.${key} must have availability, negotiate, encrypt`);
    }
    const queue = new Queue(options, resolveLimits(options.limits));
    await queue.#load();
    return queue;
  }

  async #load(): Promise<void> {
    let records: StoredMessage[];
    try {
      records = await this.#store.load();
    } catch (error) {
      if (isQueueError(error)) throw error;
      throw new QueueError("STORE_FAILED", "the queue store failed to load; see `cause`", { cause: error });
    }
    records.sort((a, b) => a.seq - b.seq);
    const now = this.#now();
    for (const r of records) {
      // Records of another account (one store shared by mistake) are neither loaded nor touched.
      if (r.account !== undefined && bareJid(r.account) !== this.#owner) {
        this.#emit({ type: "skipped", id: r.id, reason: "other-account" });
        continue;
      }
      if (this.#entries.has(r.id)) throw new QueueError("CORRUPTED", "the store holds two records with one id");
      const entry: Entry = {
        id: r.id,
        conversation: r.conversation,
        seq: r.seq,
        body: r.body,
        bytes: utf8Length(r.body),
        state: r.state,
        attempts: r.attempts,
        createdAt: r.createdAt,
        // A retry stored further ahead than the longest backoff (a clock that was set back) runs by then.
        retryAt: r.retryAt === undefined ? undefined : Math.min(r.retryAt, storedTime(now + this.#limits.backoffMaxMs)),
        method: r.method,
        reason: r.reason,
        lastError: r.lastError,
        mayBePlaintext: r.mayBePlaintext === true,
        cancelling: undefined,
        token: 0,
        durable: Promise.resolve(),
      };
      this.#seq = Math.max(this.#seq, r.seq + 1);
      this.#entries.set(entry.id, entry);
      if (r.state === "sent") {
        this.#awaiting.set(entry.id, entry);
        continue;
      }
      if (r.state === "queued" && entry.attempts < 1) entry.attempts = 1;
      const conv = this.#conversation(entry.conversation);
      conv.held++;
      this.#held++;
      this.#heldBytes += entry.bytes;
      if (r.state === "queued") conv.line.push(entry);
    }
    this.#unsubscribe = this.#transport.subscribe((event) => {
      this.#onTransport(event);
    });
    for (const conv of this.#conversations.values()) this.#kick(conv);
  }

  // ---- public API ----

  /**
   * Queues `body` for `conversation` (the contact's JID; stored as its lower-case bare JID) and resolves with the message's id
   * (its XEP-0359 origin-id) once the message is stored. QUEUE_FULL if a bound would be exceeded.
   */
  async send(conversation: string, body: string): Promise<string> {
    this.#assertOpen();
    checkString(conversation, "conversation", MAX_CONVERSATION_BYTES, false);
    checkString(body, "body", this.#limits.maxBodyBytes, true);
    // One conversation per contact: the lower-case bare JID (receipts are matched the same way).
    conversation = bareJid(conversation);
    if (conversation === "")
      throw new QueueError("INVALID_ARGUMENT", "conversation must be a JID with a local or domain part");
    // Lower-casing may lengthen it (U+0130 → "i̇"): the stored form must fit what the decoder accepts.
    checkString(conversation, "conversation (as a lower-case bare JID)", MAX_CONVERSATION_BYTES, false);
    const bytes = utf8Length(body);
    const existing = this.#conversations.get(conversation);
    if ((existing?.held ?? 0) >= this.#limits.maxPerConversation)
      throw new QueueError(
        "QUEUE_FULL",
        `this conversation holds ${this.#limits.maxPerConversation} messages (the most per conversation); wait, or cancel failed ones`,
      );
    if (this.#held >= this.#limits.maxTotal)
      throw new QueueError("QUEUE_FULL", `the queue holds ${this.#limits.maxTotal} messages (the most in total)`);
    if (this.#heldBytes + bytes > this.#limits.maxTotalBytes)
      throw new QueueError("QUEUE_FULL", `the queue holds ${this.#limits.maxTotalBytes} bytes of bodies (the most)`);
    let id = newOriginId(this.#random);
    for (let tries = 0; this.#entries.has(id); tries++) {
      if (tries > 8) throw new QueueError("INVALID_ARGUMENT", "the random source repeats itself: origin-ids collide");
      id = newOriginId(this.#random);
    }
    const conv = this.#conversation(conversation);
    const entry: Entry = {
      id,
      conversation,
      seq: this.#seq++,
      body,
      bytes,
      state: "queued",
      attempts: 1,
      createdAt: this.#now(),
      retryAt: undefined,
      method: undefined,
      reason: undefined,
      lastError: undefined,
      mayBePlaintext: false,
      cancelling: undefined,
      token: 0,
      durable: Promise.resolve(),
    };
    // Counted now, so concurrent sends cannot overshoot the bounds while being stored.
    conv.held++;
    this.#held++;
    this.#heldBytes += bytes;
    this.#entries.set(id, entry);
    try {
      // What the contact's default is now decides for good whether this message may ever be plaintext.
      await this.#persist(entry, this.#decide(entry));
    } catch (error) {
      conv.held--;
      this.#held--;
      this.#heldBytes -= bytes;
      this.#entries.delete(id);
      this.#dropIfEmpty(conv);
      throw error;
    }
    if (this.#closed || this.#entries.get(id) !== entry) return id;
    this.#insert(conv, entry);
    this.#logLine(`queue: ${id} queued (seq ${entry.seq})`);
    this.#emit({ type: "state", message: this.#info(entry), previous: undefined });
    this.#kick(conv);
    return id;
  }

  /**
   * Queues a failed message again, at the end of its conversation, with the same origin-id and fresh
   * attempts. The contact's default is read again: this is how a message refused as `plaintext-forbidden`
   * goes out in plaintext after the user chose `none` for the contact (and the app allows plaintext).
   */
  async resend(id: string): Promise<void> {
    this.#assertOpen();
    const entry = this.#get(id);
    if (entry.state !== "failed" || entry.cancelling !== undefined)
      throw new QueueError(
        "INVALID_STATE",
        `only a failed message can be resent (this one is ${entry.cancelling ? "being cancelled" : entry.state})`,
      );
    const before = {
      seq: entry.seq,
      attempts: entry.attempts,
      reason: entry.reason,
      lastError: entry.lastError,
      mayBePlaintext: entry.mayBePlaintext,
    };
    entry.seq = this.#seq++;
    entry.attempts = 1;
    entry.reason = undefined;
    entry.lastError = undefined;
    entry.retryAt = undefined;
    entry.state = "queued";
    entry.token++;
    try {
      await this.#persist(entry, this.#decide(entry));
    } catch (error) {
      if (entry.state === "queued") Object.assign(entry, before, { state: "failed" });
      throw error;
    }
    // Cancelled (or being cancelled) or delivered while this was being stored: it must not come back.
    if (this.#closed || entry.state !== "queued" || this.#entries.get(id) !== entry || entry.cancelling) return;
    const conv = this.#conversation(entry.conversation);
    this.#insert(conv, entry);
    this.#logLine(`queue: ${id} failed -> queued (resend)`);
    this.#emit({ type: "state", message: this.#info(entry), previous: "failed" });
    this.#kick(conv);
  }

  /**
   * Removes a queued, in-flight or failed message once its removal is stored; until then it is blocked
   * (a running attempt is abandoned; a stanza already handed to the transport may still arrive). If the
   * store fails, STORE_FAILED and the message is back as it was (queued if it was in flight): cancel again.
   */
  async cancel(id: string): Promise<void> {
    this.#assertOpen();
    const entry = this.#get(id);
    if (entry.cancelling) return entry.cancelling;
    if (entry.state === "sent" || entry.state === "delivered")
      throw new QueueError("INVALID_STATE", `a ${entry.state} message cannot be cancelled`);
    entry.token++;
    const cancelling = this.#cancel(entry);
    entry.cancelling = cancelling;
    return cancelling;
  }

  async #cancel(entry: Entry): Promise<void> {
    try {
      await this.#writer.write(entry.id, null);
    } catch (error) {
      entry.cancelling = undefined;
      if (this.#entries.get(entry.id) === entry && entry.state !== "failed") {
        // Back in the line as queued: the abandoned attempt runs again (same attempt number and origin-id).
        const conv = this.#conversation(entry.conversation);
        if (!conv.line.includes(entry)) this.#insert(conv, entry);
        if (entry.state !== "queued") this.#setState(entry, "queued");
        this.#kick(conv);
      }
      // Stored again as it is (the delete may have failed after a put of it was dropped from its batch).
      if (this.#entries.get(entry.id) === entry) this.#persistLater(entry);
      throw error;
    }
    entry.cancelling = undefined;
    if (this.#entries.get(entry.id) !== entry) return; // delivered meanwhile
    this.#release(entry, "cancelled");
    this.#logLine(`queue: ${entry.id} cancelled`);
    this.#emit({ type: "cancelled", id: entry.id, conversation: entry.conversation });
    const conv = this.#conversations.get(entry.conversation);
    if (conv) this.#kick(conv);
  }

  /** Runs every waiting retry now (e.g. the user tapped "retry"). Attempts are not reset. */
  retryNow(): void {
    this.#assertOpen();
    // A failed write waiting to be stored again is tried now too.
    for (const wake of [...this.#waits]) wake();
    for (const conv of this.#conversations.values()) {
      conv.cancelTimer?.();
      conv.cancelTimer = undefined;
      const head = conv.line[0];
      if (head?.state === "queued") head.retryAt = undefined;
      this.#kick(conv);
    }
  }

  /** The message, without its body; undefined if the queue does not hold it. */
  get(id: string): MessageInfo | undefined {
    const entry = this.#entries.get(id);
    return entry === undefined ? undefined : this.#info(entry);
  }

  /** The body of a held message (user plaintext: never logged or put in events); undefined once sent. */
  body(id: string): string | undefined {
    const entry = this.#entries.get(id);
    return entry === undefined || entry.state === "sent" ? undefined : entry.body;
  }

  /** Held and sent-awaiting-receipt messages, in send order (of one conversation if given). */
  list(conversation?: string): MessageInfo[] {
    const out: Entry[] = [];
    if (typeof conversation === "string") conversation = bareJid(conversation);
    for (const e of this.#entries.values())
      if (conversation === undefined || e.conversation === conversation) out.push(e);
    out.sort((a, b) => a.seq - b.seq);
    return out.map((e) => this.#info(e));
  }

  /** Counts: held (queued, in flight, failed) and sent awaiting a receipt. */
  get size(): { readonly held: number; readonly heldBytes: number; readonly awaitingReceipt: number } {
    return { held: this.#held, heldBytes: this.#heldBytes, awaitingReceipt: this.#awaiting.size };
  }

  /** Subscribes to every change; returns the unsubscribe function. */
  subscribe(listener: (event: QueueEvent) => void): () => void {
    if (typeof listener !== "function") throw new QueueError("INVALID_ARGUMENT", "listener must be a function");
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Stops: transport events, every timer (retries, deadlines), and every running provider, policy or
   * transport call (its signal aborts; a later result is ignored). Then waits for the writes already
   * issued. Nothing is sent or written after this (a failed write is not tried again).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    for (const conv of this.#conversations.values()) {
      conv.cancelTimer?.();
      conv.cancelTimer = undefined;
    }
    for (const abort of [...this.#inFlight]) abort();
    for (const wake of [...this.#waits]) wake();
    await this.#writer.idle();
  }

  /** Waits until every store write issued so far has been attempted. */
  flush(): Promise<void> {
    return this.#writer.idle();
  }

  toString(): string {
    return `Queue(${this.#closed ? "closed" : "open"}, held ${this.#held}, awaiting receipt ${this.#awaiting.size}, bodies redacted)`;
  }
  toJSON(): string {
    return this.toString();
  }
  [INSPECT](): string {
    return this.toString();
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#closed) throw new QueueError("CLOSED", "the queue is closed; open it again");
  }

  #get(id: string): Entry {
    if (typeof id !== "string") throw new QueueError("INVALID_ARGUMENT", "id must be a string");
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new QueueError("NOT_FOUND", "the queue holds no message with this id");
    return entry;
  }

  #conversation(id: string): Conversation {
    let conv = this.#conversations.get(id);
    if (conv === undefined) {
      conv = {
        id,
        line: [],
        held: 0,
        running: false,
        again: false,
        cancelTimer: undefined,
        barrier: Promise.resolve(),
      };
      this.#conversations.set(id, conv);
    }
    return conv;
  }

  #dropIfEmpty(conv: Conversation): void {
    if (conv.held === 0 && conv.line.length === 0 && !conv.running) {
      conv.cancelTimer?.();
      this.#conversations.delete(conv.id);
    }
  }

  /** Into the line by seq (nearly always at the end). */
  #insert(conv: Conversation, entry: Entry): void {
    let i = conv.line.length;
    while (i > 0 && conv.line[i - 1]!.seq > entry.seq) i--;
    conv.line.splice(i, 0, entry);
  }

  #removeFromLine(entry: Entry): void {
    const conv = this.#conversations.get(entry.conversation);
    if (!conv) return;
    const i = conv.line.indexOf(entry);
    if (i >= 0) conv.line.splice(i, 1);
  }

  /** Forgets a message for good (cancelled, or delivered); its state becomes terminal, so nothing revives it. */
  #release(entry: Entry, end: "cancelled" | "delivered"): void {
    const previous = entry.state;
    entry.state = end;
    this.#entries.delete(entry.id);
    this.#awaiting.delete(entry.id);
    if (previous !== "sent" && previous !== "delivered" && previous !== "cancelled") {
      this.#removeFromLine(entry);
      const conv = this.#conversations.get(entry.conversation);
      if (conv) {
        conv.held--;
        this.#held--;
        this.#heldBytes -= entry.bytes;
        this.#dropIfEmpty(conv);
      }
    }
  }

  #record(entry: Entry): StoredMessage {
    const state = entry.state === "sent" || entry.state === "failed" ? entry.state : "queued";
    return {
      account: this.#owner,
      ...(entry.mayBePlaintext ? { mayBePlaintext: true } : {}),
      id: entry.id,
      conversation: entry.conversation,
      seq: entry.seq,
      body: entry.body,
      state,
      attempts: entry.attempts,
      createdAt: entry.createdAt,
      ...(entry.retryAt === undefined ? {} : { retryAt: entry.retryAt }),
      ...(entry.method === undefined ? {} : { method: entry.method }),
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
      ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
    };
  }

  /** Stores the entry as it is now (or as `record` resolves); later writes of it are ordered after this one. */
  #persist(entry: Entry, record?: Promise<StoredMessage>): Promise<void> {
    const written = this.#writer.write(entry.id, record ?? this.#record(entry));
    entry.durable = written;
    return written;
  }

  /** Background write: a failure is reported as an `error` event, not thrown. Nothing is written after close(). */
  #persistLater(entry: Entry | string): void {
    if (this.#closed) return;
    const written = typeof entry === "string" ? this.#writer.write(entry, null) : this.#persist(entry);
    written.catch((error: unknown) => {
      this.#emit({
        type: "error",
        error: isQueueError(error)
          ? error
          : new QueueError("STORE_FAILED", "the queue store failed to write; see `cause`", { cause: error }),
      });
    });
  }

  #info(e: Entry): MessageInfo {
    return {
      id: e.id,
      conversation: e.conversation,
      // Never called for a cancelled entry (no event follows its release but `cancelled`).
      state: e.state as MessageState,
      attempts: e.attempts,
      createdAt: e.createdAt,
      ...(e.method === undefined ? {} : { method: e.method }),
      ...(e.reason === undefined ? {} : { reason: e.reason }),
      ...(e.lastError === undefined ? {} : { lastError: e.lastError }),
      ...(e.retryAt === undefined ? {} : { retryAt: e.retryAt }),
    };
  }

  #emit(event: QueueEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#listenerFailed(error);
      }
    }
  }

  /** The app's `log`, guarded like a listener: a log that throws changes nothing the queue does. */
  #logLine(line: string): void {
    if (this.#log === undefined) return;
    try {
      this.#log(line);
    } catch (error) {
      this.#listenerFailed(error);
    }
  }

  #listenerFailed(error: unknown): void {
    try {
      this.#onListenerError(error);
    } catch {
      // The error handler threw too: nowhere left to report it, and the queue must go on.
    }
  }

  /** The injected clock, as the store keeps times: a safe integer (see `readClock`). */
  #now(): number {
    this.#lastNow = readClock(() => this.#timers.now(), this.#lastNow);
    return this.#lastNow;
  }

  /** Changes the state (stored in the background when `persist`), logs and emits it. */
  #setState(entry: Entry, state: MessageState, persist = false, previous = entry.state as MessageState): void {
    entry.state = state;
    if (persist) this.#persistLater(entry);
    this.#logLine(`queue: ${entry.id} ${previous} -> ${state}${entry.reason ? ` (${entry.reason})` : ""}`);
    this.#emit({ type: "state", message: this.#info(entry), previous });
  }

  #onTransport(event: TransportEvent): void {
    if (this.#closed || typeof event !== "object" || event === null) return;
    if (event.type === "online") {
      // Reconnected: waiting retries run now.
      this.retryNow();
    } else if (event.type === "receipt") {
      if (typeof event.id !== "string" || typeof event.from !== "string") return;
      const entry = this.#entries.get(event.id);
      if (entry === undefined || bareJid(event.from) !== bareJid(entry.conversation)) return;
      this.#delivered(entry);
    }
  }

  /** A receipt: whatever the message was doing, it arrived. */
  #delivered(entry: Entry): void {
    const previous = entry.state as MessageState;
    const wasHeld = previous !== "sent";
    entry.token++;
    this.#release(entry, "delivered");
    entry.retryAt = undefined;
    this.#setState(entry, "delivered", false, previous);
    this.#persistLater(entry.id);
    if (wasHeld) {
      const conv = this.#conversations.get(entry.conversation);
      if (conv) this.#kick(conv);
    }
  }

  #kick(conv: Conversation): void {
    if (this.#closed) return;
    if (conv.running) {
      // The pump may be past its checks already: run it once more when it stops.
      conv.again = true;
      return;
    }
    conv.running = true;
    conv.again = false;
    void this.#run(conv).finally(() => {
      conv.running = false;
      if (conv.again) this.#kick(conv);
      else this.#dropIfEmpty(conv);
    });
  }

  async #run(conv: Conversation): Promise<void> {
    while (!this.#closed) {
      const head = conv.line[0];
      if (head === undefined) return;
      if (this.#entries.get(head.id) !== head) {
        // No longer held (cancelled or delivered): drop it, never attempt it again.
        conv.line.shift();
        continue;
      }
      if (head.cancelling) return; // its cancel() kicks the conversation once the removal is stored (or failed)
      if (!this.#transport.isOnline()) return; // resumed by the `online` event
      if (head.retryAt !== undefined) {
        const wait = head.retryAt - this.#now();
        if (wait > 0) {
          conv.cancelTimer ??= this.#timers.schedule(wait, () => {
            conv.cancelTimer = undefined;
            this.#kick(conv);
          });
          return;
        }
      }
      conv.cancelTimer?.();
      conv.cancelTimer = undefined;
      try {
        await this.#attempt(conv, head);
      } catch (error) {
        // A store write failed before the attempt: report it and stop this conversation until a retry.
        this.#emit({
          type: "error",
          error: isQueueError(error)
            ? error
            : new QueueError("STORE_FAILED", "the queue failed; see `cause`", { cause: error }),
        });
        if (conv.line[0] === head && head.state === "queued" && !head.cancelling) {
          // Store the reservation again, then retry after the base delay.
          head.retryAt = storedTime(this.#now() + this.#limits.backoffBaseMs);
          this.#persistLater(head);
        }
      }
    }
  }

  /** One attempt of the head of its conversation. */
  async #attempt(conv: Conversation, entry: Entry): Promise<void> {
    // The attempt number is reserved in the store before the attempt runs, and an earlier message's
    // failure or cancellation is stored before a later message leaves.
    await entry.durable;
    await conv.barrier;
    const token = entry.token;
    const alive = () =>
      !this.#closed && entry.token === token && this.#entries.get(entry.id) === entry && !entry.cancelling;
    if (!alive() || entry.state !== "queued") return;
    entry.retryAt = undefined;

    // 1. Which method: the contact's default, then (encrypted) fallback; plaintext only if allowed.
    const settings = await this.#lookup(entry.conversation);
    if (!alive()) return;
    if (!settings.ok) {
      this.#fail(entry, settings);
      return;
    }
    let method: SendMethod;
    let provider: EncryptionProvider | undefined;
    if (settings.method === "none") {
      if (!this.#allowPlaintext) {
        this.#fail(entry, { ok: false, transient: false, reason: "plaintext-forbidden" });
        return;
      }
      // Given an encryption at send(): never plaintext, whatever the default says now (resend() re-reads it).
      if (!entry.mayBePlaintext) {
        this.#fail(entry, { ok: false, transient: false, reason: "plaintext-forbidden" });
        return;
      }
      method = "none";
    } else if (settings.method === "omemo" || settings.method === "otr") {
      const chosen = await this.#choose(entry, settings.method);
      if (!alive()) return;
      if (!chosen.ok) {
        this.#fail(entry, chosen);
        return;
      }
      method = chosen.method;
      provider = chosen.provider;
    } else {
      this.#fail(entry, { ok: false, transient: false, reason: "no-encryption-available" });
      return;
    }
    entry.method = method;

    // 2. Negotiate the session, with a timeout.
    let payload: unknown = entry.body;
    if (provider !== undefined) {
      this.#setState(entry, "negotiating");
      const negotiated = await this.#negotiate(provider, entry.conversation);
      if (!alive()) return;
      if (!negotiated.ok) {
        this.#fail(entry, negotiated);
        return;
      }

      // 3. Encrypt.
      this.#setState(entry, "sending");
      const p = provider;
      const encrypted = await this.#within<EncryptOutcome>(
        this.#limits.stepTimeoutMs,
        TIMED_OUT,
        (signal) => p.encrypt({ id: entry.id, to: entry.conversation, body: entry.body }, signal),
        toEncryptOutcome,
      );
      if (!alive()) return;
      if (!encrypted.ok) {
        this.#fail(entry, encrypted);
        return;
      }
      payload = encrypted.payload;
    } else {
      this.#setState(entry, "sending");
    }

    // 4. Send with the stable origin-id.
    const sent = await this.#within<StepOutcome>(
      this.#limits.stepTimeoutMs,
      ACK_TIMEOUT,
      (signal) =>
        this.#transport.send(
          { to: entry.conversation, originId: entry.id, method, payload, attempt: entry.attempts },
          signal,
        ),
      toStepOutcome,
    );
    if (!alive()) return;
    if (!sent.ok) {
      this.#fail(entry, sent);
      return;
    }
    this.#removeFromLine(entry);
    // `conv` is running, so it is still the conversation's record.
    conv.held--;
    this.#held--;
    this.#heldBytes -= entry.bytes;
    entry.lastError = undefined;
    // Sent: the body is no longer needed (in memory or in the store) to match a receipt.
    entry.body = "";
    this.#awaiting.set(entry.id, entry);
    this.#setState(entry, "sent", true);
    if (this.#awaiting.size > this.#limits.maxAwaitingReceipt) {
      const oldest = this.#awaiting.values().next().value!;
      this.#awaiting.delete(oldest.id);
      this.#entries.delete(oldest.id);
      this.#persistLater(oldest.id);
      this.#emit({ type: "forgotten", id: oldest.id, conversation: oldest.conversation });
    }
  }

  async #choose(
    entry: Entry,
    preferred: EncryptionMethod,
  ): Promise<{ ok: true; method: EncryptionMethod; provider: EncryptionProvider } | StepFailure> {
    const candidates: EncryptionMethod[] = this.#fallback ? [preferred, OTHER[preferred]] : [preferred];
    let firstTransient: StepFailure | undefined;
    let firstPermanent: StepFailure | undefined;
    for (const method of candidates) {
      const provider = this.#providers[method];
      if (provider === undefined) continue;
      // Checked field by field: only a reason of the closed sets ever reaches a stored record.
      const availability = await this.#within(
        this.#limits.stepTimeoutMs,
        TIMED_OUT,
        (signal) => provider.availability(entry.conversation, signal),
        toAvailability,
      );
      if (availability.ok) return { ok: true, method, provider };
      if (availability.transient) firstTransient ??= availability;
      else firstPermanent ??= availability;
    }
    return firstTransient ?? firstPermanent ?? { ok: false, transient: false, reason: "no-encryption-available" };
  }

  #negotiate(provider: EncryptionProvider, contact: string): Promise<StepOutcome> {
    return this.#within(
      this.#limits.negotiationTimeoutMs,
      { ok: false, transient: true, reason: "negotiation-timeout" },
      (signal) => provider.negotiate(contact, signal),
      toStepOutcome,
    );
  }

  /**
   * Runs a call with a deadline: when it passes (or the queue closes), `signal` aborts and the call counts
   * as `timedOut`; a result that comes later is ignored. The result is checked by `check`; a thrown error
   * or a malformed result is a transient `error` (see `step`). After close() nothing is called.
   */
  #within<T>(
    ms: number,
    timedOut: StepFailure,
    run: (signal: AbortSignal) => Promise<unknown>,
    check: (result: unknown) => T,
  ): Promise<T | StepFailure> {
    if (this.#closed) return Promise.resolve(timedOut);
    const controller = new AbortController();
    return new Promise<T | StepFailure>((resolve) => {
      // Assigned once scheduled (a Timers that fires at once finds it undefined).
      let cancel: (() => void) | undefined = undefined;
      const finish = (outcome: T | StepFailure) => {
        if (!this.#inFlight.delete(abort)) return; // settled already (deadline, close or result)
        cancel?.();
        resolve(outcome);
      };
      const abort = () => {
        controller.abort();
        finish(timedOut);
      };
      this.#inFlight.add(abort);
      cancel = this.#timers.schedule(ms, abort);
      void step(() => run(controller.signal), check).then(finish);
    });
  }

  /** The contact's default encryption, within the step deadline. */
  #lookup(contact: string): Promise<{ ok: true; method: SendMethod } | StepFailure> {
    return this.#within(
      this.#limits.stepTimeoutMs,
      TIMED_OUT,
      () => this.#policy.getContactSettings(this.#account, contact),
      // An unknown method is refused later (no-encryption-available); a result that is no object is `error`.
      (s) =>
        typeof s === "object" && s !== null
          ? { ok: true as const, method: (s as { defaultEncryption: SendMethod }).defaultEncryption }
          : STEP_ERROR,
    );
  }

  /**
   * At send() and resend(): may this message ever be plaintext (the contact's default is `none` now)?
   * A lookup that fails or times out says no. Resolves with the record to store.
   */
  async #decide(entry: Entry): Promise<StoredMessage> {
    const s = await this.#lookup(entry.conversation);
    entry.mayBePlaintext = s.ok && s.method === "none";
    return this.#record(entry);
  }

  /** A failed step: permanent fails the message; transient schedules a retry or, at the cap, fails it. */
  #fail(entry: Entry, failure: StepFailure): void {
    if (!failure.transient) {
      this.#failFor(entry, failure.reason);
      return;
    }
    entry.lastError = failure.reason;
    if (failure.reason === "offline" && !this.#transport.isOnline()) {
      // Our own connection dropped: the attempt did not happen; it runs again on `online`.
      this.#setState(entry, "queued");
      return;
    }
    if (entry.attempts >= this.#limits.maxAttempts) {
      this.#failFor(entry, "retries-exhausted");
      return;
    }
    const delay = this.#backoff(entry.attempts);
    entry.attempts++;
    entry.retryAt = storedTime(this.#now() + delay);
    this.#setState(entry, "queued", true);
    this.#emit({ type: "retry", message: this.#info(entry), reason: failure.reason, retryAt: entry.retryAt });
  }

  #failFor(entry: Entry, reason: FailureReason): void {
    this.#removeFromLine(entry);
    entry.reason = reason;
    entry.retryAt = undefined;
    this.#setState(entry, "failed", true);
    const conv = this.#conversations.get(entry.conversation);
    // The next message of the conversation waits until the failure is stored (stored again if it fails).
    if (conv) conv.barrier = Promise.all([conv.barrier, this.#stored(entry)]).then(() => undefined);
  }

  /**
   * Resolves once the entry's last write is stored, or no longer matters (the entry was cancelled or
   * delivered, or the queue closed). A write that fails (reported as an `error` event) is issued again
   * after a backoff (`backoffBaseMs`, doubling up to `backoffMaxMs`; at once on retryNow() or a reconnect).
   * The failure of message A must be stored before message B behind it leaves: otherwise the store keeps A
   * as queued, and after a restart A (which the user was told had failed) would go out after B.
   */
  async #stored(entry: Entry): Promise<void> {
    let delay = this.#limits.backoffBaseMs;
    for (;;) {
      const durable = entry.durable;
      try {
        await durable;
        return;
      } catch {
        // Reported by #persistLater (an `error` event).
      }
      if (entry.cancelling) {
        // A cancel whose delete is being stored: once stored, the record is gone; if not, it is put again.
        await entry.cancelling.catch(() => undefined);
        continue;
      }
      if (this.#closed || this.#entries.get(entry.id) !== entry) return;
      if (entry.durable !== durable) continue; // written again meanwhile (a resend): wait for that write
      await this.#wait(delay);
      delay = Math.min(this.#limits.backoffMaxMs, Math.max(1, delay * 2));
      if (this.#closed || this.#entries.get(entry.id) !== entry) return;
      if (entry.durable === durable && !entry.cancelling) this.#persistLater(entry);
    }
  }

  /** Resolves after `ms`, or earlier on retryNow(), a reconnect or close(). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let cancel: (() => void) | undefined = undefined;
      const wake = () => {
        if (!this.#waits.delete(wake)) return;
        cancel?.();
        resolve();
      };
      this.#waits.add(wake);
      cancel = this.#timers.schedule(ms, wake);
    });
  }

  /** Delay before attempt `failed + 1`: base·2^(failed−1), capped, jittered into [½, 1] of that. */
  #backoff(failed: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.#limits;
    const full = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(failed - 1, 52));
    let unit: number;
    try {
      unit = randomUnit(this.#random);
    } catch {
      // The injected `random` did not give 4 bytes: no jitter (the full delay) rather than a NaN retry time.
      this.#logLine("queue: random(4) did not return 4 bytes; retrying without jitter");
      unit = 1;
    }
    return Math.round(full / 2 + (full / 2) * unit);
  }
}

/** Opens (creates or resumes) the queue over its store. */
export function openQueue(options: QueueOptions): Promise<Queue> {
  return Queue.open(options);
}
