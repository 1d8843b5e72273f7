// parley-chat's outgoing queue over a connection that goes away on a real Prosody: a message the
// socket took but the server never got is not "sent" until the server acknowledges it (XEP-0198), so
// when the session cannot be resumed, the queue sends it again on the new session, and it arrives once.
// The history says how the queue actually sent a message (not the contact's default), and a receiver
// that restarted still drops a resend of a message it already showed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOmemoStore, wrapMessage } from "@parley/omemo";
import { xml } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { ChatClient } from "../src/client.js";
import type { ChatEvent } from "@parley/sdk";
import { Profile } from "../src/profile.js";
import { until } from "./support.js";

let server: ProsodyServer;
let home: string;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob", "carol", "dave", "erin", "frank"] });
  home = mkdtempSync(join(tmpdir(), "parley-queue-e2e-"));
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

const account = (name: string) => server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;

interface Socketish {
  write: (data: unknown, ...rest: unknown[]) => boolean;
  destroy(): void;
}

describe("the outgoing queue when the connection goes away (Prosody)", () => {
  it("a message written to a dead connection is sent again on the new session and read once", async () => {
    const profile = await Profile.open({ dir: join(home, "alice"), kdf: { N: 16, r: 1, p: 1, dkLen: 32 } });
    closers.push(() => profile.close());
    const alice = await ChatClient.start({ service: server.service, ...account("alice"), resource: "desk", profile });
    closers.push(() => alice.close());
    const bob = await ChatAccount.connect({
      service: server.service,
      ...account("bob"),
      resource: "phone",
      store: memoryOmemoStore(),
      autoApprove: true,
    });
    closers.push(() => bob.close());
    const atBob: IncomingMessage[] = [];
    bob.onMessage((m) => atBob.push(m));
    await bob.online();

    // A first message: sessions built, the connection known to work.
    const first = (await alice.execute({ cmd: "send", to: bob.jid, body: "first" })) as { id: string };
    await until(() => atBob.some((m) => m.body === "first"), "the first message");
    // Sent: the server acknowledged it (the next one waits for that, in order).
    await until(() => alice.queue.get(first.id)?.state === "sent", "the first message acknowledged");

    // The network swallows what alice writes from now on (the socket says it took it).
    const { xmpp } = alice.account;
    const socket = (xmpp as unknown as { socket: Socketish | null }).socket!;
    const write = socket.write;
    const swallowed: string[] = [];
    socket.write = (data: unknown, ...rest: unknown[]) => {
      swallowed.push(String(data));
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    };
    const { id } = (await alice.execute({ cmd: "send", to: bob.jid, body: "second" })) as { id: string };
    await until(() => swallowed.some((w) => w.startsWith("<message") && w.includes(id)), "the second message written");
    await new Promise((r) => setTimeout(r, 500));
    // Written, never acknowledged: not sent.
    expect(alice.queue.get(id)?.state).toBe("sending");

    // The connection dies and the session cannot be resumed (the server no longer knows the id xmpp.js
    // asks to resume, and answers <failed/>): xmpp.js reports the unacknowledged stanza failed, and the
    // queue sends it again on the new session.
    const online = new Promise<void>((resolve) =>
      xmpp.on("online", () => {
        resolve();
      }),
    );
    (xmpp.streamManagement as { id: string }).id = "no-such-session";
    socket.write = write; // (the object may serve the next connection too)
    socket.destroy();
    await online;
    await until(() => atBob.some((m) => m.body === "second"), "the second message after the new session", 30_000);
    await until(() => ["sent", "delivered"].includes(alice.queue.get(id)?.state ?? ""), "the queue's sent state");
    await new Promise((r) => setTimeout(r, 500));
    expect(atBob.filter((m) => m.body === "second")).toHaveLength(1);
    expect(atBob.map((m) => m.body)).toEqual(["first", "second"]);
  });
});

const KDF = { N: 16, r: 1, p: 1, dkLen: 32 };

/** A ChatClient on the profile in `home/<name>` (a second call is a restart: same store, same device). */
async function client(name: string): Promise<{ chat: ChatClient; events: ChatEvent[]; stop(): Promise<void> }> {
  const profile = await Profile.open({ dir: join(home, name), kdf: KDF });
  const chat = await ChatClient.start({ service: server.service, ...account(name), resource: "desk", profile });
  const events: ChatEvent[] = [];
  chat.on((e) => events.push(e));
  await chat.online();
  const stop = async () => {
    await chat.close();
    await profile.close();
  };
  closers.push(stop);
  return { chat, events, stop };
}

const queueState = (c: ChatClient, id: string) => c.queue.get(id)?.state;

describe("the history of queued messages says how the queue sent them", () => {
  it("not the contact's default: OTR fell back to OMEMO (in OMEMO 2), corrected also for a message of an earlier run", async () => {
    // dave has never been online: no OMEMO device, and offline for OTR: carol's message fails.
    let carol = await client("carol");
    const dave = account("dave").jid;
    await carol.chat.execute({ cmd: "set-encryption", jid: dave, encryption: "otr" });
    const { id: first } = (await carol.chat.execute({ cmd: "send", to: dave, body: "before you had a device" })) as {
      id: string;
    };
    await until(() => queueState(carol.chat, first) === "failed", "the first message failed");
    expect((await carol.chat.profile.history(dave)).map((h) => h.encryption)).toEqual(["otr"]); // intended
    await carol.stop();

    // dave publishes his devices (both namespaces) and goes away again.
    const daveAccount = await ChatAccount.connect({
      service: server.service,
      ...account("dave"),
      store: memoryOmemoStore(),
    });
    await daveAccount.online();
    await daveAccount.close();

    // A new run: the failed message is sent again. OTR needs dave online, so the queue uses OMEMO; dave's
    // device speaks both namespaces, so it goes out in OMEMO 2 only.
    carol = await client("carol");
    await carol.chat.execute({ cmd: "resend", messageId: first });
    await until(() => queueState(carol.chat, first) === "sent", "the first message sent");
    const { id: second } = (await carol.chat.execute({ cmd: "send", to: dave, body: "while you are away" })) as {
      id: string;
    };
    await until(() => queueState(carol.chat, second) === "sent", "the second message sent");
    const sentWith = carol.events.flatMap((e) => (e.event === "queue" && e.state === "sent" ? [e.method] : []));
    expect(sentWith).toEqual(["omemo", "omemo"]);
    await until(
      async () => (await carol.chat.profile.history(dave)).every((h) => h.encryption !== "otr"),
      "the history corrected",
    );
    expect((await carol.chat.profile.history(dave)).map((h) => ({ body: h.body, encryption: h.encryption }))).toEqual([
      { body: "before you had a device", encryption: "omemo2" },
      { body: "while you are away", encryption: "omemo2" },
    ]);
    await carol.stop();
    // What was stored says so after a restart too.
    const profile = await Profile.open({ dir: join(home, "carol") });
    expect((await profile.history(dave)).map((h) => h.encryption)).toEqual(["omemo2", "omemo2"]);
    expect(await profile.unsentMessageIds()).toEqual([]);
    await profile.close();
  });
});

describe("a receiver that restarted still drops a resend of a message it showed (origin-id)", () => {
  it("frank's resend after erin's restart is not shown again", async () => {
    let erin = await client("erin");
    const frank = await ChatAccount.connect({
      service: server.service,
      ...account("frank"),
      resource: "phone",
      store: memoryOmemoStore(),
    });
    closers.push(() => frank.close());
    await frank.online();
    // What frank's queue does on every attempt: the message encrypted again, with the same origin-id.
    const sendAs = async (originId: string, body: string) => {
      const r = await frank.omemo.encrypt(erin.chat.jid, {
        body,
        elements: [xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: originId })],
      });
      for (const m of r.messages) {
        const stanza = wrapMessage(erin.chat.jid, m.namespace, m.encrypted);
        stanza.attrs["id"] = originId;
        stanza.append(xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: originId }));
        await frank.xmpp.send(stanza);
      }
    };
    const shown = (c: { events: ChatEvent[] }, body: string) =>
      c.events.filter((e) => e.event === "message" && e.body === body).length;

    await sendAs("resent-1", "only once, please");
    await until(() => shown(erin, "only once, please") === 1, "the message at erin's");
    await sendAs("resent-1", "only once, please"); // a resend while erin runs: dropped (as before)
    await sendAs("next-1", "a barrier");
    await until(() => shown(erin, "a barrier") === 1, "the barrier");
    expect(shown(erin, "only once, please")).toBe(1);
    await erin.stop();

    erin = await client("erin");
    await sendAs("resent-1", "only once, please"); // frank never saw an acknowledgement: his queue resends
    await sendAs("next-2", "after the restart");
    await until(() => shown(erin, "after the restart") === 1, "the message after the restart");
    expect(shown(erin, "only once, please")).toBe(0);
    expect((await erin.chat.profile.history(frank.jid)).map((h) => h.body)).toEqual([
      "only once, please",
      "a barrier",
      "after the restart",
    ]);
    await erin.stop();
  });
});
