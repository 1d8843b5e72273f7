import { readFileSync } from "node:fs";
import { bytesToBigint, mpi, Writer } from "../src/bytes.js";
import { createNativeEngine, randomBits } from "../src/engine.js";
import { MODP_P } from "../src/group.js";
import { DsaPrivateKey, OtrSession, type OtrEvent, type OtrSessionOptions } from "../src/index.js";
import { armor, classify, parseBinary } from "../src/wire.js";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/keys.json", import.meta.url), "utf8")) as {
  keys: string[];
};
/** Three DSA keys generated once by generateDsaKey (test-only secrets). */
export const KEYS = fixture.keys.map((k) => DsaPrivateKey.import(k));
export const ALICE_KEY = KEYS[0]!;
export const BOB_KEY = KEYS[1]!;
export const CAROL_KEY = KEYS[2]!;

export type Extra = Partial<Omit<OtrSessionOptions, "account" | "contact" | "privateKey">>;

export function pair(a: Extra = {}, b: Extra = {}): { alice: OtrSession; bob: OtrSession } {
  const alice = new OtrSession({
    account: "alice@example.org",
    contact: "bob@example.net",
    privateKey: ALICE_KEY,
    heartbeatIntervalMs: 0,
    ...a,
  });
  const bob = new OtrSession({
    account: "bob@example.net",
    contact: "alice@example.org",
    privateKey: BOB_KEY,
    heartbeatIntervalMs: 0,
    ...b,
  });
  return { alice, bob };
}

export interface Delivered {
  readonly to: OtrSession;
  readonly events: OtrEvent[];
}

/** Delivers messages from one session to the other, and every reply back and forth, until quiet. */
export function pump(from: OtrSession, to: OtrSession, messages: readonly string[]): Delivered[] {
  const out: Delivered[] = [];
  const queue: [OtrSession, OtrSession, string][] = messages.map((m) => [from, to, m]);
  let guard = 0;
  while (queue.length > 0) {
    if (++guard > 1000) throw new Error("pump did not settle");
    const [f, t, m] = queue.shift()!;
    const r = t.receive(m);
    out.push({ to: t, events: r.events });
    for (const reply of r.replies) queue.push([t, f, reply]);
  }
  return out;
}

export function eventsFor(delivered: readonly Delivered[], session: OtrSession): OtrEvent[] {
  return delivered.filter((d) => d.to === session).flatMap((d) => d.events);
}

export function texts(events: readonly OtrEvent[]): string[] {
  return events.flatMap((e) => (e.type === "message" ? [e.text] : []));
}

export function errors(events: readonly OtrEvent[]): string[] {
  return events.flatMap((e) => (e.type === "error" ? [e.error.code] : []));
}

/** Two sessions in MSGSTATE_ENCRYPTED (v3 unless the policies say otherwise). */
export function encryptedPair(a: Extra = {}, b: Extra = {}): { alice: OtrSession; bob: OtrSession } {
  const p = pair(a, b);
  pump(p.alice, p.bob, p.alice.startAke());
  if (p.alice.messageState !== "encrypted" || p.bob.messageState !== "encrypted")
    throw new Error("AKE did not complete");
  return p;
}

/**
 * A D-H Commit from a made-up instance `senderTag` (to any instance of ours): what anyone can send, with no key
 * behind it.
 */
export function strayDhCommit(senderTag: number): string {
  const e = createNativeEngine()!;
  const gx = e.modPow(2n, randomBits(e.randomBytes, 320), MODP_P);
  const r = e.randomBytes(16);
  return armor(
    new Writer()
      .short(3)
      .byte(0x02)
      .int(senderTag)
      .int(0)
      .data(e.aesCtr(r, new Uint8Array(16), mpi(gx)))
      .data(e.sha256(mpi(gx)))
      .finish(),
  );
}

/** The hash of g^x a D-H Commit carries, as a number (the spec's collision rule compares these). */
export function commitHash(commit: string): bigint {
  const c = classify(commit);
  if (c.kind !== "encoded") throw new Error("not an encoded message");
  const m = parseBinary(c.bytes);
  if (m.type !== 0x02) throw new Error("not a D-H Commit");
  return bytesToBigint(m.hashGx);
}
