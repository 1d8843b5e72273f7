// Conversation scenarios shared by the interop tests: the same steps run libotr against libotr, libotr against
// python-potr, and our implementation against both. A `Party` is anything with the peers' shape: LibotrPeer and
// PotrPeer are parties as they are; our implementation is one through an adapter in its test file.
import { expect } from "vitest";
import {
  eventsOf,
  smpEvents,
  type ContextState,
  type Delivery,
  type Effects,
  type Endpoint,
  type Instance,
  type Network,
  type SmpEventName,
} from "./peers.js";

export interface Party extends Endpoint {
  readonly account: string;
  /** This party's own fingerprint, libotr's human format. */
  readonly fingerprintHuman: string;
  send(to: string, message: string, options?: { instance?: Instance }): Promise<Effects>;
  startAke(to: string): Promise<Effects>;
  smpStart(to: string, secret: string, question?: string): Promise<Effects>;
  smpRespond(to: string, secret: string): Promise<Effects>;
  smpAbort(to: string): Promise<Effects>;
  end(to: string): Promise<Effects>;
  state(
    to: string,
  ): Promise<Pick<ContextState, "msgstate" | "protocolVersion" | "sessionId" | "peerFingerprint"> | null>;
}

/** `initiator` sends its query message; both sides must end encrypted with `version`, one session id, and each
 * other's fingerprint. Returns the deliveries. */
export async function ake(net: Network, initiator: Party, responder: Party, version: 2 | 3): Promise<Delivery[]> {
  const start = await initiator.startAke(responder.account);
  expect(start.outgoing.length).toBe(1);
  expect(start.outgoing[0]!.message).toMatch(/^\?OTR(\?)?v\d*\?/);
  net.post(initiator.account, start.outgoing);
  const done = await net.flush();
  await expectSecure(initiator, responder, version);
  // Each side's library said so.
  expect(eventsOf(done, "gone_secure", initiator).length + eventsOf(done, "still_secure", initiator).length).toBe(1);
  expect(eventsOf(done, "gone_secure", responder).length + eventsOf(done, "still_secure", responder).length).toBe(1);
  return done;
}

export async function expectSecure(a: Party, b: Party, version: 2 | 3): Promise<void> {
  const sa = await a.state(b.account);
  const sb = await b.state(a.account);
  expect(sa?.msgstate).toBe("encrypted");
  expect(sb?.msgstate).toBe("encrypted");
  expect(sa?.protocolVersion).toBe(version);
  expect(sb?.protocolVersion).toBe(version);
  expect(sa?.sessionId).toMatch(/^[0-9a-f]{16}$/);
  expect(sa?.sessionId).toBe(sb?.sessionId);
  expect(sa?.peerFingerprint).toBe(b.fingerprintHuman);
  expect(sb?.peerFingerprint).toBe(a.fingerprintHuman);
}

/** Sends `text` from `from` to `to` through the network; `to` must deliver exactly that text, once. Returns the
 * wire messages `from` produced. */
export async function deliver(net: Network, from: Party, to: Party, text: string): Promise<string[]> {
  const sent = await from.send(to.account, text);
  const wire = sent.outgoing.filter((o) => o.to === to.account).map((o) => o.message);
  expect(wire.length).toBeGreaterThan(0);
  if (text.length >= 8) for (const w of wire) expect(w).not.toContain(text); // never in the clear
  net.post(from.account, sent.outgoing);
  const done = await net.flush();
  const delivered = done.filter((d) => d.to === to && d.result.delivered !== null).map((d) => d.result.delivered);
  expect(delivered).toEqual([text]);
  return wire;
}

/** Messages both ways, several in a row each way (key rotation on every change of direction), UTF-8 included. */
export async function conversation(net: Network, a: Party, b: Party, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await deliver(net, a, b, `hello ${b.account}, message ${i} from ${a.account} ✓`);
    await deliver(net, a, b, `and another one (${i}) — ünïcödé 🔐`);
    await deliver(net, b, a, `reply ${i} from ${b.account}`);
  }
}

export interface SmpOutcome {
  initiator: SmpEventName[];
  responder: SmpEventName[];
  /** The question the responder's library reported, if any. */
  question: string | null;
}

/** A full SMP run: `initiator` starts with its secret (and question), `responder` answers with its own. */
export async function smp(
  net: Network,
  initiator: Party,
  responder: Party,
  secrets: { initiator: string; responder: string; question?: string },
): Promise<SmpOutcome> {
  const all: Array<Delivery | Effects> = [];
  const start = await initiator.smpStart(responder.account, secrets.initiator, secrets.question);
  net.post(initiator.account, start.outgoing);
  const first = await net.flush();
  all.push(...first);
  const asks = eventsOf(first, "smp", responder).filter(
    (e) => e.event === "ask_for_secret" || e.event === "ask_for_answer",
  );
  expect(asks.length).toBe(1);
  expect(asks[0]!.event).toBe(secrets.question === undefined ? "ask_for_secret" : "ask_for_answer");
  const question = asks[0]!.question;
  const respond = await responder.smpRespond(initiator.account, secrets.responder);
  net.post(responder.account, respond.outgoing);
  all.push(...(await net.flush()));
  const initiatorEvents = [...smpEvents([start], undefined), ...smpEvents(all, initiator)];
  const responderEvents = [...smpEvents([respond], undefined), ...smpEvents(all, responder)];
  return { initiator: initiatorEvents, responder: responderEvents, question };
}

/** The first SMP event that ends a run (success, failure, abort, cheated), or undefined. */
export function smpResult(events: readonly SmpEventName[]): SmpEventName | undefined {
  return events.find((e) => e === "success" || e === "failure" || e === "abort" || e === "cheated");
}

/** `ender` ends the conversation: the other side must learn it (finished), and refuse to send in the clear. */
export async function endConversation(net: Network, ender: Party, other: Party): Promise<void> {
  const end = await ender.end(other.account);
  expect(end.outgoing.length).toBe(1);
  net.post(ender.account, end.outgoing);
  const done = await net.flush();
  expect(done.every((d) => d.result.delivered === null)).toBe(true);
  expect((await ender.state(other.account))?.msgstate).toBe("plaintext");
  expect((await other.state(ender.account))?.msgstate).toBe("finished");
  // The other side must not leak a message in the clear now.
  const attempt = await other.send(ender.account, "this must not go out in the clear");
  expect(attempt.outgoing.filter((o) => o.message.includes("must not go out"))).toEqual([]);
}
