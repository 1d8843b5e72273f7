/**
 * The echo bot: answers a number with its square and anything else with itself, to every contact,
 * end-to-end encrypted by parley-chat (the contact's default encryption, OMEMO unless set otherwise).
 *
 *   parley-chat --jid bot@example.org -p 5225 --api-token "$PARLEY_API_TOKEN"   # one terminal (see README.md)
 *   PARLEY_API_TOKEN=… pnpm --filter @parley/sdk bot:echo                          # another
 *
 * It answers live messages only (not the server's archive, which a restart would answer again), and
 * never logs a message's body.
 */
import { isSdkError, type ParleyClient } from "../src/index.js";
import { acceptContacts, connectFromEnv, isMain, log } from "./common.js";

/** The answer to one message: the square of a number (exact for integers), else the message itself. */
export function echoAnswer(body: string): string {
  const text = body.trim();
  if (/^[-+]?\d{1,1000}$/.test(text)) {
    const n = BigInt(text);
    return (n * n).toString();
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)(e[-+]?\d+)?$/i.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n * n)) return String(n * n);
  }
  return body;
}

/** Answers each incoming live message through the client; returns the function that stops it. */
export function runEchoBot(client: ParleyClient, report: (line: string) => void = log): () => void {
  return client.on("message", (m) => {
    if (m.direction !== "in" || m.via !== "live") return;
    client.send(m.from, echoAnswer(m.body)).then(
      () => {
        report(`answered ${m.from}`);
      },
      (e: unknown) => {
        report(`could not answer ${m.from}: ${isSdkError(e) ? (e.detail ?? e.code) : "failed"}`);
      },
    );
  });
}

if (isMain(import.meta.url)) {
  const client = await connectFromEnv("echo bot");
  acceptContacts(client);
  runEchoBot(client);
  log("echo bot: send it a number or any text");
}
