// The parts of GroupChats that need no server: parsing room presence, answering the configuration form,
// and the stanza logic over a fake connection and a fake session manager (which real JID a message is
// decrypted as, reflections, unknown occupants, anonymous rooms, order of handling).
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { NS_LEGACY, NS_V2, OmemoError, parseXml, serializeXml, type Element } from "@parley/omemo";
import type { ChatAccount } from "../src/account.js";
import {
  configSubmit,
  errorCondition,
  GroupChats,
  isGroupChatError,
  OMEMO_ROOM_CONFIG,
  parseMucPresence,
  splitJid,
  type GroupChatErrorEvent,
  type GroupMessage,
} from "../src/muc.js";

const ROOM = "room@conference.example";
const MUC_USER = "http://jabber.org/protocol/muc#user";

describe("parseMucPresence", () => {
  it("reads our own presence: item, real JID, status codes", () => {
    const p = parseMucPresence(
      parseXml(
        `<presence from='Room@Conference.Example/Alice' to='alice@example/x'><x xmlns='${MUC_USER}'>` +
          `<item affiliation='owner' role='moderator' jid='alice@example/x'/><status code='110'/><status code='100'/><status code='201'/></x></presence>`,
      ),
    );
    expect(p).toEqual({
      room: ROOM,
      nick: "Alice",
      type: "available",
      statuses: new Set([110, 100, 201]),
      item: { jid: "alice@example/x", affiliation: "owner", role: "moderator", nick: undefined },
      condition: undefined,
    });
  });

  it("reads an unavailable presence, an error, and ignores presence without muc#user", () => {
    const gone = parseMucPresence(
      parseXml(
        `<presence type='unavailable' from='${ROOM}/Bob'><x xmlns='${MUC_USER}'><item affiliation='member' role='none'/></x></presence>`,
      ),
    );
    expect(gone?.type).toBe("unavailable");
    expect(gone?.item?.jid).toBeUndefined();
    const error = parseMucPresence(
      parseXml(
        `<presence type='error' from='${ROOM}/Bob'><error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
      ),
    );
    expect(error).toMatchObject({ type: "error", condition: "registration-required", nick: "Bob" });
    expect(parseMucPresence(parseXml(`<presence from='bob@example/phone'/>`))).toBeUndefined();
    expect(parseMucPresence(parseXml(`<presence type='subscribe' from='bob@example'/>`))).toBeUndefined();
    expect(parseMucPresence(parseXml(`<message from='${ROOM}/Bob'/>`))).toBeUndefined();
  });

  it("splitJid and errorCondition", () => {
    expect(splitJid("Room@Conf.Example/Nick/With/Slash")).toEqual({
      bare: "room@conf.example",
      resource: "Nick/With/Slash",
    });
    expect(splitJid("room@conf")).toEqual({ bare: "room@conf", resource: undefined });
    expect(
      errorCondition(
        parseXml(
          `<iq type='error'><error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
        ),
      ),
    ).toBe("conflict");
  });
});

describe("configSubmit", () => {
  const form = parseXml(
    `<x xmlns='jabber:x:data' type='form'><title>Config</title>` +
      `<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
      `<field type='fixed'><value>Section</value></field>` +
      `<field var='muc#roomconfig_roomname' type='text-single'><value>Plans</value></field>` +
      `<field var='muc#roomconfig_whois' type='list-single'><value>moderators</value><option><value>anyone</value></option></field>` +
      `<field var='muc#roomconfig_membersonly' type='boolean'><value>0</value></field>` +
      `<field var='muc#roomconfig_persistentroom' type='boolean'/>` +
      `<field var='muc#roomconfig_roomadmins' type='jid-multi'><value>a@x</value><value>b@x</value></field></x>`,
  );

  it("answers every field, with OMEMO's values where it needs them", () => {
    const submit = configSubmit(form, OMEMO_ROOM_CONFIG);
    expect(submit.attrs).toEqual({ xmlns: "jabber:x:data", type: "submit" });
    const fields = submit
      .getChildren("field")
      .map((f) => [String(f.attrs["var"]), f.getChildren("value").map((v) => v.getText())]);
    expect(fields).toEqual([
      ["FORM_TYPE", ["http://jabber.org/protocol/muc#roomconfig"]],
      ["muc#roomconfig_roomname", ["Plans"]],
      ["muc#roomconfig_whois", ["anyone"]],
      ["muc#roomconfig_membersonly", ["1"]],
      ["muc#roomconfig_persistentroom", ["1"]],
      ["muc#roomconfig_roomadmins", ["a@x", "b@x"]],
    ]);
  });

  it("refuses a form without a field OMEMO needs", () => {
    const noWhois = parseXml(
      `<x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_membersonly' type='boolean'/><field var='muc#roomconfig_persistentroom' type='boolean'/></x>`,
    );
    let error: unknown;
    try {
      configSubmit(noWhois, OMEMO_ROOM_CONFIG);
    } catch (e) {
      error = e;
    }
    expect(isGroupChatError(error, "CONFIG_FAILED")).toBe(true);
  });
});

// ------------------------------------------------------------------ GroupChats over fakes

interface DecryptCall {
  readonly from: string | undefined;
  readonly stanza: string;
}

function fakeAccount(options: { nonAnonymous?: boolean; affiliations?: Record<string, string[]> } = {}) {
  const listeners: Array<(s: Element) => void> = [];
  const connection = new Map<string, Array<() => void>>();
  const sent: Element[] = [];
  const decrypts: DecryptCall[] = [];
  const encrypts: Array<{ to: readonly string[]; envelopeTo: string | undefined; namespaces: unknown }> = [];
  let decryptImpl = (stanza: Element, from: string | undefined): Promise<unknown> =>
    Promise.resolve({
      kind: "message",
      from,
      namespace: stanza.getChild("encrypted", NS_V2) ? NS_V2 : NS_LEGACY,
      deviceId: 7,
      body: stanza.getChild("encrypted", NS_V2)?.getChildText("payload") ?? "",
      trust: "trusted",
    });
  let undeliverable: string[] = [];
  const account = {
    jid: "alice@example",
    sessionSettled: () => Promise.resolve(),
    xmpp: {
      on(event: string, l: (s: Element) => void) {
        if (event === "stanza") listeners.push(l);
        else connection.set(event, [...(connection.get(event) ?? []), l as () => void]);
      },
      streamManagement: {
        id: "sm-1",
        on(event: string, l: () => void) {
          connection.set(`sm:${event}`, [...(connection.get(`sm:${event}`) ?? []), l]);
        },
      },
      send(s: Element) {
        sent.push(s);
        return Promise.resolve();
      },
      iqCaller: {
        request(iq: Element): Promise<Element> {
          const query = iq.getChild("query");
          if (query?.attrs["xmlns"] === "http://jabber.org/protocol/disco#info") {
            const feature = options.nonAnonymous === false ? "muc_semianonymous" : "muc_nonanonymous";
            return Promise.resolve(
              parseXml(
                `<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='${feature}'/><feature var='muc_membersonly'/><feature var='muc_persistent'/></query></iq>`,
              ),
            );
          }
          if (query?.attrs["xmlns"] === "http://jabber.org/protocol/muc#admin" && iq.attrs["type"] === "get") {
            const affiliation = String(query.getChild("item")?.attrs["affiliation"]);
            const list = options.affiliations?.[affiliation];
            if (list === undefined)
              return Promise.reject(Object.assign(new Error("forbidden"), { condition: "forbidden" }));
            const items = list.map((j) => `<item affiliation='${affiliation}' jid='${j}'/>`).join("");
            return Promise.resolve(
              parseXml(`<iq type='result'><query xmlns='http://jabber.org/protocol/muc#admin'>${items}</query></iq>`),
            );
          }
          return Promise.resolve(parseXml(`<iq type='result'/>`));
        },
      },
    },
    omemo: {
      encrypt(to: readonly string[], _content: unknown, opts: { envelopeTo?: string; namespaces?: unknown }) {
        encrypts.push({ to, envelopeTo: opts.envelopeTo, namespaces: opts.namespaces });
        return Promise.resolve({
          messages: [
            {
              namespace: NS_V2,
              encrypted: parseXml(`<encrypted xmlns='${NS_V2}'><header sid='1'/><payload>AAAA</payload></encrypted>`),
            },
          ],
          devices: to.map((jid) => ({ jid, deviceId: 9, namespace: NS_V2, status: "encrypted" })),
          undeliverable,
        });
      },
      decrypt(stanza: Element, opts: { from?: string }) {
        decrypts.push({ from: opts.from, stanza: serializeXml(parseXml(stanza.toString())) });
        return decryptImpl(stanza, opts.from);
      },
    },
  };
  return {
    account: account as unknown as ChatAccount,
    sent,
    decrypts,
    encrypts,
    deliver(xmlText: string) {
      const s = parseXml(xmlText);
      for (const l of listeners) l(s);
    },
    /** The connection drops and xmpp.js reconnects: `disconnect`, then `online` (a new session). */
    reconnect() {
      for (const event of ["disconnect", "online"]) for (const l of connection.get(event) ?? []) l();
    },
    /** The connection drops and xmpp.js resumes the session (XEP-0198): `disconnect`, then `resumed`. */
    resume() {
      for (const event of ["disconnect", "sm:resumed"]) for (const l of connection.get(event) ?? []) l();
    },
    setDecrypt(f: typeof decryptImpl) {
      decryptImpl = f;
    },
    setUndeliverable(u: string[]) {
      undeliverable = u;
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await sleep(0);
}

const selfPresence = (nick: string, codes: number[], jid = "alice@example/x") =>
  `<presence from='${ROOM}/${nick}'><x xmlns='${MUC_USER}'><item affiliation='member' role='participant' jid='${jid}'/>` +
  codes.map((c) => `<status code='${c}'/>`).join("") +
  `</x></presence>`;
const occupantPresence = (nick: string, jid?: string) =>
  `<presence from='${ROOM}/${nick}'><x xmlns='${MUC_USER}'><item affiliation='member' role='participant'${jid ? ` jid='${jid}'` : ""}/></x></presence>`;
const groupMessage = (nick: string, text: string, extra = "", id = "m1") =>
  `<message type='groupchat' id='${id}' from='${ROOM}/${nick}' to='alice@example/x'><encrypted xmlns='${NS_V2}'><header sid='5'/><payload>${text}</payload></encrypted>${extra}</message>`;

async function joined(options: { nonAnonymous?: boolean; affiliations?: Record<string, string[]> } = {}) {
  const f = fakeAccount(options);
  const muc = new GroupChats(f.account);
  const messages: GroupMessage[] = [];
  const errors: GroupChatErrorEvent[] = [];
  muc.on("message", (m) => messages.push(m));
  muc.on("error", (e) => errors.push(e));
  const joining = muc.join(ROOM, "Alice");
  await settle();
  const presence = f.sent[0]!;
  expect(presence.attrs["to"]).toBe(`${ROOM}/Alice`);
  expect(presence.getChild("x", "http://jabber.org/protocol/muc")?.getChild("history")?.attrs["maxstanzas"]).toBe("0");
  f.deliver(occupantPresence("Bob", options.nonAnonymous === false ? undefined : "bob@example/phone"));
  f.deliver(selfPresence("Alice", options.nonAnonymous === false ? [110] : [110, 100]));
  const info = await joining;
  return { ...f, muc, messages, errors, info };
}

describe("GroupChats", () => {
  it("decrypts as the occupant's real bare JID and reports nick, JID and namespace", async () => {
    const t = await joined();
    expect(t.info).toMatchObject({ room: ROOM, nick: "Alice", nonAnonymous: true, created: false });
    t.deliver(groupMessage("Bob", "hello"));
    await settle();
    expect(t.decrypts.map((d) => d.from)).toEqual(["bob@example"]);
    expect(t.messages).toEqual([
      {
        room: ROOM,
        nick: "Bob",
        from: "bob@example",
        namespace: NS_V2,
        deviceId: 7,
        body: "hello",
        trust: "trusted",
        id: "m1",
        delayed: false,
      },
    ]);
  });

  it("sends type='groupchat' to the room, envelope addressed to the room, and recognises the reflection", async () => {
    const t = await joined();
    const reflected: string[] = [];
    t.muc.on("reflected", (r) => reflected.push(r.id));
    const result = await t.muc.send(ROOM, "hi all", { namespace: NS_V2 });
    expect(t.encrypts).toEqual([{ to: ["bob@example"], envelopeTo: ROOM, namespaces: [NS_V2] }]);
    const message = t.sent.at(-1)!;
    expect(message.attrs).toMatchObject({ to: ROOM, type: "groupchat", id: result.id });
    expect(message.getChild("encrypted", NS_V2)).toBeDefined();
    expect(message.getChild("store", "urn:xmpp:hints")).toBeDefined();
    expect(message.getChild("encryption", "urn:xmpp:eme:0")?.attrs["namespace"]).toBe(NS_V2);
    expect(message.getChild("origin-id", "urn:xmpp:sid:0")?.attrs["id"]).toBe(result.id);
    expect(message.getChild("body")).toBeUndefined();
    t.deliver(groupMessage("Alice", "AAAA", "", result.id));
    await settle();
    expect(reflected).toEqual([result.id]);
    expect(t.decrypts).toEqual([]);
    expect(t.messages).toEqual([]);
  });

  it("refuses to send with undeliverable occupants, sending nothing", async () => {
    const t = await joined();
    t.setUndeliverable(["bob@example"]);
    const before = t.sent.length;
    await expect(t.muc.send(ROOM, "x")).rejects.toMatchObject({
      code: "NO_ELIGIBLE_DEVICES",
      undeliverable: ["bob@example"],
    });
    expect(t.sent.length).toBe(before);
    const partial = await t.muc.send(ROOM, "x", { allowUndeliverable: true });
    expect(partial.undeliverable).toEqual(["bob@example"]);
  });

  it("encrypts to every member, present or not, and follows affiliation changes", async () => {
    const t = await joined({
      affiliations: { owner: ["alice@example"], admin: [], member: ["bob@example", "dave@example"] },
    });
    expect(t.info.memberListVisible).toBe(true);
    expect(t.muc.members(ROOM)).toEqual([
      { jid: "alice@example", affiliation: "owner" },
      { jid: "bob@example", affiliation: "member" },
      { jid: "dave@example", affiliation: "member" },
    ]);
    await t.muc.send(ROOM, "x");
    await t.muc.send(ROOM, "x", { recipients: "occupants" });
    // The room announces that dave (not present) is no longer a member, and that erin now is.
    t.deliver(
      `<message from='${ROOM}'><x xmlns='${MUC_USER}'><item affiliation='none' jid='dave@example'/></x></message>`,
    );
    t.deliver(
      `<message from='${ROOM}'><x xmlns='${MUC_USER}'><item affiliation='member' jid='erin@example'/></x></message>`,
    );
    await settle();
    await t.muc.send(ROOM, "x");
    expect(t.encrypts.map((e) => e.to)).toEqual([
      ["bob@example", "dave@example"],
      ["bob@example"],
      ["bob@example", "erin@example"],
    ]);
  });

  it("without the member lists (forbidden), only the occupants", async () => {
    const t = await joined();
    expect(t.info.memberListVisible).toBe(false);
    await t.muc.send(ROOM, "x");
    expect(t.encrypts.map((e) => e.to)).toEqual([["bob@example"]]);
  });

  it("after a lost connection, enters every room again with its nick and asks for the history since the loss", async () => {
    const j = await joined();
    const { muc, sent, messages } = j;
    const before = Date.now();
    sent.length = 0;
    j.reconnect();
    await settle();
    const presence = sent.find((s) => s.name === "presence")!;
    expect(presence.attrs["to"]).toBe(`${ROOM}/Alice`);
    const history = presence.getChild("x", "http://jabber.org/protocol/muc")!.getChild("history")!;
    expect(history.attrs["maxstanzas"]).toBeUndefined();
    expect(Date.parse(String(history.attrs["since"]))).toBeGreaterThanOrEqual(before - 1000);
    expect(muc.rooms()).toEqual([]); // not in the room until it says so
    j.deliver(occupantPresence("Bob", "bob@example/phone"));
    j.deliver(selfPresence("Alice", [110, 100]));
    await settle();
    expect(muc.rooms()).toEqual([ROOM]);
    j.deliver(groupMessage("Bob", "after", "", "m9"));
    await settle();
    expect(messages.map((m) => m.body)).toEqual(["after"]);
  });

  it("a resumed session stays in its rooms; a later loss asks for the history since that loss only", async () => {
    const j = await joined();
    const { muc, sent } = j;
    sent.length = 0;
    j.resume();
    await settle();
    expect(sent).toEqual([]);
    expect(muc.rooms()).toEqual([ROOM]);
    await sleep(30);
    const secondLoss = Date.now();
    j.reconnect();
    await settle();
    const history = sent
      .find((s) => s.name === "presence")!
      .getChild("x", "http://jabber.org/protocol/muc")!
      .getChild("history")!;
    expect(Date.parse(String(history.attrs["since"]))).toBeGreaterThanOrEqual(secondLoss - 5);
  });

  it("a room that refuses us after a reconnection is reported: an error event, then left", async () => {
    const j = await joined();
    const { muc, sent, errors } = j;
    const left: string[] = [];
    muc.on("left", (l) => left.push(l.room));
    sent.length = 0;
    j.reconnect();
    await settle();
    j.deliver(
      `<presence from='${ROOM}/Alice' type='error'><error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
    );
    await settle();
    expect(errors.map((e) => [e.room, e.code])).toEqual([[ROOM, "JOIN_FAILED"]]);
    expect(left).toEqual([ROOM]);
    expect(muc.rooms()).toEqual([]);
  });

  it("a join without answer times out, and we send our unavailable presence in case the room lets us in late", async () => {
    const f = fakeAccount();
    const muc = new GroupChats(f.account);
    await expect(muc.join(ROOM, "Alice", { timeoutMs: 50 })).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(f.sent.map((s) => [String(s.attrs["to"]), s.attrs["type"] as string | undefined])).toEqual([
      [`${ROOM}/Alice`, undefined],
      [`${ROOM}/Alice`, "unavailable"],
    ]);
    expect(muc.rooms()).toEqual([]);
  });

  it("a message from an unknown nick is an error event, not decrypted", async () => {
    const t = await joined();
    t.deliver(groupMessage("Mallory", "AAAA"));
    await settle();
    expect(t.decrypts).toEqual([]);
    expect(t.errors).toEqual([expect.objectContaining({ room: ROOM, nick: "Mallory", code: "UNKNOWN_OCCUPANT" })]);
  });

  it("history (delayed) uses the real JID the room put in the message, not the nick's current owner", async () => {
    const t = await joined();
    t.deliver(
      groupMessage(
        "Bob",
        "old",
        `<delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/><x xmlns='${MUC_USER}'><item jid='robert@example/old'/></x>`,
      ),
    );
    await settle();
    expect(t.decrypts.map((d) => d.from)).toEqual(["robert@example"]);
    expect(t.messages[0]).toMatchObject({ from: "robert@example", delayed: true });
  });

  it("decryption failures are error events with the OMEMO code and no content; duplicates are silent", async () => {
    const t = await joined();
    t.setDecrypt(() => Promise.reject(new OmemoError("DECRYPTION_FAILED", "the payload failed authentication")));
    t.deliver(groupMessage("Bob", "secret words"));
    await settle();
    t.setDecrypt(() => Promise.reject(new OmemoError("DUPLICATE_MESSAGE", "already read")));
    t.deliver(groupMessage("Bob", "again"));
    await settle();
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatchObject({ code: "DECRYPTION_FAILED", nick: "Bob" });
    expect(JSON.stringify(t.errors)).not.toContain("secret words");
  });

  it("handles stanzas one at a time in arrival order", async () => {
    const t = await joined();
    let first = true;
    t.setDecrypt(async (stanza, from) => {
      if (first) {
        first = false;
        await sleep(50);
      }
      return {
        kind: "message",
        from,
        namespace: NS_V2,
        deviceId: 1,
        body: stanza.getChild("encrypted", NS_V2)?.getChildText("payload"),
        trust: "trusted",
      };
    });
    t.deliver(groupMessage("Bob", "one", "", "a"));
    t.deliver(occupantPresence("Carol", "carol@example/pc"));
    t.deliver(groupMessage("Carol", "two", "", "b"));
    await sleep(100);
    await settle();
    expect(t.messages.map((m) => [m.nick, m.from, m.body])).toEqual([
      ["Bob", "bob@example", "one"],
      ["Carol", "carol@example", "two"],
    ]);
  });

  it("a room that hides real JIDs: send refused until the room says it is non-anonymous (172)", async () => {
    const t = await joined({ nonAnonymous: false });
    expect(t.info.nonAnonymous).toBe(false);
    await expect(t.muc.send(ROOM, "x")).rejects.toMatchObject({ code: "ROOM_ANONYMOUS" });
    expect(t.encrypts).toEqual([]);
    // The room turns non-anonymous, but Bob's real JID is still unknown to us: still refused.
    t.deliver(`<message type='groupchat' from='${ROOM}'><x xmlns='${MUC_USER}'><status code='172'/></x></message>`);
    await settle();
    expect(t.muc.room(ROOM)?.nonAnonymous).toBe(true);
    await expect(t.muc.send(ROOM, "x")).rejects.toMatchObject({ code: "ROOM_ANONYMOUS" });
    t.deliver(occupantPresence("Bob", "bob@example/phone"));
    await settle();
    await t.muc.send(ROOM, "x");
    expect(t.encrypts.map((e) => e.to)).toEqual([["bob@example"]]);
  });

  it("a refused join is JOIN_FAILED with the condition; occupants leave; invitations are reported", async () => {
    const f = fakeAccount();
    const muc = new GroupChats(f.account);
    const invites: unknown[] = [];
    const left: string[] = [];
    muc.on("invite", (i) => invites.push(i));
    muc.on("occupant", (o) => {
      if (o.kind === "left") left.push(o.occupant.nick);
    });
    const joining = muc.join(ROOM, "Alice");
    await settle();
    f.deliver(
      `<presence type='error' from='${ROOM}/Alice'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
    );
    await expect(joining).rejects.toMatchObject({ code: "JOIN_FAILED", condition: "conflict" });
    expect(muc.rooms()).toEqual([]);
    await expect(muc.send(ROOM, "x")).rejects.toMatchObject({ code: "NOT_JOINED" });

    const again = muc.join(ROOM, "Alice2");
    await settle();
    f.deliver(occupantPresence("Bob", "bob@example/phone"));
    f.deliver(selfPresence("Alice2", [110, 100]));
    await again;
    f.deliver(
      `<presence type='unavailable' from='${ROOM}/Bob'><x xmlns='${MUC_USER}'><item affiliation='member' role='none'/></x></presence>`,
    );
    await settle();
    expect(left).toEqual(["Bob"]);
    expect(muc.occupants(ROOM).map((o) => o.nick)).toEqual(["Alice2"]);

    f.deliver(
      `<message from='other@conference.example' to='alice@example/x'><x xmlns='${MUC_USER}'><invite from='carol@example/pc'><reason>join us</reason></invite></x></message>`,
    );
    f.deliver(
      `<message from='dave@example/pc' to='alice@example'><x xmlns='jabber:x:conference' jid='third@conference.example'/></message>`,
    );
    await settle();
    expect(invites).toEqual([
      {
        room: "other@conference.example",
        from: "carol@example",
        reason: "join us",
        password: undefined,
        kind: "mediated",
      },
      {
        room: "third@conference.example",
        from: "dave@example",
        reason: undefined,
        password: undefined,
        kind: "direct",
      },
    ]);
  });
});
