/**
 * The whole story in one process, section by section: each returns what happened as a typed result
 * (the tests check those), and prints a readable account of it.
 */
import { newDeviceStory, type NewDeviceResult } from "./new-device-story.js";
import { omemoStory, type OmemoStoryResult } from "./omemo-story.js";
import { otrStory, type OtrStoryResult } from "./otr-story.js";
import { queueStory, type QueueStoryResult } from "./queue-story.js";
import { storageStory, type StorageStoryResult } from "./storage-story.js";
import { PASSPHRASES, World, type Print } from "./world.js";

export interface StoryResult {
  readonly omemo: Omit<OmemoStoryResult, "clients">;
  readonly newDevice: Omit<NewDeviceResult, "client">;
  readonly otr: OtrStoryResult;
  readonly queue: QueueStoryResult;
  readonly storage: StorageStoryResult;
  /** Stanzas that crossed the router. */
  readonly stanzas: number;
  /** Secrets held during the run (private keys as stored, passphrases): never in the output. */
  readonly secrets: readonly string[];
}

export async function runStory(print: Print): Promise<StoryResult> {
  const world = new World();
  const section = (title: string) => {
    print("");
    print(`== ${title}`);
  };
  const indent: Print = (line) => {
    print(line === "" ? "" : `   ${line}`);
  };
  try {
    print("Alice has a phone and a laptop, Bob a phone (and soon a tablet). An in-memory router stands in for");
    print("the XMPP server: PEP, message routing, carbons, offline storage. Every stanza crosses it as XML text.");
    section("(a) OMEMO: Alice (phone and laptop) and Bob, OMEMO 2 and legacy OMEMO, through the session manager");
    const a = await omemoStory(world, indent);
    const { alicePhone, bobPhone } = a.clients;

    section("(b) Bob's new device: untrusted until Alice verifies it (TOFU, @parley/trust)");
    const b = await newDeviceStory(world, indent, { alicePhone });

    section("(c) OTR between Alice's phone and Bob's phone: AKE, messages, SMP");
    const c = await otrStory(world, indent, { alicePhone, bobPhone });

    section("(d) The outgoing queue: Bob offline, a dropped link, a resend");
    const d = await queueStory(world, indent, { alicePhone, bobPhone, bobTablet: b.client });

    const secrets: string[] = [...Object.values(PASSPHRASES)];
    for (const client of world.clients) secrets.push(...(await client.secrets()));

    section("(e) Storage: Bob's phone restarts, a wrong passphrase, a passphrase change");
    const e = await storageStory(world, indent, { alicePhone, bobPhone }, c.fingerprints.alice);

    const omemo = { devices: a.devices, exchanges: a.exchanges, wireMessage: a.wireMessage };
    const { tablet, warned, trustBefore, trustAfter, before, after } = b;
    const newDevice = { tablet, warned, trustBefore, trustAfter, before, after };
    if (world.router.handlerErrors.length > 0) print(`! ${world.router.handlerErrors.length} client handler errors`);
    return { omemo, newDevice, otr: c, queue: d, storage: e, stanzas: world.router.wire.length, secrets };
  } finally {
    await world.close();
  }
}
