// parley-chat's outgoing queue over a connection that goes away on a real Prosody: a message the
// socket took but the server never got is not "sent" until the server acknowledges it (XEP-0198), so
// when the session cannot be resumed, the queue sends it again on the new session, and it arrives once.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryOmemoStore } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { ChatClient } from "../src/client.js";
import { Profile } from "../src/profile.js";
import { until } from "./support.js";

let server: ProsodyServer;
let home: string;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob"] });
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
