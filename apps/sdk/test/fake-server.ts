// A small local `ws` server that speaks the API's framing (auth first frame, then ready, replies by id,
// events), for the SDK's tests.
import { WebSocket, WebSocketServer } from "ws";
import { API_CLOSE, PROTOCOL_VERSION, type ChatEvent } from "../src/index.js";

/** Every server started, for the tests' afterEach to close. */
export const started: FakeServer[] = [];

export const TOKEN = "sdk-test-token-0123456789abcdef";
export const READY: ChatEvent = {
  event: "ready",
  version: PROTOCOL_VERSION,
  jid: "bot@example.org",
  deviceId: 7,
  fingerprint: "ff",
};

export type Frame = Record<string, unknown>;
export type Handler = (frame: Frame, socket: WebSocket) => void;

export interface FakeServer {
  readonly url: string;
  readonly port: number;
  /** Requests received after authentication, in order. */
  readonly requests: Frame[];
  /** Connections opened (authenticated or not). */
  readonly connections: WebSocket[];
  handler: Handler;
  /** Leave auth requests unanswered (a server that hangs during the handshake). */
  hold: boolean;
  /** Called for each new connection before anything else. */
  onConnection: ((socket: WebSocket) => void) | undefined;
  broadcast(event: ChatEvent): void;
  close(): Promise<void>;
}

export const reply = (socket: WebSocket, id: unknown, result: unknown) => {
  socket.send(JSON.stringify({ type: "reply", id, ok: true, result }));
};

export async function fakeServer(port = 0): Promise<FakeServer> {
  const wss = new WebSocketServer({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const actual = (wss.address() as { port: number }).port;
  const server: FakeServer = {
    url: `ws://127.0.0.1:${actual}`,
    port: actual,
    requests: [],
    connections: [],
    hold: false,
    onConnection: undefined,
    handler: (frame, socket) => {
      reply(socket, frame["id"], { echo: frame["cmd"] });
    },
    broadcast(event) {
      for (const s of authed) s.send(JSON.stringify({ type: "event", ...event }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of server.connections) s.terminate();
        wss.close(() => {
          resolve();
        });
      }),
  };
  const authed = new Set<WebSocket>();
  wss.on("connection", (socket) => {
    server.connections.push(socket);
    server.onConnection?.(socket);
    let ok = false;
    socket.on("close", () => authed.delete(socket));
    socket.on("message", (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (!ok) {
        if (server.hold) return;
        if (frame["cmd"] === "auth" && frame["token"] === TOKEN) {
          ok = true;
          authed.add(socket);
          reply(socket, frame["id"], { authenticated: true, version: PROTOCOL_VERSION });
          socket.send(JSON.stringify({ type: "event", ...READY }));
        } else {
          socket.send(
            JSON.stringify({
              type: "reply",
              id: frame["id"],
              ok: false,
              error: { code: "UNAUTHORIZED", message: "wrong token" },
            }),
          );
          socket.close(API_CLOSE.UNAUTHORIZED, "unauthorized");
        }
        return;
      }
      server.requests.push(frame);
      server.handler(frame, socket);
    });
  });
  started.push(server);
  return server;
}
