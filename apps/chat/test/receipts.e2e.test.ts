// Delivery receipts (XEP-0184) and displayed markers (XEP-0333) between parley-chat accounts on a real
// Prosody: a receipt comes back for a message between contacts, a displayed marker reaches the sender,
// and someone not allowed to see our presence gets no receipt (XEP-0184 §8).
import { memoryOmemoStore, NS_V2 } from "@parley/omemo";
import { xml } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage, type MarkerEvent } from "../src/account.js";
import { until } from "./support.js";

let server: ProsodyServer;
const open: ChatAccount[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob", "carol"] });
});
afterAll(async () => {
  for (const a of open.splice(0)) await a.close().catch(() => undefined);
  await server?.stop();
});

async function login(name: string, resource: string): Promise<ChatAccount> {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const chat = await ChatAccount.connect({
    service: server.service,
    ...account,
    resource,
    store: memoryOmemoStore(),
    autoApprove: true,
  });
  open.push(chat);
  return chat;
}

describe("receipts and markers on Prosody", () => {
  it("a receipt comes back, and a displayed marker reaches the sender", async () => {
    const alice = await login("alice", "desk");
    const bob = await login("bob", "phone");
    const carol = await login("carol", "laptop");
    const receipts: MarkerEvent[] = [];
    const displayed: MarkerEvent[] = [];
    const carolReceipts: MarkerEvent[] = [];
    const atBob: IncomingMessage[] = [];
    alice.onReceipt((r) => receipts.push(r));
    alice.onDisplayed((d) => displayed.push(d));
    carol.onReceipt((r) => carolReceipts.push(r));
    bob.onMessage((m) => atBob.push(m));
    await alice.online();
    await bob.online();
    await carol.online();
    // Bob lets Alice see his presence (auto-approved): she gets receipts from him.
    await alice.subscribe(bob.jid);
    await until(
      async () => (await bob.roster()).find((i) => i.jid === alice.jid)?.subscription === "from",
      "the subscription",
    );

    const sent = await alice.send(bob.jid, "did you get this?", { namespace: NS_V2 });
    await until(() => receipts.length > 0, "the receipt");
    expect(receipts).toEqual([{ from: "bob@localhost", id: sent.id }]);
    expect(atBob[0]).toMatchObject({ id: sent.id, body: "did you get this?" });

    await bob.markDisplayed("alice@localhost/desk", atBob[0]!.id!);
    await until(() => displayed.length > 0, "the displayed marker");
    expect(displayed).toEqual([{ from: "bob@localhost", id: sent.id }]);

    // Carol is not in Bob's roster: he reads her message but sends no receipt.
    const fromCarol = await carol.send(bob.jid, "hello stranger", { namespace: NS_V2 });
    await until(() => atBob.some((m) => m.id === fromCarol.id), "carol's message");
    await bob.xmpp.iqCaller.request(xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    await new Promise((r) => setTimeout(r, 1000));
    expect(carolReceipts).toEqual([]);
    await alice.close();
    await bob.close();
    await carol.close();
  });
});
