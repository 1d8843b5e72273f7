/**
 * The readline face of parley-chat: `/command` lines to protocol commands, events and results to lines
 * for people. Plaintext is shown only here, on the user's own terminal.
 */
import { parseRequest, ProtocolError, type ChatEvent, type Command } from "@parley/sdk";

export const HELP = `parley-chat: an XMPP client with OMEMO (both namespaces) and OTR, on the Parley packages.

Usage: parley-chat --service <xmpp://host:port> --jid <bare JID> [options]

  --service            the server's address, e.g. xmpp://127.0.0.1:5222 (xmpps:// for direct TLS)
  --jid                your account, e.g. alice@localhost
  --password <p>       your password (default: the PARLEY_CHAT_PASSWORD environment variable)
  --resource <r>       this client's resource (default: parley-chat)
  --profile <dir>      where the encrypted store lives (default: ~/.parley-chat/<jid>)
  --ask-passphrase     the store's passphrase is not kept in the keystore: read it (hidden) at start, or
                       from PARLEY_CHAT_PASSPHRASE; on a new profile, create it so
  --auto-approve       approve every subscription request (bots)
  --insecure-http-host <host:port>   fetch file uploads from this host over plain http (test servers)
  -p <port>            serve the local WebSocket API for bots (@parley/sdk) on this port (0: any free);
                       the access token from PARLEY_CHAT_API_TOKEN (or --api-token, visible in ps)
  --api-host <host>    the API's address (default 127.0.0.1: loopback only)
  --api-origin <o>     a browser origin allowed to connect (repeatable; loopback pages always are)
  --api-files <dir>    the directory API clients may send files from and save files to (default none:
                       send-file and save-file are refused over the API)
  --json               non-interactive: commands as JSON lines on stdin, replies and events as JSON lines
  --help               this text

Commands (a JID is bare, like bob@example.org):
  /msg <jid> <text>             send through the queue, with the contact's default encryption
  /omemo2 <jid> <text>          send now in OMEMO 2 only      /legacy <jid> <text>   legacy OMEMO only
  /queue   /resend <id>   /cancel <id>                       undelivered messages; resend a failed one
  /history <jid> [n]            the last n messages with a contact (from the encrypted store)
  /contacts   /add <jid>   /approve <jid>   /remove <jid>    roster and subscriptions
  /fingerprints [jid]           ours, or a contact's OMEMO and OTR keys with their trust
  /verify <jid> <omemo|otr> <fingerprint>   /distrust <jid> <omemo|otr> <fingerprint>
  /share   /qr                  our fingerprints as an xmpp: URI (and as a QR code)
  /scan <jid> <xmpp: URI>       verify the fingerprints of that contact's URI (one for anyone else is refused)
  /encryption <jid> <omemo|otr|none>   a contact's default      /mute <jid>   /unmute <jid>
  /otr start|end <jid>   /smp <jid> <secret> [question]   /smp-answer <jid> <secret>
  /omemo off | on               turn OMEMO off for this device (contacts stop encrypting to it), or back on
  /join <room> [nick]   /leave <room>   /invite <room> <jid>   /say <room> <text>
  /file <jid> <path>            send a file (OMEMO media sharing over HTTP upload)
  /files   /save <media id> <path>   received files (kept encrypted); decrypt one into a new file
  /delete-media                 delete every stored file and media
  /passphrase change | forget | remember      the store's passphrase (asked, hidden)
  /read <jid> <message id>      tell the contact you read it (chat markers)
  /status   /help   /quit`;

const ENCRYPTION_LABELS: Record<string, string> = {
  omemo: "OMEMO",
  omemo2: "OMEMO 2",
  legacy: "legacy OMEMO",
  otr: "OTR",
  none: "UNENCRYPTED",
};
const encryptionLabel = (encryption: string): string => ENCRYPTION_LABELS[encryption] ?? encryption;

/** An event as one line for people. Plaintext is shown only here, on the user's own terminal. */
export function render(e: ChatEvent): string | undefined {
  const time = (at: number) => new Date(at).toISOString().slice(11, 16);
  switch (e.event) {
    case "ready":
      return `connected as ${e.jid}, OMEMO device ${e.deviceId}; /help for commands`;
    case "message": {
      if (e.muted) return undefined;
      const how = encryptionLabel(e.encryption);
      const via = e.via === "live" ? "" : ` ${e.via}`;
      return e.direction === "in"
        ? `${time(e.at)} [${e.from}] ${e.body}   (${how}${via})`
        : `${time(e.at)} [me -> ${e.to}] ${e.body}   (${how}${via})`;
    }
    case "room-message":
      return `${time(e.at)} [${e.room}] <${e.nick}> ${e.body}`;
    case "invite":
      return `  ${e.from ?? "someone"} invites you to ${e.room}${e.reason ? `: "${e.reason}"` : ""}; /join ${e.room}`;
    case "queue":
      return `  message ${e.id} to ${e.to}: ${e.state}${e.method ? ` (${e.method})` : ""}${e.reason ? `: ${e.reason}` : ""}${e.state === "failed" ? ` (/resend ${e.id})` : ""}`;
    case "receipt":
      return undefined; // shown as the queue's "delivered"
    case "displayed":
      return `  ${e.from} read message ${e.id}`;
    case "trust":
      return `  ${e.protocol} key of ${e.jid}${e.deviceId === undefined ? "" : ` (device ${e.deviceId})`}: ${e.state}`;
    case "presence":
      return `  ${e.jid} is ${e.online ? "online" : "offline"}`;
    case "subscription-request":
      return `  ${e.from} wants to see your presence: /approve ${e.from}`;
    case "otr": {
      const line = `  OTR with ${e.jid}: ${e.state}`;
      if (e.state !== "encrypted" || e.trust === undefined) return line;
      const contact = e.jid.split("/")[0]!;
      if (e.trust === "compromised")
        return `${line}, but you marked this key COMPROMISED: nothing is sent to it, nothing from it is shown`;
      if (e.trusted !== true)
        return `${line}, but the key is UNTRUSTED (not the one you knew): nothing is sent until you verify it (/smp ${contact} <secret>, or /verify ${contact} otr <fingerprint> after comparing /fingerprints ${contact})`;
      return `${line} (key ${e.trust === "verified" ? "verified" : "trusted on first use"})`;
    }
    case "smp-request":
      return `  ${e.jid} asks to verify with SMP${e.question ? `: "${e.question}"` : ""}; /smp-answer ${e.jid.split("/")[0]} <secret>`;
    case "smp-result":
      return `  SMP with ${e.jid}: ${e.result}`;
    case "file":
      return `  file from ${e.from}: ${e.name} (${e.size ?? "?"} bytes), kept encrypted as ${e.mediaId ?? "?"}`;
    case "error":
      return `! ${e.error.detail ?? e.error.code}: ${e.error.message}`;
  }
}

/** A result as lines for people. */
export function show(command: Command, result: unknown): string | undefined {
  switch (command.cmd) {
    case "omemo":
      return command.enabled
        ? "OMEMO is on for this device: published again, contacts encrypt to it"
        : "OMEMO is off for this device: it left your device lists (contacts stop encrypting to it) and nothing is sent with OMEMO; /omemo on turns it back on";
    case "send":
      return undefined; // the queue's events tell the story
    case "share": {
      const r = result as { uri: string; qr?: string };
      return r.qr === undefined ? r.uri : `${r.qr}\n${r.uri}`;
    }
    case "history":
      // How each message went out or came in: for ours, the method the queue used once it sent it.
      return (result as { direction: string; from: string; body: string; encryption: string; at: number }[])
        .map(
          (h) =>
            `${new Date(h.at).toISOString().slice(0, 16)} ${h.direction === "in" ? h.from : "me"}: ${h.body}   (${encryptionLabel(h.encryption)})`,
        )
        .join("\n");
    case "quit":
      return undefined;
    default:
      return JSON.stringify(result, null, 2);
  }
}

const words = (s: string): string[] => s.trim().split(/\s+/).filter(Boolean);

/** A `/command` line to a command (hidden prompts for passphrases). */
export async function parseLine(line: string, ask: (prompt: string) => Promise<string | undefined>): Promise<Command> {
  const [name = "", ...args] = words(line);
  const rest = (n: number) => line.trim().split(/\s+/).slice(n).join(" ");
  const need = async (prompt: string): Promise<string> => {
    const v = await ask(prompt);
    if (!v) throw new ProtocolError("BAD_COMMAND", "a passphrase is needed");
    return v;
  };
  const o: Record<string, unknown> = (() => {
    switch (name) {
      case "/msg":
        return { cmd: "send", to: args[0], body: rest(2) };
      case "/omemo2":
      case "/legacy":
        return { cmd: "send", to: args[0], body: rest(2), namespace: name.slice(1) };
      case "/queue":
        return { cmd: "queue" };
      case "/resend":
        return { cmd: "resend", messageId: args[0] };
      case "/cancel":
        return { cmd: "cancel", messageId: args[0] };
      case "/history":
        return { cmd: "history", peer: args[0], ...(args[1] ? { limit: Number(args[1]) } : {}) };
      case "/contacts":
        return { cmd: "contacts" };
      case "/add":
        return { cmd: "add-contact", jid: args[0] };
      case "/approve":
        return { cmd: "approve", jid: args[0] };
      case "/remove":
        return { cmd: "remove-contact", jid: args[0] };
      case "/fingerprints":
      case "/fingerprint":
        return { cmd: "fingerprints", ...(args[0] ? { jid: args[0] } : {}) };
      case "/verify":
      case "/distrust":
        return { cmd: name.slice(1), jid: args[0], protocol: args[1], fingerprint: args.slice(2).join("") };
      case "/share":
        return { cmd: "share" };
      case "/qr":
        return { cmd: "share", qr: true };
      case "/scan":
        // The contact whose code it is: a URI naming anyone else verifies nothing.
        if (args[0]?.toLowerCase().startsWith("xmpp:") === true)
          throw new ProtocolError("BAD_COMMAND", "name the contact first: /scan <jid> <xmpp: URI>");
        return { cmd: "scan", expectedContact: args[0], uri: args[1] };
      case "/encryption":
        return { cmd: "set-encryption", jid: args[0], encryption: args[1] };
      case "/mute":
      case "/unmute":
        return { cmd: "mute", jid: args[0], muted: name === "/mute" };
      case "/omemo":
        return { cmd: "omemo", enabled: args[0] === "on" ? true : args[0] === "off" ? false : undefined };
      case "/otr":
        return { cmd: args[0] === "end" ? "otr-end" : args[0] === "start" ? "otr-start" : "?", jid: args[1] };
      case "/smp":
        return { cmd: "smp", jid: args[0], secret: args[1], ...(args[2] ? { question: rest(3) } : {}) };
      case "/smp-answer":
        return { cmd: "smp-answer", jid: args[0], secret: rest(2) };
      case "/join":
        return { cmd: "join", room: args[0], ...(args[1] ? { nick: args[1] } : {}) };
      case "/leave":
        return { cmd: "leave", room: args[0] };
      case "/invite":
        return { cmd: "invite", room: args[0], jid: args[1] };
      case "/say":
        return { cmd: "room-send", room: args[0], body: rest(2) };
      case "/file":
        return { cmd: "send-file", to: args[0], path: rest(2) };
      case "/files":
        return { cmd: "files" };
      case "/save":
        return { cmd: "save-file", mediaId: args[0], path: rest(2) };
      case "/delete-media":
        return { cmd: "delete-media" };
      case "/passphrase":
        return { cmd: `passphrase-${args[0] ?? ""}` };
      case "/read":
        return { cmd: "mark-read", jid: args[0], messageId: args[1] };
      case "/status":
        return { cmd: "status" };
      case "/quit":
        return { cmd: "quit" };
      default:
        return { cmd: "?" };
    }
  })();
  if (o["cmd"] === "passphrase-change") {
    // Empty while the keystore holds it: a new profile's passphrase is random and was never shown.
    const current = await ask("current passphrase (empty if the keystore holds it): ");
    return parseRequest({
      cmd: "change-passphrase",
      ...(current ? { current } : {}),
      next: await need("new passphrase: "),
    });
  }
  if (o["cmd"] === "passphrase-forget") return parseRequest({ cmd: "remember-passphrase", remember: false });
  if (o["cmd"] === "passphrase-remember")
    return parseRequest({ cmd: "remember-passphrase", remember: true, passphrase: await need("passphrase: ") });
  if (o["cmd"] === "?") throw new ProtocolError("BAD_COMMAND", "unknown command; /help lists them");
  return parseRequest(o);
}
