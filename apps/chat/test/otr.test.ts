// OtrChat on an in-memory pair of fake XMPP clients: the AKE, messages both ways, SMP (right and wrong
// secret, recorded in a real @parley/trust store), a send before the AKE refused, the key kept in the
// store, a garbage OTR message as an error event, a peer that ends, and the shape of every stanza sent.
// The trust store decides as for OMEMO: nothing to a key it does not allow (a new key until verified, a
// compromised one never), nothing shown from a compromised key; the chat client's queue provider too.
import { xml } from "@xmpp/client";
import type { Element } from "@parley/omemo";
import { createTrustStore, memoryTrustStorage, type TrustStore } from "@parley/trust";
import { describe, expect, it } from "vitest";
import {
  isOtrChatError,
  NS_CARBONS,
  NS_EME,
  NS_EME_OTR,
  NS_HINTS,
  NS_RECEIPTS,
  OtrChat,
  type OtrChatEvents,
  type OtrKeyValueStore,
  type OtrXmppClient,
} from "../src/otr.js";
import { otrProvider } from "../src/client.js";

/** Any stanza id (OtrChat gives every stanza it sends one). */
const anyId: unknown = expect.any(String);
const ALICE = "alice@example.org";
const BOB = "bob@example.net";
const ALICE_FULL = `${ALICE}/laptop`;
const BOB_FULL = `${BOB}/desk`;

/** One end of an in-memory link: what it sends arrives at the other end, stamped with its full JID. */
class FakeClient implements OtrXmppClient {
  readonly sent: Element[] = [];
  readonly #listeners: ((stanza: Element) => void)[] = [];
  peer: FakeClient | undefined;
  constructor(readonly fullJid: string) {}
  on(_event: "stanza", listener: (stanza: Element) => void): this {
    this.#listeners.push(listener);
    return this;
  }
  send(stanza: Element): Promise<void> {
    this.sent.push(stanza);
    const copy = xml("message", { ...stanza.attrs, from: this.fullJid });
    for (const child of stanza.children) copy.cnode(child as Element);
    const peer = this.peer;
    setImmediate(() => peer?.deliver(copy));
    return Promise.resolve();
  }
  deliver(stanza: Element): void {
    for (const l of this.#listeners) l(stanza);
  }
}

function memoryKv(): OtrKeyValueStore & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return {
    map,
    get: (key) => Promise.resolve(map.get(key)?.slice()),
    put: (key, value) => {
      map.set(key, value.slice());
      return Promise.resolve();
    },
  };
}

// One key per side for the whole file (DSA key generation is the slow part); each test makes new OtrChats.
const aliceKv = memoryKv();
const bobKv = memoryKv();

interface Side {
  chat: OtrChat;
  client: FakeClient;
  trust: TrustStore;
}

async function pair(options: { aliceTrust?: TrustStore; bobTrust?: TrustStore } = {}): Promise<[Side, Side]> {
  const a = new FakeClient(ALICE_FULL);
  const b = new FakeClient(BOB_FULL);
  a.peer = b;
  b.peer = a;
  const aliceTrust = options.aliceTrust ?? createTrustStore({ storage: memoryTrustStorage() });
  const bobTrust = options.bobTrust ?? createTrustStore({ storage: memoryTrustStorage() });
  const alice = await OtrChat.create({ xmpp: a, jid: ALICE, store: aliceKv, trust: aliceTrust });
  const bob = await OtrChat.create({ xmpp: b, jid: BOB, store: bobKv, trust: bobTrust });
  return [
    { chat: alice, client: a, trust: aliceTrust },
    { chat: bob, client: b, trust: bobTrust },
  ];
}

/** The next `event` of `chat` that satisfies `match` (rejects after 10 s). */
function next<K extends keyof OtrChatEvents>(
  chat: OtrChat,
  event: K,
  match: (value: OtrChatEvents[K]) => boolean = () => true,
): Promise<OtrChatEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event in 10 s`));
    }, 10_000);
    const off = chat.on(event, (value) => {
      if (!match(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

/** Records every event of `chat`. */
function record(chat: OtrChat): { type: keyof OtrChatEvents; value: unknown }[] {
  const out: { type: keyof OtrChatEvents; value: unknown }[] = [];
  for (const type of ["message", "state", "smp-request", "smp-result", "error"] as const) {
    chat.on(type, (value) => out.push({ type, value }));
  }
  return out;
}

async function encrypted(alice: Side, bob: Side): Promise<void> {
  const atAlice = next(alice.chat, "state", (s) => s.state === "encrypted");
  const atBob = next(bob.chat, "state", (s) => s.state === "encrypted");
  await alice.chat.start(bob.client.fullJid);
  await Promise.all([atAlice, atBob]);
}

function bodies(client: FakeClient): string[] {
  return client.sent.map((s) => s.getChildText("body") ?? "");
}

describe("OtrChat", () => {
  it("runs the AKE from a Query message, then a message each way; every stanza is an OTR message to the full JID", async () => {
    const [alice, bob] = await pair();
    const atAlice = next(alice.chat, "state", (s) => s.state === "encrypted");
    const atBob = next(bob.chat, "state", (s) => s.state === "encrypted");
    await alice.chat.start(BOB_FULL);
    expect(bodies(alice.client)[0]).toBe("?OTRv23?");
    const [sa, sb] = await Promise.all([atAlice, atBob]);
    expect(sa).toMatchObject({ peer: BOB_FULL, state: "encrypted", previous: "plaintext", version: 3, reason: "ake" });
    expect(sa.fingerprint).toBe(bob.chat.fingerprint);
    expect(sb).toMatchObject({ peer: ALICE_FULL, state: "encrypted", version: 3, fingerprint: alice.chat.fingerprint });
    // TOFU: the first OTR key of each contact is trusted on first use.
    expect([sa.trust, sa.trusted, sb.trust, sb.trusted]).toEqual(["tofu", true, "tofu", true]);
    expect(alice.chat.peerFingerprint(BOB_FULL)).toBe(bob.chat.fingerprint);
    expect(bob.chat.peerFingerprint(ALICE_FULL)).toBe(alice.chat.fingerprint);
    expect(alice.chat.stateOf(BOB_FULL)).toBe("encrypted");

    const hello = `hello bob ${Math.random().toString(36).slice(2)}`;
    const readByBob = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, hello);
    // Every stanza OtrChat sends has an id, the reader's message carries it (for a displayed marker).
    expect(await readByBob).toEqual({ from: ALICE_FULL, text: hello, encrypted: true, id: anyId });
    const reply = `hi alice ${Math.random().toString(36).slice(2)}`;
    const readByAlice = next(alice.chat, "message");
    await bob.chat.send(ALICE_FULL, reply);
    expect(await readByAlice).toEqual({ from: BOB_FULL, text: reply, encrypted: true, id: anyId });

    for (const [client, to] of [
      [alice.client, BOB_FULL],
      [bob.client, ALICE_FULL],
    ] as const) {
      expect(client.sent.length).toBeGreaterThan(2);
      for (const s of client.sent) {
        expect(s.attrs).toMatchObject({ to, type: "chat" });
        expect(s.getChildText("body")).toMatch(/^\?OTR/);
        expect(s.getChild("private", NS_CARBONS)).toBeDefined();
        expect(s.getChild("no-copy", NS_HINTS)).toBeDefined();
        expect(s.getChild("no-permanent-store", NS_HINTS)).toBeDefined();
        expect(s.getChild("encryption", NS_EME)?.attrs).toMatchObject({ namespace: NS_EME_OTR, name: "OTR" });
      }
      const all = bodies(client).join("\n");
      expect(all).not.toContain(hello);
      expect(all).not.toContain(reply);
      expect(bodies(client).some((b) => b.startsWith("?OTR:AAM"))).toBe(true); // v3 messages
    }
  });

  it("a message sent with an id carries it, its origin-id and a receipt request; the reader is told which id to acknowledge", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const readByBob = next(bob.chat, "message");
    alice.client.sent.length = 0;
    await alice.chat.send(BOB_FULL, "with a receipt, please", { id: "msg-42" });
    const last = alice.client.sent.at(-1)!;
    expect(last.attrs["id"]).toBe("msg-42");
    expect(last.getChild("origin-id", "urn:xmpp:sid:0")?.attrs["id"]).toBe("msg-42");
    expect(last.getChild("request", NS_RECEIPTS)).toBeDefined();
    expect(await readByBob).toEqual({
      from: ALICE_FULL,
      text: "with a receipt, please",
      encrypted: true,
      receiptFor: "msg-42",
      id: "msg-42",
    });
    // Without an id: no request, nothing to acknowledge.
    const second = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "no receipt");
    expect(alice.client.sent.at(-1)!.getChild("request", NS_RECEIPTS)).toBeUndefined();
    expect(await second).toEqual({ from: ALICE_FULL, text: "no receipt", encrypted: true, id: anyId });
    await expect(alice.chat.send(BOB_FULL, "x", { id: "" })).rejects.toSatisfy((e) =>
      isOtrChatError(e, "INVALID_ARGUMENT"),
    );
  });

  it("a plaintext message asking for a receipt is not acknowledged (only what decrypted is)", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const warned = next(bob.chat, "message");
    void alice.client.send(
      xml(
        "message",
        { to: BOB_FULL, type: "chat", id: "plain-1" },
        xml("body", {}, "in the clear"),
        xml("request", { xmlns: NS_RECEIPTS }),
      ),
    );
    const m = await warned;
    expect(m).toMatchObject({ text: "in the clear", encrypted: false, warning: "unencrypted", id: "plain-1" });
    expect(m.receiptFor).toBeUndefined();
  });

  it("refuses to send before the AKE (typed error, nothing sent) and after the peer ended", async () => {
    const [alice, bob] = await pair();
    await expect(alice.chat.send(BOB_FULL, "too early")).rejects.toSatisfy((e) => isOtrChatError(e, "NOT_ENCRYPTED"));
    expect(alice.client.sent).toEqual([]);
    await expect(alice.chat.smp(BOB_FULL, "s")).rejects.toSatisfy((e) => isOtrChatError(e, "NOT_ENCRYPTED"));
    await expect(alice.chat.answerSmp(BOB_FULL, "s")).rejects.toSatisfy((e) => isOtrChatError(e, "NO_SMP_REQUEST"));
    await expect(alice.chat.start("bob@example.net")).rejects.toSatisfy((e) => isOtrChatError(e, "INVALID_JID"));
    expect(alice.client.sent).toEqual([]);

    await encrypted(alice, bob);
    const finished = next(bob.chat, "state", (s) => s.state === "finished");
    const plain = next(alice.chat, "state");
    await alice.chat.end(BOB_FULL);
    expect(await plain).toMatchObject({
      peer: BOB_FULL,
      state: "plaintext",
      previous: "encrypted",
      reason: "local-end",
    });
    expect(await finished).toMatchObject({ peer: ALICE_FULL, previous: "encrypted", reason: "peer-ended" });
    const sentByBob = bob.client.sent.length;
    await expect(bob.chat.send(ALICE_FULL, "into the void")).rejects.toSatisfy((e) =>
      isOtrChatError(e, "NOT_ENCRYPTED"),
    );
    await expect(alice.chat.send(BOB_FULL, "after end")).rejects.toSatisfy((e) => isOtrChatError(e, "NOT_ENCRYPTED"));
    expect(bob.client.sent.length).toBe(sentByBob);
    await bob.chat.end(ALICE_FULL);
    expect(bob.chat.stateOf(ALICE_FULL)).toBe("plaintext");
    // A new AKE after the end works again.
    await encrypted(bob, alice);
    const read = next(alice.chat, "message");
    await bob.chat.send(ALICE_FULL, "again");
    expect(await read).toMatchObject({ from: BOB_FULL, text: "again", encrypted: true });
  });

  it("SMP with the right secret: verified on both sides and recorded in the trust store", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const question = next(bob.chat, "smp-request");
    const resultAlice = next(alice.chat, "smp-result");
    const resultBob = next(bob.chat, "smp-result");
    await alice.chat.smp(BOB_FULL, "the blue door", "Where did we meet?");
    expect(await question).toEqual({ peer: ALICE_FULL, question: "Where did we meet?" });
    await bob.chat.answerSmp(ALICE_FULL, "the blue door");
    expect(await resultAlice).toEqual({
      peer: BOB_FULL,
      result: "verified",
      fingerprint: bob.chat.fingerprint,
      recorded: true,
    });
    expect(await resultBob).toMatchObject({
      peer: ALICE_FULL,
      result: "verified",
      fingerprint: alice.chat.fingerprint,
    });
    expect((await alice.trust.getRecord(ALICE, BOB, "otr", bob.chat.fingerprint))?.state).toBe("verified");
    expect((await bob.trust.getRecord(BOB, ALICE, "otr", alice.chat.fingerprint))?.state).toBe("verified");
    const history = (await alice.trust.getRecord(ALICE, BOB, "otr", bob.chat.fingerprint))?.history ?? [];
    expect(history.at(-1)?.cause).toMatchObject({ kind: "user", method: "smp" });
  });

  it("SMP with a wrong secret: failed on both sides, nothing verified; the session goes on", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const question = next(bob.chat, "smp-request");
    const resultAlice = next(alice.chat, "smp-result");
    const resultBob = next(bob.chat, "smp-result");
    await alice.chat.smp(BOB_FULL, "the blue door");
    expect(await question).toEqual({ peer: ALICE_FULL });
    await bob.chat.answerSmp(ALICE_FULL, "the red door");
    expect(await resultAlice).toMatchObject({ result: "failed", recorded: false });
    expect(await resultBob).toMatchObject({ result: "failed", recorded: false });
    expect((await alice.trust.getRecord(ALICE, BOB, "otr", bob.chat.fingerprint))?.state).toBe("tofu");
    expect((await bob.trust.getRecord(BOB, ALICE, "otr", alice.chat.fingerprint))?.state).toBe("tofu");
    const read = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "still here");
    expect((await read).text).toBe("still here");
  });

  it("keeps its DSA key and instance tag in the store: a new OtrChat over it has the same fingerprint", async () => {
    const kv = memoryKv();
    const first = await OtrChat.create({ xmpp: new FakeClient("c@x/1"), jid: "c@x", store: kv });
    expect(first.fingerprint).toMatch(/^[0-9a-f]{40}$/);
    expect([...kv.map.keys()].sort()).toEqual(["dsa-key", "instance-tag"]);
    const again = await OtrChat.create({ xmpp: new FakeClient("c@x/1"), jid: "c@x", store: kv });
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.instanceTag).toBe(first.instanceTag);
    expect(again.instanceTag).toBeGreaterThanOrEqual(0x100);
    const other = await OtrChat.create({ xmpp: new FakeClient("c@x/1"), jid: "c@x", store: memoryKv() });
    expect(other.fingerprint).not.toBe(first.fingerprint);
    // Printing the chat shows the fingerprint, never the key.
    const stored = new TextDecoder().decode(kv.map.get("dsa-key"));
    const shown = JSON.stringify(first) + String(first);
    for (const v of Object.values(JSON.parse(stored) as Record<string, unknown>)) {
      if (typeof v === "string" && v.length > 40) expect(shown).not.toContain(v);
    }
    kv.map.set("dsa-key", new TextEncoder().encode("not a key"));
    await expect(OtrChat.create({ xmpp: new FakeClient("c@x/1"), jid: "c@x", store: kv })).rejects.toSatisfy((e) =>
      isOtrChatError(e, "INVALID_STORED_KEY"),
    );
  });

  it("a garbage ?OTR: message is an error event, never a crash, and the session still works", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const events = record(bob.chat);
    const error = next(bob.chat, "error");
    bob.client.deliver(
      xml("message", { from: ALICE_FULL, to: BOB_FULL, type: "chat" }, xml("body", {}, "?OTR:AAMDgarbage!!.")),
    );
    const e = await error;
    expect(e.peer).toBe(ALICE_FULL);
    expect(e.code).toBe("MALFORMED_MESSAGE");
    expect(e.message).not.toContain("garbage");
    // A well-formed data message with a broken MAC: flip one base64 character of a real one.
    const real = await new Promise<Element>((resolve) => {
      const orig = alice.client.peer!;
      alice.client.peer = { deliver: resolve } as unknown as FakeClient;
      void alice.chat.send(BOB_FULL, "intercepted").then(() => {
        alice.client.peer = orig;
      });
    });
    const body = real.getChildText("body")!;
    const i = 45; // inside the next D-H key, which the MAC covers
    const tampered = body.slice(0, i) + (body[i] === "A" ? "B" : "A") + body.slice(i + 1);
    const error2 = next(bob.chat, "error");
    bob.client.deliver(xml("message", { from: ALICE_FULL, type: "chat" }, xml("body", {}, tampered)));
    expect((await error2).code).toMatch(/^(BAD_MAC|INVALID_GROUP_ELEMENT|MALFORMED_MESSAGE)$/);
    expect(bob.chat.stateOf(ALICE_FULL)).toBe("encrypted");

    const read = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "after the garbage");
    expect(await read).toMatchObject({ text: "after the garbage", encrypted: true });
    const back = next(alice.chat, "message");
    await bob.chat.send(ALICE_FULL, "and back");
    expect((await back).text).toBe("and back");
    expect(events.filter((x) => x.type === "message").map((x) => (x.value as { text: string }).text)).toEqual([
      "after the garbage",
    ]);
  });

  it("keeps the order of many messages sent at once", async () => {
    const [alice, bob] = await pair();
    await encrypted(alice, bob);
    const texts = Array.from({ length: 20 }, (_, i) => `message ${i}`);
    const got: string[] = [];
    const all = new Promise<void>((resolve) => {
      bob.chat.on("message", (m) => {
        got.push(m.text);
        if (got.length === texts.length) resolve();
      });
    });
    await Promise.all(texts.map((t) => alice.chat.send(BOB_FULL, t)));
    await all;
    expect(got).toEqual(texts);
  });

  it("reports a fingerprint the trust store marks untrusted (TOFU: a new key after a known one)", async () => {
    const bobTrust = createTrustStore({ storage: memoryTrustStorage() });
    await bobTrust.keySeen(BOB, ALICE, "otr", "00".repeat(20)); // an older key of Alice's, trusted on first use
    const [alice, bob] = await pair({ bobTrust });
    const atBob = next(bob.chat, "state", (s) => s.state === "encrypted");
    const atAlice = next(alice.chat, "state", (s) => s.state === "encrypted");
    await alice.chat.start(BOB_FULL);
    const s = await atBob;
    expect(s).toMatchObject({ fingerprint: alice.chat.fingerprint, trust: "untrusted", trusted: false });
    expect(await atAlice).toMatchObject({ trust: "tofu", trusted: true });
    // Untrusted until verified: bob sends nothing to the new key; what it sends is shown, with a warning
    // (as OMEMO reads a device not trusted yet).
    const sentByBob = bob.client.sent.length;
    await expect(bob.chat.send(ALICE_FULL, "not to a key I do not know")).rejects.toSatisfy((e) =>
      isOtrChatError(e, "UNTRUSTED_KEY"),
    );
    expect(bob.client.sent.length).toBe(sentByBob);
    expect(await bob.chat.trustOf(ALICE_FULL)).toEqual({
      fingerprint: alice.chat.fingerprint,
      state: "untrusted",
      trusted: false,
      allowed: false,
    });
    const shown = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "it is me, new laptop");
    expect(await shown).toMatchObject({ text: "it is me, new laptop", encrypted: true, warning: "untrusted-key" });
    // Verifying with SMP makes it verified.
    const result = next(bob.chat, "smp-result");
    const request = next(alice.chat, "smp-request");
    await bob.chat.smp(ALICE_FULL, "shared");
    await request;
    await alice.chat.answerSmp(BOB_FULL, "shared");
    expect(await result).toMatchObject({ result: "verified", recorded: true });
    expect((await bobTrust.getRecord(BOB, ALICE, "otr", alice.chat.fingerprint))?.state).toBe("verified");
    // Verified: bob sends to it, and what it sends comes without a warning.
    const read = next(alice.chat, "message");
    await bob.chat.send(ALICE_FULL, "welcome back");
    expect((await read).text).toBe("welcome back");
    const plain = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "thanks");
    expect((await plain).warning).toBeUndefined();
  });

  it("a key marked compromised: nothing is sent to it, nothing it sends is shown, the queue fails the message", async () => {
    const [alice, bob] = await pair();
    // Bob learnt that Alice's OTR key is in someone else's hands (before they ever talked).
    await bob.trust.markCompromised(BOB, ALICE, "otr", alice.chat.fingerprint);
    const atBob = next(bob.chat, "state", (s) => s.state === "encrypted");
    await encrypted(alice, bob);
    expect(await atBob).toMatchObject({ fingerprint: alice.chat.fingerprint, trust: "compromised", trusted: false });

    const sentByBob = bob.client.sent.length;
    await expect(bob.chat.send(ALICE_FULL, "for the thief?", { id: "m-1" })).rejects.toSatisfy((e) =>
      isOtrChatError(e, "UNTRUSTED_KEY"),
    );
    expect(bob.client.sent.length).toBe(sentByBob);

    // Through the queue: negotiated, then refused for good with the trust reason (no retries).
    const provider = otrProvider(
      Promise.resolve({
        otr: bob.chat,
        account: { presenceOf: () => ({ online: true, resources: ["laptop"] }) },
        otrPeerFor: () => ALICE_FULL,
      }),
    );
    const signal = new AbortController().signal;
    expect(await provider.negotiate(ALICE, signal)).toEqual({ ok: true });
    expect(await provider.encrypt({ id: "q-1", to: ALICE, body: "queued for the thief?" }, signal)).toEqual({
      ok: false,
      transient: false,
      reason: "no-trusted-device",
    });
    expect(bob.client.sent.length).toBe(sentByBob);

    // What the compromised key sends is dropped with a typed error, never shown (nor acknowledged).
    const events = record(bob.chat);
    const dropped = next(bob.chat, "error");
    await alice.chat.send(BOB_FULL, "trust me", { id: "m-2" });
    expect(await dropped).toMatchObject({ peer: ALICE_FULL, code: "UNTRUSTED_KEY" });
    expect(JSON.stringify(events)).not.toContain("trust me");
    expect(events.filter((e) => e.type === "message")).toEqual([]);

    // Alice proves it was a mistake and Bob verifies the key (/verify): both ways work again.
    await bob.trust.verify(BOB, ALICE, "otr", alice.chat.fingerprint, { method: "fingerprint-compared" });
    expect(await provider.encrypt({ id: "q-2", to: ALICE, body: "again" }, signal)).toEqual({
      ok: true,
      payload: { peer: ALICE_FULL, text: "again" },
    });
    const read = next(alice.chat, "message");
    await bob.chat.send(ALICE_FULL, "sorry");
    expect((await read).text).toBe("sorry");
    const shown = next(bob.chat, "message");
    await alice.chat.send(BOB_FULL, "no harm done");
    expect(await shown).toMatchObject({ text: "no harm done", encrypted: true });
  });

  it("ignores messages that are not OTR, from bare JIDs, or of other types", async () => {
    const [, bob] = await pair();
    const events = record(bob.chat);
    const plain = xml("message", { from: ALICE_FULL, type: "chat" }, xml("body", {}, "just text"));
    const bare = xml("message", { from: ALICE, type: "chat" }, xml("body", {}, "?OTRv23?"));
    const groupchat = xml("message", { from: "room@muc/alice", type: "groupchat" }, xml("body", {}, "?OTRv23?"));
    const query = xml("message", { from: ALICE_FULL, type: "chat" }, xml("body", {}, "?OTRv23?"));
    expect([plain, bare, groupchat, query].map((s) => bob.chat.handles(s))).toEqual([false, false, false, true]);
    for (const s of [plain, bare, groupchat]) bob.client.deliver(s);
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([]);
    expect(bob.client.sent).toEqual([]);
    expect(bob.chat.peers).toEqual([]);
  });

  it("a whitespace-tagged plaintext starts the AKE; plaintext during an encrypted session comes with a warning", async () => {
    const [alice, bob] = await pair();
    const tag = " \t  \t\t\t\t \t \t \t  " + "  \t\t  \t\t"; // base + v3
    const tagged = xml("message", { from: ALICE_FULL, type: "chat" }, xml("body", {}, `hi there${tag}`));
    expect(bob.chat.handles(tagged)).toBe(true);
    const shown = next(bob.chat, "message");
    const atBob = next(bob.chat, "state", (s) => s.state === "encrypted");
    const atAlice = next(alice.chat, "state", (s) => s.state === "encrypted");
    bob.client.deliver(tagged);
    expect(await shown).toEqual({ from: ALICE_FULL, text: "hi there", encrypted: false });
    expect(bodies(bob.client)[0]).toMatch(/^\?OTR:AAMC/); // bob answers with a v3 D-H Commit
    await Promise.all([atBob, atAlice]);
    const plain = xml("message", { from: ALICE_FULL, type: "chat" }, xml("body", {}, "oops, in the clear"));
    expect(bob.chat.handles(plain)).toBe(true);
    const warned = next(bob.chat, "message");
    bob.client.deliver(plain);
    expect(await warned).toEqual({
      from: ALICE_FULL,
      text: "oops, in the clear",
      encrypted: false,
      warning: "unencrypted",
    });
  });
});
