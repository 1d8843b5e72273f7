/**
 * What both example bots share: connecting to `parley-chat -p` from PARLEY_API_URL (default
 * ws://127.0.0.1:5225) and PARLEY_API_TOKEN, reporting the connection, stopping on Ctrl-C, and
 * befriending whoever asks. Nothing here prints a message body or the token.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { WebSocket } from "ws";
import { ParleyClient, isSdkError } from "../src/index.js";

export const log = (line: string): void => {
  console.error(`[${new Date().toISOString()}] ${line}`);
};

export async function connectFromEnv(name: string): Promise<ParleyClient> {
  const url = process.env["PARLEY_API_URL"] ?? "ws://127.0.0.1:5225";
  const token = process.env["PARLEY_API_TOKEN"];
  if (token === undefined || token === "") {
    log(`${name}: set PARLEY_API_TOKEN to the token parley-chat was started with (--api-token)`);
    process.exit(2);
  }
  let client: ParleyClient;
  try {
    client = await ParleyClient.connect(url, { token, WebSocket });
  } catch (e) {
    log(`${name}: cannot connect to ${url}: ${isSdkError(e) ? `${e.code}: ${e.message}` : "unexpected failure"}`);
    process.exit(1);
  }
  log(`${name}: connected to ${url} as ${client.ready.jid} (device ${client.ready.deviceId})`);
  client.on("disconnected", (e) => {
    log(`${name}: connection lost (${e.code})${e.retryInMs === undefined ? "" : `, retrying in ${e.retryInMs} ms`}`);
  });
  client.on("connected", (ready) => {
    log(`${name}: connected again as ${ready.jid}`);
  });
  client.on("closed", (e) => {
    if (e.error === undefined) return;
    log(`${name}: stopped: ${e.error.code}: ${e.error.message}`);
    process.exit(1);
  });
  const stop = (): void => {
    void client.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return client;
}

/** True when this module is the script node (or tsx) was started with. */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === moduleUrl;

/**
 * Answers each subscription request by approving it and subscribing back, so that the contact and the
 * bot see each other's presence and OMEMO device lists (both ways). For this, start the bot's
 * parley-chat without --auto-approve (which approves silently and does not subscribe back).
 */
export function acceptContacts(client: ParleyClient, report: (line: string) => void = log): () => void {
  return client.on("subscription-request", (request) => {
    const jid = request.from.split("/")[0]!.toLowerCase();
    client
      .approve(jid)
      .then(() => client.addContact(jid))
      .then(
        () => {
          report(`accepted ${jid} as a contact`);
        },
        (e: unknown) => {
          report(`could not accept ${jid}: ${isSdkError(e) ? (e.detail ?? e.code) : "failed"}`);
        },
      );
  });
}
