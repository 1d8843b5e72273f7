// Two parties do the AKE, exchange messages, and verify each other with SMP (a question and a shared secret).
// Run: pnpm exec tsx examples/two-parties.ts   (test/example.test.ts runs it too, so it stays true)
// In your code import from "@parley/otr" instead of ../src.
import { generateDsaKey, OtrSession, type OtrEvent } from "../src/index.js";

export function main(print: (line: string) => void = console.log): void {
  // Long-term DSA keys: generate once, store with key.export() (encrypted at rest), reload with DsaPrivateKey.import.
  const aliceKey = generateDsaKey();
  const bobKey = generateDsaKey();

  const alice = new OtrSession({ account: "alice@example.org", contact: "bob@example.net", privateKey: aliceKey });
  const bob = new OtrSession({ account: "bob@example.net", contact: "alice@example.org", privateKey: bobKey });

  // The "network": deliver wire messages, and every reply they cause, until both sides are quiet.
  const peerOf = (s: OtrSession) => (s === alice ? bob : alice);
  const show = (who: OtrSession, e: OtrEvent): void => {
    const name = who === alice ? "alice" : "bob";
    if (e.type === "message") print(`${name} reads: ${e.text}`);
    else if (e.type === "state") print(`${name} is ${e.state} (v${e.version ?? "-"})`);
    else if (e.type === "smp-request") print(`${name} is asked: ${e.question ?? "(no question)"}`);
    else if (e.type === "smp-result") print(`${name}: SMP ${e.result}`);
  };
  const deliver = (from: OtrSession, wire: readonly string[]): void => {
    const queue = wire.map((m) => [peerOf(from), m] as const);
    for (let item = queue.shift(); item; item = queue.shift()) {
      const [to, message] = item;
      const { events, replies } = to.receive(message);
      for (const e of events) show(to, e);
      for (const r of replies) queue.push([peerOf(to), r]);
    }
  };

  deliver(alice, alice.startAke()); // "?OTRv23?" -> D-H Commit, D-H Key, Reveal Signature, Signature
  deliver(alice, alice.send("Hi Bob, this is private."));
  deliver(bob, bob.send("Hi Alice!"));

  deliver(alice, alice.smp.start("the blue door", "Where did we meet?"));
  deliver(bob, bob.smp.respond("the blue door"));

  deliver(alice, alice.end());
  print(`bob is now ${bob.messageState}; alice is ${alice.messageState}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
