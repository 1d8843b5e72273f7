// Two parley-chat accounts talk OMEMO through a real Prosody (Debian's, started by scripts/prosody.mjs):
// OMEMO 2 and legacy OMEMO both ways, a contact offline and then online (Prosody's offline storage), and
// the server's own records (its log and its stored messages) hold ciphertext, never a plaintext. A device
// that turns OMEMO off (`/omemo off`) leaves its device lists: contacts hear of it by PEP (the last device's
// retraction too), and it stays off across a restart until `/omemo on`.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOmemoStore, NS_LEGACY, NS_V2, type OmemoNamespace, type OmemoStore } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { ChatClient } from "../src/client.js";
import { Profile } from "../src/profile.js";
import { filesUnder, until } from "./support.js";

let server: ProsodyServer;
const open: ChatAccount[] = [];
const secrets: string[] = [];
const stores = new Map<string, OmemoStore>();

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob", "carol", "dave", "erin"] });
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

  it("a device turns OMEMO off: contacts stop encrypting to it, the last one's retraction leaves none; off across a restart", async () => {
    const home = mkdtempSync(join(tmpdir(), "parley-omemo-off-"));
    const creds = (name: string) => server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
    const start = async () => {
      const profile = await Profile.open({ dir: join(home, "dave"), kdf: { N: 16, r: 1, p: 1, dkLen: 32 } });
      const chat = await ChatClient.start({
        service: server.service,
        ...creds("dave"),
        resource: "desk",
        profile,
        autoApprove: true,
      });
      await chat.online();
      return {
        chat,
        stop: async () => {
          await chat.close();
          await profile.close();
        },
      };
    };
    let desk = await start();
    try {
      const dave = desk.chat.jid;
      const deskId = desk.chat.account.omemo.deviceId;
      const phone = await login("dave", "phone");
      const erin = await ChatAccount.connect({
        service: server.service,
        ...creds("erin"),
        resource: "laptop",
        store: memoryOmemoStore(),
        autoApprove: true,
      });
      open.push(erin);
      await erin.online();
      // Subscribed both ways: dave's PEP service sends erin its notifications (erin announces +notify).
      await erin.subscribe(dave);
      await desk.chat.execute({ cmd: "add-contact", jid: erin.jid });
      await until(
        () => erin.presenceOf(dave).online && desk.chat.account.presenceOf(erin.jid).online,
        "the subscriptions",
      );
      const both: OmemoNamespace[] = [NS_V2, NS_LEGACY];
      const listed = async (ns: OmemoNamespace) => [...(await erin.omemo.devices(dave, ns))].sort();
      await until(
        async () => (await listed(NS_V2)).length === 2 && (await listed(NS_LEGACY)).length === 2,
        "erin sees dave's two devices",
      );
      const encryptedTo = async () =>
        (await erin.send(dave, "hello dave", { namespace: NS_V2 })).devices
          .filter((d) => d.jid === dave && d.status === "encrypted")
          .map((d) => d.deviceId)
          .sort();
      expect(await encryptedTo()).toEqual([deskId, phone.omemo.deviceId].sort());

      // /omemo off on the desk: it leaves dave's lists (the phone stays); erin's manager hears it by PEP.
      expect(await desk.chat.execute({ cmd: "omemo", enabled: false })).toEqual({ omemo: "off", deviceId: deskId });
      for (const ns of both)
        await until(async () => !(await listed(ns)).includes(deskId), `the desk gone from erin's view (${ns})`);
      expect(await encryptedTo()).toEqual([phone.omemo.deviceId]);
      // Nothing goes out with OMEMO from the desk meanwhile.
      await expect(
        desk.chat.execute({ cmd: "send", to: erin.jid, body: "pinned", namespace: "omemo2" }),
      ).rejects.toMatchObject({ code: "OMEMO_OFF" });

      // The phone, dave's last device, turns off too: its lists are retracted, and erin sees no device.
      await phone.omemo.unpublishOwnDevice();
      for (const ns of both)
        await until(async () => (await listed(ns)).length === 0, `no device of dave's at erin's (${ns})`);

      // A restart of the desk keeps OMEMO off: nothing is published again.
      await desk.stop();
      desk = await start();
      expect(desk.chat.omemoEnabled).toBe(false);
      expect(await desk.chat.execute({ cmd: "status" })).toMatchObject({ omemo: "off" });
      await new Promise((r) => setTimeout(r, 500));
      for (const ns of both) expect(await erin.omemo.refreshDeviceList(dave, ns)).toEqual([]);

      // /omemo on: published again, and erin hears of it.
      await desk.chat.execute({ cmd: "omemo", enabled: true });
      for (const ns of both)
        await until(async () => (await listed(ns)).includes(deskId), `the desk back at erin's (${ns})`);
    } finally {
      await desk.stop().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    }
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
