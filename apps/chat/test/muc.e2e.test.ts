// OMEMO group chat through a real Prosody (Debian's, started by scripts/prosody.mjs): alice creates a
// room that GroupChats configures as OMEMO needs (non-anonymous, members-only, persistent), invites bob
// and carol; every occupant sends in OMEMO 2 and in legacy OMEMO and every other occupant reads each
// message exactly once; carol, joining late, reads what is sent after she joined; when her TCP connection
// is cut, she reads what was said meanwhile exactly once, whether xmpp.js resumes her session (XEP-0198)
// or starts a new one (then she enters the room again by herself, asking for the history since the loss);
// a member who left gets nothing more; a room that hides real JIDs is refused; the server's log and data
// directory (which holds the room's archive) contain no plaintext.
//
// Until account.ts leaves type='groupchat' messages to GroupChats, the account's own handler also tries
// them and reports INVALID_ARGUMENT (a group chat message needs the occupant's real JID): those account
// errors are filtered out below, and only those.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { xml } from "@xmpp/client";
import { isOmemoError, memoryOmemoStore, NS_LEGACY, NS_V2, type Element, type OmemoNamespace } from "@parley/omemo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount } from "../src/account.js";
import {
  GroupChats,
  isGroupChatError,
  type GroupChatErrorEvent,
  type GroupMessage,
  type Invitation,
  type OccupantEvent,
} from "../src/muc.js";

interface Peer {
  readonly name: string;
  readonly nick: string;
  readonly account: ChatAccount;
  readonly muc: GroupChats;
  readonly messages: GroupMessage[];
  readonly reflected: string[];
  readonly occupants: OccupantEvent[];
  readonly invites: Invitation[];
  readonly errors: GroupChatErrorEvent[];
  readonly accountErrors: unknown[];
}

let server: ProsodyServer;
const peers = new Map<string, Peer>();
const secrets: string[] = [];
const ROOM = "omemo-room@conference.localhost";

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob", "carol"] });
  for (const name of ["alice", "bob", "carol"]) {
    const credentials = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
    const account = await ChatAccount.connect({
      service: server.service,
      ...credentials,
      resource: `${name}-muc`,
      store: memoryOmemoStore(),
    });
    const muc = new GroupChats(account);
    const peer: Peer = {
      name,
      nick: name[0]!.toUpperCase() + name.slice(1),
      account,
      muc,
      messages: [],
      reflected: [],
      occupants: [],
      invites: [],
      errors: [],
      accountErrors: [],
    };
    muc.on("message", (m) => peer.messages.push(m));
    muc.on("reflected", (r) => peer.reflected.push(r.id));
    muc.on("occupant", (o) => peer.occupants.push(o));
    muc.on("invite", (i) => peer.invites.push(i));
    muc.on("error", (e) => peer.errors.push(e));
    account.onError((e) => peer.accountErrors.push(e));
    await account.online();
    peers.set(name, peer);
  }
});

afterAll(async () => {
  for (const p of peers.values()) {
    await p.muc.close().catch(() => undefined);
    await p.account.close().catch(() => undefined);
  }
  await server?.stop();
});

function peer(name: string): Peer {
  return peers.get(name)!;
}

/** Polls `check` until it returns something other than undefined (rejects after `ms`). */
async function waitFor<T>(what: string, check: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Cuts the TCP connection under xmpp.js, as a network that goes away does (no closing of the stream). */
function dropSocket(p: Peer): void {
  const socket = (p.account.xmpp as unknown as { socket: { destroy(): void } | null }).socket;
  if (socket === null) throw new Error(`${p.name} has no connection to drop`);
  socket.destroy();
}

/** Errors that are not the account's attempt at a group chat message (see the header). */
function unexpectedAccountErrors(p: Peer): unknown[] {
  return p.accountErrors.filter((e) => !isOmemoError(e, "INVALID_ARGUMENT"));
}

function secret(label: string): string {
  const text = `muc secret ${label} ${Math.random().toString(36).slice(2)}`;
  secrets.push(text);
  return text;
}

const NAMESPACES: ReadonlyArray<[string, OmemoNamespace]> = [
  ["OMEMO 2", NS_V2],
  ["legacy", NS_LEGACY],
];

interface Expected {
  nick: string;
  from: string;
  namespace: OmemoNamespace;
  body: string;
}

const key = (m: Expected) => `${m.namespace} ${m.nick} ${m.body}`;

/**
 * Every one of `senders` sends once per namespace; each of `readers` must then read exactly the messages
 * of the others (each once, with the right nick, real JID and namespace) and none of its own.
 */
async function roundOfMessages(senders: Peer[], readers: Peer[], label: string): Promise<void> {
  const sent: Array<Expected & { sender: string; ids: readonly string[] }> = [];
  const before = new Map(readers.map((r) => [r.name, r.messages.length]));
  for (const s of senders) {
    for (const [nsLabel, ns] of NAMESPACES) {
      const body = secret(`${label} ${s.name} ${nsLabel}`);
      const result = await s.muc.send(ROOM, body, { namespace: ns });
      expect(result.namespaces).toEqual([ns]);
      expect(result.undeliverable).toEqual([]);
      // Every other occupant's device got a key, in the namespace asked for.
      for (const r of readers.filter((r) => r !== s)) {
        const theirs = result.devices.filter((d) => d.jid === r.account.jid);
        expect(theirs.map((d) => [d.namespace, d.status])).toEqual([[ns, "encrypted"]]);
      }
      sent.push({ sender: s.name, nick: s.nick, from: s.account.jid, namespace: ns, body, ids: result.ids });
    }
  }
  for (const r of readers) {
    const expected = sent
      .filter((m) => m.sender !== r.name)
      .map(({ nick, from, namespace, body }) => ({ nick, from, namespace, body }));
    const start = before.get(r.name) ?? 0;
    await waitFor(`${r.name} to read ${expected.length} messages (${label})`, () =>
      r.messages.length - start >= expected.length ? true : undefined,
    );
  }
  await sleep(1500); // anything read twice would arrive by now
  for (const r of readers) {
    const expected = sent
      .filter((m) => m.sender !== r.name)
      .map(({ nick, from, namespace, body }) => ({ nick, from, namespace, body }));
    const got = r.messages
      .slice(before.get(r.name) ?? 0)
      .map((m) => ({ nick: m.nick, from: m.from, namespace: m.namespace, body: m.body ?? "" }));
    expect(got.every((m) => got.filter((n) => key(n) === key(m)).length === 1)).toBe(true);
    expect(got.map(key).sort()).toEqual(expected.map(key).sort());
    for (const m of r.messages.slice(before.get(r.name) ?? 0)) expect(m.room).toBe(ROOM);
  }
  // Senders recognised each of their own messages coming back and did not read it as news.
  for (const s of senders) {
    for (const m of sent.filter((x) => x.sender === s.name)) {
      await waitFor(`${s.name}'s reflection`, () => (m.ids.every((id) => s.reflected.includes(id)) ? true : undefined));
    }
  }
}

/** Every file under `dir`, as text. */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, text: readFileSync(path, "latin1") });
  }
  return out;
}

describe("OMEMO group chat on Prosody", () => {
  it("alice creates the room: configured for OMEMO, closed to bob until she invites him", async () => {
    const alice = peer("alice");
    const bob = peer("bob");
    const info = await alice.muc.create(ROOM, alice.nick);
    expect(info).toEqual({
      room: ROOM,
      nick: "Alice",
      created: true,
      nonAnonymous: true,
      membersOnly: true,
      persistent: true,
      memberListVisible: true,
    });
    // Members-only: bob may not enter yet.
    const refused = await bob.muc.join(ROOM, bob.nick).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGroupChatError(refused, "JOIN_FAILED")).toBe(true);
    expect(isGroupChatError(refused) ? refused.condition : undefined).toBe("registration-required");
    expect(bob.muc.rooms()).toEqual([]);

    expect(await alice.muc.invite(ROOM, bob.account.jid, { reason: "secret plans" })).toEqual({ member: true });
    const invite = await waitFor("bob's invitation", () => bob.invites.find((i) => i.room === ROOM));
    expect(invite).toMatchObject({ room: ROOM, from: alice.account.jid, reason: "secret plans", kind: "mediated" });

    const joined = await bob.muc.join(invite.room, bob.nick);
    expect(joined).toMatchObject({ room: ROOM, nick: "Bob", created: false, nonAnonymous: true, membersOnly: true });
    // Each sees the other with the real JID.
    const seen = await waitFor("alice to see bob", () =>
      alice.occupants.find((o) => o.kind === "joined" && o.occupant.nick === "Bob"),
    );
    expect(seen.occupant.jid).toBe(`${bob.account.jid}/bob-muc`);
    expect(seen.initial).toBe(false);
    expect(
      bob.muc
        .occupants(ROOM)
        .map((o) => [o.nick, o.jid, o.self])
        .sort(),
    ).toEqual([
      ["Alice", `${alice.account.jid}/alice-muc`, false],
      ["Bob", `${bob.account.jid}/bob-muc`, true],
    ]);
  });

  it("alice and bob each send in OMEMO 2 and in legacy OMEMO: the other reads each exactly once", async () => {
    await roundOfMessages([peer("alice"), peer("bob")], [peer("alice"), peer("bob")], "first");
  });

  it("carol joins late: she reads what is sent after she joined, and nothing from before", async () => {
    const [alice, bob, carol] = [peer("alice"), peer("bob"), peer("carol")];
    await alice.muc.invite(ROOM, carol.account.jid);
    await waitFor("carol's invitation", () => carol.invites.find((i) => i.room === ROOM));
    await carol.muc.join(ROOM, carol.nick);
    for (const p of [alice, bob]) {
      await waitFor(`${p.name} to see carol`, () =>
        p.occupants.find((o) => o.kind === "joined" && o.occupant.nick === "Carol"),
      );
    }
    // Carol saw the two already there as the initial occupants, with real JIDs.
    expect(
      carol.occupants
        .filter((o) => o.initial)
        .map((o) => [o.occupant.nick, o.occupant.jid])
        .sort(),
    ).toEqual([
      ["Alice", `${alice.account.jid}/alice-muc`],
      ["Bob", `${bob.account.jid}/bob-muc`],
    ]);
    await roundOfMessages([alice, bob, carol], [alice, bob, carol], "second");
    // Nothing of the first round reached carol (not encrypted for her, and no history asked for).
    expect(carol.messages.every((m) => !m.body?.includes(" first "))).toBe(true);
    expect(carol.messages).toHaveLength(4);
  });

  it("carol's connection drops and xmpp.js resumes her session (XEP-0198): still in the room, she reads what was said meanwhile once", async () => {
    const [alice, bob, carol] = [peer("alice"), peer("bob"), peer("carol")];
    const seen = alice.occupants.length;
    const had = carol.messages.length;
    const { xmpp } = carol.account;
    // Stream management is on, with an id to resume by.
    expect(xmpp.streamManagement?.id).toMatch(/^.+$/);
    const resumed = new Promise<void>((resolve) => xmpp.streamManagement!.on("resumed", resolve));
    const lost = new Promise<void>((resolve) =>
      xmpp.on("disconnect", () => {
        resolve();
      }),
    );
    dropSocket(carol);
    await lost;
    const meanwhile = secret("while carol's connection was down");
    await alice.muc.send(ROOM, meanwhile, { namespace: NS_V2 });
    await resumed;
    await waitFor("carol to read what was said meanwhile", () => carol.messages.find((m) => m.body === meanwhile));
    await roundOfMessages([alice, bob, carol], [alice, bob, carol], "after a resumed session");
    // The room never saw her leave, and she did not enter it again.
    expect(alice.occupants.slice(seen).filter((o) => o.occupant.nick === "Carol")).toEqual([]);
    expect(carol.muc.rooms()).toEqual([ROOM]);
    expect(carol.messages.slice(had).filter((m) => m.body === meanwhile)).toHaveLength(1);
  });

  it("carol's connection drops and her session is gone: she enters the room again by herself and reads what she missed (history since the loss) once", async () => {
    const [alice, bob, carol] = [peer("alice"), peer("bob"), peer("carol")];
    const seen = alice.occupants.length;
    const had = carol.messages.length;
    const { xmpp } = carol.account;
    const online = new Promise<void>((resolve) =>
      xmpp.on("online", () => {
        resolve();
      }),
    );
    const lost = new Promise<void>((resolve) =>
      xmpp.on("disconnect", () => {
        resolve();
      }),
    );
    // Without the stream-management id, xmpp.js cannot resume: it opens a new session, and the server
    // replaces the one that held carol's room presence (and the messages queued for it) by it.
    (xmpp.streamManagement as { id: string }).id = "";
    dropSocket(carol);
    await lost;
    const missed = secret("while carol was away");
    await alice.muc.send(ROOM, missed, { namespace: NS_V2 });
    await online;
    await waitFor("alice to see carol leave", () =>
      alice.occupants.slice(seen).find((o) => o.kind === "left" && o.occupant.nick === "Carol"),
    );
    await waitFor("alice to see carol enter again", () =>
      alice.occupants.slice(seen).find((o) => o.kind === "joined" && o.occupant.nick === "Carol"),
    );
    await waitFor("carol to read what she missed", () => carol.messages.find((m) => m.body === missed));
    expect(carol.muc.rooms()).toEqual([ROOM]);
    await roundOfMessages([alice, bob, carol], [alice, bob, carol], "after a new session");
    expect(carol.messages.slice(had).filter((m) => m.body === missed)).toHaveLength(1);
    expect(carol.errors).toEqual([]);
  });

  it("bob leaves: as a member he stays a recipient (for the archive); once his membership is gone, he is none", async () => {
    const [alice, bob, carol] = [peer("alice"), peer("bob"), peer("carol")];
    const bobHad = bob.messages.length;
    await bob.muc.leave(ROOM);
    expect(bob.muc.rooms()).toEqual([]);
    for (const p of [alice, carol]) {
      await waitFor(`${p.name} to see bob leave`, () =>
        p.occupants.find((o) => o.kind === "left" && o.occupant.nick === "Bob"),
      );
    }
    expect(alice.muc.members(ROOM)).toContainEqual({ jid: bob.account.jid, affiliation: "member" });
    expect(
      carol.muc
        .members(ROOM)
        .map((m) => m.jid)
        .sort(),
    ).toEqual([alice.account.jid, bob.account.jid, carol.account.jid]);
    expect(
      alice.muc
        .occupants(ROOM)
        .map((o) => o.nick)
        .sort(),
    ).toEqual(["Alice", "Carol"]);

    // Still a member: encrypted for him too (XEP-0384 §5.8), though he is not there to read it live.
    const carolHad = carol.messages.length;
    const first = secret("after bob left, still a member");
    const r1 = await alice.muc.send(ROOM, first);
    expect(r1.devices.filter((d) => d.jid === bob.account.jid).map((d) => d.status)).toEqual(["encrypted"]);
    expect(r1.devices.filter((d) => d.jid === carol.account.jid).map((d) => d.status)).toEqual(["encrypted"]);
    // ...unless only the occupants are asked for.
    const present = secret("occupants only");
    const r0 = await alice.muc.send(ROOM, present, { recipients: "occupants" });
    expect(r0.devices.some((d) => d.jid === bob.account.jid)).toBe(false);
    await waitFor("carol to read both", () => (carol.messages.length >= carolHad + 2 ? true : undefined));
    expect(carol.messages.slice(carolHad).map((m) => [m.nick, m.from, m.body])).toEqual([
      ["Alice", alice.account.jid, first],
      ["Alice", alice.account.jid, present],
    ]);

    // Alice takes his membership away; carol learns it from the room's announcement.
    await alice.muc.setAffiliation(ROOM, bob.account.jid, "none");
    expect(alice.muc.members(ROOM).map((m) => m.jid)).not.toContain(bob.account.jid);
    await waitFor("carol to see bob's membership go", () =>
      carol.muc.members(ROOM).some((m) => m.jid === bob.account.jid) ? undefined : true,
    );
    const aliceHad = alice.messages.length;
    const second = secret("after bob was removed");
    const r2 = await carol.muc.send(ROOM, second);
    expect(r2.devices.some((d) => d.jid === bob.account.jid)).toBe(false);
    expect(r2.devices.filter((d) => d.jid === alice.account.jid).map((d) => d.status)).toEqual(["encrypted"]);
    await waitFor("alice to read it", () => (alice.messages.length > aliceHad ? true : undefined));
    expect(alice.messages.slice(aliceHad).map((m) => [m.nick, m.from, m.body])).toEqual([
      ["Carol", carol.account.jid, second],
    ]);
    await sleep(1000);
    expect(bob.messages.length).toBe(bobHad);
    await expect(bob.muc.send(ROOM, "not in the room")).rejects.toMatchObject({ code: "NOT_JOINED" });
    await expect(bob.muc.join(ROOM, bob.nick)).rejects.toMatchObject({
      code: "JOIN_FAILED",
      condition: "registration-required",
    });
  });

  it("a room that hides real JIDs: sending is refused, nothing goes out", async () => {
    const [bob, carol] = [peer("bob"), peer("carol")];
    const room = "semi-anonymous@conference.localhost";
    // Carol creates an instant room with the server's defaults (semi-anonymous, open), by hand.
    const xmpp = carol.account.xmpp;
    const entered = new Promise<void>((resolve) => {
      xmpp.on("stanza", (s: Element) => {
        if (s.name === "presence" && s.attrs["from"] === `${room}/Carol`) resolve();
      });
    });
    await xmpp.send(xml("presence", { to: `${room}/Carol` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
    await entered;
    await xmpp.iqCaller.request(
      xml(
        "iq",
        { type: "set", to: room, id: "instant" },
        xml(
          "query",
          { xmlns: "http://jabber.org/protocol/muc#owner" },
          xml("x", { xmlns: "jabber:x:data", type: "submit" }),
        ),
      ),
    );
    const info = await bob.muc.join(room, bob.nick);
    expect(info.nonAnonymous).toBe(false);
    const carolOccupant = await waitFor("bob to see carol", () =>
      bob.muc.occupants(room).find((o) => o.nick === "Carol"),
    );
    expect(carolOccupant.jid).toBeUndefined();
    const body = secret("in an anonymous room");
    await expect(bob.muc.send(room, body)).rejects.toMatchObject({ name: "GroupChatError", code: "ROOM_ANONYMOUS" });
    await bob.muc.leave(room);
  });

  it("no group chat errors; the server's log and data (the room's archive) hold no plaintext", () => {
    for (const p of peers.values()) {
      expect(p.errors).toEqual([]);
      expect(unexpectedAccountErrors(p)).toEqual([]);
    }
    expect(secrets.length).toBeGreaterThan(10);
    const log = readFileSync(server.log, "utf8");
    expect(log).toContain("omemo-room@conference.localhost");
    const files = filesUnder(join(server.dir, "data"));
    // The room's archive (muc_mam) kept the group messages: OMEMO elements of both namespaces.
    const archive = files
      .filter((f) => f.path.includes("conference") && f.path.includes("muc_log"))
      .map((f) => f.text)
      .join("\n");
    expect(archive).toContain("urn:xmpp:omemo:2");
    expect(archive).toContain("eu.siacs.conversations.axolotl");
    expect(archive).toMatch(/payload/);
    const stored = files.map((f) => f.text).join("\n");
    for (const s of secrets) {
      expect(log).not.toContain(s);
      expect(stored).not.toContain(s);
    }
  });
});
