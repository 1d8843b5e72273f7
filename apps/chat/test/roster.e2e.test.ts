// Roster and presence subscriptions (RFC 6121) between parley-chat accounts on a real Prosody: a request
// answered by hand both ways ("both" on each side), presence seen coming and going, auto-approval, and a
// contact removed.
import { memoryOmemoStore } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type ChatAccountSettings, type RosterChange, type SubscriptionRequest } from "../src/account.js";
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

async function login(
  name: string,
  resource: string,
  settings: Partial<ChatAccountSettings> = {},
): Promise<ChatAccount> {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const chat = await ChatAccount.connect({
    service: server.service,
    ...account,
    resource,
    store: memoryOmemoStore(),
    ...settings,
  });
  open.push(chat);
  return chat;
}

async function subscriptionOf(account: ChatAccount, jid: string): Promise<string | undefined> {
  return (await account.roster()).find((i) => i.jid === jid)?.subscription;
}

describe("roster and presence on Prosody", () => {
  it("subscriptions both ways by hand, then presence comes and goes", async () => {
    const alice = await login("alice", "desk");
    const bob = await login("bob", "phone");
    const requests: SubscriptionRequest[] = [];
    const aliceRequests: SubscriptionRequest[] = [];
    const aliceChanges: RosterChange[] = [];
    bob.onSubscriptionRequest((r) => requests.push(r));
    alice.onSubscriptionRequest((r) => aliceRequests.push(r));
    alice.onRoster((c) => aliceChanges.push(c));
    await alice.online();
    await bob.online();
    expect(await alice.roster()).toEqual([]);

    await alice.subscribe(bob.jid, { name: "Bob" });
    await until(() => requests.length > 0, "bob's subscription request");
    expect(requests).toEqual([{ from: "alice@localhost" }]);
    expect(aliceChanges.at(-1)?.item).toMatchObject({ jid: "bob@localhost", name: "Bob", ask: "subscribe" });
    await bob.approve(alice.jid);
    await until(async () => (await subscriptionOf(alice, bob.jid)) === "to", "alice's subscription 'to'");
    // Once subscribed, the server sends Bob's current presence.
    await until(() => alice.presenceOf(bob.jid).online, "bob online for alice");
    expect(alice.presenceOf(bob.jid).resources).toEqual(["phone"]);
    expect(await subscriptionOf(bob, alice.jid)).toBe("from");

    await bob.subscribe(alice.jid);
    await until(() => aliceRequests.length > 0, "alice's subscription request");
    expect(aliceRequests).toEqual([{ from: "bob@localhost" }]);
    await alice.approve(bob.jid);
    await until(async () => (await subscriptionOf(bob, alice.jid)) === "both", "bob's 'both'");
    await until(async () => (await subscriptionOf(alice, bob.jid)) === "both", "alice's 'both'");
    await until(() => bob.presenceOf(alice.jid).online, "alice online for bob");

    const events: { available: boolean; resource: string | undefined }[] = [];
    alice.onPresence((p) => {
      if (p.jid === "bob@localhost") events.push({ available: p.available, resource: p.resource });
    });
    const bobLaptop = await login("bob", "laptop");
    await bobLaptop.online();
    await until(() => alice.presenceOf(bob.jid).resources.length === 2, "bob's second resource");
    expect([...alice.presenceOf(bob.jid).resources].sort()).toEqual(["laptop", "phone"]);
    await bob.close();
    await bobLaptop.close();
    await until(() => !alice.presenceOf(bob.jid).online, "bob offline for alice");
    expect(events).toContainEqual({ available: true, resource: "laptop" });
    expect(events).toContainEqual({ available: false, resource: "phone" });
    expect(events).toContainEqual({ available: false, resource: "laptop" });
    await alice.close();
  });

  it("auto-approval, a denied request, and a contact removed", async () => {
    const alice = await login("alice", "desk2");
    const carol = await login("carol", "bot", { autoApprove: true });
    const carolRequests: SubscriptionRequest[] = [];
    carol.onSubscriptionRequest((r) => carolRequests.push(r));
    await alice.online();
    await carol.online();
    await alice.subscribe(carol.jid);
    await until(async () => (await subscriptionOf(alice, carol.jid)) === "to", "alice subscribed to carol");
    expect(carolRequests).toEqual([]); // approved without asking
    await until(() => alice.presenceOf(carol.jid).online, "carol online for alice");

    // Carol asks back; Alice says no.
    const requests: SubscriptionRequest[] = [];
    alice.onSubscriptionRequest((r) => requests.push(r));
    await carol.subscribe(alice.jid);
    await until(() => requests.length > 0, "alice's request from carol");
    await alice.deny(carol.jid);
    await until(
      async () => (await carol.roster()).find((i) => i.jid === alice.jid)?.ask === undefined,
      "carol's answer",
    );
    expect(await subscriptionOf(carol, alice.jid)).toBe("from");

    const removed: RosterChange[] = [];
    alice.onRoster((c) => {
      if (c.removed) removed.push(c);
    });
    await alice.removeContact(carol.jid);
    await until(() => removed.length > 0, "the removal push");
    expect(removed[0]!.item.jid).toBe("carol@localhost");
    expect((await alice.roster()).some((i) => i.jid === carol.jid)).toBe(false);
    // Removing cancels both subscriptions: Carol's roster says so.
    await until(async () => (await subscriptionOf(carol, alice.jid)) === "none", "carol's 'none'");
    await alice.close();
    await carol.close();
  });
});
