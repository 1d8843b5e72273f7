// Issue 15 end to end, against a real Prosody: `parley-chat --json -p 0 --api-token …` serves the
// WebSocket API; the example bots (apps/sdk/examples, started the way the SDK's README says, one command
// each) drive it through @parley/sdk only; a second parley-chat (--json on stdin/stdout) talks to them
// with OMEMO. Bad input over the real API gets typed errors and changes nothing.
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { API_CLOSE, isSdkError, ParleyClient, type ContactFingerprint } from "@parley/sdk";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const SDK = fileURLToPath(new URL("../../sdk/", import.meta.url));
const TSX = createRequire(join(SDK, "package.json")).resolve("tsx/cli");
const TOKEN = randomBytes(32).toString("hex");
const REFUSAL_START = "I only talk to contacts whose OMEMO device I have verified";

let server: ProsodyServer;
const running: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["botty", "carol", "dora"] });
});
afterAll(async () => {
  for (const p of running.splice(0)) p.kill();
  await server?.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Line = Record<string, unknown>;

/** A parley-chat --json process: its stdout lines as they come, commands on stdin. */
function chat(name: string, extraArgs: string[]) {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const profile = mkdtempSync(join(tmpdir(), `parley-bot-e2e-${name}-`));
  dirs.push(profile);
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [CLI, "--service", server.service, "--jid", account.jid, "--json", "--profile", profile, ...extraArgs],
    { env: { ...process.env, PARLEY_CHAT_PASSWORD: account.password } },
  );
  running.push(child);
  const lines: Line[] = [];
  const waiting: { match: (e: Line) => boolean; resolve: (e: Line) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      line = { unparsed: text };
    }
    lines.push(line);
    for (const w of waiting.splice(0)) {
      if (w.match(line)) w.resolve(line);
      else waiting.push(w);
    }
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += String(d)));
  let exited: string | undefined;
  const failures = new Set<(why: string) => void>();
  child.on("close", (code, signal) => {
    exited = `exited with ${code ?? signal}`;
    for (const fail of failures) fail(exited);
  });
  let nextId = 0;
  const next = (match: (e: Line) => boolean, what: string, timeoutMs = 30_000): Promise<Line> => {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        failures.delete(fail);
        reject(
          new Error(
            `${name}: no ${what} (${why}); stdout: ${JSON.stringify(lines).slice(-2000)}; stderr: ${stderr.slice(0, 3000)}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        fail(`waited ${timeoutMs} ms`);
      }, timeoutMs);
      if (exited !== undefined) {
        fail(exited);
        return;
      }
      failures.add(fail);
      waiting.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          failures.delete(fail);
          resolve(e);
        },
      });
    });
  };
  return {
    jid: account.jid,
    lines,
    next,
    /** Sends a command and waits for its reply. */
    async request(cmd: Line, timeoutMs?: number): Promise<Line> {
      const id = `${name}-${++nextId}`;
      child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
      return next((e) => e["type"] === "reply" && e["id"] === id, `reply to ${String(cmd["cmd"])}`, timeoutMs);
    },
  };
}

/** An example bot started with its one command (tsx examples/<bot>.ts), as the SDK's README says. */
function startBot(script: string, url: string) {
  const child = spawn(process.execPath, [TSX, join(SDK, "examples", script)], {
    cwd: SDK,
    env: { ...process.env, PARLEY_API_URL: url, PARLEY_API_TOKEN: TOKEN },
  });
  running.push(child);
  let log = "";
  const waiting: { text: string; resolve: () => void }[] = [];
  const onData = (d: unknown) => {
    log += String(d);
    for (const w of waiting.splice(0)) {
      if (log.includes(w.text)) w.resolve();
      else waiting.push(w);
    }
  };
  child.stderr.on("data", onData);
  child.stdout.on("data", onData);
  return {
    get log() {
      return log;
    },
    waitFor(text: string, timeoutMs = 30_000): Promise<void> {
      if (log.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${script}: no "${text}" in ${timeoutMs} ms; log: ${log}`));
        }, timeoutMs);
        waiting.push({
          text,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    stop(): Promise<void> {
      return new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once("exit", () => {
          resolve();
        });
        child.kill("SIGTERM");
      });
    },
  };
}

/** Sends `body` from the contact to the bot with OMEMO 2, retrying while the device lists propagate. */
async function sendUntilAccepted(contact: ReturnType<typeof chat>, to: string, body: string): Promise<void> {
  let last: Line | undefined;
  for (let attempt = 0; attempt < 30; attempt++) {
    last = await contact.request({ cmd: "send", to, body, namespace: "omemo2" });
    if (last["ok"] === true) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`the contact could not send to ${to}: ${JSON.stringify(last)}`);
}

const messageFrom = (jid: string, body: (b: string) => boolean) => (e: Line) =>
  e["event"] === "message" &&
  e["from"] === jid &&
  e["direction"] === "in" &&
  typeof e["body"] === "string" &&
  body(e["body"]);

describe("parley-chat -p: the WebSocket API and the example bots", () => {
  it("the echo bot answers an OMEMO message; the verified-only bot refuses an unverified contact, then answers once verified", async () => {
    const bot = chat("botty", ["-p", "0", "--api-token", TOKEN]);
    const api = await bot.next((e) => e["event"] === "api", "api event");
    const url = api["url"] as string;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    await bot.next((e) => e["event"] === "ready", "bot ready");
    const carol = chat("carol", ["--auto-approve"]);
    await carol.next((e) => e["event"] === "ready", "carol ready");

    // The bot's owner side is driven through the SDK only (the bots, and this client for verifying).
    const sdk = await ParleyClient.connect(url, { token: TOKEN, WebSocket });
    try {
      expect(sdk.ready.jid).toBe(bot.jid);

      // 1. The echo bot. Carol asks for the bot's presence; the bot approves and subscribes back
      // (carol's --auto-approve answers), so OMEMO device lists flow both ways.
      const echo = startBot("echo-bot.ts", url);
      await echo.waitFor("connected to");
      expect((await carol.request({ cmd: "add-contact", jid: bot.jid }))["ok"]).toBe(true);
      await echo.waitFor(`accepted ${carol.jid} as a contact`);
      await sendUntilAccepted(carol, bot.jid, "12");
      await carol.next(
        messageFrom(bot.jid, (b) => b === "144"),
        "the square from the echo bot",
        60_000,
      );
      await sendUntilAccepted(carol, bot.jid, "hello bot");
      const echoed = await carol.next(
        messageFrom(bot.jid, (b) => b === "hello bot"),
        "the echo",
        60_000,
      );
      expect(echoed["encryption"]).not.toBe("none");
      expect(echo.log).not.toContain("hello bot"); // the bot never logs a body
      await echo.stop();

      // 2. The verified-only bot: carol's device is not verified yet.
      const verified = startBot("verified-bot.ts", url);
      await verified.waitFor("connected to");
      const keysBefore = await sdk.fingerprints(carol.jid);
      expect(keysBefore.some((k: ContactFingerprint) => k.state === "verified")).toBe(false);
      await sendUntilAccepted(carol, bot.jid, "7");
      await carol.next(
        messageFrom(bot.jid, (b) => b.startsWith(REFUSAL_START)),
        "the refusal",
        60_000,
      );
      await verified.waitFor(`refused ${carol.jid}`);
      expect(carol.lines.some(messageFrom(bot.jid, (b) => b === "49"))).toBe(false);

      // The bot's owner compares carol's fingerprint and verifies her device, through the SDK.
      const carolReady = carol.lines.find((e) => e["event"] === "ready")!;
      const key = (await sdk.fingerprints(carol.jid)).find(
        (k) => k.protocol === "omemo" && k.deviceId === carolReady["deviceId"],
      );
      expect(key, "the bot's trust store knows carol's device").toBeDefined();
      expect(key!.fingerprint).toBe(carolReady["fingerprint"]);
      expect((await sdk.verify(carol.jid, key!.fingerprint)).state).toBe("verified");
      await sendUntilAccepted(carol, bot.jid, "8");
      await carol.next(
        messageFrom(bot.jid, (b) => b === "64"),
        "the answer to a verified contact",
        60_000,
      );
      await verified.stop();
    } finally {
      await sdk.close();
    }
  });

  it("bad input over the real API: typed errors or a closed connection, the client keeps serving, nothing changes", async () => {
    const bot = chat("dora", ["-p", "0", "--api-token", TOKEN]);
    const url = (await bot.next((e) => e["event"] === "api", "api event"))["url"] as string;
    const sdk = await ParleyClient.connect(url, { token: TOKEN, WebSocket, reconnect: false });
    try {
      const contactsBefore = await sdk.contacts();
      const historyBefore = await sdk.history("nobody@localhost");
      const statusBefore = await sdk.status();

      // A wrong token: refused, with a typed error, and the SDK does not retry.
      await expect(ParleyClient.connect(url, { token: "f".repeat(64), WebSocket })).rejects.toSatisfy((e) =>
        isSdkError(e, "UNAUTHORIZED"),
      );

      // Raw frames: malformed, unknown, ill-typed, binary, quit, oversized.
      const raw = new WebSocket(url);
      const frames: Line[] = [];
      raw.on("message", (d: Buffer) => frames.push(JSON.parse(d.toString()) as Line));
      const closed = new Promise<number>((resolve) =>
        raw.on("close", (code) => {
          resolve(code);
        }),
      );
      await new Promise((resolve, reject) => {
        raw.once("open", resolve);
        raw.once("error", reject);
      });
      raw.send(JSON.stringify({ cmd: "auth", token: TOKEN, id: "a" }));
      raw.send("{oops");
      raw.send(JSON.stringify({ cmd: "rm-rf", id: "u" }));
      raw.send(JSON.stringify({ cmd: "remove-contact", jid: "not a jid", id: "f" }));
      raw.send(Buffer.from([1, 2, 3]));
      raw.send(JSON.stringify({ cmd: "quit", id: "q" }));
      for (let i = 0; i < 300; i++) raw.send(JSON.stringify({ cmd: "status", id: `s${i}` })); // a flood
      await new Promise((r) => setTimeout(r, 2000));
      const reply = (id: string) => frames.find((f) => f["type"] === "reply" && f["id"] === id);
      expect(reply("a")).toMatchObject({ ok: true });
      expect(reply("u")).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
      expect(reply("f")).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
      expect(reply("q")).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
      const flood = frames.filter((f) => typeof f["id"] === "string" && f["id"].startsWith("s"));
      expect(flood).toHaveLength(300); // each one answered: a result or BUSY
      for (const f of flood) if (f["ok"] === false) expect(f["error"]).toMatchObject({ code: "BUSY" });
      expect(frames.filter((f) => f["type"] === "reply" && f["id"] === undefined)).toHaveLength(2); // {oops, binary
      raw.send("x".repeat(300 * 1024));
      expect(await closed).toBe(1009);
      expect(JSON.stringify(frames)).not.toContain(TOKEN);

      // The client is still up, serving the other connection, and nothing changed.
      expect(await sdk.contacts()).toEqual(contactsBefore);
      expect(await sdk.history("nobody@localhost")).toEqual(historyBefore);
      const statusAfter = await sdk.status();
      expect(statusAfter.jid).toBe(statusBefore.jid);
      expect(statusAfter.pending).toBe(statusBefore.pending);
      expect(API_CLOSE.TOO_LARGE).toBe(1009);
    } finally {
      await sdk.close();
    }
  });
});
