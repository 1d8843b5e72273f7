// The example bots' logic, through ParleyClient against the fake server: what they answer, to whom,
// and that the verified-only bot refuses an unverified device once. (The Prosody e2e test in apps/chat
// runs them against a real parley-chat.)
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ParleyClient, PROTOCOL_VERSION, type ChatEvent } from "../src/index.js";
import { echoAnswer, runEchoBot } from "../examples/echo-bot.js";
import { REFUSAL, runVerifiedBot } from "../examples/verified-bot.js";
import { acceptContacts } from "../examples/common.js";
import { fakeServer, reply, started, TOKEN, type Frame } from "./fake-server.js";

const clients: ParleyClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of started.splice(0)) await s.close();
});

const message = (
  from: string,
  body: string,
  extra: Partial<Extract<ChatEvent, { event: "message" }>> = {},
): ChatEvent => ({
  event: "message",
  from,
  to: "bot@example.org",
  direction: "in",
  body,
  encryption: "omemo2",
  deviceId: 1001,
  via: "live",
  at: 0,
  muted: false,
  ...extra,
});

const until = async (condition: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`waited 10 s for ${what}`);
};

/** A fake parley-chat whose `fingerprints` knows ann's device 1001 as verified and bob's 2002 as tofu. */
async function setup() {
  const server = await fakeServer();
  const sends: { to: unknown; body: unknown }[] = [];
  server.handler = (frame: Frame, socket) => {
    if (frame["cmd"] === "approve" && frame["jid"] === "mallory@example.org") {
      socket.send(
        JSON.stringify({ type: "reply", id: frame["id"], ok: false, error: { code: "FAILED", message: "offline" } }),
      );
    } else if (frame["cmd"] === "send") {
      sends.push({ to: frame["to"], body: frame["body"] });
      reply(socket, frame["id"], { id: `m${sends.length}`, state: "queued" });
    } else if (frame["cmd"] === "fingerprints") {
      const keys: Record<string, unknown[]> = {
        "ann@example.org": [
          {
            jid: "ann@example.org",
            protocol: "omemo",
            deviceId: 1001,
            fingerprint: "aa",
            formatted: "aa",
            state: "verified",
          },
        ],
        "bob@example.org": [
          {
            jid: "bob@example.org",
            protocol: "omemo",
            deviceId: 2002,
            fingerprint: "bb",
            formatted: "bb",
            state: "tofu",
          },
        ],
      };
      reply(socket, frame["id"], keys[frame["jid"] as string] ?? []);
    } else reply(socket, frame["id"], null);
  };
  const client = await ParleyClient.connect(server.url, { token: TOKEN, WebSocket });
  clients.push(client);
  return { server, client, sends };
}

describe("echo bot", () => {
  it("squares numbers (integers exactly) and echoes anything else", () => {
    expect(echoAnswer("7")).toBe("49");
    expect(echoAnswer(" -12 ")).toBe("144");
    expect(echoAnswer("123456789012345678901234567890")).toBe(
      "15241578753238836750495351562536198787501905199875019052100",
    );
    expect(echoAnswer("1.5")).toBe("2.25");
    expect(echoAnswer("1e200")).toBe("1e200"); // its square is not finite: echoed
    expect(echoAnswer("hello")).toBe("hello");
    expect(echoAnswer("12 monkeys")).toBe("12 monkeys");
    expect(echoAnswer("")).toBe("");
  });

  it("answers live incoming messages to their sender, and nothing else", async () => {
    const { server, client, sends } = await setup();
    const lines: string[] = [];
    runEchoBot(client, (line) => lines.push(line));
    server.broadcast(message("ann@example.org", "secret words", { direction: "out" }));
    server.broadcast(message("ann@example.org", "old", { via: "archive" }));
    server.broadcast(message("ann@example.org", "also mine", { via: "carbon" }));
    server.broadcast(message("ann@example.org", "12"));
    server.broadcast(message("bob@example.org", "hi bot"));
    await until(() => sends.length === 2 && lines.length === 2, "two answers");
    expect(sends).toEqual([
      { to: "ann@example.org", body: "144" },
      { to: "bob@example.org", body: "hi bot" },
    ]);
    // The log names the contact, never the message.
    expect(lines.join("\n")).not.toMatch(/hi bot|144|12/);
  });
});

describe("verified-only bot", () => {
  it("answers a verified device, refuses an unverified one once, then stays silent", async () => {
    const { server, client, sends } = await setup();
    const lines: string[] = [];
    runVerifiedBot(client, (line) => lines.push(line));
    server.broadcast(message("ann@example.org", "3"));
    await until(() => sends.length === 1, "the answer to ann");
    server.broadcast(message("bob@example.org", "let me in"));
    await until(() => sends.length === 2, "the refusal to bob");
    server.broadcast(message("bob@example.org", "please"));
    // ann from a device that is not the verified one, and without OMEMO at all.
    server.broadcast(message("ann@example.org", "4", { deviceId: 9999 }));
    await until(() => sends.length === 3, "the refusal to ann's other device");
    const plain: Record<string, unknown> = { ...message("ann@example.org", "5", { encryption: "none" }) };
    delete plain["deviceId"];
    server.broadcast(plain as unknown as ChatEvent);
    await until(() => lines.length === 5, "five messages handled");
    expect(sends).toEqual([
      { to: "ann@example.org", body: "9" },
      { to: "bob@example.org", body: REFUSAL },
      { to: "ann@example.org", body: REFUSAL },
    ]);
    expect(lines.filter((l) => l.startsWith("ignored"))).toHaveLength(2);
    // The examples were last read against protocol 2 (they use none of the commands 2 changed).
    expect(PROTOCOL_VERSION).toBe(2);
  });
});

describe("acceptContacts", () => {
  it("approves a subscription request and subscribes back; a failure is reported, not thrown", async () => {
    const { server, client } = await setup();
    const lines: string[] = [];
    acceptContacts(client, (line) => lines.push(line));
    server.broadcast({ event: "subscription-request", from: "Carol@example.org/phone" });
    await until(() => lines.length === 1, "carol accepted");
    server.broadcast({ event: "subscription-request", from: "mallory@example.org" });
    await until(() => lines.length === 2, "mallory reported");
    expect(server.requests.map((f) => [f["cmd"], f["jid"]])).toEqual([
      ["approve", "carol@example.org"],
      ["add-contact", "carol@example.org"],
      ["approve", "mallory@example.org"],
    ]);
    expect(lines).toEqual(["accepted carol@example.org as a contact", "could not accept mallory@example.org: FAILED"]);
  });
});
