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
//
// OTR (second describe): profanity (libotr 4.1.1, OTR v2 only) as carol and an OtrChat (src/otr.ts) on a
// parley-chat account as dave: the AKE started from each side in turn (profanity's `/otr start` with the
// bare JID, then OtrChat's query to profanity's full JID), a message each way in each session, read
// decrypted on both sides, and neither plaintext in Prosody's log or storage nor on profanity's wire.
// Prosody's debug log shows only each stanza's opening tag, so the `?OTR:` data messages are checked in
// its archive (ours; profanity hints no-store) and in profanity's stanza log.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { xml } from "@xmpp/client";
import { NS_LEGACY, type DeviceIdentity } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import { OtrChat, type OtrChatEvents, type OtrKeyValueStore } from "../src/otr.js";
import { ensureProfanity, Profanity, profanityVersion } from "./profanity.js";
import { filesUnder } from "./support.js";

let server: ProsodyServer | undefined;
let prof: Profanity | undefined;
let bob: ChatAccount | undefined;
let otrProf: Profanity | undefined;
let dave: { account: ChatAccount; otr: OtrChat } | undefined;

beforeAll(async () => {
  ensureProfanity();
  server = await startProsody({ accounts: ["alice", "bob", "carol", "dave"] });
}, 600_000); // apt on a fresh machine
afterAll(async () => {
  // PARLEY_KEEP_PROFANITY=1 keeps profanity's directory (config, debug log, chat logs) to look at.
  await prof?.stop({ keep: process.env["PARLEY_KEEP_PROFANITY"] === "1" });
  if (prof && process.env["PARLEY_KEEP_PROFANITY"] === "1") console.log(`profanity's files: ${prof.dir}`);
  await bob?.close().catch(() => undefined);
  await otrProf?.stop({ keep: process.env["PARLEY_KEEP_PROFANITY"] === "1" });
  if (otrProf && process.env["PARLEY_KEEP_PROFANITY"] === "1") console.log(`profanity's files (OTR): ${otrProf.dir}`);
  await dave?.otr.close().catch(() => undefined);
  await dave?.account.close().catch(() => undefined);
  await server?.stop();
});

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

/** Any stanza id (an OTR message event carries the id of the stanza it came in, when it had one). */
const anyId: unknown = expect.any(String);
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

/** The next `event` of `otr` that satisfies `match`; rejects on an OTR error event or after `ms`. */
function nextOtr<K extends keyof OtrChatEvents>(
  otr: OtrChat,
  event: K,
  match: (value: OtrChatEvents[K]) => boolean = () => true,
  ms = 20_000,
): Promise<OtrChatEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`OtrChat: no ${event} event in ${ms} ms`));
    }, ms);
    const off = otr.on(event, (value) => {
      if (!match(value)) return;
      done();
      resolve(value);
    });
    const offError = otr.on("error", (e) => {
      done();
      reject(new Error(`OtrChat error ${e.code}: ${e.message}`));
    });
    function done(): void {
      clearTimeout(timer);
      off();
      offError();
    }
  });
}

// OTR with profanity (libotr 4.1.1): profanity speaks v2 only, keeps its OTR session per bare JID and
// sends every AKE and data message to the bare JID (Prosody hands them to our only resource); we answer
// the full JID it writes from. OtrChat's default policy allows v2 and v3, so the AKE settles on v2.
describe("profanity (OTR v2, libotr) and parley-chat's OtrChat through Prosody", () => {
  /** Set up by the first test, used by the second: profanity as carol, OtrChat as dave, subscribed both ways. */
  let carolFull = "";
  const secrets: string[] = [];

  async function setUp(): Promise<{ p: Profanity; d: { account: ChatAccount; otr: OtrChat } }> {
    if (otrProf && dave) return { p: otrProf, d: dave };
    const version = profanityVersion();
    expect(version.otr, `${version.version} built without OTR`).toBe(true);
    const s = server!;
    const carol = s.accounts.find((a) => a.jid === "carol@localhost")!;
    const daveAccount = s.accounts.find((a) => a.jid === "dave@localhost")!;
    const port = Number(new URL(s.service).port);

    // dave: a parley-chat account with OtrChat (a fresh DSA key in a memory store).
    const account = await ChatAccount.connect({ service: s.service, ...daveAccount, resource: "parley" });
    const otr = await OtrChat.create({ xmpp: account.xmpp, jid: account.jid, store: memoryKv() });
    dave = { account, otr };
    let carolVisible = false;
    account.xmpp.on("stanza", (stanza) => {
      if (stanza.name !== "presence") return;
      const from = String(stanza.attrs["from"] ?? "");
      if (from.split("/")[0] !== carol.jid) return;
      if (stanza.attrs["type"] === "subscribe") {
        void account.xmpp.send(xml("presence", { to: carol.jid, type: "subscribed" }));
        void account.xmpp.send(xml("presence", { to: carol.jid, type: "subscribe" }));
      }
      if (stanza.attrs["type"] === undefined && from.includes("/")) {
        carolVisible = true;
        carolFull = from;
      }
    });
    await account.online();

    // carol: profanity with an OTR key.
    otrProf = await Profanity.start({ jid: carol.jid, password: carol.password, host: "127.0.0.1", port });
    const p = otrProf;
    await p.otrGen();
    const carolFingerprint = await p.otrMyFingerprint();
    expect(carolFingerprint).toMatch(/^[0-9A-F]{40}$/);

    // Mutual presence subscription: each sees the other online (profanity refuses /otr start otherwise).
    await p.command(`/roster add ${account.jid}`, new RegExp(`Roster item added: ${account.jid}`));
    await p.command(`/sub request ${account.jid}`, new RegExp(`Sent subscription request to ${account.jid}`));
    await p.waitForScreen(new RegExp(`Received authorization request from ${account.jid}`), {
      what: "dave's subscription request",
    });
    await p.command(`/sub allow ${account.jid}`, new RegExp(`Accepted subscription for ${account.jid}`));
    await until(() => Promise.resolve(carolVisible), "carol's presence at dave");
    expect(carolFull).toBe(`${carol.jid}/profanity`);
    return { p, d: dave };
  }

  /**
   * The server: its debug log shows each stanza's opening tag only (no body), so it shows the messages
   * routed both ways; its archive (MAM) kept no OTR message: OtrChat hints no-permanent-store (XEP-0334
   * §3.3) and profanity no-store (profanity's own log shows them on the wire, `expectNoPlaintextOnWire`).
   * Neither plaintext in the log or the storage.
   */
  function expectNoPlaintextOnServer(daveJid: string): void {
    const s = server!;
    const log = readFileSync(s.log, "utf8");
    // (Attribute order varies from line to line: Lua tables.)
    const received = log.split("\n").filter((l) => l.includes("Received[c2s]: <message "));
    expect(received.some((l) => l.includes(`to='${carolFull}'`) && /\sid='otr-/.test(l))).toBe(true);
    expect(received.some((l) => l.includes(`to='${daveJid}'`))).toBe(true);
    const stored = filesUnder(join(s.dir, "data"));
    const archiveDir = join(s.dir, "data", "localhost", "archive");
    expect(existsSync(archiveDir) ? filesUnder(archiveDir) : "").not.toContain("?OTR");
    for (const text of secrets) {
      expect(log).not.toContain(text);
      expect(stored).not.toContain(text);
    }
  }

  /** profanity's wire (its debug log's SENT/RECV lines): OTR v2 data messages both ways, no plaintext. */
  function expectNoPlaintextOnWire(p: Profanity): void {
    const wire = p
      .log()
      .split("\n")
      .filter((l) => / (SENT|RECV): /.test(l));
    expect(wire.some((l) => l.includes(" SENT: <message") && l.includes("<body>?OTR:AAID"))).toBe(true);
    expect(wire.some((l) => l.includes(" RECV: <message") && l.includes("<body>?OTR:AAID"))).toBe(true);
    for (const text of secrets) expect(wire.filter((l) => l.includes(text))).toEqual([]);
  }

  /** One message each way in the encrypted session. */
  async function exchange(p: Profanity, d: { account: ChatAccount; otr: OtrChat }, label: string): Promise<void> {
    // profanity -> OtrChat
    const hello = `otr ${label} from profanity ${random()}`;
    secrets.push(hello);
    const atDave = nextOtr(d.otr, "message");
    p.send(hello);
    const read = await atDave.catch((e: unknown) => {
      throw new Error(`${String(e)}; profanity's ${p.lastScreen()}`);
    });
    // With the id of profanity's stanza (for a displayed marker).
    expect(read).toEqual({ from: carolFull, text: hello, encrypted: true, id: anyId });

    // OtrChat -> profanity: shown decrypted in the chat window with dave.
    const reply = `otr ${label} reply from parley ${random()}`;
    secrets.push(reply);
    await d.otr.send(carolFull, reply);
    await p.waitForScreen(new RegExp(`${escapeRegExp(d.account.jid)}(?:/parley)?: ${reply}$`, "m"), {
      what: "dave's OTR reply, decrypted",
    });
    await p.waitForChatLog(d.account.jid, new RegExp(`- ${escapeRegExp(d.account.jid)}: ${reply}$`, "m"));
  }

  it("profanity starts OTR (/otr start, bare JID): a message each way, decrypted; no plaintext on the server", async () => {
    const { p, d } = await setUp();
    const daveJid = d.account.jid;

    const encrypted = nextOtr(d.otr, "state", (st) => st.state === "encrypted");
    await p.otrStart(daveJid);
    const state = await encrypted.catch((e: unknown) => {
      throw new Error(`${String(e)}; profanity's ${p.lastScreen()}`);
    });
    expect(state).toMatchObject({ peer: carolFull, version: 2, reason: "ake" });
    const carolFingerprint = (await p.otrMyFingerprint()).toLowerCase();
    expect(state.fingerprint).toBe(carolFingerprint);
    await p.chat(daveJid);
    expect(await p.otrWaitForEncrypted(daveJid)).toEqual({ trusted: false });
    expect(d.otr.versionOf(carolFull)).toBe(2);

    await exchange(p, d, "1");
    expectNoPlaintextOnWire(p);
    expectNoPlaintextOnServer(daveJid);

    // profanity ends it: OtrChat sees the Disconnected TLV (finished), then goes back to plaintext.
    const finished = nextOtr(d.otr, "state", (st) => st.state === "finished");
    await p.command("/otr end", /OTR session ended/, { what: "profanity's OTR session ended" });
    expect(await finished).toMatchObject({ peer: carolFull, reason: "peer-ended" });
    await expect(d.otr.send(carolFull, "not after the end")).rejects.toMatchObject({ code: "NOT_ENCRYPTED" });
    await d.otr.end(carolFull);
    expect(d.otr.stateOf(carolFull)).toBe("plaintext");
  });

  it("OtrChat starts OTR (a v2/v3 query to profanity's full JID): a message each way, decrypted", async () => {
    const { p, d } = await setUp();
    const daveJid = d.account.jid;
    await p.chat(daveJid);
    // Both sides back to plaintext whatever the test before left (one that stopped half way leaves
    // profanity in a session even where OtrChat already is not): a failure there must not cascade here.
    await p.command("/otr end", /OTR session ended|not currently in an OTR session/);
    await d.otr.end(carolFull);

    const mark = p.logMark();
    const encrypted = nextOtr(d.otr, "state", (st) => st.state === "encrypted");
    await d.otr.start(carolFull);
    const state = await encrypted.catch((e: unknown) => {
      throw new Error(`${String(e)}; profanity's ${p.lastScreen()}`);
    });
    expect(state).toMatchObject({ peer: carolFull, version: 2, reason: "ake" });
    // Our query offered v2 and v3; libotr (v2 only here) answered with a v2 D-H Commit.
    await p.waitForLog(/RECV: <message[^>]*>.*<body>\?OTRv23\?<\/body>[\s\S]*SENT: <message[^>]*><body>\?OTR:AAIC/, {
      since: mark,
      what: "our query and profanity's v2 D-H Commit",
    });
    expect(await p.otrWaitForEncrypted(daveJid)).toEqual({ trusted: false });
    // profanity shows our fingerprint for dave.
    await p.command(
      "/otr theirfp",
      new RegExp(`${escapeRegExp(daveJid)}'s OTR fingerprint: ${groupOtr(d.otr.fingerprint)}`, "i"),
    );

    await exchange(p, d, "2");
    expectNoPlaintextOnWire(p);
    expectNoPlaintextOnServer(daveJid);
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** An OTR fingerprint as libotr prints it: 5 groups of 8 upper-case hex digits. */
function groupOtr(hex: string): string {
  return hex.toUpperCase().match(/.{8}/g)!.join(" ");
}
