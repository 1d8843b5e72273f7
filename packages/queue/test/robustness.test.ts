/**
 * What the queue does with what it does not control: malformed provider and transport outcomes, odd clocks
 * and random sources, a failing store under a failure, a throwing `log`, and close() during a running call.
 * Each test failed before its fix (review 2): the queue stored records its own decoder refused, released a
 * conversation before an earlier failure was stored, rejected send() after storing, or kept running after close.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ManualTimers,
  MemoryQueueStore,
  memoryQueueStore,
  openQueue,
  type EncryptionProvider,
  type OutgoingStanza,
  type QueueStore,
  type StepOutcome,
  type StoreBatch,
  type Timers,
  type Transport,
  type TransportEvent,
} from "../src/index.js";
import { FakePolicy, FakeProvider, FakeTransport, ROMEO, counterRandom, rig, settle, settleMany } from "./helpers.js";

/**
 * Opens the queue again over `store` with well-behaved fakes (what an app restart does); offline unless a
 * transport is given, so the messages are seen as they were stored.
 */
async function reopen(store: QueueStore, transport = offline()) {
  const queue = await openQueue({
    account: "juliet@example.com",
    store,
    transport,
    providers: { omemo: new FakeProvider("omemo"), otr: new FakeProvider("otr") },
    policy: new FakePolicy(),
    timers: new ManualTimers(2_000_000),
    random: counterRandom(9),
  });
  return { queue, transport };
}

/** A transport that stays offline: a reopened queue holds its messages as they were stored. */
function offline(): FakeTransport {
  const t = new FakeTransport();
  t.online = false;
  return t;
}

/** A store that rejects every batch with a `failed` put while `failing` is set. */
class FailedPutsFail implements QueueStore {
  readonly inner = memoryQueueStore();
  failing = true;
  load() {
    return this.inner.load();
  }
  write(batch: StoreBatch): Promise<void> {
    if (this.failing && batch.puts.some((p) => p.state === "failed")) return Promise.reject(new Error("disk full"));
    return this.inner.write(batch);
  }
}

/** A store whose batches with a `failed` put wait until released. */
class FailedPutsWait implements QueueStore {
  readonly inner = memoryQueueStore();
  readonly #held: Array<() => void> = [];
  load() {
    return this.inner.load();
  }
  write(batch: StoreBatch): Promise<void> {
    if (!batch.puts.some((p) => p.state === "failed")) return this.inner.write(batch);
    return new Promise((resolve) => this.#held.push(() => void this.inner.write(batch).then(resolve)));
  }
  release(): void {
    for (const go of this.#held.splice(0)) go();
  }
}

describe("malformed outcomes from providers and the transport", () => {
  it("a reason of the wrong kind (a permanent reason marked transient) is the transient error: retried, and the store reopens", async () => {
    const r = await rig();
    r.omemo.negotiateWith = () => ({ ok: false, transient: true, reason: "no-trusted-device" }) as never;
    const id = await r.queue.send(ROMEO, "hello");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "queued", lastError: "error", attempts: 2 });
    await r.queue.close();
    const again = await reopen(r.store);
    expect(again.queue.get(id)).toMatchObject({ state: "queued", lastError: "error" });
    await again.queue.close();
  });

  it("an unavailable method without a reason is the transient error, never a failed message without a reason", async () => {
    const r = await rig({ limits: { maxAttempts: 2 } });
    r.omemo.availabilityOf.set(ROMEO, { available: false, transient: false } as never);
    r.otr.availabilityOf.set(ROMEO, { available: false, transient: false } as never);
    const id = await r.queue.send(ROMEO, "hello");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "queued", lastError: "error" });
    r.timers.advance(60_000);
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "retries-exhausted", lastError: "error" });
    await r.queue.close();
    const again = await reopen(r.store);
    expect(again.queue.get(id)).toMatchObject({ state: "failed", reason: "retries-exhausted", lastError: "error" });
    await again.queue.close();
  });

  it("malformed transport, negotiate and encrypt results are transient errors; well-formed ones keep their meaning", async () => {
    const malformed: unknown[] = [
      undefined,
      null,
      "ok",
      42,
      { ok: "true" },
      { ok: false },
      { ok: false, transient: true },
      { ok: false, transient: true, reason: "bogus" },
      { ok: false, transient: false, reason: "offline" },
      { ok: false, transient: "no", reason: "peer-rejected" },
      { ok: false, transient: false, reason: { toString: () => "peer-rejected" } },
    ];
    for (const where of ["send", "negotiate", "encrypt"] as const) {
      for (const result of malformed) {
        const r = await rig();
        if (where === "send") r.transport.outcome = () => result as StepOutcome;
        if (where === "negotiate") r.omemo.negotiateWith = () => result as StepOutcome;
        if (where === "encrypt") r.omemo.encryptWith = () => result as never;
        const id = await r.queue.send(ROMEO, "hello");
        await settleMany();
        expect(r.queue.get(id), `${where} → ${JSON.stringify(result)}`).toMatchObject({
          state: "queued",
          lastError: "error",
        });
        await r.queue.close();
        await (await reopen(r.store)).queue.close();
      }
    }
    // Well-formed outcomes are unchanged: a permanent reason fails at once, a transient one is retried as given.
    const r = await rig();
    r.transport.outcome = () => ({ ok: false, transient: false, reason: "peer-rejected" });
    const rejected = await r.queue.send(ROMEO, "hello");
    await settleMany();
    expect(r.queue.get(rejected)).toMatchObject({ state: "failed", reason: "peer-rejected" });
    r.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const later = await r.queue.send("tybalt@example.net", "hello");
    await settleMany();
    expect(r.queue.get(later)).toMatchObject({ state: "queued", lastError: "ack-timeout" });
  });

  it("property: arbitrary (malformed) outcomes, clock readings and random output never make a store the queue cannot reopen", async () => {
    const reasons = [
      "offline",
      "ack-timeout",
      "negotiation-timeout",
      "session-failed",
      "not-ready",
      "error",
      "no-trusted-device",
      "contact-offline-otr-required",
      "peer-rejected",
      "retries-exhausted",
      "plaintext-forbidden",
      "no-encryption-available",
      "encryption-failed",
      "bogus",
      "",
    ];
    const THROW = Symbol("throw");
    const HANG = Symbol("hang");
    const failure = fc.record(
      {
        transient: fc.oneof(fc.boolean(), fc.anything()),
        reason: fc.oneof(fc.constantFrom(...reasons), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const result = fc.oneof(
      { weight: 4, arbitrary: fc.constant({ ok: true, available: true, payload: "sealed" }) },
      { weight: 4, arbitrary: failure.map((f) => ({ ok: false, available: false, ...f })) },
      { weight: 2, arbitrary: fc.record({ ok: fc.anything(), available: fc.anything() }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.anything() },
      { weight: 1, arbitrary: fc.constantFrom(THROW, HANG) },
    );
    const reading = fc.oneof(
      fc.integer(),
      fc.double(), // fractions, NaN, ±Infinity, -0
      fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60, performance.timeOrigin + 0.5),
      fc.anything(),
      fc.constant(THROW),
    );
    const scenario = fc.record({
      results: fc.array(result, { minLength: 1, maxLength: 30 }),
      policy: fc.array(fc.oneof(fc.constantFrom("omemo", "otr", "none"), fc.anything()), {
        minLength: 1,
        maxLength: 5,
      }),
      clock: fc.array(reading, { minLength: 1, maxLength: 20 }),
      shortRandom: fc.boolean(),
      allowPlaintext: fc.boolean(),
      sends: fc.array(fc.constantFrom(ROMEO, "tybalt@example.net"), { minLength: 1, maxLength: 4 }),
      ticks: fc.array(fc.nat(400_000), { maxLength: 8 }),
    });

    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        let i = 0;
        const next = (): unknown => s.results[i++ % s.results.length];
        const answer = (signal: AbortSignal, shape: (v: unknown) => unknown): Promise<never> => {
          const v = next();
          if (v === THROW) return Promise.reject(new Error("provider failed"));
          if (v === HANG)
            return new Promise((_, reject) => {
              signal.addEventListener("abort", () => {
                reject(new Error("aborted"));
              });
            });
          return Promise.resolve(shape(v) as never);
        };
        const provider: EncryptionProvider = {
          availability: (_c, signal) => answer(signal, (v) => v),
          negotiate: (_c, signal) => answer(signal, (v) => v),
          encrypt: (_m, signal) => answer(signal, (v) => v),
        };
        const listeners = new Set<(e: TransportEvent) => void>();
        const transport: Transport = {
          isOnline: () => true,
          send: (_stanza: OutgoingStanza, signal) => answer(signal, (v) => v),
          subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
        };
        let p = 0;
        const policy = {
          getContactSettings: () => Promise.resolve({ defaultEncryption: s.policy[p++ % s.policy.length] as never }),
        };
        const inner = new ManualTimers(1_000_000);
        let c = 0;
        const timers: Timers = {
          now: () => {
            const v = s.clock[c++ % s.clock.length];
            if (v === THROW) throw new Error("clock failed");
            return v as number;
          },
          schedule: (ms, f) => inner.schedule(ms, f),
        };
        const ids = counterRandom(3);
        const store = new MemoryQueueStore();
        const queue = await openQueue({
          account: "juliet@example.com",
          store,
          transport,
          providers: { omemo: provider, otr: provider },
          policy,
          timers,
          random: (n) => (n === 4 && s.shortRandom ? ids(2) : ids(n)),
          allowPlaintext: s.allowPlaintext,
          limits: { maxAttempts: 3 },
          onListenerError: () => {},
        });
        for (const to of s.sends) await queue.send(to, "hello");
        await settleMany(3);
        for (const ms of s.ticks) {
          inner.advance(ms);
          await settleMany(3);
        }
        await queue.flush();
        await queue.close();
        expect(inner.pending).toBe(0);
        // Every record decodes (load() decodes them), and the queue opens over them and holds them all.
        const again = await reopen(store);
        expect(again.queue.list()).toHaveLength(store.records.size);
        await again.queue.close();
      }),
      { numRuns: 300 },
    );
  });
});

describe("the clock and the random source", () => {
  it("a fractional clock (performance.now style) is floored: the records reopen", async () => {
    const inner = new ManualTimers(0);
    const timers: Timers = {
      now: () => performance.timeOrigin + 0.25 + inner.now(),
      schedule: (ms, f) => inner.schedule(ms, f),
    };
    const r = await rig({ timers });
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "hello");
    expect(Number.isInteger(r.queue.get(id)?.createdAt)).toBe(true);
    await r.queue.close();
    const again = await reopen(r.store);
    expect(again.queue.get(id)?.createdAt).toBe(Math.floor(performance.timeOrigin + 0.25));
    await again.queue.close();
  });

  it("a clock that returns NaN, Infinity or a string, or throws, keeps the last good reading or is clamped", async () => {
    const inner = new ManualTimers(5_000);
    const readings: unknown[] = [NaN, "soon", Infinity, -Infinity, "throw"];
    let k = 0;
    const timers: Timers = {
      now: () => {
        const v = readings[k++ % readings.length];
        if (v === "throw") throw new Error("clock failed");
        return v as number;
      },
      schedule: (ms, f) => inner.schedule(ms, f),
    };
    const r = await rig({ timers });
    r.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await r.queue.send(`c${i}@example.net`, "hello"));
    await settleMany();
    for (const id of ids) {
      const info = r.queue.get(id)!;
      expect(Number.isSafeInteger(info.createdAt)).toBe(true);
      expect(info.retryAt === undefined || Number.isSafeInteger(info.retryAt)).toBe(true);
    }
    await r.queue.close();
    expect((await reopen(r.store)).queue.list()).toHaveLength(5);
  });

  it("a random source that gives too few bytes: send() is INVALID_ARGUMENT and stores nothing; retries lose their jitter, not their time", async () => {
    const store = memoryQueueStore();
    const short = await rig({ store, random: () => new Uint8Array(8) });
    await expect(short.queue.send(ROMEO, "hello")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(short.queue.size.held).toBe(0);
    expect(store.records.size).toBe(0);

    const ids = counterRandom(5);
    const r = await rig({ random: (n) => (n === 4 ? new Uint8Array(2) : ids(n)) });
    r.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const id = await r.queue.send(ROMEO, "hello");
    await settleMany();
    // Attempt 1 failed: the delay is base·2^0 = 1 s in full (no jitter), never NaN.
    expect(r.queue.get(id)).toMatchObject({ state: "queued", retryAt: 1_000_000 + 1_000 });
    await r.queue.close();
    expect((await reopen(r.store)).queue.get(id)?.retryAt).toBe(1_001_000);
  });

  it("an account or conversation that lower-cases past the byte limit is INVALID_ARGUMENT, not a record the decoder refuses", async () => {
    const long = "\u0130".repeat(1_535); // 3,070 bytes of UTF-8; lower-cased ("i̇" each) 4,605
    await expect(rig({ account: `${long}@x` })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(rig({ account: "/resource-only" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const r = await rig();
    await expect(r.queue.send(`${long}@x`, "hello")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(r.queue.size.held).toBe(0);
  });
});

describe("a failure whose write fails", () => {
  it("is stored again until it is; the next message waits for it, and after a restart the failed message is not sent", async () => {
    const store = new FailedPutsFail();
    const r = await rig({ store });
    r.omemo.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "no-trusted-device" });
    r.otr.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "contact-offline-otr-required" });
    const a = await r.queue.send(ROMEO, "A");
    await settleMany();
    expect(r.queue.get(a)).toMatchObject({ state: "failed", reason: "no-trusted-device" });
    expect(r.events.filter((e) => e.type === "error")).toHaveLength(1);

    r.omemo.availabilityOf.delete(ROMEO);
    const b = await r.queue.send(ROMEO, "B");
    await settleMany(10);
    // A is still stored as queued: B must not leave, or a restart would send A after B.
    expect(r.transport.sent).toHaveLength(0);
    r.timers.advance(1_000); // stored again: fails again, reported again
    await settleMany(10);
    expect(r.events.filter((e) => e.type === "error")).toHaveLength(2);
    expect(r.transport.sent).toHaveLength(0);

    store.failing = false;
    r.timers.advance(2_000); // the next try (the delay doubles) is stored: B goes
    await settleMany(10);
    expect(r.transport.sent.map((s) => s.originId)).toEqual([b]);
    await r.queue.close();

    const again = await reopen(store, new FakeTransport());
    await settleMany(10);
    expect(again.queue.get(a)).toMatchObject({ state: "failed", reason: "no-trusted-device" });
    expect(again.transport.sent).toHaveLength(0);
    await again.queue.close();
  });

  it("is stored again at once on retryNow(), and close() stops trying (no timer left)", async () => {
    const store = new FailedPutsFail();
    const r = await rig({ store });
    r.transport.outcome = () => ({ ok: false, transient: false, reason: "peer-rejected" });
    await r.queue.send(ROMEO, "A");
    await settleMany();
    expect(r.events.filter((e) => e.type === "error")).toHaveLength(1);
    r.queue.retryNow();
    await settleMany();
    expect(r.events.filter((e) => e.type === "error")).toHaveLength(2);
    const writes = store.inner.writes;
    await r.queue.close();
    expect(r.timers.pending).toBe(0);
    r.timers.advance(3_600_000);
    await settleMany();
    expect(store.inner.writes).toBe(writes);
    expect(r.events.filter((e) => e.type === "error")).toHaveLength(2);
  });
});

describe("a log that throws", () => {
  it("changes nothing: send() and cancel() resolve, cancelled is emitted, the error goes to onListenerError", async () => {
    const errors: unknown[] = [];
    const r = await rig({
      log: () => {
        throw new Error("EPIPE");
      },
      onListenerError: (e) => errors.push(e),
    });
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "pay the apothecary");
    expect(r.queue.size.held).toBe(1);
    await r.queue.cancel(id);
    expect(r.events).toContainEqual({ type: "cancelled", id, conversation: ROMEO });
    expect(r.queue.size.held).toBe(0);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((e) => e instanceof Error && e.message === "EPIPE")).toBe(true);
  });

  it("a failure still holds its conversation until it is stored", async () => {
    const store = new FailedPutsWait();
    const r = await rig({
      store,
      log: () => {
        throw new Error("EPIPE");
      },
      onListenerError: () => {
        throw new Error("the error handler fails too");
      },
    });
    r.transport.outcome = (s) =>
      s.originId === first ? { ok: false, transient: false, reason: "peer-rejected" } : { ok: true };
    let first = "";
    r.transport.online = false;
    const a = await r.queue.send(ROMEO, "A");
    const b = await r.queue.send(ROMEO, "B");
    first = a;
    r.transport.goOnline();
    await settleMany(10);
    expect(r.queue.get(a)?.state).toBe("failed");
    expect(r.transport.sent.map((s) => s.originId)).toEqual([a]);
    store.release();
    await settleMany(10);
    expect(r.transport.sent.map((s) => s.originId)).toEqual([a, b]);
  });
});

describe("close()", () => {
  it("aborts a running negotiation: its signal aborts, its deadline timer is cleared, nothing more is sent or stored", async () => {
    const store = memoryQueueStore();
    const r = await rig({ store });
    let signal: AbortSignal | undefined;
    r.omemo.negotiateWith = (_c, s) => {
      signal = s;
      return new Promise(() => {});
    };
    await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.list()[0]?.state).toBe("negotiating");
    const writes = store.writes;
    await r.queue.close();
    expect(signal?.aborted).toBe(true);
    expect(r.timers.pending).toBe(0);
    r.timers.advance(3_600_000);
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    expect(store.writes).toBe(writes);
  });

  it("aborts a running send: a result after close is ignored (the message stays stored as queued)", async () => {
    const r = await rig();
    let ack: ((o: StepOutcome) => void) | undefined;
    r.transport.outcome = () => new Promise((resolve) => (ack = resolve));
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.transport.sent).toHaveLength(1);
    await r.queue.close();
    expect(r.transport.lastSignal?.aborted).toBe(true);
    expect(r.timers.pending).toBe(0);
    ack?.({ ok: true });
    await settle();
    await settleMany();
    const again = await reopen(r.store);
    expect(again.queue.get(id)).toMatchObject({ state: "queued", attempts: 1 });
    await again.queue.close();
  });
});
