/** Fakes of the interfaces the queue consumes, driven by the tests. */
import {
  ManualTimers,
  memoryQueueStore,
  openQueue,
  type Availability,
  type EncryptOutcome,
  type EncryptionProvider,
  type MessageState,
  type OutgoingStanza,
  type Queue,
  type QueueEvent,
  type QueueOptions,
  type QueueStore,
  type SendMethod,
  type StepOutcome,
  type Transport,
  type TransportEvent,
} from "../src/index.js";

/** Lets every pending promise chain run (the fakes resolve at once; the queue uses no real timers). */
export function settle(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === "function") setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

export async function settleMany(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await settle();
}

/** Deterministic randomness: a counter-based byte stream (ids differ, jitter varies). */
export function counterRandom(seed = 1): (n: number) => Uint8Array {
  let state = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      // xorshift32
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out[i] = state & 0xff;
    }
    return out;
  };
}

/** The fake "ciphertext": marks the payload as produced by a provider, so a test can tell it from plaintext. */
export interface FakeCiphertext {
  readonly sealedBy: SendMethod;
  readonly to: string;
  readonly box: string;
}

/** Reverses UTF-16 code units (twice gives the input back, lone halves included): the fakes' "cipher". */
export function reverse(s: string): string {
  let out = "";
  for (let i = s.length - 1; i >= 0; i--) out += s[i]!;
  return out;
}

export function seal(method: SendMethod, to: string, body: string): FakeCiphertext {
  return { sealedBy: method, to, box: reverse(body) };
}
export function unseal(c: FakeCiphertext): string {
  return reverse(c.box);
}

export class FakeTransport implements Transport {
  online = true;
  readonly sent: OutgoingStanza[] = [];
  readonly #listeners = new Set<(event: TransportEvent) => void>();
  /** Decides each send's outcome (default: accepted). */
  outcome: (stanza: OutgoingStanza) => StepOutcome | Promise<StepOutcome> = () => ({ ok: true });

  isOnline(): boolean {
    return this.online;
  }
  /** The AbortSignal of the last send (it aborts at the step deadline). */
  lastSignal: AbortSignal | undefined;
  async send(stanza: OutgoingStanza, signal?: AbortSignal): Promise<StepOutcome> {
    this.sent.push(stanza);
    this.lastSignal = signal;
    return this.outcome(stanza);
  }
  subscribe(listener: (event: TransportEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  emit(event: TransportEvent): void {
    for (const l of this.#listeners) l(event);
  }
  goOffline(): void {
    this.online = false;
    this.emit({ type: "offline" });
  }
  goOnline(): void {
    this.online = true;
    this.emit({ type: "online" });
  }
  get listeners(): number {
    return this.#listeners.size;
  }
}

export class FakeProvider implements EncryptionProvider {
  readonly method: "omemo" | "otr";
  /** Per contact; default available. */
  readonly availabilityOf = new Map<string, Availability>();
  negotiations = 0;
  negotiateWith: (contact: string, signal: AbortSignal) => StepOutcome | Promise<StepOutcome> = () => ({ ok: true });
  encryptWith: ((body: string) => EncryptOutcome) | undefined;

  constructor(method: "omemo" | "otr") {
    this.method = method;
  }
  availability(contact: string): Promise<Availability> {
    return Promise.resolve(this.availabilityOf.get(contact) ?? { available: true });
  }
  async negotiate(contact: string, signal: AbortSignal): Promise<StepOutcome> {
    this.negotiations++;
    return this.negotiateWith(contact, signal);
  }
  encrypt(message: { id: string; to: string; body: string }): Promise<EncryptOutcome> {
    if (this.encryptWith) return Promise.resolve(this.encryptWith(message.body));
    return Promise.resolve({ ok: true, payload: seal(this.method, message.to, message.body) });
  }
}

export class FakePolicy {
  readonly defaults = new Map<string, SendMethod>();
  fallback: SendMethod = "omemo";
  getContactSettings(_account: string, contact: string): Promise<{ defaultEncryption: SendMethod }> {
    return Promise.resolve({ defaultEncryption: this.defaults.get(contact) ?? this.fallback });
  }
}

export interface Rig {
  queue: Queue;
  store: QueueStore;
  transport: FakeTransport;
  omemo: FakeProvider;
  otr: FakeProvider;
  policy: FakePolicy;
  timers: ManualTimers;
  events: QueueEvent[];
  /** States each message went through, in order. */
  states: Map<string, MessageState[]>;
}

export async function rig(options: Partial<QueueOptions> & { store?: QueueStore } = {}): Promise<Rig> {
  const store = options.store ?? memoryQueueStore();
  const transport = (options.transport as FakeTransport | undefined) ?? new FakeTransport();
  const omemo = new FakeProvider("omemo");
  const otr = new FakeProvider("otr");
  const policy = (options.policy as FakePolicy | undefined) ?? new FakePolicy();
  const timers = (options.timers as ManualTimers | undefined) ?? new ManualTimers(1_000_000);
  const events: QueueEvent[] = [];
  const states = new Map<string, MessageState[]>();
  const queue = await openQueue({
    account: "juliet@example.com",
    providers: { omemo, otr },
    random: counterRandom(7),
    ...options,
    store,
    transport,
    policy,
    timers,
    onEvent: (e) => {
      events.push(e);
      if (e.type === "state") {
        const list = states.get(e.message.id) ?? [];
        list.push(e.message.state);
        states.set(e.message.id, list);
      }
    },
  });
  return { queue, store, transport, omemo, otr, policy, timers, events, states };
}

export const ROMEO = "romeo@example.net";
export const MERCUTIO = "mercutio@example.org";
