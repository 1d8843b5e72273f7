/**
 * Two accounts talk through the session manager over an in-memory XMPP world (MemoryXmppNetwork
 * stands in for your XMPP library and server; an app wires its own transport, store and trust).
 * Run: pnpm exec tsx examples/session-two-accounts.ts   (test/session/examples.test.ts runs it too)
 * In your code import from "@parley/omemo" instead of ../src.
 */
import { formatFingerprint, memoryOmemoStore, MemoryXmppNetwork, SessionManager } from "../src/index.js";

export async function twoAccounts(print: (line: string) => void): Promise<void> {
  const network = new MemoryXmppNetwork();
  const trust = { decide: () => "trusted" as const }; // blind trust; @parley/trust in a real app

  async function login(jid: string): Promise<SessionManager> {
    const client = network.connect(`${jid}/phone`);
    const manager = await SessionManager.create({ jid, store: memoryOmemoStore(), transport: client.transport, trust });
    network.setHandlers(client, {
      message: async (stanza) => {
        const m = await manager.decrypt(stanza); // <message> in, typed result out
        if (m.kind === "message") print(`${jid} read "${m.body}" from ${m.from}`);
      },
      pubsub: (from, node, items) => manager.handlePubsubEvent(from, node, items),
    });
    return manager;
  }

  const alice = await login("alice@example.org"); // device id, keys, bundles and device lists published
  const bob = await login("bob@example.net");
  await network.flush(); // PEP notifications

  await alice.send("bob@example.net", { body: "Hi Bob!" }); // builds the session from Bob's bundle
  await network.flush(); // Bob reads it, republishes his bundle and completes the session
  await bob.send("alice@example.org", { body: "Hi Alice!" });
  await network.flush();
  print(`Alice's fingerprint: ${formatFingerprint(alice.fingerprint)}`);
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) await twoAccounts(console.log);
