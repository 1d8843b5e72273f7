/**
 * Model-based test over a simulated network and store. Random sends, our connection and contacts going
 * online and offline, session failures and hangs, stanzas dropped or acknowledged late (lost acks),
 * receipts lost, store writes still pending, and crashes with restarts at any point in between.
 *
 * Invariants:
 * - nothing is ever sent in plaintext unless the app allows it and the contact's default is `none`;
 *   an encrypted stanza always carries the payload its provider produced (checked on every send);
 * - attempt numbers never pass the cap, never go back (a reservation is stored before its attempt runs),
 *   and repeat only after a crash or an attempt our own disconnection interrupted;
 * - the receiver accepts each message at most once (origin-id dedup), and messages that were never
 *   resent arrive in the order they were sent, per conversation;
 * - at the end (network healthy, failed messages resent once), every message whose send() resolved is
 *   delivered exactly once or visibly failed for a policy reason (plaintext-forbidden), or was cancelled.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DuplicateFilter,
  ManualTimers,
  MemoryQueueStore,
  openQueue,
  type Availability,
  type EncryptOutcome,
  type EncryptionProvider,
  type OutgoingStanza,
  type Queue,
  type QueueStore,
  type SendMethod,
  type StepOutcome,
  type StoreBatch,
  type StoredMessage,
  type Transport,
  type TransportEvent,
} from "../src/index.js";
import { counterRandom, seal, settle, unseal, type FakeCiphertext } from "./helpers.js";

const ME = "juliet@example.com";
const CONTACTS = ["a@example.net", "b@example.net", "c@example.net"] as const;
const MAX_ATTEMPTS = 4;

type Fate = "ok" | "drop" | "lost-ack" | "reject";
type Action =
  | { t: "send"; c: number }
  | { t: "store" }
  | { t: "net"; pick: number; fate: Fate }
  | { t: "receipt"; pick: number; lose: boolean }
  | { t: "tick"; ms: number }
  | { t: "online"; on: boolean }
  | { t: "presence"; c: number; on: boolean }
  | { t: "session"; mode: "ok" | "fail" | "hang" }
  | { t: "trust"; c: number; on: boolean }
  | { t: "crash"; commit: boolean; deliver: boolean }
  | { t: "cancel"; pick: number }
  | { t: "retryNow" }
  | { t: "disk"; slow: boolean };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("send" as const), c: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("store" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("disk" as const), slow: fc.boolean() }) },
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant("net" as const),
      pick: fc.nat(5),
      fate: fc.constantFrom<Fate>("ok", "ok", "drop", "drop", "lost-ack", "reject"),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("receipt" as const), pick: fc.nat(5), lose: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 20_000 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("online" as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("presence" as const), c: fc.nat(2), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("session" as const), mode: fc.constantFrom("ok", "fail", "hang") }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("trust" as const), c: fc.nat(2), on: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("crash" as const), commit: fc.boolean(), deliver: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("retryNow" as const) }) },
);

interface Config {
  allowPlaintext: boolean;
  defaults: [SendMethod, SendMethod, SendMethod];
  trusted: [boolean, boolean, boolean];
  /** A slow disk commits writes only on `store` actions (so crashes find writes pending). */
  slowDisk: boolean;
}

const configArb: fc.Arbitrary<Config> = fc.record({
  allowPlaintext: fc.boolean(),
  defaults: fc.tuple(
    fc.constantFrom<SendMethod>("omemo", "otr", "none"),
    fc.constantFrom<SendMethod>("omemo", "otr", "none"),
    fc.constantFrom<SendMethod>("omemo", "otr", "none"),
  ),
  trusted: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
  slowDisk: fc.boolean(),
});

interface InFlight {
  readonly stanza: OutgoingStanza;
  readonly incarnation: number;
  readonly resolve: (o: StepOutcome) => void;
}

/** Everything outside the queue: the network, both ends, the disk, the clock. */
class World {
  readonly config: Config;
  // the disk
  readonly disk = new MemoryQueueStore();
  pendingWrites: Array<{ batch: StoreBatch; resolve: () => void; incarnation: number }> = [];
  // the network
  inFlight: InFlight[] = [];
  receipts: Array<{ from: string; id: string }> = [];
  online = true;
  readonly presence = [true, true, true];
  readonly trusted: boolean[];
  sessionMode: "ok" | "fail" | "hang" = "ok";
  /** A fast disk commits every write as soon as it is issued; a slow one only on `store` actions. */
  slowDisk: boolean;
  // the receivers
  readonly filters = CONTACTS.map(() => new DuplicateFilter({ capacity: 1000 }));
  /** Bodies accepted (after dedup) per contact, in order. */
  readonly accepted: string[][] = CONTACTS.map(() => []);
  // the process
  incarnation = 0;
  timers = new ManualTimers(0);
  now = 0;
  listeners = new Set<(e: TransportEvent) => void>();
  queue!: Queue;
  crashes = 0;
  // bookkeeping for the invariants
  /** Per body: the sends seen (attempt, incarnation, outcome reason). */
  readonly sends = new Map<string, Array<{ attempt: number; incarnation: number; outcome?: string }>>();
  readonly resolvedIds = new Map<string, string>(); // body -> id
  readonly cancelled = new Set<string>(); // bodies whose cancel was called (it may have been stored before a crash)
  readonly resent = new Set<string>(); // bodies resent at least once
  readonly sentOrder: string[][] = CONTACTS.map(() => []); // bodies in send() call order per contact
  counter = 0;
  readonly violations: string[] = [];

  constructor(config: Config) {
    this.config = config;
    this.trusted = [...config.trusted];
    this.slowDisk = config.slowDisk;
  }

  contactIndex(jid: string): number {
    return CONTACTS.indexOf(jid as (typeof CONTACTS)[number]);
  }

  async open(): Promise<void> {
    const incarnation = ++this.incarnation;
    const alive = () => this.incarnation === incarnation;
    const never = <T>() => new Promise<T>(() => undefined);
    this.timers = new ManualTimers(this.now);
    this.listeners = new Set();
    const listeners = this.listeners;
    const store: QueueStore = {
      load: () => (alive() ? this.disk.load() : never<StoredMessage[]>()),
      write: (batch) =>
        alive()
          ? new Promise<void>((resolve) => {
              this.pendingWrites.push({ batch, resolve, incarnation });
            })
          : never<undefined>(),
    };
    const transport: Transport = {
      isOnline: () => this.online,
      send: (stanza) => {
        if (!alive()) return never<StepOutcome>();
        this.checkStanza(stanza);
        if (!this.online) {
          this.recordOutcome(stanza, "offline");
          return Promise.resolve({ ok: false, transient: true, reason: "offline" });
        }
        return new Promise<StepOutcome>((resolve) => {
          this.inFlight.push({ stanza, incarnation, resolve });
        });
      },
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const provider = (method: "omemo" | "otr"): EncryptionProvider => ({
      availability: (contact): Promise<Availability> => {
        const i = this.contactIndex(contact);
        if (method === "omemo")
          return Promise.resolve(
            this.trusted[i] ? { available: true } : { available: false, transient: false, reason: "no-trusted-device" },
          );
        return Promise.resolve(
          this.presence[i]
            ? { available: true }
            : { available: false, transient: false, reason: "contact-offline-otr-required" },
        );
      },
      negotiate: (_contact, signal): Promise<StepOutcome> => {
        if (!alive()) return never<StepOutcome>();
        if (this.sessionMode === "fail")
          return Promise.resolve({ ok: false, transient: true, reason: "session-failed" });
        if (this.sessionMode === "hang")
          return new Promise((resolve) => {
            signal.addEventListener("abort", () => {
              resolve({ ok: false, transient: true, reason: "session-failed" });
            });
          });
        return Promise.resolve({ ok: true });
      },
      encrypt: (m): Promise<EncryptOutcome> => Promise.resolve({ ok: true, payload: seal(method, m.to, m.body) }),
    });
    this.queue = await openQueue({
      account: ME,
      store,
      transport,
      providers: { omemo: provider("omemo"), otr: provider("otr") },
      policy: {
        getContactSettings: (_account, contact) =>
          Promise.resolve({ defaultEncryption: this.config.defaults[this.contactIndex(contact)]! }),
      },
      allowPlaintext: this.config.allowPlaintext,
      timers: this.timers,
      random: counterRandom(1000 + incarnation),
      limits: { maxAttempts: MAX_ATTEMPTS, backoffBaseMs: 1_000, backoffMaxMs: 8_000, negotiationTimeoutMs: 10_000 },
    });
  }

  emit(event: TransportEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  /** Invariants checked on every send. */
  checkStanza(s: OutgoingStanza): void {
    const i = this.contactIndex(s.to);
    let body: string;
    if (s.method === "none") {
      if (!this.config.allowPlaintext || this.config.defaults[i] !== "none")
        this.violations.push(`plaintext sent to ${s.to} without policy`);
      body = s.payload as string;
    } else {
      const c = s.payload as FakeCiphertext;
      if (typeof s.payload !== "object" || c.sealedBy !== s.method || c.to !== s.to)
        this.violations.push(`encrypted stanza without its provider's payload`);
      body = unseal(c);
    }
    if (s.attempt < 1 || s.attempt > MAX_ATTEMPTS) this.violations.push(`attempt ${s.attempt} beyond the cap`);
    const history = this.sends.get(body) ?? [];
    const last = history.at(-1);
    if (last && !this.resent.has(body)) {
      if (s.attempt < last.attempt) this.violations.push(`attempt number went back for ${body}`);
      if (s.attempt === last.attempt && last.incarnation === this.incarnation && last.outcome !== "offline")
        this.violations.push(`attempt ${s.attempt} repeated without a crash for ${body}`);
    }
    history.push({ attempt: s.attempt, incarnation: this.incarnation });
    this.sends.set(body, history);
  }

  /** The receiver gets a stanza: decrypt, dedup, accept, send a receipt. */
  arrive(s: OutgoingStanza): void {
    const i = this.contactIndex(s.to);
    const body = s.method === "none" ? (s.payload as string) : unseal(s.payload as FakeCiphertext);
    if (!this.filters[i]!.isDuplicate(ME, s.originId)) this.accepted[i]!.push(body);
    this.receipts.push({ from: `${s.to}/phone`, id: s.originId });
  }

  recordOutcome(s: OutgoingStanza, outcome: string): void {
    const body = s.method === "none" ? (s.payload as string) : unseal(s.payload as FakeCiphertext);
    const last = this.sends.get(body)?.at(-1);
    if (last) last.outcome = outcome;
  }

  async step(a: Action): Promise<void> {
    switch (a.t) {
      case "send": {
        const body = `m${this.counter++}`;
        const contact = CONTACTS[a.c]!;
        this.sentOrder[a.c]!.push(body);
        const incarnation = this.incarnation;
        this.queue.send(contact, body).then(
          (id) => {
            if (this.incarnation === incarnation) this.resolvedIds.set(body, id);
          },
          () => undefined,
        );
        break;
      }
      case "store": {
        const w = this.pendingWrites.shift();
        if (w) {
          await this.disk.write(w.batch);
          w.resolve();
        }
        break;
      }
      case "net": {
        if (this.inFlight.length === 0) break;
        const [f] = this.inFlight.splice(a.pick % this.inFlight.length, 1);
        const { stanza } = f!;
        if (!this.online) {
          this.recordOutcome(stanza, "offline");
          f!.resolve({ ok: false, transient: true, reason: "offline" });
        } else if (a.fate === "ok") {
          this.arrive(stanza);
          f!.resolve({ ok: true });
        } else if (a.fate === "lost-ack") {
          this.arrive(stanza);
          f!.resolve({ ok: false, transient: true, reason: "ack-timeout" });
        } else if (a.fate === "drop") {
          f!.resolve({ ok: false, transient: true, reason: "ack-timeout" });
        } else {
          f!.resolve({ ok: false, transient: false, reason: "peer-rejected" });
        }
        break;
      }
      case "receipt": {
        if (this.receipts.length === 0) break;
        const [r] = this.receipts.splice(a.pick % this.receipts.length, 1);
        if (!a.lose && this.online) this.emit({ type: "receipt", from: r!.from, id: r!.id });
        break;
      }
      case "tick":
        this.now += a.ms;
        this.timers.advance(a.ms);
        break;
      case "online":
        if (this.online === a.on) break;
        this.online = a.on;
        // Sends in flight when the connection drops end as `offline` (they may or may not have left).
        if (!a.on) {
          for (const f of this.inFlight.splice(0)) {
            this.recordOutcome(f.stanza, "offline");
            f.resolve({ ok: false, transient: true, reason: "offline" });
          }
        }
        this.emit({ type: a.on ? "online" : "offline" });
        break;
      case "presence":
        this.presence[a.c] = a.on;
        break;
      case "session":
        this.sessionMode = a.mode;
        break;
      case "trust":
        this.trusted[a.c] = a.on;
        break;
      case "cancel": {
        const list = this.queue.list().filter((m) => m.state !== "sent");
        if (list.length === 0) break;
        const m = list[a.pick % list.length]!;
        this.cancelled.add(this.queue.body(m.id)!);
        this.queue.cancel(m.id).catch(() => undefined);
        break;
      }
      case "retryNow":
        this.queue.retryNow();
        break;
      case "disk":
        this.slowDisk = a.slow;
        break;
      case "crash": {
        this.crashes++;
        // The process dies: its timers stop, its pending write either reached the disk or not,
        // stanzas it handed to the network may still arrive.
        this.incarnation++;
        this.timers.clear();
        const writes = this.pendingWrites.splice(0);
        if (a.commit && writes[0]) await this.disk.write(writes[0].batch);
        for (const f of this.inFlight.splice(0)) if (a.deliver) this.arrive(f.stanza);
        await this.open();
        break;
      }
    }
    await settle();
    while (!this.slowDisk && this.pendingWrites.length > 0) {
      const w = this.pendingWrites.shift()!;
      await this.disk.write(w.batch);
      w.resolve();
      await settle();
    }
  }

  /** A healthy network until nothing moves; failed messages are resent once (the user's recovery). */
  async quiesce(): Promise<void> {
    this.online = true;
    this.emit({ type: "online" });
    this.presence.fill(true);
    this.trusted.fill(true);
    this.sessionMode = "ok";
    let resentOnce = false;
    for (let round = 0; round < 500; round++) {
      await settle();
      if (this.pendingWrites.length > 0) {
        await this.step({ t: "store" });
        continue;
      }
      if (this.inFlight.length > 0) {
        await this.step({ t: "net", pick: 0, fate: "ok" });
        continue;
      }
      if (this.receipts.length > 0) {
        await this.step({ t: "receipt", pick: 0, lose: false });
        continue;
      }
      const next = this.timers.nextAt();
      if (next !== undefined) {
        await this.step({ t: "tick", ms: Math.max(1, next - this.now) });
        continue;
      }
      if (!resentOnce) {
        resentOnce = true;
        for (const m of this.queue.list()) {
          if (m.state !== "failed" || m.reason === "plaintext-forbidden") continue;
          this.resent.add(this.queue.body(m.id)!);
          void this.queue.resend(m.id);
        }
        continue;
      }
      return;
    }
    this.violations.push("the queue did not settle");
  }
}

async function run(config: Config, actions: Action[]): Promise<World> {
  const world = new World(config);
  await world.open();
  for (const a of actions) await world.step(a);
  await world.quiesce();
  return world;
}

function checkEnd(world: World): void {
  expect(world.violations).toEqual([]);
  const final = new Map(world.queue.list().map((m) => [world.queue.body(m.id)!, m]));
  for (let i = 0; i < CONTACTS.length; i++) {
    const accepted = world.accepted[i]!;
    // At most once at the receiver.
    expect(new Set(accepted).size).toBe(accepted.length);
    // Order: messages never resent arrive in send order.
    const plain = accepted.filter((b) => !world.resent.has(b));
    const expected = world.sentOrder[i]!.filter((b) => plain.includes(b));
    expect(plain).toEqual(expected);
    for (const body of world.sentOrder[i]!) {
      if (!world.resolvedIds.has(body) || world.cancelled.has(body)) continue;
      const delivered = accepted.includes(body);
      const state = final.get(body);
      if (delivered) {
        // Delivered: the queue let it go on the receipt, or still waits for one that was lost.
        if (state !== undefined) expect(state.state).toBe("sent");
      } else {
        expect(state).toMatchObject({ state: "failed", reason: "plaintext-forbidden" });
        expect(world.config.allowPlaintext && world.config.defaults[i] === "none").toBe(false);
      }
    }
  }
  // Nothing left queued or in flight (sent ones may wait for a receipt that was lost).
  expect(world.queue.list().filter((m) => m.state !== "failed" && m.state !== "sent")).toEqual([]);
}

describe("model: simulated network, store and crashes", () => {
  it("every message ends delivered exactly once or visibly failed; order, plaintext and retry cap hold", async () => {
    await fc.assert(
      fc.asyncProperty(
        configArb,
        fc.array(actionArb, { minLength: 20, maxLength: 120, size: "max" }),
        async (config, actions) => {
          checkEnd(await run(config, actions));
        },
      ),
      // A fixed seed by default: the same 1,000 scenarios in every run, so the mutation list
      // (mutations.json, which names this test) is caught or not deterministically. Set
      // QUEUE_MODEL_SEED to explore other scenarios.
      { numRuns: 1000, seed: Number(process.env["QUEUE_MODEL_SEED"] ?? 20261202) },
    );
  });

  it("a fixed scenario: lost ack, crash with the write lost, restart, duplicate dropped by the receiver", async () => {
    const world = await run(
      { allowPlaintext: false, defaults: ["omemo", "omemo", "omemo"], trusted: [true, true, true], slowDisk: true },
      [
        { t: "send", c: 0 },
        { t: "store" }, // the message is stored, send() resolves
        { t: "net", pick: 0, fate: "lost-ack" }, // it arrives, our ack is lost
        { t: "store" }, // retry reservation stored
        { t: "tick", ms: 1_000 },
        { t: "net", pick: 0, fate: "ok" }, // the retry arrives too: a duplicate
        { t: "crash", commit: false, deliver: false }, // 'sent' never reached the disk
      ],
    );
    checkEnd(world);
    expect(world.accepted[0]).toEqual(["m0"]);
    expect(world.crashes).toBe(1);
    // Arrived three times (lost ack, retry, resend after the restart), accepted once.
    expect(world.sends.get("m0")!.map((s) => s.attempt)).toEqual([1, 2, 2]);
  });
});
