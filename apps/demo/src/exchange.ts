import { NS_V2, type OmemoNamespace } from "@parley/omemo";
import { nsName, type Client, type Received } from "./client.js";
import type { Print, World } from "./world.js";

/** One OMEMO message: who got a key, and which devices read it. */
export interface Exchange {
  readonly from: string;
  readonly namespace: string;
  readonly body: string;
  /** Per recipient device (ours included): encrypted, untrusted, undecided or failed. */
  readonly keys: ReadonlyArray<{ readonly device: string; readonly status: string; readonly keyExchange: boolean }>;
  /** Devices that decrypted it, with the trust they saw the sender with. */
  readonly readBy: ReadonlyArray<{ readonly device: string; readonly trust: string; readonly newSession: boolean }>;
  /** Devices that got the stanza but could not read it, with the error code. */
  readonly unreadable: ReadonlyArray<{ readonly device: string; readonly error: string }>;
}

/** `from` sends `body` to `to` through its session manager, in one namespace; the router delivers. */
export async function exchange(
  world: World,
  print: Print,
  from: Client,
  to: string,
  body: string,
  namespace: OmemoNamespace = NS_V2,
): Promise<Exchange> {
  const before = new Map<Client, number>(world.clients.map((c) => [c, c.inbox.length]));
  const sent = await from.omemo.send(to, { body }, { namespaces: [namespace] });
  await world.router.idle();
  const fresh = (c: Client): Received[] => c.inbox.slice(before.get(c) ?? 0);
  const result: Exchange = {
    from: from.name,
    namespace: nsName(namespace),
    body,
    keys: sent.devices.map((d) => ({
      device: world.nameOf(d.jid, d.deviceId),
      status: d.status,
      keyExchange: d.keyExchange === true,
    })),
    readBy: world.clients.flatMap((c) =>
      fresh(c)
        .filter((r) => r.kind === "message" && r.body === body)
        .map((r) => ({ device: c.name, trust: r.trust ?? "?", newSession: r.newSession === true })),
    ),
    unreadable: world.clients.flatMap((c) =>
      fresh(c)
        .filter((r) => r.kind === "error")
        .map((r) => ({ device: c.name, error: r.error ?? "?" })),
    ),
  };
  print(`${from.name} → ${to} (${result.namespace}): "${body}"`);
  const keys = result.keys.map(
    (k) => `${k.device} ${k.status === "encrypted" ? "✓" : `✗ ${k.status}`}${k.keyExchange ? " (key exchange)" : ""}`,
  );
  print(`    keys for:   ${keys.join(", ")}`);
  const ours = new Set(world.clients.filter((c) => c.jid === from.jid).map((c) => c.name));
  const read = result.readBy.map(
    (r) =>
      `${r.device}${ours.has(r.device) ? " (own-device copy)" : ""}${r.trust === "trusted" ? "" : ` [sender ${r.trust}]`}`,
  );
  print(`    read by:    ${read.length === 0 ? "nobody" : read.join(", ")}`);
  for (const u of result.unreadable) print(`    ${u.device} got the stanza but cannot read it: ${u.error}`);
  return result;
}
