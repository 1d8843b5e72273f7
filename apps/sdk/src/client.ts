/**
 * ParleyClient: a typed client for parley-chat's local WebSocket API (`parley-chat -p 5225`).
 *
 * It authenticates with the first frame (`{"cmd":"auth","token":…}`), waits for the `ready` event,
 * matches replies to requests by `id`, dispatches events by name, and reconnects after a lost
 * connection with capped exponential backoff and jitter. Requests in flight when the connection drops
 * are rejected with an {@link SdkError} (`DISCONNECTED`); they are not resent (a `send` may have
 * reached parley-chat). Browser-safe: no Node imports; in Node 20 pass the `ws` package's WebSocket.
 */
import {
  API_CLOSE,
  MAX_COMMAND_BYTES,
  type AuthRequest,
  type ChatEvent,
  type Command,
  type DefaultEncryption,
  type ErrorCode,
  type ErrorInfo,
  type OmemoNamespaceName,
  type Protocol,
} from "./protocol.js";
import type {
  CommandResults,
  Contact,
  ContactFingerprint,
  ContactSettingsResult,
  DirectSend,
  HistoryEntry,
  OmemoSwitchResult,
  OwnFingerprints,
  QueuedSend,
  QueueEntry,
  ResultOf,
  Status,
  TrustResult,
} from "./results.js";

/** The part of a WebSocket the client uses: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The timer functions the client uses (tests pass fake ones). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ReconnectOptions {
  /** The first delay after a lost connection (default 500 ms). */
  readonly initialDelayMs?: number;
  /** The longest delay (default 30 s). */
  readonly maxDelayMs?: number;
  /** Each failed attempt multiplies the delay by this (default 2). */
  readonly factor?: number;
  /** 0 to 1: each delay is shortened by up to this fraction, at random (default 0.5). */
  readonly jitter?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  readonly maxAttempts?: number;
}

export interface ConnectOptions {
  /** The access token parley-chat was started with (`--api-token` or PARLEY_CHAT_API_TOKEN). */
  readonly token: string;
  /** Default globalThis.WebSocket (browsers, Node 22+); in Node 20 pass `WebSocket` from the `ws` package. */
  readonly WebSocket?: WebSocketConstructor;
  /** `false`: no reconnection. Default: on, with the defaults of {@link ReconnectOptions}. */
  readonly reconnect?: ReconnectOptions | false;
  /** How long a request waits for its reply (default 120 s; 0: no limit). */
  readonly requestTimeoutMs?: number;
  /** How long a connection attempt may take up to the `ready` event (default 10 s). */
  readonly connectTimeoutMs?: number;
  readonly timers?: Timers;
  /** A number in [0, 1) (default Math.random), for the jitter. */
  readonly random?: () => number;
}

export type SdkErrorCode =
  | ErrorCode
  /** The connection dropped (or was not open) before the reply came. */
  | "DISCONNECTED"
  /** close() was called. */
  | "CLOSED"
  /** No reply (or no `ready` event) in time. */
  | "TIMEOUT"
  /** The connection could not be opened. */
  | "CONNECT_FAILED"
  /** No WebSocket implementation: pass the `ws` package's in Node 20. */
  | "NO_WEBSOCKET";

/** A failed request or connection. `code` is the server's ErrorCode or one of the client's own. */
export class SdkError extends Error {
  override readonly name = "SdkError";
  readonly code: SdkErrorCode;
  /** The failing package's code, from the server's ErrorInfo. */
  readonly detail: string | undefined;
  /** The WebSocket close code, when the connection closed. */
  readonly closeCode: number | undefined;
  constructor(code: SdkErrorCode, message: string, extra: { detail?: string; closeCode?: number } = {}) {
    super(message);
    this.code = code;
    this.detail = extra.detail;
    this.closeCode = extra.closeCode;
  }
  static fromInfo(info: ErrorInfo): SdkError {
    return new SdkError(info.code, info.message, info.detail === undefined ? {} : { detail: info.detail });
  }
}

export const isSdkError = (e: unknown, code?: SdkErrorCode): e is SdkError =>
  e instanceof SdkError && (code === undefined || e.code === code);

export type EventName = ChatEvent["event"];
export type EventOf<E extends EventName> = Extract<ChatEvent, { event: E }>;
export type ReadyEvent = EventOf<"ready">;

/** The connection's own events, beside parley-chat's. */
export interface ConnectionEvents {
  /** Authenticated (again): the `ready` event of this connection. */
  connected: ReadyEvent;
  /** The connection was lost; `retryInMs` is set when a reconnection is scheduled. */
  disconnected: { readonly code: number; readonly reason: string; readonly retryInMs?: number };
  /** The client stopped for good: close() was called, the token was refused, or reconnection gave up. */
  closed: { readonly error?: SdkError };
}

type Listener<T> = (value: T) => void;

interface Pending {
  resolve(value: unknown): void;
  reject(error: SdkError): void;
  timer: unknown;
}

const OPEN = 1;
const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => {
    globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
  },
};

/** The delay before reconnection attempt `attempt` (0 for the first): capped exponential, shortened by jitter. */
export function backoffDelay(attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random) {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * Math.pow(factor, attempt));
  return Math.round(base * (1 - jitter * random()));
}

const encoder = new TextEncoder();

export class ParleyClient {
  readonly url: string;
  readonly #options: ConnectOptions;
  readonly #WebSocket: WebSocketConstructor;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #pending = new Map<string, Pending>();
  readonly #listeners = new Map<string, Set<Listener<never>>>();
  #socket: WebSocketLike | undefined;
  #ready: ReadyEvent | undefined;
  #nextId = 0;
  #attempt = 0;
  #retryTimer: unknown;
  /** Ends the connection attempt under way (its timer included). */
  #abortAttempt: (() => void) | undefined;
  #closed = false;
  #connected = false;

  private constructor(url: string, options: ConnectOptions, WebSocket: WebSocketConstructor) {
    this.url = url;
    this.#options = options;
    this.#WebSocket = WebSocket;
    this.#timers = options.timers ?? defaultTimers;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Opens a connection, authenticates and waits for the `ready` event. Rejects with an SdkError if the
   * first connection fails (UNAUTHORIZED for a refused token, CONNECT_FAILED, TIMEOUT); later losses
   * reconnect.
   */
  static async connect(url: string, options: ConnectOptions): Promise<ParleyClient> {
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
    if (WebSocket === undefined)
      throw new SdkError("NO_WEBSOCKET", "no WebSocket here: pass { WebSocket } (the ws package in Node 20)");
    const client = new ParleyClient(url, options, WebSocket);
    await client.#open();
    return client;
  }

  /** The `ready` event of the current (or last) connection: the account's JID, device and fingerprint. */
  get ready(): ReadyEvent {
    return this.#ready!;
  }

  /** True while authenticated. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Listens to one of parley-chat's events (or "*" for all); returns the function that stops it. */
  on<E extends EventName>(event: E, listener: Listener<EventOf<E>>): () => void;
  on(event: "*", listener: Listener<ChatEvent>): () => void;
  on<K extends keyof ConnectionEvents>(event: K, listener: Listener<ConnectionEvents[K]>): () => void;
  on(event: string, listener: Listener<never>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Sends one command; resolves with its result, or rejects with an SdkError. */
  request<C extends Command>(command: C, options: { timeoutMs?: number } = {}): Promise<ResultOf<C>> {
    if (this.#closed) return Promise.reject(new SdkError("CLOSED", "the client is closed"));
    const socket = this.#socket;
    if (!this.#connected || socket === undefined || socket.readyState !== OPEN)
      return Promise.reject(new SdkError("DISCONNECTED", "not connected to parley-chat (reconnecting)"));
    const id = `r${++this.#nextId}`;
    const text = JSON.stringify({ ...command, id });
    // The server would close the connection for a frame this large: refuse it here instead.
    if (text.length > MAX_COMMAND_BYTES || encoder.encode(text).length > MAX_COMMAND_BYTES)
      return Promise.reject(new SdkError("TOO_LARGE", `a command may be at most ${MAX_COMMAND_BYTES} bytes`));
    return new Promise<ResultOf<C>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 120_000;
      const timer =
        timeoutMs > 0
          ? this.#timers.setTimeout(() => {
              this.#pending.delete(id);
              reject(new SdkError("TIMEOUT", `no reply to "${command.cmd}" in ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      this.#pending.set(id, { resolve, reject, timer });
      try {
        socket.send(text);
      } catch {
        this.#settle(id, new SdkError("DISCONNECTED", "the connection closed while sending"));
      }
    });
  }

  // ------------------------------------------------------------------ convenience

  /** Sends a message through parley-chat's queue (the contact's default encryption, retried). */
  send(to: string, body: string): Promise<QueuedSend>;
  /** Sends a message at once with OMEMO in one namespace. */
  send(to: string, body: string, namespace: OmemoNamespaceName): Promise<DirectSend>;
  send(to: string, body: string, namespace?: OmemoNamespaceName): Promise<QueuedSend | DirectSend> {
    return namespace === undefined
      ? this.request({ cmd: "send", to, body })
      : this.request({ cmd: "send", to, body, namespace });
  }
  contacts(): Promise<readonly Contact[]> {
    return this.request({ cmd: "contacts" });
  }
  addContact(jid: string): Promise<{ readonly jid: string }> {
    return this.request({ cmd: "add-contact", jid });
  }
  approve(jid: string): Promise<{ readonly jid: string }> {
    return this.request({ cmd: "approve", jid });
  }
  /** Our own fingerprints. */
  fingerprints(): Promise<OwnFingerprints>;
  /** A contact's keys and their trust states. */
  fingerprints(jid: string): Promise<readonly ContactFingerprint[]>;
  fingerprints(jid?: string): Promise<OwnFingerprints | readonly ContactFingerprint[]> {
    return jid === undefined ? this.request({ cmd: "fingerprints" }) : this.request({ cmd: "fingerprints", jid });
  }
  /** Marks a contact's key as verified (the user compared it). */
  verify(jid: string, fingerprint: string, protocol: Protocol = "omemo"): Promise<TrustResult> {
    return this.request({ cmd: "verify", jid, protocol, fingerprint });
  }
  distrust(jid: string, fingerprint: string, protocol: Protocol = "omemo"): Promise<TrustResult> {
    return this.request({ cmd: "distrust", jid, protocol, fingerprint });
  }
  setEncryption(jid: string, encryption: DefaultEncryption): Promise<ContactSettingsResult> {
    return this.request({ cmd: "set-encryption", jid, encryption });
  }
  /**
   * Turns OMEMO off (`false`) or back on for this device: off, the device leaves its device lists and
   * nothing is sent with OMEMO until it is turned on again (see the `omemo` command in API.md).
   */
  setOmemo(enabled: boolean): Promise<OmemoSwitchResult> {
    return this.request({ cmd: "omemo", enabled });
  }
  history(peer: string, limit?: number): Promise<readonly HistoryEntry[]> {
    return this.request(limit === undefined ? { cmd: "history", peer } : { cmd: "history", peer, limit });
  }
  queue(): Promise<readonly QueueEntry[]> {
    return this.request({ cmd: "queue" });
  }
  /** Sends a failed message again (`messageId`: what `send` returned, or a `queue` entry's id). */
  resend(messageId: string): Promise<CommandResults["resend"]> {
    return this.request({ cmd: "resend", messageId });
  }
  /** Gives up a message that is not delivered yet. */
  cancel(messageId: string): Promise<CommandResults["cancel"]> {
    return this.request({ cmd: "cancel", messageId });
  }
  /** Tells `jid` that its message `messageId` (a `message` event's `id`) was read (XEP-0333). */
  markRead(jid: string, messageId: string): Promise<CommandResults["mark-read"]> {
    return this.request({ cmd: "mark-read", jid, messageId });
  }
  /**
   * Sends a file with OMEMO media sharing: a path on parley-chat's machine, inside the directory it was
   * started with (`--api-files`; relative paths are taken from there). Elsewhere: FORBIDDEN.
   */
  sendFile(
    to: string,
    path: string,
  ): Promise<{ readonly to: string; readonly size: number; readonly uploadName: string }> {
    return this.request({ cmd: "send-file", to, path });
  }
  status(): Promise<Status> {
    return this.request({ cmd: "status" });
  }

  /** Stops for good: no reconnection, pending requests rejected with CLOSED. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#connected = false;
    if (this.#retryTimer !== undefined) this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#abortAttempt?.();
    this.#rejectAll(new SdkError("CLOSED", "the client is closed"));
    const socket = this.#socket;
    this.#socket = undefined;
    this.#emit("closed", {});
    if (socket === undefined || socket.readyState > OPEN) return Promise.resolve();
    return new Promise((resolve) => {
      socket.onclose = () => {
        resolve();
      };
      socket.onerror = () => undefined;
      socket.onmessage = null;
      try {
        socket.close(API_CLOSE.NORMAL, "bye");
      } catch {
        resolve();
      }
    });
  }

  // ------------------------------------------------------------------ connection

  /** One connection attempt: resolves once authenticated and `ready`, rejects with an SdkError. */
  #open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new this.#WebSocket(this.url);
      } catch {
        reject(new SdkError("CONNECT_FAILED", `cannot open a WebSocket to ${this.url}`));
        return;
      }
      this.#socket = socket;
      const authId = `auth${++this.#nextId}`;
      let settled = false;
      let authenticated = false;
      const connectTimeoutMs = this.#options.connectTimeoutMs ?? 10_000;
      const timer = this.#timers.setTimeout(() => {
        fail(new SdkError("TIMEOUT", `no ready event from ${this.url} in ${connectTimeoutMs} ms`));
        try {
          socket.close(API_CLOSE.NORMAL, "timeout");
        } catch {
          // already closing
        }
      }, connectTimeoutMs);
      const fail = (error: SdkError): void => {
        if (settled) return;
        settled = true;
        this.#abortAttempt = undefined;
        this.#timers.clearTimeout(timer);
        reject(error);
      };
      this.#abortAttempt = () => {
        fail(new SdkError("CLOSED", "the client is closed"));
      };
      socket.onopen = () => {
        const auth: AuthRequest = { cmd: "auth", token: this.#options.token, id: authId };
        socket.send(JSON.stringify(auth));
      };
      socket.onerror = () => undefined; // onclose follows with the code
      socket.onmessage = (event: { readonly data: unknown }) => {
        if (this.#socket !== socket) return;
        const frame = parseFrame(event.data);
        if (frame === undefined) return;
        if (!settled) {
          if (frame["type"] === "reply" && frame["id"] === authId) {
            if (frame["ok"] === true) authenticated = true;
            else fail(errorOf(frame) ?? new SdkError("UNAUTHORIZED", "the token was refused"));
            return;
          }
          if (authenticated && frame["type"] === "event" && frame["event"] === "ready") {
            settled = true;
            this.#abortAttempt = undefined;
            this.#timers.clearTimeout(timer);
            this.#connected = true;
            this.#attempt = 0;
            this.#ready = eventOf(frame) as ReadyEvent;
            resolve();
            this.#emit("connected", this.#ready);
            this.#dispatch(this.#ready);
          }
          return;
        }
        this.#frame(frame);
      };
      socket.onclose = (event: { readonly code: number; readonly reason: string }) => {
        if (this.#socket !== socket) return;
        this.#socket = undefined;
        const wasConnected = this.#connected;
        this.#connected = false;
        const code = event.code;
        if (!settled) {
          fail(
            code === API_CLOSE.UNAUTHORIZED
              ? new SdkError("UNAUTHORIZED", "the token was refused", { closeCode: code })
              : code === API_CLOSE.TRY_AGAIN_LATER
                ? new SdkError("BUSY", "parley-chat has as many connections as it accepts", { closeCode: code })
                : new SdkError("CONNECT_FAILED", `cannot connect to ${this.url} (close code ${code})`, {
                    closeCode: code,
                  }),
          );
        }
        if (wasConnected) this.#lost(code, event.reason);
      };
    });
  }

  /** A connection that was up is gone: reject what waited on it, and reconnect unless told not to. */
  #lost(code: number, reason: string): void {
    this.#rejectAll(
      code === 1009
        ? new SdkError("TOO_LARGE", "the server closed the connection: a frame was too large", { closeCode: code })
        : new SdkError("DISCONNECTED", `the connection closed (${code})`, { closeCode: code }),
    );
    if (this.#closed) return;
    if (code === API_CLOSE.UNAUTHORIZED || this.#options.reconnect === false) {
      this.#emit("disconnected", { code, reason });
      this.#stop(new SdkError("DISCONNECTED", `the connection closed (${code})`, { closeCode: code }));
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  #scheduleReconnect(code: number, reason: string): void {
    const options = this.#options.reconnect === false ? {} : (this.#options.reconnect ?? {});
    if (options.maxAttempts !== undefined && this.#attempt >= options.maxAttempts) {
      this.#emit("disconnected", { code, reason });
      this.#stop(new SdkError("CONNECT_FAILED", `gave up reconnecting after ${this.#attempt} attempts`));
      return;
    }
    const delay = backoffDelay(this.#attempt, options, this.#random);
    this.#attempt++;
    this.#emit("disconnected", { code, reason, retryInMs: delay });
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed) return;
      this.#open().catch((e: unknown) => {
        if (this.#closed) return;
        const error = e instanceof SdkError ? e : new SdkError("CONNECT_FAILED", "reconnection failed");
        if (error.code === "UNAUTHORIZED") this.#stop(error);
        else this.#scheduleReconnect(error.closeCode ?? 1006, error.message);
      });
    }, delay);
  }

  #stop(error: SdkError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#emit("closed", { error });
  }

  #frame(frame: Record<string, unknown>): void {
    if (frame["type"] === "reply") {
      const id = frame["id"];
      if (typeof id !== "string") return; // a reply to a frame we did not send
      if (frame["ok"] === true) this.#settle(id, undefined, frame["result"]);
      else this.#settle(id, errorOf(frame) ?? new SdkError("FAILED", "the command failed"));
    } else if (frame["type"] === "event") {
      const event = eventOf(frame);
      if (event !== undefined) this.#dispatch(event);
    }
  }

  #settle(id: string, error: SdkError | undefined, result?: unknown): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (pending.timer !== undefined) this.#timers.clearTimeout(pending.timer);
    if (error === undefined) pending.resolve(result);
    else pending.reject(error);
  }

  #rejectAll(error: SdkError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, error);
  }

  #dispatch(event: ChatEvent): void {
    this.#emit(event.event, event);
    this.#emit("*", event);
  }

  #emit(name: string, value: unknown): void {
    const set = this.#listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<unknown>)(value);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}

function parseFrame(data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const value = JSON.parse(data) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function errorOf(frame: Record<string, unknown>): SdkError | undefined {
  const error = frame["error"];
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as Record<string, unknown>;
  const code = e["code"];
  const message = e["message"];
  if (typeof code !== "string" || typeof message !== "string") return undefined;
  const detail = e["detail"];
  return SdkError.fromInfo({
    code: code as ErrorCode,
    message,
    ...(typeof detail === "string" ? { detail } : {}),
  });
}

function eventOf(frame: Record<string, unknown>): ChatEvent | undefined {
  if (typeof frame["event"] !== "string") return undefined;
  const event: Record<string, unknown> = { ...frame };
  delete event["type"];
  return event as unknown as ChatEvent;
}
