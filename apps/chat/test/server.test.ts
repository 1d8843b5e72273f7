// The WebSocket API (src/server.ts) against a fake target: authentication, typed errors for bad input,
// bounded floods, isolation between connections, and a store that bad input never changes.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  API_CLOSE,
  MAX_COMMAND_BYTES,
  PROTOCOL_VERSION,
  type ChatEvent,
  type Command,
  type ErrorInfo,
} from "@parley/sdk";
import {
  apiAllowed,
  isApiServerError,
  originAllowed,
  serveApi,
  type ApiServer,
  type ServeApiOptions,
} from "../src/server.js";

const TOKEN = "t0k3n-" + "9f86d081884c7d659a2feaa0c55ad015";

class FakeError extends Error {
  readonly code = "NOT_FOUND";
}

/** A ChatClient stand-in whose "store" is a plain object we can compare before and after. */
class FakeTarget {
  readonly store = { contacts: ["ann@example.org"], sent: [] as string[], verified: [] as string[] };
  readonly executed: Command[] = [];
  readonly listeners = new Set<(e: ChatEvent) => void>();
  /** Commands with cmd "queue" wait for this gate (a slow command for the flood test). */
  gate: Promise<void> = Promise.resolve();

  execute(command: Command): Promise<unknown> {
    this.executed.push(command);
    switch (command.cmd) {
      case "contacts":
        return Promise.resolve(this.store.contacts.map((jid) => ({ jid })));
      case "send":
        this.store.sent.push(command.body);
        return Promise.resolve({ id: `m${this.store.sent.length}`, state: "queued" });
      case "verify":
        this.store.verified.push(command.fingerprint);
        return Promise.resolve({ jid: command.jid, state: "verified" });
      case "queue":
        return this.gate.then(() => []);
      case "history":
        return Promise.reject(new FakeError("no such conversation"));
      default:
        return Promise.resolve({ cmd: command.cmd });
    }
  }
  on(listener: (e: ChatEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  readyEvent(): ChatEvent {
    return {
      event: "ready",
      version: PROTOCOL_VERSION,
      jid: "bot@example.org",
      deviceId: 42,
      fingerprint: "ab".repeat(32),
    };
  }
  emit(e: ChatEvent): void {
    for (const l of this.listeners) l(e);
  }
  snapshot(): string {
    return JSON.stringify(this.store);
  }
}

const describeFake = (e: unknown): ErrorInfo =>
  e instanceof FakeError
    ? { code: "FAILED", detail: e.code, message: e.message }
    : { code: "FAILED", message: "the command failed" };

type Frame = Record<string, unknown>;

/** Everything any connection in a test received (frames and close reasons), to check for the token. */
const seen: string[] = [];
const servers: ApiServer[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
  for (const text of seen.splice(0)) expect(text).not.toContain(TOKEN);
});

async function start(target: FakeTarget, options: Partial<ServeApiOptions> = {}): Promise<ApiServer> {
  const server = await serveApi(target, { token: TOKEN, describe: describeFake, ...options });
  servers.push(server);
  return server;
}

interface Peer {
  readonly socket: WebSocket;
  readonly frames: Frame[];
  send(value: unknown): void;
  next(match: (f: Frame) => boolean, what?: string): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
}

function open(url: string, origin?: string): Promise<Peer> {
  const socket = new WebSocket(url, origin === undefined ? {} : { origin });
  sockets.push(socket);
  const frames: Frame[] = [];
  const waiting: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  socket.on("message", (data: Buffer) => {
    const text = data.toString("utf8");
    seen.push(text);
    const frame = JSON.parse(text) as Frame;
    frames.push(frame);
    for (const w of waiting.splice(0)) {
      if (w.match(frame)) w.resolve(frame);
      else waiting.push(w);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => {
      seen.push(reason.toString());
      resolve({ code, reason: reason.toString() });
    }),
  );
  socket.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    socket.once("open", () => {
      resolve({
        socket,
        frames,
        closed,
        send: (value) => {
          socket.send(typeof value === "string" ? value : JSON.stringify(value));
        },
        next(match, what = "frame") {
          const found = frames.find(match);
          if (found) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const timer = setTimeout(() => {
              rej(new Error(`no ${what} in 5 s`));
            }, 5000);
            waiting.push({
              match,
              resolve: (f) => {
                clearTimeout(timer);
                res(f);
              },
            });
          });
        },
      });
    });
    socket.once("error", reject);
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  // Up to 10 s: a loaded CI machine can take seconds for what takes milliseconds here.
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!condition()) throw new Error(`waited 10 s for ${what}`);
}

const replyTo = (id: string) => (f: Frame) => f["type"] === "reply" && f["id"] === id;

async function authed(url: string): Promise<Peer> {
  const peer = await open(url);
  peer.send({ cmd: "auth", token: TOKEN, id: "auth" });
  expect(await peer.next(replyTo("auth"))).toEqual({
    type: "reply",
    id: "auth",
    ok: true,
    result: { authenticated: true, version: PROTOCOL_VERSION },
  });
  return peer;
}

describe("serveApi", () => {
  it("authenticates with the first frame, sends ready, and answers each request once with its id", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
    const peer = await authed(server.url);
    const ready = await peer.next((f) => f["event"] === "ready", "ready");
    expect(ready).toMatchObject({ type: "event", event: "ready", jid: "bot@example.org", version: PROTOCOL_VERSION });
    peer.send({ cmd: "contacts", id: "c1" });
    peer.send({ cmd: "send", to: "ann@example.org", body: "hi", id: "s1" });
    expect(await peer.next(replyTo("c1"))).toEqual({
      type: "reply",
      id: "c1",
      ok: true,
      result: [{ jid: "ann@example.org" }],
    });
    expect(await peer.next(replyTo("s1"))).toMatchObject({ ok: true, result: { id: "m1", state: "queued" } });
    peer.send({ cmd: "status" }); // no id: the reply has none
    await peer.next((f) => f["type"] === "reply" && !("id" in f) && f["ok"] === true, "reply without id");
    await new Promise((r) => setTimeout(r, 50));
    expect(peer.frames.filter((f) => f["type"] === "reply" && f["id"] === "s1")).toHaveLength(1);
    expect(target.executed.map((c) => c.cmd)).toEqual(["contacts", "send", "status"]);
  });

  it("broadcasts events to authenticated connections only", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    const a = await authed(server.url);
    const b = await authed(server.url);
    const stranger = await open(server.url);
    target.emit({ event: "presence", jid: "ann@example.org", online: true });
    for (const peer of [a, b])
      expect(await peer.next((f) => f["event"] === "presence")).toEqual({
        type: "event",
        event: "presence",
        jid: "ann@example.org",
        online: true,
      });
    await new Promise((r) => setTimeout(r, 50));
    expect(stranger.frames).toEqual([]);
  });

  it("a wrong or missing token: UNAUTHORIZED, closed with 4401, nothing executed, token never echoed", async () => {
    const target = new FakeTarget();
    const before = target.snapshot();
    const server = await start(target);
    const cases: unknown[] = [
      { cmd: "auth", token: TOKEN.slice(0, -1) + "x", id: "a1" },
      { cmd: "auth", id: "a2" },
      { cmd: "auth", token: 12345, id: "a3" },
      { cmd: "send", to: "ann@example.org", body: "sneaky", id: "a4" }, // a command before auth
      { cmd: "auth", token: `${TOKEN} ${TOKEN}`, id: "a5" },
      "not json at all",
      [TOKEN],
    ];
    for (const [i, frame] of cases.entries()) {
      const peer = await open(server.url);
      peer.send(frame);
      const closed = await peer.closed;
      expect(closed).toEqual({ code: API_CLOSE.UNAUTHORIZED, reason: "unauthorized" });
      const replies = peer.frames.filter((f) => f["type"] === "reply");
      expect(replies).toHaveLength(1);
      expect(replies[0]).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });
      if (i < 5) expect(replies[0]!["id"]).toBe(`a${i + 1}`);
      expect(peer.frames.some((f) => f["event"] === "ready")).toBe(false);
    }
    const binary = await open(server.url);
    binary.socket.send(Buffer.from(JSON.stringify({ cmd: "auth", token: TOKEN })));
    expect((await binary.closed).code).toBe(API_CLOSE.UNAUTHORIZED);
    expect(target.executed).toEqual([]);
    expect(target.snapshot()).toBe(before);
    await until(() => server.connections === 0, "the server to drop the connections");
  });

  it("a connection that never authenticates is closed with 4408", async () => {
    // Long enough for the client's own open event to come first on a loaded machine.
    const server = await start(new FakeTarget(), { authTimeoutMs: 500 });
    const peer = await open(server.url);
    expect(await peer.closed).toEqual({ code: API_CLOSE.AUTH_TIMEOUT, reason: "no auth request in time" });
  });

  it("malformed JSON, unknown commands, bad fields and binary frames get BAD_COMMAND and the connection lives on", async () => {
    const target = new FakeTarget();
    const before = target.snapshot();
    const server = await start(target);
    const peer = await authed(server.url);
    const frames: [unknown, string | undefined][] = [
      ["{not json", undefined],
      ["", undefined],
      ["null", undefined],
      ["[1,2,3]", undefined],
      [{ cmd: "format-disk", id: "u1" }, "u1"],
      [{ cmd: "auth", token: TOKEN, id: "u2" }, "u2"], // auth only as the first frame
      [{ cmd: "send", to: "not a jid", body: "x", id: "f1" }, "f1"],
      [{ cmd: "send", to: "ann@example.org", body: 7, id: "f2" }, "f2"],
      [{ cmd: "verify", jid: "ann@example.org", protocol: "pgp", fingerprint: "ab", id: "f3" }, "f3"],
      [{ cmd: "history", peer: "ann@example.org", limit: 10_000, id: "f4" }, "f4"],
      [{ cmd: "contacts", id: 17 }, undefined],
      [{ cmd: "send", to: "ann@example.org", body: "x".repeat(70_000), id: "f5" }, "f5"],
    ];
    for (const [frame] of frames) peer.send(frame);
    peer.socket.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    peer.send({ cmd: "contacts", id: "after" });
    await peer.next(replyTo("after"));
    const errors = peer.frames.filter((f) => f["type"] === "reply" && f["ok"] === false);
    expect(errors).toHaveLength(frames.length + 1);
    for (const e of errors) expect((e["error"] as ErrorInfo).code).toBe("BAD_COMMAND");
    expect(errors.map((e) => e["id"])).toEqual([...frames.map(([, id]) => id), undefined]);
    // A message never comes back in an error.
    expect(JSON.stringify(errors)).not.toContain("xxxxxxxx");
    expect(target.executed.map((c) => c.cmd)).toEqual(["contacts"]);
    expect(target.snapshot()).toBe(before);
  });

  it("a frame over the limit closes that connection with 1009; another connection keeps working", async () => {
    const target = new FakeTarget();
    const before = target.snapshot();
    const server = await start(target);
    const good = await authed(server.url);
    const bad = await authed(server.url);
    bad.send({ cmd: "send", to: "ann@example.org", body: "y".repeat(MAX_COMMAND_BYTES), id: "big" });
    expect((await bad.closed).code).toBe(1009);
    expect(bad.frames.some((f) => f["id"] === "big")).toBe(false);
    good.send({ cmd: "contacts", id: "still" });
    expect(await good.next(replyTo("still"))).toMatchObject({ ok: true });
    target.emit({ event: "receipt", from: "ann@example.org", id: "m9" });
    await good.next((f) => f["event"] === "receipt");
    expect(target.snapshot()).toBe(before);
  });

  it("a smaller maxFrameBytes applies, before authentication too", async () => {
    const server = await start(new FakeTarget(), { maxFrameBytes: 1024 });
    const peer = await open(server.url);
    peer.send({ cmd: "auth", token: TOKEN, pad: "z".repeat(2000) });
    expect((await peer.closed).code).toBe(1009);
  });

  it("a flood: at most maxPendingPerConnection run, the rest get BUSY at once, every request one reply", async () => {
    const target = new FakeTarget();
    let open_: () => void = () => undefined;
    target.gate = new Promise((r) => (open_ = r));
    const server = await start(target, { maxPendingPerConnection: 4 });
    const flooder = await authed(server.url);
    const other = await authed(server.url);
    const n = 200;
    for (let i = 0; i < n; i++) flooder.send({ cmd: "queue", id: `q${i}` });
    await flooder.next(replyTo(`q${n - 1}`), "last BUSY");
    const busy = flooder.frames.filter((f) => f["type"] === "reply" && (f["error"] as ErrorInfo)?.code === "BUSY");
    expect(busy).toHaveLength(n - 4);
    expect(target.executed).toHaveLength(4);
    // The other connection is not limited by the flooder's backlog.
    other.send({ cmd: "contacts", id: "o1" });
    expect(await other.next(replyTo("o1"))).toMatchObject({ ok: true });
    open_();
    for (let i = 0; i < 4; i++) expect(await flooder.next(replyTo(`q${i}`))).toMatchObject({ ok: true, result: [] });
    await new Promise((r) => setTimeout(r, 50));
    const replies = flooder.frames.filter((f) => f["type"] === "reply" && f["id"] !== "auth");
    expect(replies).toHaveLength(n);
    expect(new Set(replies.map((f) => f["id"])).size).toBe(n);
    // Once the slow ones are done, the connection accepts work again.
    flooder.send({ cmd: "queue", id: "again" });
    expect(await flooder.next(replyTo("again"))).toMatchObject({ ok: true });
  });

  it("a connection that stops reading is closed with 4429 once its backlog passes the limit; a reader is not", async () => {
    const target = new FakeTarget();
    const server = await start(target, { maxBufferedBytes: 1024 * 1024 });
    const stalled = await authed(server.url);
    const reader = await authed(server.url);
    stalled.socket.pause(); // stops reading from its TCP socket
    const body = "m".repeat(32 * 1024);
    let received = 0;
    reader.socket.on("message", () => received++);
    for (let batch = 0; batch < 60 && server.connections > 1; batch++) {
      for (let i = 0; i < 10; i++)
        target.emit({
          event: "room-message",
          room: "room@muc.example.org",
          nick: "x",
          body,
          at: batch,
        });
      await new Promise((r) => setTimeout(r, 15));
    }
    await until(() => server.connections === 1, "the stalled connection to be dropped");
    stalled.socket.resume();
    expect([API_CLOSE.OVERLOADED, 1006]).toContain((await stalled.closed).code);
    reader.send({ cmd: "contacts", id: "fine" });
    expect(await reader.next(replyTo("fine"))).toMatchObject({ ok: true });
    expect(received).toBeGreaterThan(100);
  });

  it("quit is refused over the API and never reaches the target", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    const peer = await authed(server.url);
    peer.send({ cmd: "quit", id: "bye" });
    expect(await peer.next(replyTo("bye"))).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
    expect(target.executed).toEqual([]);
    peer.send({ cmd: "status", id: "alive" });
    expect(await peer.next(replyTo("alive"))).toMatchObject({ ok: true });
  });

  it("parley-chat's own command (omemo on/off) is served as the readline's and --json's", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    const peer = await authed(server.url);
    peer.send({ cmd: "omemo", enabled: false, id: "off" });
    expect(await peer.next(replyTo("off"))).toMatchObject({ ok: true, result: { cmd: "omemo" } });
    expect(target.executed).toEqual([{ cmd: "omemo", enabled: false }]);
    peer.send({ cmd: "omemo", enabled: "no", id: "bad" });
    expect(await peer.next(replyTo("bad"))).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
    expect(target.executed).toHaveLength(1);
  });

  it("a failing command gets FAILED as the describer says; a throwing describer a generic message", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    const peer = await authed(server.url);
    peer.send({ cmd: "history", peer: "ann@example.org", id: "h1" });
    expect(await peer.next(replyTo("h1"))).toEqual({
      type: "reply",
      id: "h1",
      ok: false,
      error: { code: "FAILED", detail: "NOT_FOUND", message: "no such conversation" },
    });
    const throwing = await start(target, {
      describe: () => {
        throw new Error("describer broke");
      },
    });
    const p2 = await authed(throwing.url);
    p2.send({ cmd: "history", peer: "ann@example.org", id: "h2" });
    expect(await p2.next(replyTo("h2"))).toEqual({
      type: "reply",
      id: "h2",
      ok: false,
      error: { code: "FAILED", message: "the command failed" },
    });
  });

  it("a target that throws synchronously or returns an unencodable result: a typed reply, the server lives", async () => {
    const target = new FakeTarget();
    const server = await start(target);
    const original = target.execute.bind(target);
    target.execute = (command) => {
      if (command.cmd === "status") throw new FakeError("sync failure");
      if (command.cmd === "share") return Promise.resolve({ big: BigInt(1) });
      return original(command);
    };
    const peer = await authed(server.url);
    peer.send({ cmd: "status", id: "s" });
    expect(await peer.next(replyTo("s"))).toMatchObject({ ok: false, error: { code: "FAILED", detail: "NOT_FOUND" } });
    peer.send({ cmd: "share", id: "q" });
    expect(await peer.next(replyTo("q"))).toMatchObject({
      ok: false,
      error: { code: "FAILED", detail: "UNENCODABLE" },
    });
    peer.send({ cmd: "contacts", id: "c" });
    expect(await peer.next(replyTo("c"))).toMatchObject({ ok: true });
  });

  it("more than maxConnections: BUSY and 1013 for the extra one, the others unaffected", async () => {
    const server = await start(new FakeTarget(), { maxConnections: 2 });
    const a = await authed(server.url);
    await open(server.url);
    const extra = await open(server.url);
    expect(await extra.closed).toEqual({ code: API_CLOSE.TRY_AGAIN_LATER, reason: "too many connections" });
    expect(extra.frames).toEqual([
      { type: "reply", ok: false, error: { code: "BUSY", message: "at most 2 connections at once" } },
    ]);
    a.send({ cmd: "contacts", id: "x" });
    expect(await a.next(replyTo("x"))).toMatchObject({ ok: true });
  });

  it("refuses browser pages from other origins at the handshake; loopback and allowed origins connect", async () => {
    const target = new FakeTarget();
    const server = await start(target, { allowedOrigins: ["https://app.example.org"] });
    const refused = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(server.url, { origin: "https://evil.example.com" });
      sockets.push(socket);
      socket.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      socket.on("open", () => {
        reject(new Error("opened"));
      });
      socket.on("error", () => undefined);
    });
    expect(refused).toBe(403);
    for (const origin of ["http://localhost:3000", "http://127.0.0.1:8080", "https://app.example.org", undefined]) {
      const peer = await open(server.url, origin);
      peer.send({ cmd: "auth", token: TOKEN, id: "a" });
      expect(await peer.next(replyTo("a"))).toMatchObject({ ok: true });
    }
    expect(target.executed).toEqual([]);
    expect(originAllowed("http://localhost.evil.example")).toBe(false);
    expect(originAllowed("null")).toBe(false);
    expect(originAllowed("http://[::1]:5000")).toBe(true);
    expect(originAllowed("https://x.example", "*")).toBe(true);
  });

  it("answers plain HTTP with 426 and closes connections with 1001 on close()", async () => {
    const server = await start(new FakeTarget());
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(res.status).toBe(426);
    await res.text();
    const peer = await authed(server.url);
    await server.close();
    expect((await peer.closed).code).toBe(API_CLOSE.GOING_AWAY);
    await expect(open(server.url)).rejects.toThrow();
  });

  it("rejects a short token, a bad port and a busy port with typed errors", async () => {
    const target = new FakeTarget();
    await expect(serveApi(target, { token: "short" })).rejects.toSatisfy((e) => isApiServerError(e, "INVALID_OPTION"));
    await expect(serveApi(target, { token: TOKEN, port: 70000 })).rejects.toSatisfy((e) =>
      isApiServerError(e, "INVALID_OPTION"),
    );
    const server = await start(target);
    await expect(serveApi(target, { token: TOKEN, port: server.port })).rejects.toSatisfy((e) =>
      isApiServerError(e, "LISTEN_FAILED"),
    );
    // The failed server unsubscribed from the target.
    expect(target.listeners.size).toBe(1);
  });
});

describe("what API clients may do with files and the passphrase", () => {
  // files/ (the API's directory) with a file, a subdirectory, and two links out; secret.txt beside it.
  const base = realpathSync(mkdtempSync(join(tmpdir(), "parley-api-files-")));
  const root = join(base, "files");
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "note.txt"), "for the bot");
  writeFileSync(join(base, "secret.txt"), "not for the bot");
  symlinkSync(join(base, "secret.txt"), join(root, "link-out.txt"));
  symlinkSync(base, join(root, "dir-out"));
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });
  const send = (path: string): Command => ({ cmd: "send-file", to: "ann@example.org", path });
  const save = (path: string): Command => ({ cmd: "save-file", mediaId: "ab".repeat(16), path });
  /** Refused with FORBIDDEN (filesDir null: the server has none). */
  const refused = async (command: Command, filesDir: string | null = root) => {
    await expect(apiAllowed(command, filesDir ?? undefined)).rejects.toMatchObject({ code: "FORBIDDEN" });
  };

  it("resolves paths inside the files directory, relative or absolute, to real absolute paths", async () => {
    await expect(apiAllowed(send("note.txt"), root)).resolves.toMatchObject({ path: join(root, "note.txt") });
    await expect(apiAllowed(send(join(root, "note.txt")), root)).resolves.toMatchObject({
      path: join(root, "note.txt"),
    });
    await expect(apiAllowed(send("sub/../note.txt"), root)).resolves.toMatchObject({ path: join(root, "note.txt") });
    await expect(apiAllowed(save("sub/new.txt"), root)).resolves.toMatchObject({ path: join(root, "sub", "new.txt") });
    // The directory given through a link of its own is the same directory.
    symlinkSync(root, join(base, "files-link"));
    await expect(apiAllowed(save("new.txt"), join(base, "files-link"))).resolves.toMatchObject({
      path: join(root, "new.txt"),
    });
  });

  it("refuses what leaves it: .., absolute paths elsewhere, links out, the directory itself, missing directories", async () => {
    await refused(send("../secret.txt"));
    await refused(send(join(base, "secret.txt")));
    await refused(send("link-out.txt"));
    await refused(send("dir-out/secret.txt"));
    await refused(send("missing.txt"));
    await refused(send("."));
    await refused(save("../stolen.txt"));
    await refused(save("dir-out/planted.txt"));
    await refused(save("link-out.txt"));
    await refused(save("no-such-dir/new.txt"));
    await refused(save(""));
  });

  it("without a files directory, or with one that does not exist, file commands are refused", async () => {
    await refused(send("note.txt"), null);
    await refused(save("new.txt"), null);
    await refused(send("note.txt"), join(base, "nowhere"));
  });

  it("a passphrase change needs the current passphrase; other commands pass unchanged", async () => {
    await refused({ cmd: "change-passphrase", next: "new one" }, null);
    const change: Command = { cmd: "change-passphrase", current: "old one", next: "new one" };
    await expect(apiAllowed(change, undefined)).resolves.toBe(change);
    const status: Command = { cmd: "status" };
    await expect(apiAllowed(status, undefined)).resolves.toBe(status);
  });

  it("over the server: a refused command gets FORBIDDEN and never reaches the target; an allowed one its real path", async () => {
    const target = new FakeTarget();
    const server = await start(target, { filesDir: root });
    const peer = await authed(server.url);
    peer.send({ ...send("../secret.txt"), id: "out" });
    const reply = await peer.next(replyTo("out"));
    expect(reply).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(JSON.stringify(reply)).not.toContain(base);
    peer.send({ cmd: "change-passphrase", next: "mine now", id: "lock-out" });
    expect(await peer.next(replyTo("lock-out"))).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    expect(target.executed).toEqual([]);
    peer.send({ ...send("note.txt"), id: "in" });
    expect(await peer.next(replyTo("in"))).toMatchObject({ ok: true });
    expect(target.executed).toEqual([send(join(root, "note.txt"))]);
    const plain = await start(new FakeTarget());
    const other = await authed(plain.url);
    other.send({ ...send(join(root, "note.txt")), id: "none" });
    expect(await other.next(replyTo("none"))).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    await expect(serveApi(target, { token: TOKEN, filesDir: "" })).rejects.toSatisfy((e) =>
      isApiServerError(e, "INVALID_OPTION"),
    );
  });
});
