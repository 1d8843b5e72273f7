// Scripted and randomized two-party conversations between our engine and a peer, with messages
// lost, reordered and duplicated. Every delivered message must decrypt once, to what was sent;
// every duplicate must be refused, and on our side a refused message must leave the session
// byte-identical (commit on success).
import { bytesToHex } from "@parley/crypto";
import { expect } from "vitest";
import { isDoubleRatchetError, type DoubleRatchetErrorCode } from "../src/index.js";
import type { Local, Remote, Wire } from "./remotes.js";

export interface Sent {
  readonly label: string;
  readonly wire: Wire;
  readonly plaintext: Uint8Array;
}

/** One side of a conversation: ours or the peer's. */
export interface Endpoint {
  readonly name: string;
  send(label: string): Promise<Sent>;
  /** Delivers a message that must decrypt to what was sent. */
  receive(m: Sent): Promise<void>;
  /** Delivers a message that must be refused (a replay); on our side with one of `codes`. */
  refuse(m: Sent, codes?: readonly DoubleRatchetErrorCode[]): Promise<void>;
  reload(): Promise<void>;
}

let counter = 0;
/** Distinct plaintexts of varying length (1..70 bytes: several AES-CBC padding boundaries). */
function plaintextFor(label: string): Uint8Array {
  counter++;
  const text = `${label}#${counter}:`.padEnd(1 + ((counter * 7) % 70), "x");
  return new TextEncoder().encode(text);
}

export function localEndpoint(local: Local): Endpoint {
  return {
    name: "ours",
    send(label) {
      const plaintext = plaintextFor(label);
      return Promise.resolve({ label, wire: local.encrypt(plaintext), plaintext });
    },
    receive(m) {
      let got: Uint8Array;
      try {
        got = local.decrypt(m.wire);
      } catch (e) {
        throw new Error(`we could not decrypt ${m.label}: ${String(e)}`);
      }
      expect(bytesToHex(got), `plaintext of ${m.label}`).toBe(bytesToHex(m.plaintext));
      return Promise.resolve();
    },
    refuse(m, codes = ["DUPLICATE_MESSAGE"]) {
      const before = local.snapshot();
      let caught: unknown;
      try {
        local.decrypt(m.wire);
      } catch (e) {
        caught = e;
      }
      const code = isDoubleRatchetError(caught) ? caught.code : String(caught);
      expect(codes, `${m.label} refused with ${codes.join(" or ")}`).toContain(code);
      expect(local.snapshot(), `session unchanged after refusing ${m.label}`).toBe(before);
      return Promise.resolve();
    },
    reload() {
      local.reload();
      return Promise.resolve();
    },
  };
}

export function remoteEndpoint(remote: Remote): Endpoint {
  return {
    name: remote.name,
    async send(label) {
      const plaintext = plaintextFor(label);
      return { label, wire: await remote.encrypt(plaintext), plaintext };
    },
    async receive(m) {
      const r = await remote.decrypt(m.wire);
      expect(r.error, `${remote.name} decrypting ${m.label}`).toBeUndefined();
      expect(bytesToHex(r.plaintext!), `plaintext of ${m.label}`).toBe(bytesToHex(m.plaintext));
    },
    async refuse(m) {
      const r = await remote.decrypt(m.wire);
      expect(r.error, `${remote.name} must refuse ${m.label}`).toBeDefined();
    },
    reload: () => remote.reload(),
  };
}

/** Opens the session: `initiator` fetches the other's bundle, sends "a0". Returns that first message. */
export async function open(
  local: Local,
  remote: Remote,
  weInitiate: boolean,
): Promise<{ a: Endpoint; b: Endpoint; first: Sent }> {
  const ours = localEndpoint(local);
  const theirs = remoteEndpoint(remote);
  if (weInitiate) {
    local.start(await remote.bundle());
    return { a: ours, b: theirs, first: await ours.send("a0") };
  }
  const plaintext = plaintextFor("a0");
  const wire = await remote.initiate(local.bundle, plaintext);
  expect(wire.keyExchange).toBe(true);
  return { a: theirs, b: ours, first: { label: "a0", wire, plaintext } };
}

async function sendMany(from: Endpoint, prefix: string, n: number): Promise<Sent[]> {
  const out: Sent[] = [];
  for (let i = 0; i < n; i++) out.push(await from.send(`${prefix}${i}`));
  return out;
}

/**
 * The scripted conversation. `a` started the session and sent `first`; `b` answers. Loss, reordering,
 * duplicates, late messages from previous chains (including the LAST message of a previous chain,
 * which depends on the PN convention: see docs/libsignal-wire-format.md §4.4), persistence, ping-pong and a reversed burst.
 */
export async function scriptedConversation(a: Endpoint, b: Endpoint, first: Sent): Promise<void> {
  // Phase 1: a's first chain; a1 and a4 held back, a2 duplicated.
  const as = [first, ...(await sendMany(a, "a", 6)).slice(1)];
  await b.receive(as[0]!);
  await b.receive(as[3]!);
  await b.receive(as[2]!);
  await b.refuse(as[2]!);
  await b.receive(as[5]!);
  // Phase 2: b answers (a's key exchange ends here); b2 lost for good, b3 duplicated.
  const bs = await sendMany(b, "b", 5);
  await a.receive(bs[1]!);
  await a.receive(bs[0]!);
  await a.receive(bs[4]!);
  await a.receive(bs[3]!);
  await a.refuse(bs[3]!);
  await a.refuse(bs[1]!);
  // Phase 3: a's second chain; late messages of a's first chain arrive in between.
  const cs = await sendMany(a, "c", 4);
  expect(
    cs.every((m) => !m.wire.keyExchange),
    "no key exchange once a reply was decrypted",
  ).toBe(true);
  await b.receive(cs[2]!);
  await b.receive(cs[0]!);
  await b.receive(as[4]!);
  await b.receive(as[1]!);
  await b.refuse(as[1]!);
  await b.receive(cs[1]!);
  await b.receive(cs[3]!);
  // Phase 4: the LAST message of a previous sending chain arrives after the DH step, both ways.
  await lateLastOfChain(b, a);
  await lateLastOfChain(a, b);
  // Phase 5: both sides persist and reload, then ping-pong (a DH step on every message).
  await a.reload();
  await b.reload();
  for (let i = 0; i < 12; i++) {
    const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
    await to.receive(await from.send(`p${i}`));
  }
  // Phase 6: a burst of 60 delivered in reverse order, then once more the other way.
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const burst = await sendMany(from, "r", 60);
    for (let i = burst.length - 1; i >= 0; i--) await to.receive(burst[i]!);
    await to.refuse(burst[30]!);
  }
}

/** `s` sends x0 x1 x2, `r` gets x0; r answers, s gets it and sends again; r gets that, then x2 and x1. */
async function lateLastOfChain(s: Endpoint, r: Endpoint): Promise<void> {
  const xs = await sendMany(s, "x", 3);
  await r.receive(xs[0]!);
  await s.receive(await r.send("y0"));
  const z = await s.send("z0");
  await r.receive(z);
  await r.receive(xs[2]!);
  await r.receive(xs[1]!);
  await r.refuse(xs[2]!);
}

/** A small deterministic PRNG (mulberry32) so a failing interleaving can be replayed from its seed. */
export function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = t;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A random interleaving after the session is open (the first message delivered): sends from either
 * side, deliveries in random order, ~8% of messages lost, ~6% of steps replay a delivered message.
 * Returns how many messages were delivered and checked.
 */
export async function randomConversation(
  a: Endpoint,
  b: Endpoint,
  first: Sent,
  seed: number,
  steps: number,
  /** Deliver (or lose) every message within this many steps (libsignal keeps only 5 old receiving chains). */
  maxAge = Infinity,
): Promise<number> {
  const rnd = prng(seed);
  await b.receive(first);
  // The remote side may still be waiting for its first reply before it stops sending key exchanges.
  await a.receive(await b.send("ack"));
  const inFlight = { a: [] as Sent[], b: [] as Sent[] }; // messages sent BY a / BY b
  const sentAt = new Map<Sent, number>();
  const delivered: Array<[Endpoint, Sent]> = [];
  let checked = 0;
  for (let i = 0; i < steps; i++) {
    for (const [side, queue] of Object.entries(inFlight)) {
      for (const m of queue.filter((q) => i - sentAt.get(q)! > maxAge)) {
        queue.splice(queue.indexOf(m), 1);
        await (side === "a" ? b : a).receive(m);
        checked++;
      }
    }
    const r = rnd();
    const side = rnd() < 0.5 ? "a" : "b";
    const from = side === "a" ? a : b;
    const to = side === "a" ? b : a;
    const queue = inFlight[side];
    if (r < 0.4 || queue.length === 0) {
      const m = await from.send(`${side}${i}`);
      sentAt.set(m, i);
      queue.push(m);
    } else if (r < 0.46 && delivered.length > 0) {
      // A replay from a chain more than MAX_SKIPPED_CHAINS DH steps old looks like a new ratchet key
      // with a wrong MAC (libsignal: InvalidMessage too); a replay on a tracked chain is a duplicate.
      const [endpoint, m] = delivered[Math.floor(rnd() * delivered.length)]!;
      await endpoint.refuse(m, ["DUPLICATE_MESSAGE", "BAD_MAC"]);
    } else {
      const m = queue.splice(Math.floor(rnd() * queue.length), 1)[0]!;
      if (rnd() < 0.08) continue; // lost
      await to.receive(m);
      delivered.push([to, m]);
      checked++;
    }
  }
  for (const [side, queue] of Object.entries(inFlight)) {
    const to = side === "a" ? b : a;
    for (const m of queue.reverse()) {
      await to.receive(m);
      checked++;
    }
  }
  return checked;
}
