#!/usr/bin/env node
/**
 * parley-chat: a terminal XMPP client on the Parley packages. Everything it does is a command of
 * src/protocol.ts run by src/client.ts; this file only reads arguments, opens the profile, and turns
 * `/commands` (or JSON lines with --json) into commands and events into lines.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { Writable } from "node:stream";
import { ChatClient, describeError } from "./client.js";
import { serveApi, type ApiServer } from "./server.js";
import { isProfileError, Profile } from "./profile.js";
import { parseRequestText, requestIdOf, type Reply } from "@parley/sdk";
import { HELP, parseLine, render, show } from "./ui.js";

interface Options {
  readonly service: string;
  readonly jid: string;
  readonly password: string;
  readonly resource: string;
  readonly profile: string;
  readonly askPassphrase: boolean;
  readonly autoApprove: boolean;
  readonly insecureHttpHosts: string[];
  readonly json: boolean;
  /** The WebSocket API (-p): port, token, host, allowed browser origins, the directory for file commands. */
  readonly api?: { port: number; token: string; host?: string; origins: string[]; filesDir?: string };
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options | "help" {
  if (argv.includes("--help") || argv.includes("-h")) return "help";
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const FLAGS = new Set(["json", "ask-passphrase", "auto-approve"]);
  const VALUES = new Set([
    "service",
    "jid",
    "password",
    "resource",
    "profile",
    "insecure-http-host",
    "port",
    "api-token",
    "api-host",
    "api-origin",
    "api-files",
  ]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg === "-p" ? "port" : arg.startsWith("--") ? arg.slice(2) : undefined;
    if (name !== undefined && FLAGS.has(name)) flags.add(name);
    else if (name !== undefined && VALUES.has(name)) {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      values.set(name, [...(values.get(name) ?? []), value]);
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
  }
  const one = (name: string) => values.get(name)?.at(-1);
  const service = one("service");
  const jid = one("jid")?.toLowerCase();
  const password = one("password") ?? process.env["PARLEY_CHAT_PASSWORD"];
  if (!service || !jid || !password) throw new UsageError("--service, --jid and a password are required");
  if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) throw new UsageError("--jid must be a bare JID like alice@example.org");
  let api: Options["api"];
  const port = one("port");
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535)
      throw new UsageError("-p needs a port number (0: any free)");
    const token = one("api-token") ?? process.env["PARLEY_CHAT_API_TOKEN"];
    if (!token) throw new UsageError("-p needs an access token: PARLEY_CHAT_API_TOKEN (or --api-token)");
    const host = one("api-host");
    const filesDir = one("api-files");
    api = {
      port: Number(port),
      token,
      ...(host ? { host } : {}),
      origins: values.get("api-origin") ?? [],
      ...(filesDir ? { filesDir: resolve(filesDir) } : {}),
    };
  }
  return {
    ...(api ? { api } : {}),
    service,
    jid,
    password,
    resource: one("resource") ?? "parley-chat",
    profile: one("profile") ?? join(homedir(), ".parley-chat", jid),
    askPassphrase: flags.has("ask-passphrase"),
    autoApprove: flags.has("auto-approve"),
    insecureHttpHosts: values.get("insecure-http-host") ?? [],
    json: flags.has("json"),
  };
}

/** Reads a line without echoing it (a passphrase), from the terminal; undefined without one. */
async function askHidden(prompt: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stdout.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answer = new Promise<string>((resolve) => {
    rl.question(prompt, resolve);
  });
  muted = true;
  const value = await answer;
  rl.close();
  process.stdout.write("\n");
  return value;
}

async function openProfile(options: Options): Promise<Profile> {
  const fromEnv = process.env["PARLEY_CHAT_PASSPHRASE"];
  const ask = async (): Promise<string> => {
    const p = fromEnv ?? (await askHidden("passphrase: "));
    if (p === undefined || p === "")
      throw new UsageError("the store's passphrase is needed: set PARLEY_CHAT_PASSPHRASE or run in a terminal");
    return p;
  };
  if (options.askPassphrase) {
    return Profile.open({ dir: options.profile, passphrase: await ask(), remember: false });
  }
  try {
    return await Profile.open({ dir: options.profile });
  } catch (e) {
    // Not kept in the keystore (the user chose so earlier): ask for it.
    if (isProfileError(e, "PASSPHRASE_REQUIRED"))
      return Profile.open({ dir: options.profile, passphrase: await ask() });
    throw e;
  }
}

async function main(): Promise<void> {
  let options: Options | "help";
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}\n`);
    process.exit(2);
  }
  if (options === "help") {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const { json } = options;
  const out = (value: unknown): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };
  const say = (line: string | undefined): void => {
    if (line !== undefined && line !== "") process.stdout.write(`${line}\n`);
  };

  let profile: Profile;
  try {
    profile = await openProfile(options);
  } catch (e) {
    const info = describeError(e);
    if (json) out({ type: "event", event: "error", error: info });
    else process.stderr.write(`parley-chat: ${info.message}\n`);
    process.exit(1);
  }

  let client: ChatClient;
  try {
    client = await ChatClient.start({
      service: options.service,
      jid: options.jid,
      password: options.password,
      resource: options.resource,
      profile,
      autoApprove: options.autoApprove,
      insecureHttpHosts: options.insecureHttpHosts,
    });
  } catch (e) {
    await profile.close().catch(() => undefined);
    const info = describeError(e);
    if (json) out({ type: "event", event: "error", error: info });
    else process.stderr.write(`parley-chat: could not connect: ${info.message}\n`);
    process.exit(1);
  }
  client.on((event) => {
    if (json) out({ type: "event", ...event });
    else say(render(event));
  });
  const ready = client.readyEvent();
  if (json) out({ type: "event", ...ready });
  else say(render(ready));
  // (`--json` scripts read it in `status`.)
  if (!json && !client.omemoEnabled)
    say("  OMEMO is off for this device: nothing is sent with it, contacts do not see it; /omemo on turns it back on");

  let api: ApiServer | undefined;
  if (options.api) {
    try {
      api = await serveApi(client, {
        port: options.api.port,
        token: options.api.token,
        describe: describeError,
        allowedOrigins: options.api.origins,
        ...(options.api.filesDir ? { filesDir: options.api.filesDir } : {}),
        ...(options.api.host ? { host: options.api.host } : {}),
      });
    } catch (e) {
      const info = describeError(e);
      if (json) out({ type: "event", event: "error", error: info });
      else process.stderr.write(`parley-chat: the WebSocket API could not start: ${info.message}\n`);
      await client.close().catch(() => undefined);
      await profile.close().catch(() => undefined);
      process.exit(1);
    }
    if (json) out({ type: "event", event: "api", url: api.url });
    else
      say(
        `WebSocket API on ${api.url} (the token is the one you gave; ${
          options.api.filesDir
            ? `files for API clients in ${options.api.filesDir}`
            : "no file commands: --api-files DIR"
        })`,
      );
  }
  try {
    await client.online();
  } catch (e) {
    const info = describeError(e);
    if (json) out({ type: "event", event: "error", error: info });
    else say(`! could not go online: ${info.message}`);
  }

  // One reader for commands and for hidden prompts (a passphrase typed while the output is muted).
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stdout.write(chunk);
      callback();
    },
  });
  const lines: Interface = createInterface({
    input: process.stdin,
    output,
    terminal: !json && process.stdin.isTTY,
    crlfDelay: Infinity,
  });
  let prompt: ((line: string) => void) | undefined;
  const ask = (text: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      process.stdout.write(text);
      muted = process.stdin.isTTY;
      prompt = (line) => {
        muted = false;
        if (process.stdin.isTTY) process.stdout.write("\n");
        resolve(line);
      };
    });

  const handle = async (line: string): Promise<boolean> => {
    if (json) {
      let reply: Reply;
      let quit = false;
      try {
        const request = parseRequestText(line);
        const { id, ...command } = request;
        quit = command.cmd === "quit";
        try {
          const result = await client.execute(command);
          reply = { type: "reply", ...(id === undefined ? {} : { id }), ok: true, result: result ?? null };
        } catch (e) {
          reply = { type: "reply", ...(id === undefined ? {} : { id }), ok: false, error: describeError(e) };
        }
      } catch (e) {
        const id = requestIdOf(line);
        reply = { type: "reply", ...(id === undefined ? {} : { id }), ok: false, error: describeError(e) };
      }
      out(reply);
      return quit;
    }
    const trimmed = line.trim();
    if (trimmed === "/help") {
      say(HELP);
      return false;
    }
    if (!trimmed.startsWith("/")) {
      say("? commands start with /; /msg <jid> <text> sends a message, /help lists the others");
      return false;
    }
    try {
      const command = await parseLine(trimmed, ask);
      if (command.cmd === "quit") return true;
      say(show(command, await client.execute(command)));
    } catch (e) {
      const info = describeError(e);
      say(`! ${info.detail ?? info.code}: ${info.message}`);
    }
    return false;
  };

  await new Promise<void>((resolve) => {
    let chain = Promise.resolve(false);
    lines.on("line", (line) => {
      if (prompt !== undefined) {
        const answer = prompt;
        prompt = undefined;
        answer(line);
        return;
      }
      if (line.trim() === "") return;
      chain = chain.then((done) => (done ? true : handle(line)));
      void chain.then((done) => {
        if (done) lines.close();
      });
    });
    lines.on("close", () => {
      void chain.then(() => {
        resolve();
      });
    });
  });
  await api?.close();
  await client.close();
  await profile.close();
}

await main();
