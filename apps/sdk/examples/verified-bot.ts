/**
 * The verified-only bot: answers (like the echo bot) only messages from an OMEMO device whose
 * fingerprint it has verified. To anyone else it answers once, per contact and run, that it only talks
 * to verified contacts, and then stays silent (a refusal the sender can see, but no conversation and
 * no amplification). Verify a contact's device with the SDK (`client.verify(jid, fingerprint)`), or in
 * parley-chat with `/verify`, after comparing the fingerprint out of band.
 *
 *   PARLEY_API_TOKEN=… pnpm --filter @parley/sdk bot:verified
 */
import { isSdkError, type EventOf, type ParleyClient } from "../src/index.js";
import { echoAnswer } from "./echo-bot.js";
import { acceptContacts, connectFromEnv, isMain, log } from "./common.js";

export const REFUSAL =
  "I only talk to contacts whose OMEMO device I have verified. Compare fingerprints with my owner first.";

/** True if the message came from an OMEMO device of its sender that the trust store has as verified. */
export async function fromVerifiedDevice(client: ParleyClient, m: EventOf<"message">): Promise<boolean> {
  if (m.deviceId === undefined || m.encryption === "none" || m.encryption === "otr") return false;
  const keys = await client.fingerprints(m.from);
  return keys.some((k) => k.protocol === "omemo" && k.deviceId === m.deviceId && k.state === "verified");
}

/** Answers verified senders, refuses the others once; returns the function that stops it. */
export function runVerifiedBot(client: ParleyClient, report: (line: string) => void = log): () => void {
  const refused = new Set<string>();
  const handle = async (m: EventOf<"message">): Promise<void> => {
    if (await fromVerifiedDevice(client, m)) {
      await client.send(m.from, echoAnswer(m.body));
      report(`answered ${m.from}`);
      return;
    }
    if (refused.has(m.from)) {
      report(`ignored ${m.from} (not verified)`);
      return;
    }
    refused.add(m.from);
    await client.send(m.from, REFUSAL);
    report(`refused ${m.from} (not verified)`);
  };
  return client.on("message", (m) => {
    if (m.direction !== "in" || m.via !== "live") return;
    handle(m).catch((e: unknown) => {
      report(`could not handle a message from ${m.from}: ${isSdkError(e) ? (e.detail ?? e.code) : "failed"}`);
    });
  });
}

if (isMain(import.meta.url)) {
  const client = await connectFromEnv("verified bot");
  acceptContacts(client);
  runVerifiedBot(client);
  log("verified bot: answers only contacts whose OMEMO device it has verified");
}
