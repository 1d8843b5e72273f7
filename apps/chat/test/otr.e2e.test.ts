// Two parley-chat accounts talk OTR through a real Prosody (Debian's, started by scripts/prosody.mjs):
// alice starts OTR with bob's full JID, messages go both ways, SMP verifies, alice ends; Prosody saw the
// OTR data messages (`?OTR:`) and never a plaintext, in its log or in what it stored. Two chat clients
// (the queue, the trust store in their profiles): a key marked compromised gets nothing and shows nothing.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xml } from "@xmpp/client";
import type { Element } from "@parley/omemo";
import { createTrustStore, memoryTrustStorage, type TrustStore } from "@parley/trust";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount } from "../src/account.js";
import { ChatClient } from "../src/client.js";
import type { ChatEvent } from "@parley/sdk";
import { NS_CARBONS, OtrChat, type OtrChatEvents, type OtrKeyValueStore } from "../src/otr.js";
import { Profile } from "../src/profile.js";
import { filesUnder, until } from "./support.js";

let server: ProsodyServer;
/** Any stanza id (an OTR message event carries the id of the stanza it came in, when it had one). */
const anyId: unknown = expect.any(String);
const open: { account: ChatAccount; otr: OtrChat }[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob", "carol", "dave"] });
});
afterAll(async () => {
  for (const { account, otr } of open.splice(0)) {
    await otr.close().catch(() => undefined);
    await account.close().catch(() => undefined);
  }
  await server?.stop();
});

function memoryKv(): OtrKeyValueStore {
  const map = new Map<string, Uint8Array>();
  return {
    get: (key) => Promise.resolve(map.get(key)),
    put: (key, value) => {
      map.set(key, value.slice());
      return Promise.resolve();
    },
  };
}

async function login(
  name: string,
  resource: string,
  trust: TrustStore,
): Promise<{ account: ChatAccount; otr: OtrChat }> {
  const creds = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const account = await ChatAccount.connect({ service: server.service, ...creds, resource });
  const otr = await OtrChat.create({ xmpp: account.xmpp, jid: account.jid, store: memoryKv(), trust });
  open.push({ account, otr });
  await account.online();
  return { account, otr };
}

/** The next `event` of `otr` that satisfies `match`; rejects on an error event or after 20 s. */
function next<K extends keyof OtrChatEvents>(
  otr: OtrChat,
  event: K,
  match: (value: OtrChatEvents[K]) => boolean = () => true,
): Promise<OtrChatEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      offError();
      reject(new Error(`no ${event} event in 20 s`));
    }, 20_000);
    const off = otr.on(event, (value) => {
      if (!match(value)) return;
      clearTimeout(timer);
      off();
      offError();
      resolve(value);
    });
    const offError =
      event === "error"
        ? () => undefined
        : otr.on("error", (e) => {
            clearTimeout(timer);
            off();
            offError();
            reject(new Error(`OTR error ${e.code}: ${e.message}`));
          });
  });
}

describe("OTR between two parley-chat accounts on Prosody", () => {
  it("AKE to bob's full JID, messages both ways, SMP, end", async () => {
    const aliceTrust = createTrustStore({ storage: memoryTrustStorage() });
    const bobTrust = createTrustStore({ storage: memoryTrustStorage() });
    const alice = await login("alice", "otr-a", aliceTrust);
    const bob = await login("bob", "otr-b", bobTrust);
    const bobFull = bob.account.xmpp.jid!.toString();
    const aliceFull = alice.account.xmpp.jid!.toString();
    expect(bobFull).toBe("bob@localhost/otr-b");
    // Alice's second client, with carbons on: it must get no copy of the OTR conversation (one client's).
    const second = await login("alice", "otr-a2", createTrustStore({ storage: memoryTrustStorage() }));
    await second.account.xmpp.iqCaller.request(xml("iq", { type: "set" }, xml("enable", { xmlns: NS_CARBONS })));
    const atSecond: Element[] = [];
    second.account.xmpp.on("stanza", (st) => {
      if (st.name === "message") atSecond.push(st);
    });

    const atAlice = next(alice.otr, "state", (s) => s.state === "encrypted");
    const atBob = next(bob.otr, "state", (s) => s.state === "encrypted");
    await alice.otr.start(bobFull);
    const [sa, sb] = await Promise.all([atAlice, atBob]);
    expect(sa).toMatchObject({ peer: bobFull, version: 3, fingerprint: bob.otr.fingerprint, trust: "tofu" });
    expect(sb).toMatchObject({ peer: aliceFull, version: 3, fingerprint: alice.otr.fingerprint, trust: "tofu" });

    const hello = `otr hello ${Math.random().toString(36).slice(2)}`;
    secrets.push(hello);
    const readByBob = next(bob.otr, "message");
    await alice.otr.send(bobFull, hello);
    expect(await readByBob).toEqual({ from: aliceFull, text: hello, encrypted: true, id: anyId });
    const reply = `otr reply ${Math.random().toString(36).slice(2)}`;
    secrets.push(reply);
    const readByAlice = next(alice.otr, "message");
    await bob.otr.send(aliceFull, reply);
    expect(await readByAlice).toEqual({ from: bobFull, text: reply, encrypted: true, id: anyId });

    const secret = `smp secret ${Math.random().toString(36).slice(2)}`;
    secrets.push(secret);
    const question = next(bob.otr, "smp-request");
    const resultAlice = next(alice.otr, "smp-result");
    const resultBob = next(bob.otr, "smp-result");
    await alice.otr.smp(bobFull, secret, "What is the word?");
    expect(await question).toEqual({ peer: aliceFull, question: "What is the word?" });
    await bob.otr.answerSmp(aliceFull, secret);
    expect(await resultAlice).toMatchObject({ result: "verified", fingerprint: bob.otr.fingerprint, recorded: true });
    expect(await resultBob).toMatchObject({ result: "verified", fingerprint: alice.otr.fingerprint, recorded: true });
    expect((await aliceTrust.getRecord("alice@localhost", "bob@localhost", "otr", bob.otr.fingerprint))?.state).toBe(
      "verified",
    );

    const finished = next(bob.otr, "state", (s) => s.state === "finished");
    await alice.otr.end(bobFull);
    expect(await finished).toMatchObject({ peer: aliceFull, reason: "peer-ended" });
    expect(alice.otr.stateOf(bobFull)).toBe("plaintext");
    await expect(bob.otr.send(aliceFull, "not after the end")).rejects.toMatchObject({ code: "NOT_ENCRYPTED" });

    // Carbons work for a plain message (so the check below can fail) and copied nothing of OTR.
    const carbon = new Promise<void>((resolve) => {
      second.account.xmpp.on("stanza", (st) => {
        if (st.getChild("received", NS_CARBONS)) resolve();
      });
    });
    await bob.account.xmpp.send(xml("message", { to: aliceFull, type: "chat" }, xml("body", {}, "plain, copied")));
    await carbon;
    const copied = atSecond.map((st) => st.toString());
    expect(copied.filter((t) => t.includes("plain, copied"))).toHaveLength(1);
    expect(copied.filter((t) => t.includes("?OTR"))).toEqual([]);
    expect(second.otr.peers).toEqual([]);
  });

  it("parley-chat and a key marked compromised: the queue fails the message for good, what the key sends is not shown", async () => {
    const home = mkdtempSync(join(tmpdir(), "parley-otr-trust-"));
    const stops: Array<() => Promise<void>> = [];
    const start = async (name: string) => {
      const creds = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
      const profile = await Profile.open({ dir: join(home, name), kdf: { N: 16, r: 1, p: 1, dkLen: 32 } });
      const chat = await ChatClient.start({
        service: server.service,
        ...creds,
        resource: "desk",
        profile,
        autoApprove: true,
      });
      stops.push(async () => {
        await chat.close();
        await profile.close();
      });
      const events: ChatEvent[] = [];
      chat.on((e) => events.push(e));
      await chat.online();
      return { chat, events, jid: chat.jid };
    };
    try {
      const carol = await start("carol");
      const dave = await start("dave");
      await carol.chat.execute({ cmd: "add-contact", jid: dave.jid });
      await dave.chat.execute({ cmd: "add-contact", jid: carol.jid });
      await until(
        () => carol.chat.account.presenceOf(dave.jid).online && dave.chat.account.presenceOf(carol.jid).online,
        "the subscriptions",
      );
      for (const [from, to] of [
        [carol, dave],
        [dave, carol],
      ] as const)
        await from.chat.execute({ cmd: "set-encryption", jid: to.jid, encryption: "otr" });
      // Dave learnt that Carol's OTR key is in someone else's hands.
      await dave.chat.profile.trust.markCompromised(dave.jid, carol.jid, "otr", carol.chat.otr.fingerprint);

      const { id } = (await dave.chat.execute({ cmd: "send", to: carol.jid, body: "for carol only" })) as {
        id: string;
      };
      await until(() => dave.chat.queue.get(id)?.state === "failed", "dave's message failed");
      expect(dave.chat.queue.get(id)?.reason).toBe("no-trusted-device");
      // The AKE ran; the state event says what the store thinks of the key.
      expect(dave.events.find((e) => e.event === "otr" && e.state === "encrypted")).toMatchObject({
        fingerprint: carol.chat.otr.fingerprint,
        trust: "compromised",
        trusted: false,
      });
      await until(() => carol.events.some((e) => e.event === "otr" && e.state === "encrypted"), "carol's AKE");
      expect(carol.events.find((e) => e.event === "otr" && e.state === "encrypted")).toMatchObject({
        trust: "tofu",
        trusted: true,
      });
      expect(carol.events.some((e) => e.event === "message")).toBe(false);

      // Carol's side trusts Dave's key: her message goes out; Dave drops it (a typed error), shows nothing.
      const { id: reply } = (await carol.chat.execute({ cmd: "send", to: dave.jid, body: "open the door" })) as {
        id: string;
      };
      await until(
        () => dave.events.some((e) => e.event === "error" && e.error.detail === "UNTRUSTED_KEY"),
        "dave dropped carol's message",
      );
      await until(() => carol.chat.queue.get(reply)?.state === "sent", "carol's message sent (never acknowledged)");
      expect(dave.events.filter((e) => e.event === "message")).toEqual([]);
      expect((await dave.chat.profile.history(carol.jid)).filter((h) => h.direction === "in")).toEqual([]);
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("Prosody saw OTR data messages and never a plaintext or the SMP secret", () => {
    expect(secrets.length).toBe(3);
    // Prosody 0.12's debug log shows each stanza's opening tag: our OTR messages went through it, both ways.
    const log = readFileSync(server.log, "utf8");
    // (Attribute order varies from line to line: Lua tables.)
    const routed = log.split("\n").filter((l) => l.includes("Received[c2s]: <message ") && /\sid='otr-/.test(l));
    expect(routed.some((l) => l.includes("to='bob@localhost/otr-b'"))).toBe(true);
    expect(routed.some((l) => l.includes("to='alice@localhost/otr-a'"))).toBe(true);
    // Our OTR messages carry <no-permanent-store/> (XEP-0334 §3.3): Prosody's archive (MAM) kept none.
    const archiveDir = join(server.dir, "data", "localhost", "archive");
    const archive = existsSync(archiveDir) ? filesUnder(archiveDir) : "";
    expect(archive).not.toContain("?OTR");
    const stored = filesUnder(join(server.dir, "data"));
    for (const s of secrets) {
      expect(log).not.toContain(s);
      expect(stored).not.toContain(s);
    }
  });
});
