// parley-chat processes (dist/cli.js --json: requests as JSON lines on stdin, replies and events as JSON
// lines on stdout) talking through a real Prosody, each with its own encrypted profile on disk: OMEMO 2
// and legacy OMEMO, the queue (a contact offline, then online), a second device of one account, OTR,
// a file, a restart with history and sessions from the store, a wrong passphrase; the server's log
// shows the encrypted stanzas and never a plaintext.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { filesUnder } from "./support.js";

type Json = Record<string, unknown>;
const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const WAIT_MS = 30_000;
let server: ProsodyServer;
let home: string;
const running = new Set<ChildProcessWithoutNullStreams>();
/** Every plaintext sent in this file: none may reach the server's log. */
const plaintexts: string[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["dora", "emil"] });
  home = mkdtempSync(join(tmpdir(), "parley-cli-e2e-"));
});
afterAll(async () => {
  for (const p of running) p.kill();
  await server?.stop();
  rmSync(home, { recursive: true, force: true });
});

interface Chat {
  readonly jid: string;
  readonly events: Json[];
  readonly exited: Promise<number | null>;
  /** Sends a request and resolves with its reply (rejects on an error reply unless `allowError`). */
  request(cmd: Json, allowError?: boolean): Promise<Json>;
  next(match: (e: Json) => boolean, what: string): Promise<Json>;
  quit(): Promise<void>;
}

/** A parley-chat process for `name`'s account, with its profile in `home/<profile>`. */
function chat(name: string, options: { profile?: string; resource?: string; args?: string[]; env?: Json } = {}): Chat {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const child = spawn(
    process.execPath,
    [
      CLI,
      ...["--service", server.service, "--jid", account.jid, "--json", "--auto-approve"],
      ...["--profile", join(home, options.profile ?? name), "--resource", options.resource ?? "cli"],
      ...["--insecure-http-host", `127.0.0.1:${server.httpPort}`],
      ...(options.args ?? []),
    ],
    { env: { ...process.env, PARLEY_CHAT_PASSWORD: account.password, ...(options.env as NodeJS.ProcessEnv) } },
  );
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const events: Json[] = [];
  const waiting: { match: (e: Json) => boolean; resolve: (e: Json) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const event = JSON.parse(line) as Json;
    events.push(event);
    for (const w of waiting.splice(0)) {
      if (w.match(event)) w.resolve(event);
      else waiting.push(w);
    }
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += String(d)));
  let seq = 0;
  const next = (match: (e: Json) => boolean, what: string): Promise<Json> => {
    const found = events.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const recent = events.slice(-8).map((e) => JSON.stringify(e).slice(0, 300));
        reject(
          new Error(
            `${name}: no ${what} in ${WAIT_MS / 1000} s; last events: ${recent.join("\n")}; stderr: ${stderr.slice(-2000)}`,
          ),
        );
      }, WAIT_MS);
      waiting.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  };
  return {
    jid: account.jid,
    events,
    exited,
    next,
    async request(cmd, allowError = false) {
      const id = `r${++seq}`;
      child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
      const reply = await next((e) => e["type"] === "reply" && e["id"] === id, `reply to ${String(cmd["cmd"])}`);
      if (!allowError && reply["ok"] !== true)
        throw new Error(`${name}: ${String(cmd["cmd"])} failed: ${JSON.stringify(reply["error"])}`);
      return reply;
    },
    async quit() {
      child.stdin.write(`${JSON.stringify({ cmd: "quit" })}\n`);
      await exited;
    },
  };
}

const isMessage = (body: string) => (e: Json) => e["event"] === "message" && e["body"] === body;
const say = (body: string): string => (plaintexts.push(body), body);
const ready = (c: Chat) => c.next((e) => e["event"] === "ready", "ready");

/** Subscribes both ways (both run --auto-approve) and waits until each sees the other online. */
async function befriend(a: Chat, b: Chat): Promise<void> {
  await a.request({ cmd: "add-contact", jid: b.jid });
  await b.request({ cmd: "add-contact", jid: a.jid });
  await a.next((e) => e["event"] === "presence" && e["jid"] === b.jid && e["online"] === true, "b online");
  await b.next((e) => e["event"] === "presence" && e["jid"] === a.jid && e["online"] === true, "a online");
}

/** The store's file and the keystore (SQLite's -wal and -shm come and go with every open). */
function hashDir(dir: string): string {
  const h = createHash("sha256");
  for (const f of readdirSync(dir).sort()) {
    if (f === "parley.db" || f === "keystore.json") h.update(f).update(readFileSync(join(dir, f)));
  }
  return h.digest("hex");
}

describe("parley-chat --json through Prosody", () => {
  let dora: Chat;
  let emil: Chat;
  let emilDevice: unknown;

  it("two clients: OMEMO 2 and legacy OMEMO sent at once, and through the queue to delivered", async () => {
    dora = chat("dora");
    emil = chat("emil");
    const doraReady = await ready(dora);
    expect(doraReady).toMatchObject({ type: "event", jid: dora.jid, version: 2 });
    emilDevice = (await ready(emil))["deviceId"];
    await befriend(dora, emil);

    for (const namespace of ["omemo2", "legacy"]) {
      const body = say(`hello in ${namespace}`);
      const sent = await dora.request({ cmd: "send", to: emil.jid, body, namespace });
      expect((sent["result"] as Json)["devices"]).toEqual([
        expect.objectContaining({ jid: emil.jid, status: "encrypted" }),
      ]);
      expect(await emil.next(isMessage(body), body)).toMatchObject({ from: dora.jid, encryption: namespace });
      const reply = say(`re: ${body}`);
      await emil.request({ cmd: "send", to: dora.jid, body: reply, namespace });
      await dora.next(isMessage(reply), reply);
    }

    // Through the queue, with the contact's default (OMEMO): queued ... sent, then delivered by a receipt.
    const body = say("queued hello");
    const { result } = await dora.request({ cmd: "send", to: emil.jid, body });
    const id = (result as Json)["id"];
    expect(await emil.next(isMessage(body), body)).toMatchObject({ from: dora.jid, direction: "in" });
    await dora.next((e) => e["event"] === "queue" && e["id"] === id && e["state"] === "delivered", "delivered");
  });

  it("a contact offline: the queued message waits on the server and arrives once when he is back", async () => {
    await emil.quit();
    const body = say("while you were away");
    const { result } = await dora.request({ cmd: "send", to: emil.jid, body });
    const id = (result as Json)["id"];
    await dora.next((e) => e["event"] === "queue" && e["id"] === id && e["state"] === "sent", "sent");

    // The same profile: same OMEMO device, sessions and history from the encrypted store.
    emil = chat("emil");
    expect((await ready(emil))["deviceId"]).toBe(emilDevice);
    await emil.next(isMessage(body), "the offline message");
    await dora.next((e) => e["event"] === "queue" && e["id"] === id && e["state"] === "delivered", "delivered");
    const history = (await emil.request({ cmd: "history", peer: dora.jid }))["result"] as Json[];
    expect(history.map((h) => h["body"])).toEqual(
      expect.arrayContaining(["hello in omemo2", "re: hello in legacy", "queued hello", body]),
    );
    // The sessions came back: a reply decrypts at dora's without a new key exchange.
    const reply = say("back again");
    await emil.request({ cmd: "send", to: dora.jid, body: reply });
    await dora.next(isMessage(reply), reply);
    await new Promise((r) => setTimeout(r, 500)); // the archive catch-up must not repeat it
    expect(emil.events.filter(isMessage(body))).toHaveLength(1);
  });

  it("a second device of dora's account: untrusted at emil's until verified (TOFU), then it reads; carbons", async () => {
    const dora2 = chat("dora", { profile: "dora-laptop", resource: "laptop" });
    await ready(dora2);
    await new Promise((r) => setTimeout(r, 1500)); // dora2's device list entry reaches emil through PEP
    const before = say("before you verified the laptop");
    await emil.request({ cmd: "send", to: dora.jid, body: before });
    await dora.next(isMessage(before), before);
    // Emil already trusts dora's first key: the new one is a later key, untrusted until he verifies it.
    const warning = await emil.next(
      (e) => e["event"] === "trust" && e["jid"] === dora.jid && e["state"] === "untrusted",
      "the new device, untrusted",
    );
    await emil.request({ cmd: "verify", jid: dora.jid, protocol: "omemo", fingerprint: warning["fingerprint"] });
    const toBoth = say("to both of your devices");
    await emil.request({ cmd: "send", to: dora.jid, body: toBoth });
    await dora.next(isMessage(toBoth), "at the first device");
    await dora2.next(isMessage(toBoth), "at the second device");
    expect(dora2.events.filter(isMessage(before))).toHaveLength(0);

    const mine = say("sent from the phone");
    await dora.request({ cmd: "send", to: emil.jid, body: mine });
    await emil.next(isMessage(mine), mine);
    expect(await dora2.next(isMessage(mine), "the carbon")).toMatchObject({ direction: "out", to: emil.jid });
    await dora2.quit();
  });

  it("OTR as a contact's default: the queue runs the AKE, the message goes out in OTR and a receipt marks it delivered", async () => {
    await dora.request({ cmd: "set-encryption", jid: emil.jid, encryption: "otr" });
    const body = say("off the record");
    const sent = await dora.request({ cmd: "send", to: emil.jid, body });
    const id = (sent["result"] as Json)["id"];
    expect(await emil.next(isMessage(body), body)).toMatchObject({ from: dora.jid, encryption: "otr", id });
    await dora.next((e) => e["event"] === "otr" && e["state"] === "encrypted", "OTR encrypted");
    await dora.next((e) => e["event"] === "queue" && e["id"] === id && e["state"] === "delivered", "delivered");
    // Read: emil marks it displayed by the id the message came with (XEP-0333), and dora hears of it.
    await emil.request({ cmd: "mark-read", jid: dora.jid, messageId: id });
    await dora.next((e) => e["event"] === "displayed" && e["id"] === id, "displayed marker");
    const fps = (await emil.request({ cmd: "fingerprints", jid: dora.jid }))["result"] as Json[];
    expect(fps.map((f) => f["protocol"])).toEqual(expect.arrayContaining(["omemo", "otr"]));
    await dora.request({ cmd: "otr-end", jid: emil.jid });
    await dora.request({ cmd: "set-encryption", jid: emil.jid, encryption: "omemo" });
  });

  it("a file with OMEMO media sharing lands in the receiver's encrypted store", async () => {
    const path = join(home, "note.txt");
    const content = say("a file nobody but emil reads");
    writeFileSync(path, content);
    await dora.request({ cmd: "send-file", to: emil.jid, path });
    const file = await emil.next((e) => e["event"] === "file", "file");
    expect(file).toMatchObject({ from: dora.jid, size: content.length });
    const listed = (await emil.request({ cmd: "files" }))["result"] as Json[];
    expect(listed.map((f) => f["mediaId"])).toContain(file["mediaId"]);
    const saved = join(home, "saved.txt");
    await emil.request({ cmd: "save-file", mediaId: file["mediaId"], path: saved });
    expect(readFileSync(saved, "utf8")).toBe(content);
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    const again = await emil.request({ cmd: "save-file", mediaId: file["mediaId"], path: saved }, true);
    expect(again).toMatchObject({ ok: false, error: { detail: "INVALID_ARGUMENT" } });
    await emil.request({ cmd: "delete-media" });
    expect((await emil.request({ cmd: "files" }))["result"]).toEqual([]);
  });

  it("a group chat: dora creates a room, invites emil, both read each other's OMEMO messages", async () => {
    const room = "garden@conference.localhost";
    const created = (await dora.request({ cmd: "join", room, nick: "dora" }))["result"] as Json;
    expect(created).toMatchObject({ room, created: true, nonAnonymous: true });
    await dora.request({ cmd: "invite", room, jid: emil.jid });
    await emil.next((e) => e["event"] === "invite" && e["room"] === room, "the invitation");
    await emil.request({ cmd: "join", room, nick: "emil" });
    const hello = say("hello, garden");
    await dora.request({ cmd: "room-send", room, body: hello });
    expect(await emil.next((e) => e["event"] === "room-message" && e["body"] === hello, hello)).toMatchObject({
      room,
      nick: "dora",
      from: dora.jid,
    });
    const reply = say("hello from the garden");
    await emil.request({ cmd: "room-send", room, body: reply });
    await dora.next((e) => e["event"] === "room-message" && e["body"] === reply, reply);
    await emil.request({ cmd: "leave", room });
  });

  it("trust: fingerprints, the share URI and a verification", async () => {
    const own = (await emil.request({ cmd: "fingerprints" }))["result"] as Json;
    const share = (await emil.request({ cmd: "share" }))["result"] as Json;
    expect(share["uri"]).toMatch(new RegExp(`^xmpp:${emil.jid}\\?omemo-sid-${String(emilDevice)}=[0-9a-f]{64}`));
    const scanned = (await dora.request({ cmd: "scan", uri: share["uri"], expectedContact: emil.jid }))[
      "result"
    ] as Json[];
    expect(scanned.every((r) => r["state"] === "verified")).toBe(true);
    expect(own["jid"]).toBe(emil.jid);
    const bad = await dora.request({ cmd: "verify", jid: emil.jid, protocol: "omemo", fingerprint: "zz" }, true);
    expect(bad).toMatchObject({ ok: false, error: { code: "FAILED" } });
    const nonsense = await dora.request({ cmd: "nonsense" }, true);
    expect(nonsense).toMatchObject({ ok: false, error: { code: "BAD_COMMAND" } });
  });

  it("a wrong passphrase: a clear error, and the store is left exactly as it was", async () => {
    await emil.quit();
    const dir = join(home, "emil");
    await emil.exited;
    // Make the store ask for its passphrase from now on, then give a wrong one.
    const before = hashDir(dir);
    const wrong = chat("emil", { args: ["--ask-passphrase"], env: { PARLEY_CHAT_PASSPHRASE: "not the passphrase" } });
    const error = await wrong.next((e) => e["event"] === "error", "error");
    expect(error).toMatchObject({ error: { detail: "WRONG_PASSPHRASE" } });
    expect(await wrong.exited).toBe(1);
    expect(hashDir(dir)).toBe(before);
  });

  it("the server saw and stored encrypted stanzas only: never a plaintext in its log or its archive", async () => {
    await dora.quit();
    const log = readFileSync(server.log, "utf8");
    // Prosody 0.12's debug log shows each stanza's opening tag; its archive (MAM) keeps whole messages.
    const stored = filesUnder(join(server.dir, "data"));
    expect(stored).toContain("urn:xmpp:omemo:2");
    expect(stored).toContain("eu.siacs.conversations.axolotl");
    // OTR messages carry <no-permanent-store/> (XEP-0334 §3.3), which Prosody's archive (MAM) honours: it
    // keeps none (offline storage, which the hint allows, may hold some for a moment).
    const archive = filesUnder(join(server.dir, "data", "localhost", "archive"));
    expect(archive).toContain("urn:xmpp:omemo:2");
    expect(archive).not.toContain("?OTR");
    expect(plaintexts.length).toBeGreaterThan(10);
    for (const p of plaintexts) {
      expect(log).not.toContain(p);
      expect(stored).not.toContain(p);
    }
  });
});
