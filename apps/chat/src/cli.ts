#!/usr/bin/env node
/**
 * parley-chat: a terminal XMPP client on the Parley packages (early: OMEMO messages in both namespaces).
 *
 *   parley-chat --service xmpp://127.0.0.1:5222 --jid alice@localhost     (password from PARLEY_CHAT_PASSWORD or --password)
 *   parley-chat ... --json     non-interactive: commands as JSON lines on stdin, events as JSON lines on stdout
 *
 * Interactive commands: `/msg <jid> <text>` (OMEMO 2, or legacy OMEMO for a contact without OMEMO 2),
 * `/legacy <jid> <text>`, `/omemo2 <jid> <text>`, `/fingerprint`, `/help`, `/quit`.
 * JSON commands: {"cmd": "send", "to": "...", "body": "...", "namespace"?: "omemo2" | "legacy"}, {"cmd": "quit"}.
 * JSON events: ready {jid, deviceId, fingerprint}, sent {to, body?: never, devices}, message {from,
 * namespace, deviceId, body}, error {code, message} (never a plaintext, key or password in an error).
 */
import { createInterface } from "node:readline";
import { isOmemoError, NS_LEGACY, NS_V2, formatFingerprint, type OmemoNamespace } from "@parley/omemo";
import { ChatAccount } from "./account.js";

const HELP = `parley-chat: an XMPP client with OMEMO (both namespaces), on the Parley packages.

Usage: parley-chat --service <xmpp://host:port> --jid <bare JID> [--password <password>] [--resource <r>] [--json]

  --service   the server's address, e.g. xmpp://127.0.0.1:5222 (xmpps:// for direct TLS)
  --jid       your account, e.g. alice@localhost
  --password  your password (default: the PARLEY_CHAT_PASSWORD environment variable)
  --resource  this client's resource (default: parley-chat)
  --json      non-interactive: commands as JSON lines on stdin, events as JSON lines on stdout
  --help      this text

Commands: /msg <jid> <text>   /omemo2 <jid> <text>   /legacy <jid> <text>   /fingerprint   /help   /quit
State is kept in memory for now: each start is a new OMEMO device.`;

interface Options {
  service: string;
  jid: string;
  password: string;
  resource: string;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options | "help" {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes("--help") || argv.includes("-h")) return "help";
  const service = value("service");
  const jid = value("jid");
  const password = value("password") ?? process.env["PARLEY_CHAT_PASSWORD"];
  if (!service || !jid || !password) throw new UsageError("--service, --jid and a password are required");
  if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) throw new UsageError("--jid must be a bare JID like alice@example.org");
  return { service, jid, password, resource: value("resource") ?? "parley-chat", json: argv.includes("--json") };
}

class UsageError extends Error {}

const NAMESPACES: Record<string, OmemoNamespace> = { omemo2: NS_V2, legacy: NS_LEGACY };

/** What an error may show: its code and message (OmemoErrors never carry content), nothing else. */
function describe(e: unknown): { code: string; message: string } {
  if (isOmemoError(e)) return { code: e.code, message: e.message };
  if (e instanceof UsageError) return { code: "USAGE", message: e.message };
  return { code: "ERROR", message: e instanceof Error ? e.message : String(e) };
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
  const emit = (event: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(event)}\n`);
  };
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };

  const account = await ChatAccount.connect(options);
  account.onMessage((m) => {
    const namespace = m.namespace === NS_V2 ? "omemo2" : "legacy";
    if (json) emit({ event: "message", from: m.from, namespace, deviceId: m.deviceId, body: m.body ?? null });
    else say(`[${m.from}] ${m.body ?? ""}   (${namespace === "omemo2" ? "OMEMO 2" : "legacy OMEMO"})`);
  });
  account.onError((e) => {
    if (json) emit({ event: "error", ...describe(e) });
    else say(`! ${describe(e).code}: ${describe(e).message}`);
  });
  await account.online();
  if (json) {
    emit({
      event: "ready",
      jid: account.jid,
      deviceId: account.omemo.deviceId,
      fingerprint: account.omemo.fingerprint,
    });
  } else {
    say(`connected as ${account.jid}, OMEMO device ${account.omemo.deviceId}; /help for commands`);
  }

  const send = async (to: string, body: string, ns?: OmemoNamespace): Promise<void> => {
    try {
      const r = await account.send(to, body, ns ? { namespace: ns } : {});
      const devices = r.devices.map((d) => ({ jid: d.jid, deviceId: d.deviceId, status: d.status }));
      if (json) emit({ event: "sent", to, devices });
      else say(`(sent to ${devices.filter((d) => d.status === "encrypted").length} device(s))`);
    } catch (e) {
      if (json) emit({ event: "error", ...describe(e) });
      else say(`! ${describe(e).code}: ${describe(e).message}`);
    }
  };

  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    if (json) {
      let cmd: { cmd?: unknown; to?: unknown; body?: unknown; namespace?: unknown };
      try {
        cmd = JSON.parse(line) as typeof cmd;
      } catch {
        emit({ event: "error", code: "BAD_COMMAND", message: "not JSON" });
        continue;
      }
      if (cmd.cmd === "quit") break;
      if (cmd.cmd === "send" && typeof cmd.to === "string" && typeof cmd.body === "string") {
        const ns = typeof cmd.namespace === "string" ? NAMESPACES[cmd.namespace] : undefined;
        if (cmd.namespace !== undefined && ns === undefined) {
          emit({ event: "error", code: "BAD_COMMAND", message: 'namespace must be "omemo2" or "legacy"' });
          continue;
        }
        await send(cmd.to, cmd.body, ns);
        continue;
      }
      emit({
        event: "error",
        code: "BAD_COMMAND",
        message: 'expected {"cmd": "send", "to", "body"} or {"cmd": "quit"}',
      });
      continue;
    }
    const [command, to, ...rest] = line.trim().split(/\s+/);
    const text = rest.join(" ");
    if (command === "/quit") break;
    else if (command === "/help") say(HELP);
    else if (command === "/fingerprint") say(formatFingerprint(account.omemo.fingerprint));
    else if ((command === "/msg" || command === "/omemo2" || command === "/legacy") && to && text) {
      await send(to, text, command === "/omemo2" ? NS_V2 : command === "/legacy" ? NS_LEGACY : undefined);
    } else say("? /msg <jid> <text>, /omemo2 <jid> <text>, /legacy <jid> <text>, /fingerprint, /help, /quit");
  }
  await account.close();
}

await main();
