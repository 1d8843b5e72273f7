// The pieces of parley-chat's account that need no server: entity capabilities (XEP-0115), the OMEMO
// transport over an iq caller (publish-options, item-not-found as "no such node"), and ChatAccount over a
// fake connection and session manager: live messages, carbons (forged ones dropped), unencrypted bodies,
// receipts and markers, the roster and presence, the archive catch-up (forged results dropped), errors.
import { describe, expect, it } from "vitest";
import {
  isOmemoError,
  NS_PUBSUB,
  NS_V2,
  OmemoError,
  parseXml,
  serializeXml,
  type Element,
  type SessionManager,
} from "@parley/omemo";
import type { Client } from "@xmpp/client";
import {
  ARCHIVE_MARKER_KEY,
  capsVer,
  ChatAccount,
  ChatAccountError,
  isChatAccountError,
  memoryAccountState,
  streamSettled,
  type ChatAccountSettings,
  type IncomingMessage,
  type UnencryptedMessage,
} from "../src/account.js";
import { omemoTransport } from "../src/transport.js";

describe("capsVer", () => {
  it("gives XEP-0115 §5.2's example verification string", () => {
    const ver = capsVer({ category: "client", type: "pc", name: "Exodus 0.9.1" }, [
      "http://jabber.org/protocol/muc",
      "http://jabber.org/protocol/disco#info",
      "http://jabber.org/protocol/caps",
      "http://jabber.org/protocol/disco#items",
    ]);
    expect(ver).toBe("QgayPKawpkPSDYmwT/WM94uAlu0=");
  });

  it("announces +notify for both OMEMO device-list nodes (or the server sends no PEP notifications)", () => {
    expect(capsVer()).not.toBe(capsVer(undefined, ["http://jabber.org/protocol/caps"]));
  });
});

/** A Client whose iqCaller answers with `reply` and records the requests. */
function fakeClient(reply: (iq: Element) => Element | Error) {
  const requests: string[] = [];
  const sent: string[] = [];
  const xmpp = {
    iqCaller: {
      request(iq: Element) {
        requests.push(serializeXml(iq));
        const r = reply(iq);
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
    },
    send(...stanzas: Element[]) {
      sent.push(...stanzas.map((s) => serializeXml(s)));
      return Promise.resolve();
    },
  } as unknown as Client;
  return { xmpp, requests, sent };
}

describe("omemoTransport", () => {
  it("publishes with publish-options and fetches items", async () => {
    const { xmpp, requests } = fakeClient((iq) =>
      iq.attrs["type"] === "set"
        ? parseXml('<iq type="result"/>')
        : parseXml(
            `<iq type="result"><pubsub xmlns="${NS_PUBSUB}"><items node="n"><item id="current"><list xmlns="x"/></item></items></pubsub></iq>`,
          ),
    );
    const t = omemoTransport(xmpp);
    await t.publish("n", "current", parseXml('<list xmlns="x"/>'), { "pubsub#access_model": "open" });
    expect(requests[0]).toContain('<publish node="n"><item id="current"><list xmlns="x"/></item></publish>');
    expect(requests[0]).toContain("<publish-options>");
    expect(requests[0]).toContain('var="pubsub#access_model"><value>open</value>');
    const items = await t.fetch("bob@example.org", "n");
    // With its item id, so that the session manager can read item "current" of a node that holds several.
    expect(items?.map((i) => serializeXml(i))).toEqual(['<item id="current"><list xmlns="x"/></item>']);
    expect(requests[1]).toMatch(/<iq type="get" to="bob@example.org"/);
  });

  it("reads item-not-found as no node, and lets other errors through", async () => {
    const notFound = Object.assign(new Error("item-not-found"), { condition: "item-not-found" });
    expect(await omemoTransport(fakeClient(() => notFound).xmpp).fetch("bob@example.org", "n")).toBeNull();
    const forbidden = Object.assign(new Error("forbidden"), { condition: "forbidden" });
    await expect(omemoTransport(fakeClient(() => forbidden).xmpp).fetch("bob@example.org", "n")).rejects.toBe(
      forbidden,
    );
  });

  it("retracts an item of our PEP node with notify='true'; an item already gone is no error, others are", async () => {
    const { xmpp, requests } = fakeClient(() => parseXml('<iq type="result"/>'));
    const t = omemoTransport(xmpp);
    await t.retract!("urn:xmpp:omemo:2:devices", "current");
    const iq = parseXml(requests[0]!);
    expect(iq.attrs["type"]).toBe("set");
    expect(iq.attrs["to"]).toBeUndefined(); // our own PEP service
    const retract = iq.getChild("pubsub", NS_PUBSUB)?.getChild("retract");
    expect(retract?.attrs).toEqual({ node: "urn:xmpp:omemo:2:devices", notify: "true" });
    expect(retract?.getChildren("item").map((i) => String(i.attrs["id"]))).toEqual(["current"]);
    const notFound = Object.assign(new Error("item-not-found"), { condition: "item-not-found" });
    await expect(omemoTransport(fakeClient(() => notFound).xmpp).retract!("n", "1")).resolves.toBeUndefined();
    const forbidden = Object.assign(new Error("forbidden"), { condition: "forbidden" });
    await expect(omemoTransport(fakeClient(() => forbidden).xmpp).retract!("n", "1")).rejects.toBe(forbidden);
  });
});

// ------------------------------------------------------------------ ChatAccount over a fake connection

/**
 * A fake @xmpp/client: `iq` answers each request (an Element, or an Error to reject with; it may call
 * `deliver` first, as a server sends MAM results before its answer); `deliver` hands a stanza to the
 * account as the connection would; `sent` records what the account sent.
 */
function fakeConnection(
  iq: (request: Element, deliver: (s: Element | string) => void) => Element | Error = () =>
    parseXml('<iq type="result"/>'),
) {
  const sent: Element[] = [];
  const requests: Element[] = [];
  const listeners = new Map<string, ((value: unknown) => void)[]>();
  const setHandlers: { ns: string; handler: (ctx: { stanza: Element }) => unknown }[] = [];
  const deliver = (s: Element | string) => {
    const stanza = typeof s === "string" ? parseXml(s) : s;
    for (const l of listeners.get("stanza") ?? []) l(stanza);
  };
  const state = { status: "online" };
  const xmpp = {
    get status() {
      return state.status;
    },
    iqCaller: {
      request(request: Element) {
        requests.push(request);
        const r = iq(request, deliver);
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
    },
    iqCallee: {
      get() {},
      set(ns: string, _name: string, handler: (ctx: { stanza: Element }) => unknown) {
        setHandlers.push({ ns, handler });
      },
    },
    send(...stanzas: Element[]) {
      sent.push(...stanzas);
      return Promise.resolve();
    },
    on(event: string, listener: (value: unknown) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return xmpp;
    },
    stop: () => Promise.resolve(),
  };
  /** Fires a connection event ("disconnect", "online", "offline") at the account's listeners. */
  const emit = (event: string) => {
    for (const l of listeners.get(event) ?? []) l(undefined);
  };
  return { xmpp: xmpp as unknown as Client, sent, requests, deliver, setHandlers, state, emit };
}

/**
 * A fake session manager: an `<encrypted>` whose `<payload>` is the body in clear, `<header sid>` the
 * device. A payload read before is DUPLICATE_MESSAGE (as OMEMO's ratchet says); no key for us when the
 * `<header>` has `nokey`; an empty message without payload.
 */
function fakeOmemo(deviceId = 1) {
  const read = new Set<string>();
  const decrypted: Element[] = [];
  const omemo = {
    deviceId,
    decrypt(stanza: Element) {
      decrypted.push(stanza);
      const encrypted = stanza.getChild("encrypted", NS_V2)!;
      const header = encrypted.getChild("header")!;
      const payload = encrypted.getChildText("payload");
      const from = String(stanza.attrs["from"]).split("/")[0]!;
      if (header.attrs["nokey"] !== undefined) return Promise.reject(new OmemoError("NO_KEY_FOR_US", "no key"));
      if (payload === null)
        return Promise.resolve({ kind: "empty", from, namespace: NS_V2, deviceId: 2, body: undefined });
      if (read.has(payload)) return Promise.reject(new OmemoError("DUPLICATE_MESSAGE", "read before"));
      read.add(payload);
      return Promise.resolve({
        kind: "message",
        from,
        namespace: NS_V2,
        deviceId: Number(header.attrs["sid"]),
        body: payload,
      });
    },
    encrypt() {
      return Promise.resolve({
        messages: [
          {
            namespace: NS_V2,
            encrypted: parseXml(`<encrypted xmlns="${NS_V2}"><header sid="${deviceId}"/></encrypted>`),
          },
        ],
        devices: [],
        undeliverable: [],
      });
    },
    catchUp<T>(body: () => Promise<T>) {
      return body();
    },
    pubsub: [] as string[],
    handlePubsubEvent(jid: string, node: string, items: readonly unknown[]) {
      omemo.pubsub.push(`items ${jid} ${node} ${items.length}`);
      return Promise.resolve(true);
    },
    handlePubsubRetraction(jid: string, node: string) {
      omemo.pubsub.push(`retract ${jid} ${node}`);
      return Promise.resolve(true);
    },
  };
  return { omemo: omemo as unknown as SessionManager, decrypted, pubsub: omemo.pubsub };
}

const ME = "alice@example.org";
const enc = (body: string | undefined, sid = 7, extra = "") =>
  `<encrypted xmlns="${NS_V2}"><header sid="${sid}"${extra}/>${body === undefined ? "" : `<payload>${body}</payload>`}</encrypted>`;

function setup(
  settings: Partial<ChatAccountSettings> = {},
  iq?: (request: Element, deliver: (s: Element | string) => void) => Element | Error,
) {
  const conn = fakeConnection(iq);
  const { omemo, decrypted, pubsub } = fakeOmemo();
  const account = ChatAccount.attach(conn.xmpp, omemo, { jid: ME, ...settings });
  const messages: IncomingMessage[] = [];
  const plain: UnencryptedMessage[] = [];
  const errors: unknown[] = [];
  account.onMessage((m) => messages.push(m));
  account.onUnencrypted((m) => plain.push(m));
  account.onError((e) => errors.push(e));
  /** Waits until every stanza delivered so far has been handled. */
  const settled = async () => {
    await conn.xmpp.iqCaller.request(parseXml('<iq type="get" id="settle"/>')).catch(() => undefined);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    await new Promise((r) => setTimeout(r, 5));
  };
  return { ...conn, account, messages, plain, errors, decrypted, pubsub, settled };
}

describe("ChatAccount: live messages, carbons, unencrypted", () => {
  it("emits a live OMEMO message with id, stanza-id (ours only), timestamp, via and direction", async () => {
    const t = setup();
    t.deliver(
      `<message from="bob@example.org/p" to="${ME}/desk" type="chat" id="m1"><origin-id xmlns="urn:xmpp:sid:0" id="o1"/><stanza-id xmlns="urn:xmpp:sid:0" by="${ME}" id="S1"/><delay xmlns="urn:xmpp:delay" stamp="2026-12-01T10:00:00Z"/>${enc("hello")}</message>`,
    );
    await t.settled();
    expect(t.messages).toHaveLength(1);
    expect(t.messages[0]).toMatchObject({
      from: "bob@example.org",
      body: "hello",
      id: "o1",
      stanzaId: "S1",
      via: "live",
      direction: "in",
      deviceId: 7,
    });
    expect(t.messages[0]!.to).toBeUndefined();
    expect(t.messages[0]!.timestamp.toISOString()).toBe("2026-12-01T10:00:00.000Z");
  });

  it("a sent carbon from our bare JID is emitted with direction out and to; a received one as in", async () => {
    const t = setup();
    t.deliver(
      `<message from="${ME}" to="${ME}/desk"><sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="${ME}/phone" to="bob@example.org" type="chat" id="c1">${enc("mine", 9)}</message></forwarded></sent></message>`,
    );
    t.deliver(
      `<message from="${ME}" to="${ME}/desk"><received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="bob@example.org/p" to="${ME}/phone" type="chat" id="c2">${enc("theirs")}</message></forwarded></received></message>`,
    );
    await t.settled();
    expect(t.messages.map((m) => [m.body, m.via, m.direction, m.from, m.to])).toEqual([
      ["mine", "carbon", "out", ME, "bob@example.org"],
      ["theirs", "carbon", "in", "bob@example.org", undefined],
    ]);
  });

  it("drops forged carbons: from another account, from our full JID; and a 'sent' carbon not from us", async () => {
    const t = setup();
    const wrap = (from: string, kind: string, innerFrom: string) =>
      `<message from="${from}" to="${ME}/desk"><${kind} xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="${innerFrom}" to="bob@example.org" type="chat"><body>forged</body>${enc(`forged-${from}-${kind}`)}</message></forwarded></${kind}></message>`;
    t.deliver(wrap("mallory@example.org", "sent", `${ME}/phone`));
    t.deliver(wrap("mallory@example.org", "received", "mallory@example.org/x"));
    t.deliver(wrap(`${ME}/phone`, "sent", `${ME}/phone`));
    t.deliver(wrap(ME, "sent", "mallory@example.org/x"));
    await t.settled();
    expect(t.messages).toEqual([]);
    expect(t.plain).toEqual([]);
    expect(t.decrypted).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it("duplicates (by stanza-id or OMEMO's DUPLICATE_MESSAGE) are not emitted twice and are no error", async () => {
    const t = setup();
    const live = `<message from="bob@example.org/p" type="chat"><stanza-id xmlns="urn:xmpp:sid:0" by="${ME}" id="S1"/>${enc("once")}</message>`;
    t.deliver(live);
    t.deliver(live);
    t.deliver(`<message from="bob@example.org/p" type="chat">${enc("once")}</message>`);
    await t.settled();
    expect(t.messages.map((m) => m.body)).toEqual(["once"]);
    expect(t.decrypted).toHaveLength(2); // the second copy with the same stanza-id never reached OMEMO
    expect(t.errors).toEqual([]);
  });

  it("empty OMEMO messages for another device are routine; a message not for us is an error", async () => {
    const t = setup();
    t.deliver(`<message from="bob@example.org/p" type="chat">${enc(undefined, 7, ' nokey=""')}</message>`);
    await t.settled();
    expect(t.errors).toEqual([]);
    t.deliver(`<message from="bob@example.org/p" type="chat">${enc("x", 7, ' nokey=""')}</message>`);
    await t.settled();
    expect(t.errors).toHaveLength(1);
    expect(isOmemoError(t.errors[0], "NO_KEY_FOR_US")).toBe(true);
  });

  it("PEP notifications go to the session manager: published items, and retractions (a device list retracted)", async () => {
    const t = setup();
    const event = (inner: string) =>
      `<message from="bob@example.org" to="${ME}/desk" type="headline"><event xmlns="http://jabber.org/protocol/pubsub#event"><items node="urn:xmpp:omemo:2:devices">${inner}</items></event></message>`;
    t.deliver(event(`<item id="current"><devices xmlns="urn:xmpp:omemo:2"><device id="7"/></devices></item>`));
    t.deliver(event(`<retract id="current"/>`));
    await t.settled();
    expect(t.pubsub).toEqual([
      "items bob@example.org urn:xmpp:omemo:2:devices 1",
      "items bob@example.org urn:xmpp:omemo:2:devices 0",
      "retract bob@example.org urn:xmpp:omemo:2:devices",
    ]);
    expect(t.errors).toEqual([]);
    expect(t.messages).toEqual([]);
  });

  it("plain chat bodies go to onUnencrypted; OTR, group chat, errors, invitations do not", async () => {
    const t = setup();
    t.deliver('<message from="bob@example.org/p" type="chat" id="u1"><body>plain</body></message>');
    t.deliver('<message from="bob@example.org/p" type="chat"><body>?OTR:AAMD</body></message>');
    t.deliver(
      '<message from="bob@example.org/p" type="chat"><body>tagged \t  \t\t\t\t \t \t \t    \t\t  \t </body></message>',
    );
    t.deliver('<message from="room@muc.example.org/bob" type="groupchat"><body>room</body></message>');
    t.deliver('<message from="bob@example.org/p" type="error"><body>bounced</body></message>');
    t.deliver(
      '<message from="room@muc.example.org"><x xmlns="http://jabber.org/protocol/muc#user"><invite from="bob@example.org"/></x><body>join us</body></message>',
    );
    await t.settled();
    expect(t.plain).toHaveLength(1);
    expect(t.plain[0]).toMatchObject({
      from: "bob@example.org",
      resource: "p",
      body: "plain",
      id: "u1",
      via: "live",
      direction: "in",
    });
    expect(t.plain[0]!.timestamp).toBeInstanceOf(Date);
  });

  it("handles stanzas one at a time, in order, even when decrypting takes time", async () => {
    const t = setup();
    const slow = t.account.omemo.decrypt.bind(t.account.omemo);
    let first = true;
    (t.account.omemo as unknown as { decrypt: typeof slow }).decrypt = async (s, o) => {
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 30));
      }
      return slow(s, o);
    };
    t.deliver(`<message from="bob@example.org/p" type="chat">${enc("first")}</message>`);
    t.deliver('<message from="bob@example.org/p" type="chat"><body>second</body></message>');
    t.deliver(`<message from="bob@example.org/p" type="chat">${enc("third")}</message>`);
    const order: string[] = [];
    t.account.onMessage((m) => order.push(m.body!));
    t.account.onUnencrypted((m) => order.push(m.body));
    await new Promise((r) => setTimeout(r, 80));
    await t.settled();
    expect(order).toEqual(["first", "second", "third"]);
  });
});

describe("ChatAccount: receipts and markers", () => {
  const request = (id = "m1", type = "chat") =>
    `<message from="bob@example.org/p" to="${ME}/desk" type="${type}" id="${id}"><request xmlns="urn:xmpp:receipts"/>${enc(`body-${id}-${type}`)}</message>`;
  const receipts = (sent: Element[]) =>
    sent.filter((s) => s.getChild("received", "urn:xmpp:receipts")).map((s) => serializeXml(s));

  it("answers a receipt request of a live chat message from a contact who may see our presence", async () => {
    const t = setup({}, (iq) =>
      iq.getChild("query", "jabber:iq:roster")
        ? parseXml(
            '<iq type="result"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" subscription="both"/></query></iq>',
          )
        : parseXml('<iq type="result"/>'),
    );
    await t.account.roster();
    t.deliver(request());
    await t.settled();
    const r = receipts(t.sent);
    expect(r).toHaveLength(1);
    expect(r[0]).toMatch(
      /^<message to="bob@example.org\/p" id="[^"]+"><received xmlns="urn:xmpp:receipts" id="m1"\/><\/message>$/,
    );
  });

  it("sends no receipt to a stranger (default), for group chat, archive results or sent carbons", async () => {
    const t = setup();
    t.deliver(request("m2"));
    await t.settled();
    expect(receipts(t.sent)).toEqual([]);

    const always = setup({ receipts: "always" });
    always.deliver(request("m3", "groupchat"));
    always.deliver(
      `<message from="${ME}"><sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="${ME}/phone" to="bob@example.org" type="chat" id="s1"><request xmlns="urn:xmpp:receipts"/>${enc("sent-carbon", 9)}</message></forwarded></sent></message>`,
    );
    await always.settled();
    expect(receipts(always.sent)).toEqual([]);
    always.deliver(request("m4"));
    await always.settled();
    expect(receipts(always.sent)).toHaveLength(1);

    const never = setup({ receipts: "never" });
    never.deliver(request("m5"));
    await never.settled();
    expect(receipts(never.sent)).toEqual([]);
  });

  it("emits receipts and displayed markers from contacts, live or by received carbon", async () => {
    const t = setup();
    const got: string[] = [];
    t.account.onReceipt((r) => got.push(`receipt ${r.from} ${r.id}`));
    t.account.onDisplayed((d) => got.push(`displayed ${d.from} ${d.id}`));
    t.deliver('<message from="bob@example.org/p"><received xmlns="urn:xmpp:receipts" id="x1"/></message>');
    t.deliver(
      `<message from="${ME}"><received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="bob@example.org/p" to="${ME}/phone" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="x2"/></message></forwarded></received></message>`,
    );
    // Our own marker from another device (a sent carbon) is not the contact's.
    t.deliver(
      `<message from="${ME}"><sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client" from="${ME}/phone" to="bob@example.org" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="x3"/></message></forwarded></sent></message>`,
    );
    await t.settled();
    expect(got).toEqual(["receipt bob@example.org x1", "displayed bob@example.org x2"]);
  });

  it("send() adds a receipt request, markable and an origin-id equal to the id it returns", async () => {
    const t = setup();
    const r = await t.account.send("bob@example.org", "secret text");
    expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.ids).toEqual([r.id]);
    expect(r.devices).toEqual([]);
    const s = serializeXml(t.sent[0]!);
    expect(s).toContain(`id="${r.id}"`);
    expect(s).toContain('<request xmlns="urn:xmpp:receipts"/>');
    expect(s).toContain('<markable xmlns="urn:xmpp:chat-markers:0"/>');
    expect(s).toContain(`<origin-id xmlns="urn:xmpp:sid:0" id="${r.id}"/>`);
    expect(s).toContain('to="bob@example.org"');
    await expect(t.account.send("not a jid", "x")).rejects.toMatchObject({ code: "INVALID_JID" });
  });

  it("markDisplayed sends a displayed marker; bad arguments are typed errors", async () => {
    const t = setup();
    await t.account.markDisplayed("bob@example.org/p", "m1");
    expect(serializeXml(t.sent[0]!)).toMatch(
      /^<message to="bob@example.org\/p" type="chat" id="[^"]+"><displayed xmlns="urn:xmpp:chat-markers:0" id="m1"\/><store xmlns="urn:xmpp:hints"\/><\/message>$/,
    );
    await expect(t.account.markDisplayed("bob@example.org", "")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(t.account.markDisplayed("example.org", "m1")).rejects.toMatchObject({ code: "INVALID_JID" });
  });
});

describe("ChatAccount: roster and presence", () => {
  const rosterResult =
    '<iq type="result"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" name="Bob" subscription="to"/></query></iq>';

  it("fetches the roster, applies pushes from our account only, and answers only those", async () => {
    const t = setup({}, (iq) =>
      iq.getChild("query", "jabber:iq:roster") ? parseXml(rosterResult) : parseXml('<iq type="result"/>'),
    );
    const changes: unknown[] = [];
    t.account.onRoster((c) => changes.push(c));
    expect(await t.account.roster()).toEqual([{ jid: "bob@example.org", name: "Bob", subscription: "to" }]);
    const push = (from: string) =>
      `<iq type="set" id="p"${from}><query xmlns="jabber:iq:roster"><item jid="carol@example.org" subscription="from"/></query></iq>`;
    t.deliver(push(' from="mallory@example.org"'));
    t.deliver(push(` from="${ME}/other"`));
    await t.settled();
    expect(changes).toEqual([]);
    t.deliver(push(""));
    t.deliver(
      `<iq type="set" id="q" from="${ME}"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" subscription="remove"/></query></iq>`,
    );
    await t.settled();
    expect(changes).toEqual([
      { item: { jid: "carol@example.org", subscription: "from" }, removed: false },
      { item: { jid: "bob@example.org", subscription: "none" }, removed: true },
    ]);
    expect(await t.account.roster()).toEqual([{ jid: "carol@example.org", subscription: "from" }]);
    // The iq callee: a result for our own pushes, service-unavailable (nothing) for forged ones.
    const callee = t.setHandlers.find((h) => h.ns === "jabber:iq:roster")!;
    expect(callee.handler({ stanza: parseXml(push("")) })).toBe(true);
    expect(callee.handler({ stanza: parseXml(push(' from="mallory@example.org"')) })).toBeUndefined();
  });

  it("subscribe adds to the roster and sends presence; approve, deny, unsubscribe, removeContact", async () => {
    const t = setup();
    await t.account.subscribe("Bob@Example.org", { name: "Bob" });
    expect(serializeXml(t.requests[0]!)).toContain('<item jid="bob@example.org" name="Bob"/>');
    await t.account.approve("bob@example.org");
    await t.account.deny("carol@example.org");
    await t.account.unsubscribe("dave@example.org");
    await t.account.removeContact("erin@example.org");
    expect(t.sent.map((s) => serializeXml(s))).toEqual([
      '<presence to="bob@example.org" type="subscribe"/>',
      '<presence to="bob@example.org" type="subscribed"/>',
      '<presence to="carol@example.org" type="unsubscribed"/>',
      '<presence to="dave@example.org" type="unsubscribe"/>',
    ]);
    expect(serializeXml(t.requests[1]!)).toContain('<item jid="erin@example.org" subscription="remove"/>');
  });

  it("validates JIDs (typed INVALID_JID, without echoing the input) and needs a connection", async () => {
    const t = setup();
    for (const bad of ["bob@example.org/res", "example.org", "b ob@example.org", "", ME]) {
      const e = await t.account.subscribe(bad).catch((x: unknown) => x);
      expect(isChatAccountError(e, "INVALID_JID")).toBe(true);
      if (bad.length > 0) expect((e as Error).message).not.toContain(bad);
    }
    await expect(t.account.approve("nope")).rejects.toMatchObject({ code: "INVALID_JID" });
    expect(() => t.account.presenceOf("a b")).toThrow(ChatAccountError);
    await expect(t.account.subscribe("bob@example.org", { name: "" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    t.state.status = "offline";
    await expect(t.account.subscribe("bob@example.org")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    await expect(t.account.send("bob@example.org", "x")).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    expect(() => ChatAccount.attach(t.xmpp, t.account.omemo, { jid: "alice@example.org/desk" })).toThrow(
      ChatAccountError,
    );
  });

  it("maps server errors: forbidden, other conditions, timeouts", async () => {
    const errorWith = (condition: string) => Object.assign(new Error(condition), { condition });
    let answer: Error = errorWith("not-allowed");
    const t = setup({}, () => answer);
    await expect(t.account.removeContact("bob@example.org")).rejects.toMatchObject({
      code: "FORBIDDEN",
      condition: "not-allowed",
    });
    answer = errorWith("item-not-found");
    await expect(t.account.removeContact("bob@example.org")).rejects.toMatchObject({
      code: "SERVER_ERROR",
      condition: "item-not-found",
    });
    answer = Object.assign(new Error("timeout"), { name: "TimeoutError" });
    await expect(t.account.removeContact("bob@example.org")).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  it("tracks presence and reports subscription requests (or approves them with autoApprove)", async () => {
    const t = setup();
    const presence: unknown[] = [];
    const requests: unknown[] = [];
    t.account.onPresence((p) => presence.push(p));
    t.account.onSubscriptionRequest((r) => requests.push(r));
    t.deliver('<presence from="bob@example.org/phone"><show>dnd</show></presence>');
    t.deliver('<presence from="bob@example.org/laptop"/>');
    t.deliver('<presence from="room@muc.example.org/bob"><x xmlns="http://jabber.org/protocol/muc#user"/></presence>');
    t.deliver('<presence from="Carol@example.org" type="subscribe"/>');
    await t.settled();
    expect(t.account.presenceOf("bob@example.org")).toEqual({ online: true, resources: ["phone", "laptop"] });
    expect(t.account.presenceOf("room@muc.example.org").online).toBe(false);
    expect(presence[0]).toEqual({ jid: "bob@example.org", resource: "phone", available: true, show: "dnd" });
    expect(requests).toEqual([{ from: "carol@example.org" }]);
    t.deliver('<presence from="bob@example.org/phone" type="unavailable"/>');
    await t.settled();
    expect(t.account.presenceOf("bob@example.org/anything").resources).toEqual(["laptop"]);
    expect(t.sent).toEqual([]);

    // A lost connection that xmpp.js resumes (XEP-0198: "disconnect", no "online") keeps what the session
    // knew; a new session ("online") or a stop ("offline") ends it.
    t.emit("disconnect");
    expect(t.account.presenceOf("bob@example.org").resources).toEqual(["laptop"]);
    t.emit("online");
    expect(t.account.presenceOf("bob@example.org")).toEqual({ online: false, resources: [] });
    t.deliver('<presence from="bob@example.org/laptop"/>');
    await t.settled();
    t.emit("offline");
    expect(t.account.presenceOf("bob@example.org").online).toBe(false);

    const bot = setup({ autoApprove: true });
    const botRequests: unknown[] = [];
    bot.account.onSubscriptionRequest((r) => botRequests.push(r));
    bot.deliver('<presence from="carol@example.org/x" type="subscribe"/>');
    await bot.settled();
    expect(botRequests).toEqual([]);
    expect(bot.sent.map((s) => serializeXml(s))).toEqual(['<presence to="carol@example.org" type="subscribed"/>']);
  });
});

describe("ChatAccount: archive catch-up (XEP-0313)", () => {
  /**
   * A fake archive: `archive` in order, [id, message xml]; answers MAM queries after an id (RSM max)
   * by delivering results from `from` (our bare JID by default), then the fin.
   */
  function archiveServer(
    archive: [string, string][],
    options: { from?: string | null; extra?: (queryId: string, deliver: (s: string) => void) => void } = {},
  ) {
    const queries: string[] = [];
    const from = options.from === undefined ? ` from="${ME}"` : options.from === null ? "" : ` from="${options.from}"`;
    return {
      queries,
      iq(request: Element, deliver: (s: Element | string) => void): Element | Error {
        const query = request.getChild("query", "urn:xmpp:mam:2");
        if (query === undefined) return parseXml('<iq type="result"/>');
        queries.push(serializeXml(query));
        const set = query.getChild("set", "http://jabber.org/protocol/rsm")!;
        const max = Number(set.getChildText("max"));
        const after = set.getChildText("after");
        let start = 0;
        if (after !== null) {
          const i = archive.findIndex(([id]) => id === after);
          if (i === -1) return Object.assign(new Error("item-not-found"), { condition: "item-not-found" });
          start = i + 1;
        }
        const page = set.getChild("before") ? archive.slice(-max) : archive.slice(start, start + max);
        const queryId = String(query.attrs["queryid"]);
        for (const [id, message] of page)
          deliver(
            `<message${from} to="${ME}/desk"><result xmlns="urn:xmpp:mam:2" queryid="${queryId}" id="${id}"><forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="2026-12-01T10:00:0${id.slice(-1)}Z"/>${message}</forwarded></result></message>`,
          );
        options.extra?.(queryId, deliver);
        const complete = set.getChild("before") !== undefined || start + max >= archive.length;
        const last = page.at(-1)?.[0];
        return parseXml(
          `<iq type="result"><fin xmlns="urn:xmpp:mam:2" complete="${complete}"><set xmlns="http://jabber.org/protocol/rsm">${last ? `<last>${last}</last>` : ""}</set></fin></iq>`,
        );
      },
    };
  }
  const fromBob = (body: string) =>
    `<message xmlns="jabber:client" from="bob@example.org/p" to="${ME}" type="chat" id="id-${body}">${enc(body)}</message>`;
  const fromUs = (body: string, sid: number) =>
    `<message xmlns="jabber:client" from="${ME}/phone" to="bob@example.org" type="chat">${enc(body, sid)}</message>`;

  it("a first catch-up only notes where the archive ends", async () => {
    const server = archiveServer([
      ["A1", fromBob("old1")],
      ["A2", fromBob("old2")],
    ]);
    const state = memoryAccountState();
    const t = setup({ state }, (iq, d) => server.iq(iq, d));
    expect(await t.account.catchUp()).toEqual({ messages: 0, results: 0, pages: 1, complete: true, initial: true });
    expect(await state.get(ARCHIVE_MARKER_KEY)).toBe("A2");
    expect(t.messages).toEqual([]);
    expect(t.decrypted).toEqual([]);
  });

  it("pages after the marker, in order, with delays; ours come back out; duplicates are dropped", async () => {
    const archive: [string, string][] = [
      ["A1", fromBob("seen")],
      ["A2", fromBob("m1")],
      ["A3", fromUs("m2", 9)],
      ["A4", fromUs("from this device", 1)], // our own device: OMEMO has no key for it
      ["A5", fromBob("m3")],
      [
        "A6",
        `<message xmlns="jabber:client" from="bob@example.org/p" to="${ME}" type="chat"><body>plain</body></message>`,
      ],
    ];
    const server = archiveServer(archive);
    const state = memoryAccountState();
    await state.set(ARCHIVE_MARKER_KEY, "A1");
    const t = setup({ state, archive: { pageSize: 2 } }, (iq, d) => server.iq(iq, d));
    // A live copy of m1 (same stanza-id as its archive id) was read before the catch-up.
    t.deliver(
      `<message from="bob@example.org/p" type="chat"><stanza-id xmlns="urn:xmpp:sid:0" by="${ME}" id="A2"/>${enc("m1")}</message>`,
    );
    await t.settled();
    (t.account.omemo as unknown as { decrypt: (s: Element) => Promise<unknown> }).decrypt = ((orig) => (s: Element) =>
      s.getChild("encrypted", NS_V2)!.getChild("header")!.attrs["sid"] === "1"
        ? Promise.reject(new OmemoError("NO_KEY_FOR_US", "own"))
        : orig(s))(t.account.omemo.decrypt.bind(t.account.omemo));
    const result = await t.account.catchUp();
    expect(result).toEqual({ messages: 3, results: 5, pages: 3, complete: true, initial: false });
    expect(server.queries).toHaveLength(3);
    expect(server.queries[0]).toContain("<max>2</max><after>A1</after>");
    expect(t.messages.map((m) => [m.body, m.via, m.direction, m.stanzaId])).toEqual([
      ["m1", "live", "in", "A2"],
      ["m2", "archive", "out", "A3"],
      ["m3", "archive", "in", "A5"],
    ]);
    expect(t.messages[1]!.to).toBe("bob@example.org");
    expect(t.messages[2]!.timestamp.toISOString()).toBe("2026-12-01T10:00:05.000Z");
    expect(t.plain.map((m) => [m.body, m.via])).toEqual([["plain", "archive"]]);
    expect(t.errors).toEqual([]);
    expect(await state.get(ARCHIVE_MARKER_KEY)).toBe("A6");
    // No receipts for archived messages.
    expect(t.sent).toEqual([]);
    // Again: nothing new.
    expect(await t.account.catchUp()).toMatchObject({ messages: 0, results: 0, complete: true });
  });

  it("stops at the bound per catch-up and continues at the next", async () => {
    const archive = Array.from({ length: 7 }, (_, i): [string, string] => [`A${i}`, fromBob(`n${i}`)]);
    const server = archiveServer(archive);
    const state = memoryAccountState();
    await state.set(ARCHIVE_MARKER_KEY, "");
    const t = setup({ state, archive: { pageSize: 2, maxMessages: 5 } }, (iq, d) => server.iq(iq, d));
    expect(await t.account.catchUp()).toMatchObject({ messages: 5, complete: false });
    expect(await t.account.catchUp()).toMatchObject({ messages: 2, complete: true });
    expect(t.messages.map((m) => m.body)).toEqual(archive.map((_, i) => `n${i}`));
  });

  it("drops forged results: from another JID, for a query we did not issue, beyond the page size", async () => {
    const state = memoryAccountState();
    await state.set(ARCHIVE_MARKER_KEY, "");
    const forged = archiveServer([["A1", fromBob("forged")]], { from: "mallory@example.org" });
    const t = setup({ state }, (iq, d) => forged.iq(iq, d));
    expect(await t.account.catchUp()).toMatchObject({ messages: 0, results: 0 });

    const state2 = memoryAccountState();
    await state2.set(ARCHIVE_MARKER_KEY, "");
    const server = archiveServer([["A1", fromBob("real")]], {
      from: null, // results without from are our server's
      extra: (_queryId, deliver) => {
        deliver(
          `<message from="${ME}"><result xmlns="urn:xmpp:mam:2" queryid="someone-elses" id="X"><forwarded xmlns="urn:xmpp:forward:0">${fromBob("other-query")}</forwarded></result></message>`,
        );
      },
    });
    const t2 = setup({ state: state2, archive: { pageSize: 1 } }, (iq, d) => server.iq(iq, d));
    // A result delivered with no query running is ignored too.
    t2.deliver(
      `<message from="${ME}"><result xmlns="urn:xmpp:mam:2" queryid="q" id="Y"><forwarded xmlns="urn:xmpp:forward:0">${fromBob("unasked")}</forwarded></result></message>`,
    );
    await t2.settled();
    expect(await t2.account.catchUp()).toMatchObject({ messages: 1, results: 1 });
    expect(t2.messages.map((m) => m.body)).toEqual(["real"]);

    // More results than asked for: the extra ones are ignored.
    const state3 = memoryAccountState();
    await state3.set(ARCHIVE_MARKER_KEY, "");
    const flood = archiveServer([["A1", fromBob("one")]], {
      extra: (queryId, deliver) => {
        for (let i = 0; i < 5; i++)
          deliver(
            `<message from="${ME}"><result xmlns="urn:xmpp:mam:2" queryid="${queryId}" id="F${i}"><forwarded xmlns="urn:xmpp:forward:0">${fromBob(`flood${i}`)}</forwarded></result></message>`,
          );
      },
    });
    const t3 = setup({ state: state3, archive: { pageSize: 1 } }, (iq, d) => flood.iq(iq, d));
    expect(await t3.account.catchUp()).toMatchObject({ messages: 1, results: 1 });
    expect(t3.messages.map((m) => m.body)).toEqual(["one"]);
  });

  it("starts over when the marker expired from the archive; UNSUPPORTED without an archive", async () => {
    const server = archiveServer([["B1", fromBob("kept")]]);
    const state = memoryAccountState();
    await state.set(ARCHIVE_MARKER_KEY, "EXPIRED");
    const t = setup({ state }, (iq, d) => server.iq(iq, d));
    expect(await t.account.catchUp()).toMatchObject({ messages: 1, complete: true });
    expect(await state.get(ARCHIVE_MARKER_KEY)).toBe("B1");

    const none = setup({}, () => Object.assign(new Error("x"), { condition: "feature-not-implemented" }));
    await expect(none.account.catchUp()).rejects.toMatchObject({ code: "UNSUPPORTED" });
  });

  it("online(): roster, carbons when offered, presence, then the catch-up", async () => {
    const steps: string[] = [];
    const t = setup({}, (iq) => {
      const child = iq.getChildElements()[0]!;
      steps.push(`${child.name} ${String(child.attrs["xmlns"])}`);
      if (child.is("query", "http://jabber.org/protocol/disco#info"))
        return parseXml(
          '<iq type="result"><query xmlns="http://jabber.org/protocol/disco#info"><feature var="urn:xmpp:carbons:2"/></query></iq>',
        );
      if (child.is("query", "urn:xmpp:mam:2"))
        return parseXml(
          '<iq type="result"><fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"/></fin></iq>',
        );
      return parseXml('<iq type="result"/>');
    });
    await t.account.online();
    expect(steps).toEqual([
      "query jabber:iq:roster",
      "query http://jabber.org/protocol/disco#info",
      "enable urn:xmpp:carbons:2",
      "ping urn:xmpp:ping",
      "query urn:xmpp:mam:2",
    ]);
    expect(t.account.carbons).toBe(true);
    expect(t.sent.map((s) => s.name)).toEqual(["presence"]);
    expect(t.errors).toEqual([]);
  });
});

describe("ChatAccount: options", () => {
  it("refuses bad options with typed errors before connecting", async () => {
    const conn = fakeConnection();
    const { omemo } = fakeOmemo();
    for (const archive of [{ pageSize: 0 }, { pageSize: 251 }, { maxMessages: 1.5 }])
      expect(() => ChatAccount.attach(conn.xmpp, omemo, { jid: ME, archive })).toThrow(ChatAccountError);
    await expect(
      ChatAccount.connect({ service: "xmpp://127.0.0.1:1", jid: "not a jid", password: "pw-never-shown" }),
    ).rejects.toMatchObject({ code: "INVALID_JID" });
    const e = await ChatAccount.connect({
      service: "xmpp://127.0.0.1:1",
      jid: ME,
      password: "pw-never-shown",
      timeoutMs: -1,
    }).catch((x: unknown) => x);
    expect(isChatAccountError(e, "INVALID_ARGUMENT")).toBe(true);
    expect(String(e)).not.toContain("pw-never-shown");
  });
});

describe("streamSettled", () => {
  it("waits for XEP-0198's <enabled/> after a new session's online; not when there is none to wait for", async () => {
    const sm = { id: "", enableSent: false, enabled: false, on: () => undefined };
    const state = { status: "online" };
    const xmpp = {
      get status() {
        return state.status;
      },
      streamManagement: sm,
    } as unknown as Client;
    // No <enable/> sent (the server offers none, or it was refused): at once.
    await streamSettled(xmpp);
    // Sent and not answered: waits, until the answer.
    sm.enableSent = true;
    let settled = false;
    const waiting = streamSettled(xmpp).then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 40));
    expect(settled).toBe(false);
    sm.enabled = true;
    await waiting;
    expect(settled).toBe(true);
    // A stream that goes away meanwhile, a connection without stream management, a bound on the wait.
    sm.enabled = false;
    const gone = streamSettled(xmpp);
    state.status = "disconnect";
    await gone;
    state.status = "online";
    await streamSettled({ status: "online" } as unknown as Client);
    // Never answered: the bound ends the wait (the test would time out otherwise).
    await streamSettled(xmpp, 50);
    expect(sm.enabled).toBe(false);
  });
});

describe("ChatAccount.sendTracked: what the server acknowledged (XEP-0198)", () => {
  /** A fake connection with a fake @xmpp/stream-management: `emitSm` fires its events. */
  function withStreamManagement(enabled: boolean) {
    const conn = fakeConnection();
    const smListeners = new Map<string, Array<(value?: unknown) => void>>();
    const sm = {
      id: enabled ? "sm-1" : "",
      enableSent: enabled,
      enabled,
      on(event: string, listener: (value?: unknown) => void) {
        smListeners.set(event, [...(smListeners.get(event) ?? []), listener]);
      },
    };
    Object.assign(conn.xmpp, { streamManagement: sm });
    const emitSm = (event: string, value?: unknown) => {
      for (const l of smListeners.get(event) ?? []) l(value);
    };
    const account = ChatAccount.attach(conn.xmpp, fakeOmemo().omemo, { jid: ME });
    return { ...conn, sm, emitSm, account };
  }
  const message = (id: string) => parseXml(`<message to="juliet@example.net" id="${id}"><body>x</body></message>`);
  const settledWithin = async (p: Promise<unknown>, ms = 20) =>
    Promise.race([
      p.then(() => true),
      new Promise((r) =>
        setTimeout(() => {
          r(false);
        }, ms),
      ),
    ]);

  it("resolves its fate when the server acknowledges that stanza, not when it is written", async () => {
    const { account, emitSm, sent } = withStreamManagement(true);
    const a = message("a");
    const b = message("b");
    const { fate: fateA } = await account.sendTracked(a);
    const { fate: fateB } = await account.sendTracked(b);
    expect(sent).toEqual([a, b]);
    expect(await settledWithin(fateA)).toBe(false);
    emitSm("ack", a);
    expect(await fateA).toBe("acknowledged");
    expect(await settledWithin(fateB)).toBe(false);
    emitSm("ack", b);
    expect(await fateB).toBe("acknowledged");
  });

  it("is lost when the stream fails before the acknowledgement, or when the caller gives up", async () => {
    const { account, emitSm } = withStreamManagement(true);
    const a = message("a");
    const { fate } = await account.sendTracked(a);
    emitSm("fail", a);
    expect(await fate).toBe("lost");
    emitSm("ack", a); // too late: nothing changes
    const controller = new AbortController();
    const { fate: abandoned } = await account.sendTracked(message("b"), controller.signal);
    controller.abort();
    expect(await abandoned).toBe("lost");
  });

  it("is untracked, once written, when the server offers no stream management", async () => {
    const { account, sent } = withStreamManagement(false);
    const a = message("a");
    const { fate } = await account.sendTracked(a);
    expect(sent).toEqual([a]);
    expect(await fate).toBe("untracked");
  });

  it("is not ready to send from a lost connection until the session is resumed or a new one settled", async () => {
    const { account, emit, emitSm, state } = withStreamManagement(true);
    expect(account.readyToSend).toBe(true);
    let resumed = 0;
    account.onResumed(() => resumed++);
    state.status = "disconnect";
    emit("disconnect");
    expect(account.readyToSend).toBe(false);
    // xmpp.js says "resumed", then marks the connection online (no "online" event).
    emitSm("resumed");
    state.status = "online";
    await new Promise((r) => setTimeout(r, 5));
    expect(account.readyToSend).toBe(true);
    expect(resumed).toBe(1);
    // A new session: ready once its stream management is settled.
    state.status = "disconnect";
    emit("disconnect");
    state.status = "online";
    emit("online");
    await account.sessionSettled();
    expect(account.readyToSend).toBe(true);
  });
});
