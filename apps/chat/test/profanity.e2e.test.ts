// Interop with a client we did not write: Debian's profanity (0.13.1, legacy OMEMO through
// libsignal-protocol-c), driven under tmux (test/profanity.ts), and a parley-chat account (ChatAccount,
// legacy namespace only) talk through a real Prosody 0.12: a message each way, each read decrypted on
// the other side, and neither plaintext in the server's log or storage nor on the wire as profanity
// logged it.
//
// profanity quirks worked around here (profanity's, not ours):
// - At login profanity fetches its own device list and publishes its device only if the fetch fails
//   with a legacy `code='404'` attribute on the error; Prosody 0.12 answers `<item-not-found/>` without
//   it, so profanity logs "can't get OMEMO device list" and never announces itself.
//   `/omemo clear_device_list` (after `/omemo gen`) publishes a list of just its device.
// - It publishes its PEP nodes without publish-options, so they get Prosody's default access model,
//   `presence`: the contact must be subscribed to profanity's presence to fetch its device list and
//   bundle. Both sides subscribe to each other here (profanity `/sub request` + `/sub allow`, the
//   ChatAccount answering `subscribe` with `subscribed` and subscribing back).
// - It builds sessions only at `/omemo start` (with the device lists it has then) and does not encrypt
//   to a device it does not trust (manual trust by default): the test waits for bob's device list in
//   profanity's debug log before `/omemo start`, then trusts bob's fingerprint.
// - It writes a legacy fingerprint as 8 groups of 8 hex digits joined by "-" (our `fingerprint` is the
//   same 64 hex digits; `formatFingerprint` joins the groups with spaces).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { xml } from "@xmpp/client";
import { NS_LEGACY, type DeviceIdentity } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { ensureProfanity, Profanity, profanityVersion } from "./profanity.js";

let server: ProsodyServer | undefined;
let prof: Profanity | undefined;
let bob: ChatAccount | undefined;

beforeAll(async () => {
  ensureProfanity();
  server = await startProsody({ accounts: ["alice", "bob"] });
}, 600_000); // apt on a fresh machine
afterAll(async () => {
  // PARLEY_KEEP_PROFANITY=1 keeps profanity's directory (config, debug log, chat logs) to look at.
  await prof?.stop({ keep: process.env["PARLEY_KEEP_PROFANITY"] === "1" });
  if (prof && process.env["PARLEY_KEEP_PROFANITY"] === "1") console.log(`profanity's files: ${prof.dir}`);
  await bob?.close().catch(() => undefined);
  await server?.stop();
});

/** Every file under `dir`, as text. */
function filesUnder(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out += statSync(path).isDirectory() ? filesUnder(path) : readFileSync(path, "latin1");
  }
  return out;
}

/** The next message `account` reads (rejects on an OMEMO error or after `ms`). */
function nextMessage(account: ChatAccount, ms = 20_000): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${account.jid} read nothing in ${ms} ms`));
    }, ms);
    const offMessage = account.onMessage((m) => {
      done();
      resolve(m);
    });
    const offError = account.onError((e) => {
      done();
      reject(e instanceof Error ? e : new Error(String(e)));
    });
    function done(): void {
      clearTimeout(timer);
      offMessage();
      offError();
    }
  });
}

/** Polls `check` every 100 ms until it is true; fails with `what` after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const random = () => Math.random().toString(36).slice(2, 10);

describe("profanity (legacy OMEMO) and parley-chat through Prosody", () => {
  it("a message each way, read decrypted on both sides; no plaintext on the server or the wire", async () => {
    const version = profanityVersion();
    expect(version.omemo, `${version.version} built without OMEMO`).toBe(true);
    const s = server!;
    const alice = s.accounts.find((a) => a.jid === "alice@localhost")!;
    const bobAccount = s.accounts.find((a) => a.jid === "bob@localhost")!;
    const port = Number(new URL(s.service).port);

    // bob: parley-chat, legacy OMEMO only; trusts alice's device only once its fingerprint is the one
    // profanity shows for itself (so a wrong key or a fingerprint mismatch fails the test).
    const expected = new Map<string, string>(); // jid -> the fingerprint its client shows
    const decisions: string[] = [];
    const trust = {
      decide: (d: DeviceIdentity) => {
        const ok = d.jid === alice.jid && d.fingerprint === expected.get(d.jid);
        decisions.push(`${d.jid}/${d.deviceId}: ${ok ? "trusted" : "untrusted"}`);
        return ok ? ("trusted" as const) : ("untrusted" as const);
      },
    };
    bob = await ChatAccount.connect({
      service: s.service,
      ...bobAccount,
      resource: "parley",
      namespaces: [NS_LEGACY],
      trust,
    });
    const b = bob;
    let aliceVisible = false; // bob receives alice's presence: his subscription to her was accepted
    b.xmpp.on("stanza", (stanza) => {
      if (stanza.name !== "presence") return;
      const from = String(stanza.attrs["from"] ?? "").split("/")[0];
      if (from !== alice.jid) return;
      if (stanza.attrs["type"] === "subscribe") {
        void b.xmpp.send(xml("presence", { to: alice.jid, type: "subscribed" }));
        void b.xmpp.send(xml("presence", { to: alice.jid, type: "subscribe" }));
      }
      if (stanza.attrs["type"] === undefined) aliceVisible = true;
    });
    await b.online();

    // alice: profanity, connected without TLS to the loopback port.
    prof = await Profanity.start({ jid: alice.jid, password: alice.password, host: "127.0.0.1", port });
    const p = prof;
    const aliceDevice = await p.omemoGen();
    await p.omemoClearDeviceList(aliceDevice);
    const aliceFingerprint = await p.omemoOwnFingerprint();
    expect(aliceFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expected.set(alice.jid, aliceFingerprint);

    // Mutual presence subscription.
    await p.command(`/roster add ${b.jid}`, new RegExp(`Roster item added: ${b.jid}`));
    await p.command(`/sub request ${b.jid}`, new RegExp(`Sent subscription request to ${b.jid}`));
    await p.waitForScreen(new RegExp(`Received authorization request from ${b.jid}`), {
      what: "bob's subscription request",
    });
    await p.command(`/sub allow ${b.jid}`, new RegExp(`Accepted subscription for ${b.jid}`));
    await until(() => Promise.resolve(aliceVisible), "alice's presence at bob");

    // Each side learns the other's device.
    await until(
      async () => (await b.omemo.devices(alice.jid, NS_LEGACY)).includes(aliceDevice),
      `bob to see alice's device ${aliceDevice}`,
    );
    await p.omemoWaitForDeviceList(b.jid, b.omemo.deviceId);

    // profanity: OMEMO in the chat window with bob, bob's fingerprint (ours, in its format) trusted.
    await p.omemoStart(b.jid);
    await p.omemoWaitForFingerprint(b.jid, b.omemo.fingerprint);
    await p.omemoTrust(b.jid, b.omemo.fingerprint);

    // profanity -> parley-chat
    const hello = `hello from profanity ${random()}`;
    const atBob = nextMessage(b);
    p.send(hello);
    const read = await atBob.catch((e: unknown) => {
      throw new Error(`${String(e)}; profanity's ${p.lastScreen()}`);
    });
    expect({ from: read.from, namespace: read.namespace, deviceId: read.deviceId, body: read.body }).toEqual({
      from: alice.jid,
      namespace: NS_LEGACY,
      deviceId: aliceDevice,
      body: hello,
    });
    expect(decisions).toContain(`${alice.jid}/${aliceDevice}: trusted`);

    // parley-chat -> profanity
    const reply = `reply from parley ${random()}`;
    const sent = await b.send(alice.jid, reply, { namespace: NS_LEGACY });
    expect(sent.devices.filter((d) => d.jid === alice.jid).map((d) => [d.deviceId, d.namespace, d.status])).toEqual([
      [aliceDevice, NS_LEGACY, "encrypted"],
    ]);
    await p.waitForScreen(new RegExp(`~ ${b.jid}/parley: ${reply}$`, "m"), { what: "bob's reply, decrypted" });
    const chatLog = await p.waitForChatLog(b.jid, new RegExp(`- ${b.jid}: ${reply}$`, "m"));
    expect(chatLog.input).toMatch(new RegExp(`- me: ${hello}$`, "m"));

    // On the wire, as profanity logged every stanza: OMEMO both ways, never the plaintext.
    const wire = p
      .log()
      .split("\n")
      .filter((l) => / (SENT|RECV): /.test(l));
    expect(wire.some((l) => l.includes(" SENT: <message") && l.includes(`<encrypted xmlns="${NS_LEGACY}"`))).toBe(true);
    expect(wire.some((l) => l.includes(" RECV: <message") && l.includes(`<encrypted xmlns="${NS_LEGACY}"`))).toBe(true);
    for (const text of [hello, reply]) expect(wire.filter((l) => l.includes(text))).toEqual([]);

    // The server: its debug log and its storage (the MAM archive kept both messages, as ciphertext).
    const log = readFileSync(s.log, "utf8");
    expect(log).toMatch(/message/);
    const stored = filesUnder(join(s.dir, "data"));
    expect(stored).toContain(NS_LEGACY);
    expect(stored).toMatch(/payload/);
    for (const text of [hello, reply]) {
      expect(log).not.toContain(text);
      expect(stored).not.toContain(text);
    }
  });
});
