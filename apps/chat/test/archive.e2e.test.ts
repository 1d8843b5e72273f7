// Carbons (XEP-0280) and the archive catch-up (XEP-0313) of parley-chat accounts on a real Prosody:
// a message Alice sends from her second device reaches her first as a sent carbon, decrypted; one sent
// to her other device's full JID arrives as a received carbon; Bob offline gets Alice's messages exactly
// once, in order, at login; and a device offline while Bob's other device was online reads what it
// missed from the archive, his own reply from the other device included.
import { memoryOmemoStore, NS_V2, wrapMessage, type OmemoStore } from "@parley/omemo";
import { xml } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import {
  ChatAccount,
  memoryAccountState,
  type AccountState,
  type IncomingMessage,
  type UnencryptedMessage,
} from "../src/account.js";
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

interface Device {
  readonly store: OmemoStore;
  readonly state: AccountState;
}
const device = (): Device => ({ store: memoryOmemoStore(), state: memoryAccountState() });

async function login(
  name: string,
  resource: string,
  d: Device,
  options: { catchUpOnline?: boolean } = {},
): Promise<ChatAccount> {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const chat = await ChatAccount.connect({
    service: server.service,
    ...account,
    resource,
    store: d.store,
    state: d.state,
    receipts: "never",
    ...options,
  });
  open.push(chat);
  return chat;
}

/** Collects what `account` emits, and fails the test on any error it reports. */
function record(account: ChatAccount) {
  const messages: IncomingMessage[] = [];
  const plain: UnencryptedMessage[] = [];
  const errors: unknown[] = [];
  account.onMessage((m) => messages.push(m));
  account.onUnencrypted((m) => plain.push(m));
  account.onError((e) => errors.push(e));
  return { messages, plain, errors };
}

/** A round trip to the server and back, so that what was sent before has been handled. */
async function settle(account: ChatAccount): Promise<void> {
  await account.xmpp.iqCaller.request(xml("iq", { type: "get" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  await new Promise((r) => setTimeout(r, 300));
}

describe("carbons and the archive on Prosody", () => {
  it("a message from Alice's second device reaches her first as a sent carbon, decrypted", async () => {
    const desk = await login("alice", "desk", device());
    const atDesk = record(desk);
    await desk.online();
    const phone = await login("alice", "phone", device());
    await phone.online();
    const bob = await login("bob", "laptop", device());
    const atBob = record(bob);
    await bob.online();
    expect(desk.carbons).toBe(true);

    const sent = await phone.send(bob.jid, "from my phone", { namespace: NS_V2 });
    await until(() => atDesk.messages.length > 0 && atBob.messages.length > 0, "the carbon and the message");
    expect(atDesk.messages[0]).toMatchObject({
      from: "alice@localhost",
      to: "bob@localhost",
      body: "from my phone",
      via: "carbon",
      direction: "out",
      id: sent.id,
      deviceId: phone.omemo.deviceId,
    });
    expect(atBob.messages[0]).toMatchObject({
      from: "alice@localhost",
      body: "from my phone",
      via: "live",
      direction: "in",
      id: sent.id,
    });
    expect(atBob.messages[0]!.stanzaId).toEqual(expect.any(String));

    // Bob writes to the phone's full JID only: the desk reads it as a received carbon.
    const encrypted = await bob.omemo.encrypt(desk.jid, { body: "to your phone" }, { namespaces: [NS_V2] });
    const stanza = wrapMessage("alice@localhost/phone", NS_V2, encrypted.messages[0]!.encrypted);
    stanza.attrs["id"] = "to-phone-1";
    await bob.xmpp.send(stanza);
    await bob.xmpp.send(
      xml("message", { to: "alice@localhost/phone", type: "chat", id: "plain-1" }, xml("body", {}, "plain hello")),
    );
    await until(() => atDesk.messages.length > 1 && atDesk.plain.length > 0, "the received carbons");
    expect(atDesk.messages[1]).toMatchObject({
      from: "bob@localhost",
      body: "to your phone",
      via: "carbon",
      direction: "in",
      id: "to-phone-1",
    });
    expect(atDesk.plain[0]).toMatchObject({
      from: "bob@localhost",
      body: "plain hello",
      via: "carbon",
      direction: "in",
      id: "plain-1",
    });
    await settle(desk);
    expect(atDesk.errors).toEqual([]);
    expect(atBob.errors).toEqual([]);
    await desk.close();
    await phone.close();
    await bob.close();
  });

  it("Bob offline: Alice's three messages arrive at his login exactly once each, in order", async () => {
    const alice = await login("alice", "writer", device());
    await alice.online();
    const bobDevice = device();
    const first = await login("bob", "home", bobDevice);
    await first.online(); // publishes his device; the first catch-up notes where the archive ends
    expect(await bobDevice.state.get("mam:last-id")).toBeDefined();
    await first.close();

    const texts = ["one", "two", "three"];
    for (const t of texts) await alice.send("bob@localhost", t, { namespace: NS_V2 });

    // The same device (its store and state), catching up by hand to see what the archive held.
    const bob = await login("bob", "home", bobDevice, { catchUpOnline: false });
    const atBob = record(bob);
    await bob.online(); // offline delivery
    await until(() => atBob.messages.length >= 3, "three messages");
    expect(atBob.messages.map((m) => m.via)).toEqual(["live", "live", "live"]);
    // The archive holds the same three (and more: empty OMEMO messages): none is emitted again.
    const caughtUp = await bob.catchUp();
    expect(caughtUp.results).toBeGreaterThanOrEqual(3);
    expect(caughtUp).toMatchObject({ messages: 0, complete: true, initial: false });
    expect((await bob.catchUp()).messages).toBe(0);
    await settle(bob);
    expect(atBob.messages.map((m) => m.body)).toEqual(texts);
    expect(atBob.messages.every((m) => m.from === "alice@localhost" && m.direction === "in")).toBe(true);
    const times = atBob.messages.map((m) => m.timestamp.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(atBob.errors).toEqual([]);
    await alice.close();
    await bob.close();
  });

  it("a device offline while another was online reads the archive: theirs in, its account's own out", async () => {
    const alice = await login("alice", "writer2", device());
    await alice.online();
    const homeDevice = device();
    const home = await login("bob", "home2", homeDevice);
    await home.online();
    await home.close();
    const phone = await login("bob", "phone2", device()); // online: nothing goes to offline storage
    const atPhone = record(phone);
    await phone.online();

    for (const t of ["a", "b", "c"]) await alice.send("bob@localhost", t, { namespace: NS_V2 });
    await until(() => atPhone.messages.length >= 3, "the phone's messages");
    const reply = await phone.send(alice.jid, "reply from phone", { namespace: NS_V2 });
    await settle(phone);

    const back = await login("bob", "home2", homeDevice);
    const atHome = record(back);
    await back.online();
    await settle(back);
    expect(atHome.messages.map((m) => [m.body, m.via, m.direction])).toEqual([
      ["a", "archive", "in"],
      ["b", "archive", "in"],
      ["c", "archive", "in"],
      ["reply from phone", "archive", "out"],
    ]);
    expect(atHome.messages[3]).toMatchObject({ from: "bob@localhost", to: "alice@localhost", id: reply.id });
    expect(atHome.messages.every((m) => m.stanzaId !== undefined)).toBe(true);
    expect(atHome.errors).toEqual([]);
    // Nothing new: a second catch-up reads nothing again.
    expect(await back.catchUp()).toMatchObject({ messages: 0, complete: true });
    await alice.close();
    await phone.close();
    await back.close();
  });

  it("a forged carbon from another account is dropped", async () => {
    const alice = await login("alice", "victim", device());
    const atAlice = record(alice);
    await alice.online();
    const carol = await login("carol", "forger", device());
    await carol.online();
    const forged = xml(
      "message",
      { to: "alice@localhost/victim", type: "chat" },
      xml(
        "sent",
        { xmlns: "urn:xmpp:carbons:2" },
        xml(
          "forwarded",
          { xmlns: "urn:xmpp:forward:0" },
          xml(
            "message",
            { xmlns: "jabber:client", from: "alice@localhost/other", to: "bob@localhost", type: "chat" },
            xml("body", {}, "I never wrote this"),
          ),
        ),
      ),
    );
    await carol.xmpp.send(forged);
    await carol.xmpp.send(xml("message", { to: "alice@localhost/victim", type: "chat" }, xml("body", {}, "after")));
    await until(() => atAlice.plain.length > 0, "carol's plain message");
    expect(atAlice.plain.map((m) => [m.from, m.body, m.via])).toEqual([["carol@localhost", "after", "live"]]);
    await alice.close();
    await carol.close();
  });
});
