/**
 * The local WebSocket API of parley-chat (`parley-chat -p 5225`, issue 15): the commands and events of
 * @parley/sdk's protocol.ts over WebSocket text frames, for bots and integrations (@parley/sdk's
 * ParleyClient speaks it).
 *
 * - Bound to loopback unless told otherwise, and guarded by an access token. The token travels in the
 *   first frame, `{"cmd":"auth","token":"…"}`: browsers cannot set headers on a WebSocket, a query
 *   parameter ends up in URLs (logs, history, proxies), and the subprotocol list fails the handshake
 *   without a reason a client can read, so a wrong token would look like a network error and be retried
 *   forever. A first frame gets a typed `UNAUTHORIZED` reply and a close code (4401) every client sees.
 *   Tokens are compared in constant time (SHA-256 digests, `timingSafeEqual`) and never logged or echoed.
 * - Each request frame gets exactly one reply with its `id`; events go to every authenticated connection
 *   as `{"type":"event",…}`; the `ready` event follows the auth reply.
 * - A browser page may connect only from a loopback origin (http://localhost:…, http://127.0.0.1:…,
 *   http://[::1]:…) or one listed in `allowedOrigins`: any other page the user visits (or one that rebinds
 *   its DNS name to 127.0.0.1) is refused at the handshake (403), so it can neither guess tokens nor hold
 *   connections. Clients that are not browsers send no Origin and are not affected.
 * - Bad input never reaches the target and never stops the server: a binary, non-JSON or ill-formed frame
 *   or an unknown command gets a `BAD_COMMAND` reply; a frame over `maxFrameBytes` closes the connection
 *   with 1009 (ws's `maxPayload`: it is never buffered whole); more than `maxPendingPerConnection`
 *   requests at once get `BUSY` replies; a connection whose unsent backlog grows past `maxBufferedBytes`
 *   (it does not read) is closed with 4429. One connection's failure touches no other.
 * - `quit` is refused (`BAD_COMMAND`): it would stop parley-chat for every connection.
 * - The token lets a bot talk, not read the user's disk or lock the user out: `send-file` and
 *   `save-file` work only inside `filesDir` (a path is resolved against it, and one that leaves it,
 *   through `..` or a symlink, is refused with `FORBIDDEN`; without a `filesDir` both are refused), and
 *   `change-passphrase` needs the current passphrase (the keystore's copy does not stand in for it).
 * - Requests of one connection run concurrently (up to `maxPendingPerConnection`); replies may come in
 *   any order, matched by `id`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import {
  API_CLOSE,
  API_REFUSED_COMMANDS,
  isProtocolError,
  MAX_COMMAND_BYTES,
  MIN_TOKEN_CHARS,
  parseRequestText,
  PROTOCOL_VERSION,
  ProtocolError,
  requestIdOf,
  type AuthResult,
  type ChatEvent,
  type Command,
  type ErrorInfo,
  type Reply,
} from "@parley/sdk";

/** What the API serves: ChatClient, or anything with its three methods (a fake in tests). */
export interface ApiTarget {
  execute(command: Command): Promise<unknown>;
  on(listener: (event: ChatEvent) => void): () => void;
  readyEvent(): ChatEvent;
}

export interface ServeApiOptions {
  /** The access token clients send in their first frame (at least MIN_TOKEN_CHARS characters). */
  readonly token: string;
  /** 0 (the default) takes any free port. */
  readonly port?: number;
  /** Default "127.0.0.1": only this machine. */
  readonly host?: string;
  /** Connections at once, authenticated or not (default 16); more are closed with 1013. */
  readonly maxConnections?: number;
  /** Requests of one connection running at once (default 32); more get BUSY replies. */
  readonly maxPendingPerConnection?: number;
  /** The largest frame read (default MAX_COMMAND_BYTES); a larger one closes the connection with 1009. */
  readonly maxFrameBytes?: number;
  /** How long a new connection has to authenticate (default 10 s); then it is closed with 4408. */
  readonly authTimeoutMs?: number;
  /** Unsent bytes a connection may have queued (default 8 MiB); past that it is closed with 4429. */
  readonly maxBufferedBytes?: number;
  /**
   * Browser origins accepted besides loopback ones, e.g. "https://app.example.org"; "*" accepts any
   * (the token still guards). Default none.
   */
  readonly allowedOrigins?: readonly string[] | "*";
  /**
   * The directory whose files API clients may send (`send-file`) and into which they may save
   * (`save-file`); their paths are resolved against it. Default none: both commands are refused
   * (FORBIDDEN), since the token's holder could otherwise send any file the user can read to anyone.
   */
  readonly filesDir?: string;
  /** Turns a failed command's error into the reply's ErrorInfo (parley-chat passes describeError). */
  readonly describe?: (e: unknown) => ErrorInfo;
}

export interface ApiServer {
  /** e.g. "ws://127.0.0.1:5225" */
  readonly url: string;
  readonly port: number;
  /** Open connections (authenticated or not). */
  readonly connections: number;
  /** Closes every connection (1001) and stops listening. */
  close(): Promise<void>;
}

export type ApiServerErrorCode = "INVALID_OPTION" | "LISTEN_FAILED";

export class ApiServerError extends Error {
  override readonly name = "ApiServerError";
  readonly code: ApiServerErrorCode;
  constructor(code: ApiServerErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export const isApiServerError = (e: unknown, code?: ApiServerErrorCode): e is ApiServerError =>
  e instanceof ApiServerError && (code === undefined || e.code === code);

/** Without a describer: protocol errors as they are, anything else as FAILED without its message. */
function describeMinimal(e: unknown): ErrorInfo {
  if (isProtocolError(e)) return { code: e.code, message: e.message };
  return { code: "FAILED", message: "the command failed" };
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a handshake's Origin header may connect: none (not a browser), loopback, or an allowed one. */
export function originAllowed(origin: string | undefined, allowed: readonly string[] | "*" = []): boolean {
  if (origin === undefined || origin === "") return true;
  if (allowed === "*" || allowed.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

interface Connection {
  readonly socket: WebSocket;
  authenticated: boolean;
  pending: number;
  closing: boolean;
  authTimer: ReturnType<typeof setTimeout> | undefined;
}

const forbidden = (message: string): ProtocolError => new ProtocolError("FORBIDDEN", message);

/** Whether `path` is `root` or below it (both absolute and normalized). */
const inside = (root: string, path: string): boolean => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/**
 * The real path of what `path` names, when it exists, else of its directory joined with its name (a file
 * to be created); undefined when not even the directory exists.
 */
async function realTarget(path: string, mustExist: boolean): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    if (mustExist) return undefined;
  }
  try {
    return resolve(await realpath(dirname(path)), relative(dirname(path), path));
  } catch {
    return undefined;
  }
}

/**
 * What an API client may ask of the files and the passphrase (see the module comment): the command with
 * its path made absolute inside `filesDir`, or a FORBIDDEN ProtocolError.
 */
export async function apiAllowed(command: Command, filesDir: string | undefined): Promise<Command> {
  if (command.cmd === "change-passphrase" && command.current === undefined) {
    throw forbidden("over the API, changing the passphrase needs the current one (current)");
  }
  if (command.cmd !== "send-file" && command.cmd !== "save-file") return command;
  if (filesDir === undefined) {
    throw forbidden(`"${command.cmd}" needs a files directory for API clients (parley-chat --api-files DIR)`);
  }
  const root = await realpath(filesDir).catch(() => undefined);
  if (root === undefined) throw forbidden("the API's files directory does not exist");
  const named = resolve(root, command.path);
  const outside = forbidden(
    command.cmd === "send-file"
      ? "that file is not inside the API's files directory"
      : "that path is not inside the API's files directory",
  );
  if (!inside(root, named) || named === root) throw outside;
  const real = await realTarget(named, command.cmd === "send-file");
  if (real === undefined) {
    throw forbidden(
      command.cmd === "send-file"
        ? "no such file in the API's files directory"
        : "no such directory in the API's files directory",
    );
  }
  // A symlink inside that leads out (or back to the directory itself) is outside.
  if (!inside(root, real) || real === root) throw outside;
  return { ...command, path: real };
}

const CLOSE_GRACE_MS = 1000;

/** Starts the API on `host:port`; resolves once it listens. Rejects with ApiServerError. */
export async function serveApi(target: ApiTarget, options: ServeApiOptions): Promise<ApiServer> {
  const { token } = options;
  if (typeof token !== "string" || token.length < MIN_TOKEN_CHARS)
    throw new ApiServerError("INVALID_OPTION", `the API token must be at least ${MIN_TOKEN_CHARS} characters`);
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ApiServerError("INVALID_OPTION", "port must be an integer from 0 to 65535");
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) throw new ApiServerError("INVALID_OPTION", `${name} must be a positive integer`);
    return v;
  };
  const maxConnections = positive(options.maxConnections, 16, "maxConnections");
  const maxPending = positive(options.maxPendingPerConnection, 32, "maxPendingPerConnection");
  const maxFrameBytes = positive(options.maxFrameBytes, MAX_COMMAND_BYTES, "maxFrameBytes");
  const authTimeoutMs = positive(options.authTimeoutMs, 10_000, "authTimeoutMs");
  const maxBufferedBytes = positive(options.maxBufferedBytes, 8 * 1024 * 1024, "maxBufferedBytes");
  const describe = options.describe ?? describeMinimal;
  if (options.filesDir !== undefined && (typeof options.filesDir !== "string" || options.filesDir === ""))
    throw new ApiServerError("INVALID_OPTION", "filesDir must be a directory's path");
  const tokenDigest = digest(token);
  const tokenMatches = (given: unknown): boolean =>
    typeof given === "string" && timingSafeEqual(digest(given), tokenDigest);

  const connections = new Set<Connection>();

  const http = createServer((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(426, { "content-type": "text/plain", connection: "close", upgrade: "websocket" });
    res.end("parley-chat API: connect with a WebSocket\n");
  });
  const allowedOrigins = options.allowedOrigins ?? [];
  const wss = new WebSocketServer({
    server: http,
    maxPayload: maxFrameBytes,
    clientTracking: false,
    verifyClient: (info: { origin: string }, done: (ok: boolean, code?: number, message?: string) => void) => {
      if (originAllowed(info.origin, allowedOrigins)) done(true);
      else done(false, 403, "origin not allowed");
    },
  });
  wss.on("error", () => undefined); // the http server's errors; listen errors are handled below

  const hardClose = (conn: Connection, code: number, reason: string): void => {
    if (conn.closing) return;
    conn.closing = true;
    if (conn.authTimer !== undefined) clearTimeout(conn.authTimer);
    try {
      conn.socket.close(code, reason);
    } catch {
      conn.socket.terminate();
      return;
    }
    // A client that does not read never answers the close frame: drop it.
    setTimeout(() => {
      conn.socket.terminate();
    }, CLOSE_GRACE_MS).unref();
  };

  const sendText = (conn: Connection, text: string): void => {
    if (conn.closing || conn.socket.readyState !== WebSocket.OPEN) return;
    conn.socket.send(text, (err) => {
      if (err !== undefined && err !== null) conn.socket.terminate();
    });
    if (conn.socket.bufferedAmount > maxBufferedBytes)
      hardClose(conn, API_CLOSE.OVERLOADED, "too many unread replies or events");
  };

  const reply = (conn: Connection, id: string | undefined, outcome: { result: unknown } | { error: ErrorInfo }) => {
    const base = id === undefined ? { type: "reply" as const } : { type: "reply" as const, id };
    let text: string;
    if ("error" in outcome) {
      const error: ErrorInfo = {
        code: outcome.error.code,
        ...(outcome.error.detail === undefined ? {} : { detail: outcome.error.detail }),
        message: outcome.error.message,
      };
      text = JSON.stringify({ ...base, ok: false, error } satisfies Reply);
    } else {
      try {
        text = JSON.stringify({ ...base, ok: true, result: outcome.result ?? null } satisfies Reply);
      } catch {
        const error: ErrorInfo = { code: "FAILED", detail: "UNENCODABLE", message: "the result could not be encoded" };
        text = JSON.stringify({ ...base, ok: false, error } satisfies Reply);
      }
    }
    sendText(conn, text);
  };

  const describeSafely = (e: unknown): ErrorInfo => {
    try {
      return describe(e);
    } catch {
      return { code: "FAILED", message: "the command failed" };
    }
  };

  const unauthorized = (conn: Connection, id: string | undefined): void => {
    reply(conn, id, {
      error: {
        code: "UNAUTHORIZED",
        message: 'the first frame must be {"cmd":"auth","token":…} with the API\'s access token',
      },
    });
    hardClose(conn, API_CLOSE.UNAUTHORIZED, "unauthorized");
  };

  const authenticate = (conn: Connection, text: string): void => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      unauthorized(conn, undefined);
      return;
    }
    const id = requestIdOf(text);
    const o =
      typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
    if (o["cmd"] !== "auth" || !tokenMatches(o["token"])) {
      unauthorized(conn, id);
      return;
    }
    conn.authenticated = true;
    if (conn.authTimer !== undefined) clearTimeout(conn.authTimer);
    conn.authTimer = undefined;
    reply(conn, id, { result: { authenticated: true, version: PROTOCOL_VERSION } satisfies AuthResult });
    let ready: ChatEvent;
    try {
      ready = target.readyEvent();
    } catch (e) {
      reply(conn, undefined, { error: describeSafely(e) });
      return;
    }
    sendText(conn, JSON.stringify({ type: "event", ...ready }));
  };

  const request = (conn: Connection, text: string): void => {
    let command: Command;
    let id: string | undefined;
    try {
      const parsed = parseRequestText(text);
      const { id: requestId, ...rest } = parsed;
      id = requestId;
      command = rest;
    } catch (e) {
      reply(conn, requestIdOf(text), { error: describeMinimal(e) });
      return;
    }
    if (API_REFUSED_COMMANDS.includes(command.cmd)) {
      reply(conn, id, {
        error: {
          code: "BAD_COMMAND",
          message: `"${command.cmd}" is not available over the API: close the WebSocket instead`,
        },
      });
      return;
    }
    if (conn.pending >= maxPending) {
      reply(conn, id, {
        error: { code: "BUSY", message: `at most ${maxPending} requests at once per connection: wait for replies` },
      });
      return;
    }
    conn.pending++;
    void apiAllowed(command, options.filesDir)
      .then(
        // The server's own refusal (FORBIDDEN) as it is; the target's failures as the describer says.
        (allowed) =>
          Promise.resolve()
            .then(() => target.execute(allowed))
            .then(
              (result) => {
                reply(conn, id, { result });
              },
              (e: unknown) => {
                reply(conn, id, { error: describeSafely(e) });
              },
            ),
        (e: unknown) => {
          reply(conn, id, { error: describeMinimal(e) });
        },
      )
      .catch(() => undefined)
      .finally(() => {
        conn.pending--;
      });
  };

  const onFrame = (conn: Connection, data: RawData, isBinary: boolean): void => {
    if (conn.closing) return;
    if (isBinary) {
      if (!conn.authenticated) {
        unauthorized(conn, undefined);
        return;
      }
      reply(conn, undefined, {
        error: { code: "BAD_COMMAND", message: "binary frames are not accepted: send JSON text" },
      });
      return;
    }
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Buffer.from(data).toString("utf8");
    if (!conn.authenticated) authenticate(conn, text);
    else request(conn, text);
  };

  wss.on("connection", (socket: WebSocket) => {
    const conn: Connection = { socket, authenticated: false, pending: 0, closing: false, authTimer: undefined };
    socket.on("error", () => undefined); // ws closes the socket itself (e.g. 1009 past maxPayload)
    if (connections.size >= maxConnections) {
      reply(conn, undefined, { error: { code: "BUSY", message: `at most ${maxConnections} connections at once` } });
      hardClose(conn, API_CLOSE.TRY_AGAIN_LATER, "too many connections");
      return;
    }
    connections.add(conn);
    conn.authTimer = setTimeout(() => {
      hardClose(conn, API_CLOSE.AUTH_TIMEOUT, "no auth request in time");
    }, authTimeoutMs);
    conn.authTimer.unref();
    socket.on("message", (data, isBinary) => {
      try {
        onFrame(conn, data, isBinary);
      } catch {
        // A frame's handling failed: that connection is closed, nothing else is touched.
        hardClose(conn, 1011, "internal error");
      }
    });
    socket.on("close", () => {
      conn.closing = true;
      if (conn.authTimer !== undefined) clearTimeout(conn.authTimer);
      connections.delete(conn);
    });
  });

  const stopEvents = target.on((event) => {
    let text: string;
    try {
      text = JSON.stringify({ type: "event", ...event });
    } catch {
      return;
    }
    for (const conn of connections) if (conn.authenticated) sendText(conn, text);
  });

  return new Promise<ApiServer>((resolve, reject) => {
    const onListenError = (e: NodeJS.ErrnoException) => {
      stopEvents();
      wss.close();
      reject(new ApiServerError("LISTEN_FAILED", `cannot listen on ${host}:${port} (${e.code ?? "error"})`));
    };
    http.once("error", onListenError);
    http.listen(port, host, () => {
      http.off("error", onListenError);
      http.on("error", () => undefined);
      const actual = (http.address() as AddressInfo).port;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      let closed: Promise<void> | undefined;
      resolve({
        url: `ws://${shownHost}:${actual}`,
        port: actual,
        get connections() {
          return connections.size;
        },
        close() {
          closed ??= new Promise<void>((done) => {
            stopEvents();
            for (const conn of connections) hardClose(conn, API_CLOSE.GOING_AWAY, "parley-chat is shutting down");
            const waitForSockets = new Promise<void>((settle) => {
              const started = Date.now();
              const check = () => {
                if (connections.size === 0 || Date.now() - started > CLOSE_GRACE_MS + 200) settle();
                else setTimeout(check, 20);
              };
              check();
            });
            void waitForSockets.then(() => {
              for (const conn of connections) conn.socket.terminate();
              wss.close();
              http.close(() => {
                done();
              });
              http.closeAllConnections();
            });
          });
          return closed;
        },
      });
    });
  });
}
