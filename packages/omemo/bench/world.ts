// The benchmark's world, shared by bench/index.ts and bench/profile.ts: an account with 3 devices
// (alice) and a contact with 3 devices (bob), each a SessionManager on an in-memory store, connected
// to one in-memory network, trusting every device.
import type { Crypto } from "@parley/crypto";
import { MemoryOmemoStore, MemoryXmppNetwork, SessionManager, type OmemoNamespace } from "../dist/index.js";

export async function world(
  ns: OmemoNamespace,
  crypto: Crypto,
): Promise<{ network: MemoryXmppNetwork; devices: SessionManager[] }> {
  const network = new MemoryXmppNetwork();
  const devices: SessionManager[] = [];
  for (const jid of [
    "alice@example.org",
    "alice@example.org",
    "alice@example.org",
    "bob@example.net",
    "bob@example.net",
    "bob@example.net",
  ]) {
    const client = network.connect(`${jid}/${devices.length}`);
    const manager = await SessionManager.create({
      jid,
      store: new MemoryOmemoStore(),
      transport: client.transport,
      trust: { decide: () => "trusted" },
      namespaces: [ns],
      crypto,
    });
    network.setHandlers(client, {
      message: (stanza) => manager.decrypt(stanza).catch(() => undefined),
      pubsub: (from, node, items) => manager.handlePubsubEvent(from, node, items),
    });
    devices.push(manager);
  }
  await network.flush();
  return { network, devices };
}
