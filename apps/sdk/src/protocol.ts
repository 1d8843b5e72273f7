/**
 * The command and event language of parley-chat, in one place: the readline UI turns `/commands` into
 * these commands, `--json` reads them as JSON lines, and the local WebSocket API (issue 15's SDK) speaks
 * them too. `parseCommand` is the one gate untrusted input goes through: anything it returns is well
 * formed; anything else is a `ProtocolError` that says what was wrong and never echoes the input.
 */

/**
 * Bumped on any incompatible change of the commands, replies or events below. 2: `resend`, `cancel` and
 * `mark-read` name their message by `messageId` (in 1 they used `id`, which is the request's own id: with
 * a request id, the message's was lost). Additions keep the version: a new command (`omemo`) or a new
 * optional field (the `otr` event's `trust` and `trusted`); a parley-chat without the command answers it
 * with `BAD_COMMAND`.
 */
export const PROTOCOL_VERSION = 2;

/** The longest command line or frame accepted (a file path or a message body fits; a flood does not). */
export const MAX_COMMAND_BYTES = 256 * 1024;
/** The longest message body accepted in a command. */
export const MAX_BODY_CHARS = 64 * 1024;
const MAX_JID_CHARS = 3071; // RFC 7622: 1023 local + 1023 domain + 1023 resource + separators
const MAX_FIELD_CHARS = 4096;
const MAX_REQUEST_ID_CHARS = 128;

/** How a message goes out: OMEMO (the contact's best namespace), one namespace, OTR, or plaintext. */
export type Encryption = "omemo" | "omemo2" | "legacy" | "otr" | "none";
/** A contact's default encryption (the trust store's setting). */
export type DefaultEncryption = "omemo" | "otr" | "none";
export type Protocol = "omemo" | "otr";
export type OmemoNamespaceName = "omemo2" | "legacy";
/**
 * The trust store's state of a key (@parley/trust's `TrustState`): `tofu` (trusted without verification,
 * e.g. the first key seen), `verified` (the user verified it), `untrusted` (a new key the policy did not
 * trust, or one the user distrusted), `compromised` (the user says it is in someone else's hands).
 */
export type TrustState = "tofu" | "verified" | "untrusted" | "compromised";

export type Command =
  /**
   * Queue a message: the queue negotiates the contact's default encryption (set-encryption) and retries.
   * With `namespace`, OMEMO in that namespace only, sent at once (not queued).
   */
  | { readonly cmd: "send"; readonly to: string; readonly body: string; readonly namespace?: OmemoNamespaceName }
  /** Send a failed message again (`messageId`: the id `send` returned, as in `queue`'s entries). */
  | { readonly cmd: "resend"; readonly messageId: string }
  /** Give up a message that is not delivered yet. */
  | { readonly cmd: "cancel"; readonly messageId: string }
  /** Messages not yet delivered (queued, in flight, sent awaiting a receipt, failed). */
  | { readonly cmd: "queue" }
  | { readonly cmd: "history"; readonly peer: string; readonly limit?: number }
  | { readonly cmd: "contacts" }
  | { readonly cmd: "add-contact"; readonly jid: string }
  | { readonly cmd: "approve"; readonly jid: string }
  | { readonly cmd: "remove-contact"; readonly jid: string }
  /** Our own fingerprints, or a contact's with their trust states. */
  | { readonly cmd: "fingerprints"; readonly jid?: string }
  /** The user compared the fingerprint: trust it. */
  | { readonly cmd: "verify"; readonly jid: string; readonly protocol: Protocol; readonly fingerprint: string }
  | { readonly cmd: "distrust"; readonly jid: string; readonly protocol: Protocol; readonly fingerprint: string }
  /** Our fingerprints as an `xmpp:` URI (and a QR code drawn with text, for terminals). */
  | { readonly cmd: "share"; readonly qr?: boolean }
  /** Verify the fingerprints of a scanned (pasted) `xmpp:` URI. */
  | { readonly cmd: "scan"; readonly uri: string; readonly expectedContact?: string }
  | { readonly cmd: "set-encryption"; readonly jid: string; readonly encryption: DefaultEncryption }
  | { readonly cmd: "mute"; readonly jid: string; readonly muted: boolean }
  /**
   * Turn OMEMO off (`enabled: false`) or back on for this device. Off: the device leaves our device lists
   * and its bundles are retracted, so contacts stop encrypting to it, and nothing is sent with OMEMO (the
   * queue falls back to OTR where it can; pinned-namespace sends, files and group messages fail with
   * `FAILED`, detail `OMEMO_OFF`), also after a restart, until it is turned on again (published again).
   */
  | { readonly cmd: "omemo"; readonly enabled: boolean }
  /** Start (or refresh) an OTR conversation with the contact's online resource. */
  | { readonly cmd: "otr-start"; readonly jid: string }
  | { readonly cmd: "otr-end"; readonly jid: string }
  | { readonly cmd: "smp"; readonly jid: string; readonly secret: string; readonly question?: string }
  | { readonly cmd: "smp-answer"; readonly jid: string; readonly secret: string }
  | { readonly cmd: "join"; readonly room: string; readonly nick?: string }
  | { readonly cmd: "leave"; readonly room: string }
  | { readonly cmd: "invite"; readonly room: string; readonly jid: string }
  | { readonly cmd: "room-send"; readonly room: string; readonly body: string }
  | { readonly cmd: "send-file"; readonly to: string; readonly path: string }
  /** Files received (kept encrypted in the store's media). */
  | { readonly cmd: "files" }
  /** Decrypt a received file to `path` (a new file, mode 0600; an existing one is never overwritten). */
  | { readonly cmd: "save-file"; readonly mediaId: string; readonly path: string }
  | { readonly cmd: "delete-media" }
  /**
   * `current` may be left out while the keystore holds the passphrase (a new profile's is random and was
   * never shown): the kept one is used.
   */
  | { readonly cmd: "change-passphrase"; readonly current?: string; readonly next: string }
  /** Keep the passphrase in the keystore (`remember`) or ask for it at every start. */
  | { readonly cmd: "remember-passphrase"; readonly remember: boolean; readonly passphrase?: string }
  /** Tell the contact we read their message `messageId` (a `message` event's `id`; XEP-0333 displayed marker). */
  | { readonly cmd: "mark-read"; readonly jid: string; readonly messageId: string }
  | { readonly cmd: "status" }
  | { readonly cmd: "quit" };

export type CommandName = Command["cmd"];

/** A command as a request: `id` (any short string) comes back in its reply. */
export type Request = Command & { readonly id?: string };

export type ErrorCode =
  /** Not JSON, not an object, an unknown `cmd`, a missing or ill-typed field. */
  | "BAD_COMMAND"
  /** Longer than MAX_COMMAND_BYTES. */
  | "TOO_LARGE"
  /** Missing or wrong access token (WebSocket API). */
  | "UNAUTHORIZED"
  /** Too many requests at once (WebSocket API). */
  | "BUSY"
  /**
   * Not allowed to API clients by the server's configuration (WebSocket API): a file outside its files
   * directory, file commands without one, a passphrase change without the current passphrase.
   */
  | "FORBIDDEN"
  /** A well-formed command that failed; `detail` carries the package's own error code. */
  | "FAILED";

export interface ErrorInfo {
  readonly code: ErrorCode;
  /** The failing package's code (e.g. OmemoError NO_ELIGIBLE_DEVICES, TrustError INVALID_FINGERPRINT). */
  readonly detail?: string;
  /** What was wrong. Never a message body, passphrase, key or token. */
  readonly message: string;
}

export type Reply =
  | { readonly type: "reply"; readonly id?: string; readonly ok: true; readonly result: unknown }
  | { readonly type: "reply"; readonly id?: string; readonly ok: false; readonly error: ErrorInfo };

/** A message's trip through the outgoing queue. */
export type QueueState = "queued" | "negotiating" | "sending" | "sent" | "delivered" | "failed";

export type ChatEvent =
  | {
      readonly event: "ready";
      readonly version: number;
      readonly jid: string;
      readonly deviceId: number;
      readonly fingerprint: string;
    }
  | {
      readonly event: "message";
      readonly from: string;
      readonly to: string;
      readonly direction: "in" | "out";
      readonly body: string;
      readonly encryption: Encryption;
      /** OMEMO: the sender's device. */
      readonly deviceId?: number;
      /** live, a carbon of a message to or from another of our devices, or the server's archive. */
      readonly via: "live" | "carbon" | "archive";
      readonly id?: string;
      /** Milliseconds since the epoch. */
      readonly at: number;
      /** A muted contact's message is still stored and reported, flagged. */
      readonly muted: boolean;
    }
  | {
      readonly event: "room-message";
      readonly room: string;
      readonly nick: string;
      readonly from?: string;
      readonly body: string;
      readonly at: number;
    }
  /** An invitation to a group chat (nothing joined: `join` it to accept). */
  | { readonly event: "invite"; readonly room: string; readonly from?: string; readonly reason?: string }
  | {
      readonly event: "queue";
      readonly id: string;
      readonly to: string;
      readonly state: QueueState;
      readonly previous?: QueueState;
      readonly method?: string;
      readonly reason?: string;
    }
  /** The contact's client received our message `id` (XEP-0184). */
  | { readonly event: "receipt"; readonly from: string; readonly id: string }
  /** The contact read our message `id` (XEP-0333). */
  | { readonly event: "displayed"; readonly from: string; readonly id: string }
  | {
      readonly event: "trust";
      readonly jid: string;
      readonly protocol: string;
      readonly fingerprint: string;
      readonly state: string;
      readonly deviceId?: number;
    }
  | { readonly event: "presence"; readonly jid: string; readonly online: boolean }
  | { readonly event: "subscription-request"; readonly from: string }
  | {
      readonly event: "otr";
      readonly jid: string;
      readonly state: string;
      readonly fingerprint?: string;
      /** Once encrypted: the trust store's state of the peer's OTR key (`untrusted`, `compromised`: warn). */
      readonly trust?: TrustState;
      /** Once encrypted: whether the trust store's policy trusts the key (nothing is sent to it otherwise). */
      readonly trusted?: boolean;
    }
  | { readonly event: "smp-request"; readonly jid: string; readonly question?: string }
  | { readonly event: "smp-result"; readonly jid: string; readonly result: string }
  | {
      readonly event: "file";
      readonly from: string;
      readonly mediaId?: string;
      readonly name: string;
      readonly size?: number;
    }
  | { readonly event: "error"; readonly error: ErrorInfo };

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export const isProtocolError = (e: unknown, code?: ErrorCode): e is ProtocolError =>
  e instanceof ProtocolError && (code === undefined || e.code === code);

const bad = (message: string): ProtocolError => new ProtocolError("BAD_COMMAND", message);

type Fields = Record<string, unknown>;

function str(o: Fields, key: string, max = MAX_FIELD_CHARS): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0) throw bad(`"${key}" must be a non-empty string`);
  if (v.length > max) throw bad(`"${key}" is longer than ${max} characters`);
  return v;
}

function optStr(o: Fields, key: string, max = MAX_FIELD_CHARS): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, max);
}

function jid(o: Fields, key: string): string {
  const v = str(o, key, MAX_JID_CHARS);
  if (!/^[^@/\s<>"'&]+@[^@/\s<>"'&]+$/.test(v)) throw bad(`"${key}" must be a bare JID like alice@example.org`);
  return v.toLowerCase();
}

function oneOf<T extends string>(o: Fields, key: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== "string" || !(values as readonly string[]).includes(v))
    throw bad(`"${key}" must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`);
  return v as T;
}

function bool(o: Fields, key: string): boolean {
  const v = o[key];
  if (typeof v !== "boolean") throw bad(`"${key}" must be true or false`);
  return v;
}

/** Drops undefined values, so optional fields are absent rather than undefined (exactOptionalPropertyTypes). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the type it builds
function defined<T>(o: object): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const NAMESPACES: readonly OmemoNamespaceName[] = ["omemo2", "legacy"];
const DEFAULTS: readonly DefaultEncryption[] = ["omemo", "otr", "none"];
const PROTOCOLS: readonly Protocol[] = ["omemo", "otr"];

const PARSERS: { readonly [K in CommandName]: (o: Fields) => Extract<Command, { cmd: K }> } = {
  send: (o) =>
    defined({
      cmd: "send",
      to: jid(o, "to"),
      body: str(o, "body", MAX_BODY_CHARS),
      namespace: o["namespace"] === undefined ? undefined : oneOf(o, "namespace", NAMESPACES),
    }),
  resend: (o) => ({ cmd: "resend", messageId: str(o, "messageId", 256) }),
  cancel: (o) => ({ cmd: "cancel", messageId: str(o, "messageId", 256) }),
  queue: () => ({ cmd: "queue" }),
  history: (o) => {
    const limit = o["limit"];
    if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 1000))
      throw bad('"limit" must be an integer from 1 to 1000');
    return defined({ cmd: "history", peer: jid(o, "peer"), limit: limit as number | undefined });
  },
  contacts: () => ({ cmd: "contacts" }),
  "add-contact": (o) => ({ cmd: "add-contact", jid: jid(o, "jid") }),
  approve: (o) => ({ cmd: "approve", jid: jid(o, "jid") }),
  "remove-contact": (o) => ({ cmd: "remove-contact", jid: jid(o, "jid") }),
  fingerprints: (o) => defined({ cmd: "fingerprints", jid: o["jid"] === undefined ? undefined : jid(o, "jid") }),
  verify: (o) => ({
    cmd: "verify",
    jid: jid(o, "jid"),
    protocol: oneOf(o, "protocol", PROTOCOLS),
    fingerprint: str(o, "fingerprint", 256),
  }),
  distrust: (o) => ({
    cmd: "distrust",
    jid: jid(o, "jid"),
    protocol: oneOf(o, "protocol", PROTOCOLS),
    fingerprint: str(o, "fingerprint", 256),
  }),
  share: (o) => defined({ cmd: "share", qr: o["qr"] === undefined ? undefined : bool(o, "qr") }),
  scan: (o) =>
    defined({
      cmd: "scan",
      uri: str(o, "uri"),
      expectedContact: o["expectedContact"] === undefined ? undefined : jid(o, "expectedContact"),
    }),
  "set-encryption": (o) => ({
    cmd: "set-encryption",
    jid: jid(o, "jid"),
    encryption: oneOf(o, "encryption", DEFAULTS),
  }),
  mute: (o) => ({ cmd: "mute", jid: jid(o, "jid"), muted: bool(o, "muted") }),
  omemo: (o) => ({ cmd: "omemo", enabled: bool(o, "enabled") }),
  "otr-start": (o) => ({ cmd: "otr-start", jid: jid(o, "jid") }),
  "otr-end": (o) => ({ cmd: "otr-end", jid: jid(o, "jid") }),
  smp: (o) => defined({ cmd: "smp", jid: jid(o, "jid"), secret: str(o, "secret"), question: optStr(o, "question") }),
  "smp-answer": (o) => ({ cmd: "smp-answer", jid: jid(o, "jid"), secret: str(o, "secret") }),
  join: (o) => defined({ cmd: "join", room: jid(o, "room"), nick: optStr(o, "nick", 1023) }),
  leave: (o) => ({ cmd: "leave", room: jid(o, "room") }),
  invite: (o) => ({ cmd: "invite", room: jid(o, "room"), jid: jid(o, "jid") }),
  "room-send": (o) => ({ cmd: "room-send", room: jid(o, "room"), body: str(o, "body", MAX_BODY_CHARS) }),
  "send-file": (o) => ({ cmd: "send-file", to: jid(o, "to"), path: str(o, "path") }),
  files: () => ({ cmd: "files" }),
  "save-file": (o) => ({ cmd: "save-file", mediaId: str(o, "mediaId", 256), path: str(o, "path") }),
  "delete-media": () => ({ cmd: "delete-media" }),
  "change-passphrase": (o) =>
    defined({ cmd: "change-passphrase", current: optStr(o, "current"), next: str(o, "next") }),
  "remember-passphrase": (o) =>
    defined({ cmd: "remember-passphrase", remember: bool(o, "remember"), passphrase: optStr(o, "passphrase") }),
  "mark-read": (o) => ({ cmd: "mark-read", jid: jid(o, "jid"), messageId: str(o, "messageId", 256) }),
  status: () => ({ cmd: "status" }),
  quit: () => ({ cmd: "quit" }),
};

export const COMMAND_NAMES = Object.keys(PARSERS) as CommandName[];

/**
 * Checks one request (a parsed JSON value). Throws ProtocolError BAD_COMMAND naming the field that is
 * wrong; the message never contains the value given.
 */
export function parseRequest(value: unknown): Request {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw bad('a command is a JSON object with a "cmd" field');
  const o = value as Fields;
  const cmd = o["cmd"];
  if (typeof cmd !== "string" || !Object.hasOwn(PARSERS, cmd))
    throw bad(`unknown "cmd"; one of: ${COMMAND_NAMES.join(", ")}`);
  const id = o["id"];
  if (id !== undefined && (typeof id !== "string" || id.length === 0 || id.length > MAX_REQUEST_ID_CHARS))
    throw bad(`"id" must be a string of 1 to ${MAX_REQUEST_ID_CHARS} characters`);
  const command = (PARSERS[cmd as CommandName] as (o: Fields) => Command)(o);
  return id === undefined ? command : { ...command, id };
}

const encoder = new TextEncoder();
const utf8Length = (text: string): number => encoder.encode(text).length;

/** One JSON line or WebSocket text frame to a request: TOO_LARGE, BAD_COMMAND, or the request. */
export function parseRequestText(text: string): Request {
  if (text.length > MAX_COMMAND_BYTES || utf8Length(text) > MAX_COMMAND_BYTES)
    throw new ProtocolError("TOO_LARGE", `a command may be at most ${MAX_COMMAND_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad("not JSON");
  }
  return parseRequest(value);
}

/** The request id of a value that failed to parse, if it had a usable one (so the error reply can name it). */
export function requestIdOf(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const id = (v as Fields)["id"];
      if (typeof id === "string" && id.length > 0 && id.length <= MAX_REQUEST_ID_CHARS) return id;
    }
  } catch {
    // no id to give back
  }
  return undefined;
}

// ------------------------------------------------------------------ the local WebSocket API

/**
 * The first frame a WebSocket connection sends: the access token `parley-chat -p` was given. The server
 * answers it with a reply (`result`: {@link AuthResult}) and then the `ready` event; a wrong or missing
 * token gets an `UNAUTHORIZED` reply and the connection is closed with {@link API_CLOSE}.UNAUTHORIZED.
 * Not a {@link Command}: it is only valid as the first frame.
 */
export interface AuthRequest {
  readonly cmd: "auth";
  readonly token: string;
  readonly id?: string;
}

/** The result of a successful {@link AuthRequest}. */
export interface AuthResult {
  readonly authenticated: true;
  readonly version: number;
}

/** An event as the WebSocket API (and `--json`) sends it: the {@link ChatEvent} with `type: "event"`. */
export type EventFrame = { readonly type: "event" } & ChatEvent;

/** Every frame the server sends: a reply to one request, or an event. */
export type ServerFrame = Reply | EventFrame;

/**
 * The close codes of the WebSocket API. Standard codes where one fits (RFC 6455), 4000-4999 for the rest;
 * the close reason is a short English sentence, never the token or any content.
 */
export const API_CLOSE = {
  /** The client or the server closed the connection on purpose. */
  NORMAL: 1000,
  /** The server is shutting down (`parley-chat` quits). */
  GOING_AWAY: 1001,
  /** A frame larger than the server's limit (MAX_COMMAND_BYTES by default); it was not read. */
  TOO_LARGE: 1009,
  /** The server already has as many connections as it accepts; try later. */
  TRY_AGAIN_LATER: 1013,
  /** The first frame was not an auth request with the right token. Do not retry with the same token. */
  UNAUTHORIZED: 4401,
  /** No auth request came in time after the connection opened. */
  AUTH_TIMEOUT: 4408,
  /** The client sent requests much faster than it read the replies and events (its backlog overflowed). */
  OVERLOADED: 4429,
} as const;

export type ApiCloseCode = (typeof API_CLOSE)[keyof typeof API_CLOSE];

/** The shortest access token the server accepts (use 32 random bytes in hex or base64url). */
export const MIN_TOKEN_CHARS = 16;

/**
 * Commands the WebSocket API refuses with `BAD_COMMAND`: `quit` would stop parley-chat for every
 * connection (close the WebSocket instead; stop parley-chat where it was started).
 */
export const API_REFUSED_COMMANDS: readonly CommandName[] = ["quit"];
