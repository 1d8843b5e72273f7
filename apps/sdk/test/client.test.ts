// ParleyClient against a small local `ws` server that speaks the API's framing (auth first frame, ready,
// replies by id, events): request/reply matching, typed errors, reconnection with backoff, closing.
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import {
  backoffDelay,
  isSdkError,
  MAX_COMMAND_BYTES,
  ParleyClient,
  SdkError,
  type ConnectOptions,
  type Timers,
} from "../src/index.js";
import { fakeServer, READY, reply, started, TOKEN, type Frame } from "./fake-server.js";

const clients: ParleyClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of started.splice(0)) await s.close();
  vi.unstubAllGlobals();
});

async function connect(url: string, options: Partial<ConnectOptions> = {}): Promise<ParleyClient> {
  const client = await ParleyClient.connect(url, { token: TOKEN, WebSocket, ...options });
  clients.push(client);
  return client;
}

/** Real timers scaled down (so tests are fast), recording the delays the client asked for. */
function recordingTimers(scale = 0.01): Timers & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    setTimeout(callback, ms) {
      delays.push(ms);
      return setTimeout(callback, Math.max(1, Math.round(ms * scale)));
    },
    clearTimeout: (handle) => {
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
  };
}

const until = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`waited 10 s for ${what}`);
};

describe("ParleyClient", () => {
  it("authenticates, exposes the ready event, and matches replies that come out of order among events", async () => {
    const server = await fakeServer();
    const held: Frame[] = [];
    server.handler = (frame, socket) => {
      held.push(frame);
      if (held.length < 3) return;
      // Answer in reverse order, with events in between.
      for (const f of held.reverse()) {
        socket.send(JSON.stringify({ type: "event", event: "presence", jid: "ann@example.org", online: true }));
        reply(socket, f["id"], { for: f["cmd"] });
      }
    };
    const client = await connect(server.url);
    expect(client.ready).toEqual(READY);
    expect(client.connected).toBe(true);
    const presences: unknown[] = [];
    const all: string[] = [];
    client.on("presence", (e) => presences.push(e.online));
    client.on("*", (e) => all.push(e.event));
    const [a, b, c] = await Promise.all([client.request({ cmd: "contacts" }), client.status(), client.queue()]);
    expect([a, b, c]).toEqual([{ for: "contacts" }, { for: "status" }, { for: "queue" }]);
    expect(presences).toEqual([true, true, true]);
    expect(all).toEqual(["presence", "presence", "presence"]);
    const ids = server.requests.map((f) => f["id"]);
    expect(new Set(ids).size).toBe(3);
  });

  it("sends convenience commands as the protocol's commands", async () => {
    const server = await fakeServer();
    const client = await connect(server.url);
    await client.send("ann@example.org", "hi");
    await client.send("ann@example.org", "hi", "legacy");
    await client.fingerprints("ann@example.org");
    await client.verify("ann@example.org", "abcd");
    await client.history("ann@example.org", 5);
    await client.resend("m-7");
    await client.cancel("m-8");
    await client.markRead("ann@example.org", "their-9");
    // The message ids travel beside the request's own id, never in its place.
    expect(server.requests.slice(-3).map((f) => typeof f["id"] === "string" && !f["id"].startsWith("m-"))).toEqual([
      true,
      true,
      true,
    ]);
    const sent = server.requests.map((f) => {
      const rest = { ...f };
      delete rest["id"];
      return rest;
    });
    expect(sent).toEqual([
      { cmd: "send", to: "ann@example.org", body: "hi" },
      { cmd: "send", to: "ann@example.org", body: "hi", namespace: "legacy" },
      { cmd: "fingerprints", jid: "ann@example.org" },
      { cmd: "verify", jid: "ann@example.org", protocol: "omemo", fingerprint: "abcd" },
      { cmd: "history", peer: "ann@example.org", limit: 5 },
      { cmd: "resend", messageId: "m-7" },
      { cmd: "cancel", messageId: "m-8" },
      { cmd: "mark-read", jid: "ann@example.org", messageId: "their-9" },
    ]);
  });

  it("setOmemo sends the omemo command and resolves with its result; otr events carry the key's trust", async () => {
    const server = await fakeServer();
    server.handler = (frame, socket) => {
      if (frame["cmd"] === "omemo") reply(socket, frame["id"], { omemo: frame["enabled"] ? "on" : "off", deviceId: 7 });
      else reply(socket, frame["id"], null);
    };
    const client = await connect(server.url);
    const trust: unknown[] = [];
    client.on("otr", (e) => trust.push([e.state, e.trust, e.trusted]));
    expect(await client.setOmemo(false)).toEqual({ omemo: "off", deviceId: 7 });
    expect(await client.setOmemo(true)).toEqual({ omemo: "on", deviceId: 7 });
    expect(server.requests.map((f) => [f["cmd"], f["enabled"], typeof f["id"]])).toEqual([
      ["omemo", false, "string"],
      ["omemo", true, "string"],
    ]);
    server.broadcast({ event: "otr", jid: "ann@example.org/desk", state: "plaintext" });
    server.broadcast({
      event: "otr",
      jid: "ann@example.org/desk",
      state: "encrypted",
      fingerprint: "ab".repeat(20),
      trust: "compromised",
      trusted: false,
    });
    await until(() => trust.length === 2, "two otr events");
    expect(trust).toEqual([
      ["plaintext", undefined, undefined],
      ["encrypted", "compromised", false],
    ]);
  });

  it("rejects with typed SdkErrors carrying the server's code and detail", async () => {
    const server = await fakeServer();
    server.handler = (frame, socket) => {
      socket.send(
        JSON.stringify({
          type: "reply",
          id: frame["id"],
          ok: false,
          error: { code: "FAILED", detail: "NO_ELIGIBLE_DEVICES", message: "no device" },
        }),
      );
    };
    const client = await connect(server.url);
    const error = await client.send("ann@example.org", "hi").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SdkError);
    expect(error).toMatchObject({ code: "FAILED", detail: "NO_ELIGIBLE_DEVICES", message: "no device" });
  });

  it("ignores garbage frames and replies to unknown ids", async () => {
    const server = await fakeServer();
    server.handler = (frame, socket) => {
      socket.send("not json");
      socket.send("[1,2]");
      socket.send(JSON.stringify({ type: "reply", id: "nobody", ok: true, result: 1 }));
      socket.send(JSON.stringify({ type: "event" }));
      reply(socket, frame["id"], "fine");
    };
    const client = await connect(server.url);
    expect(await client.status()).toBe("fine");
  });

  it("a refused token: connect rejects with UNAUTHORIZED and does not retry", async () => {
    const server = await fakeServer();
    const error = await ParleyClient.connect(server.url, { token: "wrong-token-0123456789", WebSocket }).catch(
      (e: unknown) => e,
    );
    expect(isSdkError(error, "UNAUTHORIZED")).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.connections).toHaveLength(1);
  });

  it("a server at its connection limit (1013): connect rejects with BUSY", async () => {
    const server = await fakeServer();
    server.hold = true;
    server.onConnection = (socket) => {
      socket.close(1013, "too many connections");
    };
    const error = await ParleyClient.connect(server.url, { token: TOKEN, WebSocket }).catch((e: unknown) => e);
    expect(isSdkError(error, "BUSY")).toBe(true);
    expect((error as SdkError).closeCode).toBe(1013);
  });

  it("no server: connect rejects with CONNECT_FAILED", async () => {
    const server = await fakeServer();
    const url = server.url;
    await server.close();
    await expect(ParleyClient.connect(url, { token: TOKEN, WebSocket })).rejects.toSatisfy((e) =>
      isSdkError(e, "CONNECT_FAILED"),
    );
  });

  it("without a WebSocket implementation: NO_WEBSOCKET", async () => {
    vi.stubGlobal("WebSocket", undefined);
    await expect(ParleyClient.connect("ws://127.0.0.1:1", { token: TOKEN })).rejects.toSatisfy((e) =>
      isSdkError(e, "NO_WEBSOCKET"),
    );
  });

  it("a lost connection rejects pending requests with DISCONNECTED, then reconnects and works again", async () => {
    const server = await fakeServer();
    server.handler = () => undefined; // never answers
    const timers = recordingTimers();
    const client = await connect(server.url, { timers, random: () => 0, requestTimeoutMs: 0 });
    const events: string[] = [];
    client.on("disconnected", (e) => events.push(`disconnected ${e.code} ${e.retryInMs}`));
    client.on("connected", (e) => events.push(`connected ${e.jid}`));
    const pending = client.contacts();
    await until(() => server.requests.length === 1, "the request");
    server.connections[0]!.terminate();
    const error = await pending.catch((e: unknown) => e);
    expect(isSdkError(error, "DISCONNECTED")).toBe(true);
    expect((error as SdkError).closeCode).toBe(1006);
    expect(isSdkError(await client.status().catch((e: unknown) => e), "DISCONNECTED")).toBe(true);
    await until(() => client.connected, "reconnection");
    expect(events).toEqual(["disconnected 1006 500", "connected bot@example.org"]);
    server.handler = (frame, socket) => {
      reply(socket, frame["id"], "back");
    };
    expect(await client.status()).toBe("back");
  });

  it("backs off exponentially up to the cap, with jitter, and starts over after a success", async () => {
    const server = await fakeServer();
    const port = server.port;
    const timers = recordingTimers(0.002);
    const reconnect = { initialDelayMs: 1000, maxDelayMs: 8000, factor: 2, jitter: 0.5 };
    const client = await connect(server.url, {
      timers,
      random: () => 1, // the largest shortening: each delay halved
      reconnect,
      connectTimeoutMs: 60_000,
      requestTimeoutMs: 0,
    });
    const retries: number[] = [];
    client.on("disconnected", (e) => {
      if (e.retryInMs !== undefined) retries.push(e.retryInMs);
    });
    await server.close();
    await until(() => retries.length >= 6, "six reconnection attempts");
    expect(retries.slice(0, 6)).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    const restarted = await fakeServer(port);
    await until(() => client.connected, "reconnection to the restarted server");
    const before = retries.length;
    restarted.connections.at(-1)!.terminate();
    await until(() => retries.length > before, "the next disconnection");
    expect(retries[before]).toBe(500);
    // Every delay asked of the timers is a backoff delay or the connect timeout.
    for (const d of timers.delays) expect([500, 1000, 2000, 4000, 60_000]).toContain(d);
  });

  it("backoffDelay: capped exponential, jitter shortens by at most its fraction", () => {
    const o = { initialDelayMs: 100, maxDelayMs: 1000, factor: 3, jitter: 0.2 };
    expect([0, 1, 2, 3, 9].map((n) => backoffDelay(n, o, () => 0))).toEqual([100, 300, 900, 1000, 1000]);
    expect(backoffDelay(1, o, () => 0.5)).toBe(270);
    expect(backoffDelay(0, { jitter: 5 }, () => 1)).toBe(0); // jitter is clamped to 1
    expect(backoffDelay(0)).toBeGreaterThanOrEqual(250);
  });

  it("gives up after maxAttempts and reports closed with the error", async () => {
    const server = await fakeServer();
    const timers = recordingTimers();
    const client = await connect(server.url, {
      timers,
      reconnect: { initialDelayMs: 100, maxAttempts: 2 },
      requestTimeoutMs: 0,
    });
    const closed = new Promise<unknown>((resolve) =>
      client.on("closed", (e) => {
        resolve(e.error);
      }),
    );
    await server.close();
    const error = await closed;
    expect(isSdkError(error, "CONNECT_FAILED")).toBe(true);
    expect(isSdkError(await client.status().catch((e: unknown) => e), "CLOSED")).toBe(true);
  });

  it("reconnect: false stops at the first loss", async () => {
    const server = await fakeServer();
    const client = await connect(server.url, { reconnect: false });
    const closed = new Promise<unknown>((resolve) =>
      client.on("closed", (e) => {
        resolve(e.error);
      }),
    );
    server.connections[0]!.terminate();
    expect(isSdkError(await closed, "DISCONNECTED")).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.connections).toHaveLength(1);
  });

  it("refuses a request too large for the server locally, and times out a request without reply", async () => {
    const server = await fakeServer();
    server.handler = () => undefined;
    const client = await connect(server.url);
    const big = await client.send("ann@example.org", "x".repeat(MAX_COMMAND_BYTES)).catch((e: unknown) => e);
    expect(isSdkError(big, "TOO_LARGE")).toBe(true);
    const slow = await client.request({ cmd: "status" }, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(isSdkError(slow, "TIMEOUT")).toBe(true);
    // The request did go out (it may reach a loaded server after the client's 30 ms have passed).
    await until(() => server.requests.length > 0, "the request at the server");
    expect(server.requests.map((f) => f["cmd"])).toEqual(["status"]);
    expect(client.connected).toBe(true);
  });

  it("close() during a reconnection attempt stops it and leaves no timer behind", async () => {
    const server = await fakeServer();
    const live = new Set<unknown>();
    // Timeouts shrink to 20 ms only once connected: the first connection gets its real timeout (a loaded
    // machine can take longer than 20 ms to authenticate).
    let shrink = false;
    const timers: Timers = {
      setTimeout(callback, ms) {
        const handle = setTimeout(
          () => {
            live.delete(handle);
            callback();
          },
          shrink ? Math.min(ms, 20) : ms,
        );
        live.add(handle);
        return handle;
      },
      clearTimeout(handle) {
        live.delete(handle);
        clearTimeout(handle as ReturnType<typeof setTimeout>);
      },
    };
    const client = await connect(server.url, { timers, requestTimeoutMs: 0, reconnect: { initialDelayMs: 1 } });
    shrink = true;
    // The server accepts TCP but never answers the next handshakes' auth: attempts hang until close().
    server.handler = () => undefined;
    const attempts = server.connections.length;
    server.hold = true;
    server.connections[0]!.terminate();
    await until(() => server.connections.length > attempts, "a reconnection attempt");
    await client.close();
    expect(live.size).toBe(0);
    expect(client.connected).toBe(false);
  });

  it("close() rejects pending requests with CLOSED and never reconnects", async () => {
    const server = await fakeServer();
    server.handler = () => undefined;
    const client = await connect(server.url, { reconnect: { initialDelayMs: 1 } });
    const pending = client.contacts().catch((e: unknown) => e);
    await until(() => server.requests.length === 1, "the request");
    await client.close();
    expect(isSdkError(await pending, "CLOSED")).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.connections).toHaveLength(1);
    expect(client.connected).toBe(false);
  });
});
