// Interop with a client we did not write: parley-chat (ChatAccount) talks OMEMO, in both namespaces, through a
// real Prosody with interop/slixmpp_omemo_bot.py, an echo bot on Debian's slixmpp and python-omemo 1.0.2
// (python-oldmemo, python-twomemo). Who writes first varies: parley-chat's key exchange accepted by
// python-omemo, and python-omemo's accepted by a fresh parley-chat device; then several messages each way in
// the established sessions. Neither the server's log nor its archive holds a plaintext.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { memoryOmemoStore, NS_LEGACY, NS_V2, type OmemoNamespace } from "@parley/omemo";
import { xml } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { filesUnder } from "./support.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENSURE_APT = join(HERE, "..", "..", "..", "scripts", "ensure-apt.mjs");
const BOT = join(HERE, "..", "interop", "slixmpp_omemo_bot.py");
const APT = ["python3-slixmpp", "python3-omemo", "python3-oldmemo", "python3-twomemo"];
const WAIT_MS = 15_000;

/** A JSON line the bot printed. */
type BotEvent = { event: string } & Record<string, unknown>;

/** The bot process: its events in order, and a way to wait for the next one that matches. */
class BotProcess {
  readonly events: BotEvent[] = [];
  stderr = "";
  #cursor = 0;
  #wake: (() => void) | undefined;
  #exited = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = { event: "unparsable", line };
      }
      this.events.push(parsed as BotEvent);
      this.#wake?.();
    });
    child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString("utf8")));
    child.on("exit", () => {
      this.#exited = true;
      this.#wake?.();
    });
  }

  command(cmd: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** The next event (after those already taken) that matches; an error event on the way fails it. */
  async next(match: (e: BotEvent) => boolean, what: string): Promise<BotEvent> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      while (this.#cursor < this.events.length) {
        const e = this.events[this.#cursor++]!;
        if (e.event === "error" || e.event === "unparsable") {
          throw new Error(`the bot reported ${JSON.stringify(e)} while we waited for ${what}\n${this.stderr}`);
        }
        if (match(e)) return e;
      }
      if (this.#exited) throw new Error(`the bot exited while we waited for ${what}\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the bot did not report ${what} in ${WAIT_MS} ms\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  errors(): BotEvent[] {
    return this.events.filter((e) => e.event === "error" || e.event === "unparsable");
  }

  async stop(): Promise<void> {
    if (this.#exited || this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      this.child.once("exit", () => {
        resolve();
      });
    });
    this.command({ cmd: "quit" });
    const timer = setTimeout(() => {
      this.child.kill("SIGKILL");
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Every message (and OMEMO error) an account reads, in order. */
class Inbox {
  readonly messages: IncomingMessage[] = [];
  readonly errors: unknown[] = [];
  #cursor = 0;
  #errorCursor = 0;
  #wake: (() => void) | undefined;

  constructor(readonly account: ChatAccount) {
    account.onMessage((m) => {
      if (m.direction === "out") return; // a carbon of our own message from another device
      this.messages.push(m);
      this.#wake?.();
    });
    account.onError((e) => {
      this.errors.push(e);
      this.#wake?.();
    });
  }

  /** The next message not taken yet; an OMEMO error not reported yet fails it. */
  async next(): Promise<IncomingMessage> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      if (this.#errorCursor < this.errors.length) {
        const e = this.errors[this.#errorCursor++];
        throw e instanceof Error ? e : new Error(String(e));
      }
      if (this.#cursor < this.messages.length) return this.messages[this.#cursor++]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.account.jid} read nothing in ${WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}

let server: ProsodyServer;
let bot: BotProcess;
let botReady: BotEvent;
let alice: ChatAccount;
let aliceInbox: Inbox;
const open: ChatAccount[] = [];
const plaintexts: string[] = [];
const BOT_JID = "bot@localhost";

function secret(label: string): string {
  const text = `${label} ${Math.random().toString(36).slice(2)}`;
  plaintexts.push(text, `echo: ${text}`);
  return text;
}

async function login(resource: string): Promise<{ account: ChatAccount; inbox: Inbox }> {
  const creds = server.accounts.find((a) => a.jid === "alice@localhost")!;
  const account = await ChatAccount.connect({
    service: server.service,
    ...creds,
    resource,
    store: memoryOmemoStore(),
  });
  open.push(account);
  const inbox = new Inbox(account);
  await account.online();
  // online() resolves once the presence is written; a ping answered after it means the server processed it
  // (one session's stanzas are handled in order), so a message to alice's bare JID now reaches this resource.
  await account.xmpp.iqCaller.request(xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  return { account, inbox };
}

beforeAll(async () => {
  const apt = spawnSync(process.execPath, [ENSURE_APT, ...APT], { stdio: "inherit" });
  if (apt.status !== 0) throw new Error(`could not install ${APT.join(" ")}`);
  server = await startProsody({ accounts: ["alice", "bot"] });
  const creds = server.accounts.find((a) => a.jid === BOT_JID)!;
  const address = new URL(server.service).host; // 127.0.0.1:PORT
  const child = spawn(
    "/usr/bin/python3",
    [BOT, "--service", address, "--jid", creds.jid, "--password", creds.password],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  bot = new BotProcess(child);
  botReady = await bot.next((e) => e.event === "ready", "ready");
  ({ account: alice, inbox: aliceInbox } = await login("alice-1"));
}, 60_000);

afterAll(async () => {
  await bot?.stop();
  for (const a of open.splice(0)) await a.close().catch(() => undefined);
  await server?.stop();
});

describe("parley-chat and a slixmpp + python-omemo bot on Prosody", () => {
  it("the bot is up with one device, published in both namespaces", async () => {
    expect(botReady).toMatchObject({ jid: BOT_JID, deviceId: expect.any(Number) as number });
    expect(botReady.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    for (const ns of [NS_V2, NS_LEGACY] as const) {
      await alice.omemo.refreshDeviceList(BOT_JID, ns);
      expect(await alice.omemo.devices(BOT_JID, ns)).toEqual([botReady.deviceId]);
    }
  });

  const cases: [string, OmemoNamespace, "omemo2" | "legacy"][] = [
    ["OMEMO 2", NS_V2, "omemo2"],
    ["legacy OMEMO", NS_LEGACY, "legacy"],
  ];

  describe.each(cases)("%s", (label, ns, name) => {
    it("alice writes first: python-omemo accepts her key exchange and its echo decrypts", async () => {
      const text = secret(`first ${label}`);
      const sent = await alice.send(BOT_JID, text, { namespace: ns });
      expect(sent.devices.filter((d) => d.jid === BOT_JID)).toMatchObject([
        { deviceId: botReady.deviceId, namespace: ns, status: "encrypted", keyExchange: true },
      ]);
      const got = await bot.next((e) => e.event === "message", `alice's ${label} message`);
      expect(got).toEqual({
        event: "message",
        from: "alice@localhost",
        namespace: name,
        deviceId: alice.omemo.deviceId,
        keyExchange: true,
        length: text.length,
      });
      const echo = await bot.next((e) => e.event === "sent" && e.kind === "echo", "the echo");
      expect(echo).toMatchObject({ to: "alice@localhost", namespace: name, errors: [] });
      expect(echo.devices).toContainEqual({
        jid: "alice@localhost",
        deviceId: alice.omemo.deviceId,
        keyExchange: false,
      });
      const read = await aliceInbox.next();
      expect({ from: read.from, namespace: read.namespace, deviceId: read.deviceId, body: read.body }).toEqual({
        from: BOT_JID,
        namespace: ns,
        deviceId: botReady.deviceId,
        body: `echo: ${text}`,
      });
      expect(read.result.fingerprint).toBe(botReady.fingerprint);
    });

    it("the bot writes first to a fresh alice device: alice reads it, answers, and reads the echo", async () => {
      const { account: fresh, inbox } = await login(`fresh-${name}`);
      const text = secret(`bot first ${label}`);
      bot.command({ cmd: "send", to: "alice@localhost", body: text, namespace: name, id: `first-${name}` });
      const sent = await bot.next((e) => e.event === "sent" && e.id === `first-${name}`, "the bot's message");
      expect(sent).toMatchObject({ kind: "command", namespace: name, errors: [] });
      // A key exchange to the fresh device; the established session with alice's first device goes on.
      expect(sent.devices).toContainEqual({
        jid: "alice@localhost",
        deviceId: fresh.omemo.deviceId,
        keyExchange: true,
      });
      expect(sent.devices).toContainEqual({
        jid: "alice@localhost",
        deviceId: alice.omemo.deviceId,
        keyExchange: false,
      });
      const read = await inbox.next();
      expect({ from: read.from, namespace: read.namespace, body: read.body }).toEqual({
        from: BOT_JID,
        namespace: ns,
        body: text,
      });
      expect(read.result.keyExchange).toBe(true);
      expect(read.result.fingerprint).toBe(botReady.fingerprint);
      expect((await aliceInbox.next()).body).toBe(text); // the first device read it as well

      const answer = secret(`answer ${label}`);
      const answered = await fresh.send(BOT_JID, answer, { namespace: ns });
      // The bot's key exchange made a session: the answer needs none.
      expect(answered.devices.filter((d) => d.jid === BOT_JID)).toMatchObject([
        { deviceId: botReady.deviceId, status: "encrypted", keyExchange: false },
      ]);
      const got = await bot.next((e) => e.event === "message", "the fresh device's answer");
      expect(got).toMatchObject({
        namespace: name,
        deviceId: fresh.omemo.deviceId,
        keyExchange: false,
        length: answer.length,
      });
      const echo = await inbox.next();
      expect({ namespace: echo.namespace, body: echo.body }).toEqual({ namespace: ns, body: `echo: ${answer}` });
      expect((await aliceInbox.next()).body).toBe(`echo: ${answer}`);
      await fresh.close();
      expect(inbox.errors).toEqual([]);
    });

    it("several messages in a row, both ways, in the established session", async () => {
      const fromAlice = [1, 2, 3, 4].map((i) => secret(`alice #${i} ${label}`));
      for (const text of fromAlice) await alice.send(BOT_JID, text, { namespace: ns });
      for (const text of fromAlice) {
        const got = await bot.next((e) => e.event === "message", `alice's message of length ${text.length}`);
        expect(got).toMatchObject({
          namespace: name,
          deviceId: alice.omemo.deviceId,
          keyExchange: false,
          length: text.length,
        });
      }
      const echoes = [];
      for (let i = 0; i < fromAlice.length; i++) echoes.push((await aliceInbox.next()).body);
      expect(echoes).toEqual(fromAlice.map((t) => `echo: ${t}`));

      const fromBot = [1, 2, 3, 4].map((i) => secret(`bot #${i} ${label}`));
      fromBot.forEach((body, i) => {
        bot.command({ cmd: "send", to: "alice@localhost", body, namespace: name, id: `row-${name}-${i}` });
      });
      for (let i = 0; i < fromBot.length; i++) {
        const sent = await bot.next((e) => e.event === "sent" && e.id === `row-${name}-${i}`, `the bot's message ${i}`);
        expect(sent.devices).toContainEqual({
          jid: "alice@localhost",
          deviceId: alice.omemo.deviceId,
          keyExchange: false,
        });
      }
      const read = [];
      for (let i = 0; i < fromBot.length; i++) {
        const m = await aliceInbox.next();
        expect({ from: m.from, namespace: m.namespace }).toEqual({ from: BOT_JID, namespace: ns });
        read.push(m.body);
      }
      expect(read).toEqual(fromBot);
    });
  });

  it("nothing went wrong on either side, and the server's log and archive hold no plaintext", () => {
    expect(bot.errors()).toEqual([]);
    expect(aliceInbox.errors).toEqual([]);
    expect(plaintexts.length).toBeGreaterThan(0);
    const log = readFileSync(server.log, "utf8");
    expect(log).toMatch(/message/);
    const stored = filesUnder(join(server.dir, "data"));
    // The archive kept the bot's messages and alice's: OMEMO elements in both namespaces.
    expect(stored).toContain("urn:xmpp:omemo:2");
    expect(stored).toContain("eu.siacs.conversations.axolotl");
    for (const text of plaintexts) {
      expect(log).not.toContain(text);
      expect(stored).not.toContain(text);
      expect(bot.stderr).not.toContain(text);
      expect(JSON.stringify(bot.events)).not.toContain(text);
    }
  });
});
