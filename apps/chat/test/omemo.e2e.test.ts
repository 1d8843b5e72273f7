// Two parley-chat accounts talk OMEMO through a real Prosody (Debian's, started by scripts/prosody.mjs):
// OMEMO 2 and legacy OMEMO both ways, a contact offline and then online (Prosody's offline storage), and
// the server's own records (its log and its stored messages) hold ciphertext, never a plaintext.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { memoryOmemoStore, NS_LEGACY, NS_V2, type OmemoNamespace, type OmemoStore } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { filesUnder } from "./support.js";

let server: ProsodyServer;
const open: ChatAccount[] = [];
const secrets: string[] = [];
const stores = new Map<string, OmemoStore>();

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
  options: { store?: OmemoStore; online?: boolean } = {},
): Promise<ChatAccount> {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  // One device per account across logins, as a client with its store on disk.
  let store = options.store ?? stores.get(name);
  if (store === undefined) stores.set(name, (store = memoryOmemoStore()));
  const chat = await ChatAccount.connect({ service: server.service, ...account, resource, store });
  open.push(chat);
  if (options.online !== false) await chat.online();
  return chat;
}

/** The next message `account` reads (rejects on an OMEMO error or after 20 s). */
function nextMessage(account: ChatAccount): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${account.jid} read nothing in 20 s`));
    }, 20_000);
    const offMessage = account.onMessage((m) => {
      clearTimeout(timer);
      offMessage();
      offError();
      resolve(m);
    });
    const offError = account.onError((e) => {
      clearTimeout(timer);
      offMessage();
      offError();
      reject(e instanceof Error ? e : new Error(String(e)));
    });
  });
}

describe("parley-chat accounts on Prosody", () => {
  const namespaces: [string, OmemoNamespace][] = [
    ["OMEMO 2", NS_V2],
    ["legacy OMEMO", NS_LEGACY],
  ];

  it.each(namespaces)("%s: a first message and a reply, both read", async (label, ns) => {
    const alice = await login("alice", `a-${label.length}`);
    const bob = await login("bob", `b-${label.length}`);
    const text = `secret ${label} ${Math.random().toString(36).slice(2)}`;
    secrets.push(text);
    const atBob = nextMessage(bob);
    const sent = await alice.send(bob.jid, text, { namespace: ns });
    expect(sent.devices.filter((d) => d.jid === bob.jid).map((d) => d.status)).toEqual(["encrypted"]);
    const read = await atBob;
    expect({ from: read.from, namespace: read.namespace, body: read.body }).toEqual({
      from: alice.jid,
      namespace: ns,
      body: text,
    });
    const reply = `reply ${label} ${Math.random().toString(36).slice(2)}`;
    secrets.push(reply);
    const atAlice = nextMessage(alice);
    await bob.send(alice.jid, reply, { namespace: ns });
    expect((await atAlice).body).toBe(reply);
    await alice.close();
    await bob.close();
  });

  it("a contact offline, then online: the server keeps the encrypted message and it is read at login", async () => {
    const alice = await login("alice", "offline-test");
    const carol = await login("carol", "laptop");
    await carol.close(); // her device and bundles are published; she goes offline
    const text = `while you were away ${Math.random().toString(36).slice(2)}`;
    secrets.push(text);
    const sent = await alice.send(carol.jid, text, { namespace: NS_V2 });
    expect(sent.devices.filter((d) => d.jid === carol.jid).map((d) => d.status)).toEqual(["encrypted"]);
    const back = await login("carol", "laptop", { online: false }); // the same device, from its store
    const read = nextMessage(back);
    await back.online(); // Prosody delivers what it stored for her
    expect((await read).body).toBe(text);
    await alice.close();
    await back.close();
  });

  it("the server's log and stored messages hold no plaintext", () => {
    expect(secrets.length).toBeGreaterThan(0);
    const log = readFileSync(server.log, "utf8");
    expect(log).toMatch(/message/);
    const stored = filesUnder(join(server.dir, "data"));
    // The archive (MAM) kept the messages: what it kept is the OMEMO elements, in both namespaces.
    expect(stored).toContain("urn:xmpp:omemo:2");
    expect(stored).toContain("eu.siacs.conversations.axolotl");
    expect(stored).toMatch(/payload/);
    for (const s of secrets) {
      expect(log).not.toContain(s);
      expect(stored).not.toContain(s);
    }
  });
});
