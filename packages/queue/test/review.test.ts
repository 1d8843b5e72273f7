/** Review findings for @parley/queue (issue 12): each test failed while its finding stood. */
import { describe, expect, it } from "vitest";
import { BACKOFF_MAX_MS, ManualTimers, memoryQueueStore, type QueueStore, type StoreBatch } from "../src/index.js";
import { FakeTransport, ROMEO, rig, settleMany } from "./helpers.js";

/** A transport that counts isOnline() calls and drops offline after `limit`, so a spinning pump cannot hang the test. */
class CountingTransport extends FakeTransport {
  calls = 0;
  limit = 2_000;
  override isOnline(): boolean {
    this.calls++;
    if (this.calls > this.limit) this.online = false;
    return super.isOnline();
  }
}

describe("review", () => {
  it("H1: resend(id) then cancel(id) at once: the message stays gone, the pump does not spin, the next message goes out", async () => {
    const transport = new CountingTransport();
    const r = await rig({ transport });
    r.policy.defaults.set(ROMEO, "none"); // plaintext not allowed: fails at once
    const id = await r.queue.send(ROMEO, "first");
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("failed");
    r.policy.defaults.set(ROMEO, "omemo");

    const resent = r.queue.resend(id);
    await r.queue.cancel(id); // the user changes their mind at once
    await resent;
    await settleMany(10);
    const spins = transport.calls;

    transport.online = true;
    transport.calls = 0;
    const second = await r.queue.send(ROMEO, "second");
    await settleMany(10);
    // Expected: a handful of pump iterations, and the next message goes out.
    const secondSent = transport.sent.some((s) => s.originId === second);
    expect({ spinsBounded: spins < 100, secondSent, cancelledGone: r.queue.get(id) === undefined }).toEqual({
      spinsBounded: true,
      secondSent: true,
      cancelledGone: true,
    });
  });

  it("H2: a message queued under an encryption never goes out in plaintext, even after the contact's default changed to none", async () => {
    const r = await rig({ allowPlaintext: true });
    r.omemo.negotiateWith = () => ({ ok: false, transient: true, reason: "session-failed" });
    r.otr.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "contact-offline-otr-required" });
    const id = await r.queue.send(ROMEO, "composed behind a lock icon");
    await settleMany();
    expect(r.queue.get(id)?.method).toBe("omemo");
    expect(r.queue.get(id)?.state).toBe("queued"); // waiting for its retry

    r.policy.defaults.set(ROMEO, "none"); // for future messages, says the user
    r.timers.advance(60_000);
    await settleMany(10);
    // Expected: never a plaintext stanza for a message whose encryption was already chosen.
    expect(r.transport.sent.filter((s) => s.method === "none")).toEqual([]);
  });

  it("M1: a provider or transport call that never settles times out: the conversation goes on after a cancel", async () => {
    const r = await rig();
    r.omemo.encryptWith = undefined;
    let hang = true;
    const original = r.omemo.encrypt.bind(r.omemo);
    r.omemo.encrypt = (m) => (hang ? new Promise(() => {}) : original(m));
    const first = await r.queue.send(ROMEO, "first");
    await settleMany();
    expect(r.queue.get(first)?.state).toBe("sending");
    hang = false;
    await r.queue.cancel(first);
    const second = await r.queue.send(ROMEO, "second");
    r.queue.retryNow();
    r.timers.advance(24 * 3600_000);
    await settleMany(10);
    expect(r.transport.sent.map((s) => s.originId)).toContain(second);
  });

  it("M2: two accounts over one store: a queue neither loads nor sends another account's messages", async () => {
    const store = memoryQueueStore();
    const a = await rig({ store, account: "juliet@example.com" });
    a.transport.online = false; // the message stays queued
    const id = await a.queue.send(ROMEO, "from juliet");
    await a.queue.close();
    const b = await rig({ store, account: "nurse@example.com" });
    await settleMany();
    expect(b.queue.get(id)).toBeUndefined();
    expect(b.transport.sent).toEqual([]);
  });

  it("M3: a cancel() whose delete fails to store leaves the message there to cancel again, and a restart does not send it", async () => {
    const inner = memoryQueueStore();
    let failNext = false;
    const store: QueueStore = {
      load: () => inner.load(),
      write: (batch: StoreBatch) => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error("disk full"));
        }
        return inner.write(batch);
      },
    };
    const a = await rig({ store });
    a.transport.online = false;
    const id = await a.queue.send(ROMEO, "do not send this");
    failNext = true;
    await expect(a.queue.cancel(id)).rejects.toMatchObject({ code: "STORE_FAILED" });
    // Either the cancel did not happen (the message is still there to cancel again) ...
    let again: unknown;
    try {
      await a.queue.cancel(id);
    } catch (e) {
      again = e;
    }
    await a.queue.close();
    // ... or it is durable; either way a restart does not send it.
    const b = await rig({ store });
    await settleMany();
    const sentAfterRestart = b.transport.sent.some((s) => s.originId === id);
    expect({ again: (again as { code?: string } | undefined)?.code, sentAfterRestart }).toEqual({
      again: undefined,
      sentAfterRestart: false,
    });
  });
});

/** A store whose writes wait until the test releases them, or fail when told to. */
class GatedStore implements QueueStore {
  readonly inner = memoryQueueStore();
  readonly waiting: Array<(fail: boolean) => void> = [];
  load() {
    return this.inner.load();
  }
  write(batch: StoreBatch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push((fail) => {
        if (fail) reject(new Error("disk full"));
        else void this.inner.write(batch).then(resolve);
      });
    });
  }
  release(fail = false): void {
    for (const go of this.waiting.splice(0)) go(fail);
  }
}

describe("review fixes: further guarantees", () => {
  it("H1: a head whose cancel is being stored blocks its conversation without spinning; the next leaves once it is stored", async () => {
    const store = new GatedStore();
    const transport = new CountingTransport();
    const r = await rig({ store, transport });
    transport.online = false;
    const sending = [r.queue.send(ROMEO, "one"), r.queue.send(ROMEO, "two")];
    await settleMany();
    store.release();
    const [a, b] = await Promise.all(sending);
    const cancelling = r.queue.cancel(a!);
    transport.calls = 0;
    r.transport.goOnline();
    await settleMany(10);
    expect(transport.calls).toBeLessThan(100);
    expect(r.transport.sent).toHaveLength(0);
    expect(r.queue.get(a!)?.state).toBe("queued"); // not gone until the removal is stored
    store.release();
    await cancelling;
    await settleMany();
    expect(r.transport.sent.map((s) => s.originId)).toEqual([b]);
    expect(r.queue.get(a!)).toBeUndefined();
  });

  it("H2: resend() reads the policy again: a message refused as plaintext-forbidden goes out in plaintext only when resent", async () => {
    const store = memoryQueueStore();
    const r = await rig({ store, allowPlaintext: true });
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "composed behind a lock icon");
    expect((await store.load())[0]).toMatchObject({ account: "juliet@example.com" });
    expect((await store.load())[0]?.mayBePlaintext).toBeUndefined();
    r.policy.defaults.set(ROMEO, "none");
    // The decision survives a restart.
    await r.queue.close();
    const again = await rig({ store, allowPlaintext: true, policy: r.policy });
    await settleMany();
    expect(again.queue.get(id)).toMatchObject({ state: "failed", reason: "plaintext-forbidden" });
    expect(again.transport.sent).toEqual([]);
    await again.queue.resend(id); // the user's explicit choice
    await settleMany();
    expect(again.transport.sent.map((s) => [s.originId, s.method, s.payload])).toEqual([
      [id, "none", "composed behind a lock icon"],
    ]);
  });

  it("M1: a send that does not settle by the step deadline is the transient ack-timeout; its signal aborts and a late result is ignored", async () => {
    const r = await rig({ limits: { stepTimeoutMs: 10_000 } });
    const signals: AbortSignal[] = [];
    let late: (o: { ok: true }) => void = () => undefined;
    r.transport.outcome = (s) => {
      signals.push(r.transport.lastSignal!);
      return s.attempt === 1 ? new Promise((resolve) => (late = resolve)) : { ok: true };
    };
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sending");
    r.timers.advance(10_000);
    await settleMany();
    expect(signals[0]!.aborted).toBe(true);
    expect(r.queue.get(id)).toMatchObject({ state: "queued", lastError: "ack-timeout", attempts: 2 });
    late({ ok: true }); // too late: ignored
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("queued");
    r.timers.advance(60_000);
    await settleMany();
    expect(r.transport.sent.map((s) => s.attempt)).toEqual([1, 2]);
    expect(r.queue.get(id)?.state).toBe("sent");
  });

  it("M1: a policy lookup or availability check that never settles times out as a transient error", async () => {
    const r = await rig({ fallback: false, limits: { stepTimeoutMs: 5_000 } });
    const original = r.policy.getContactSettings.bind(r.policy);
    let hang = true;
    r.policy.getContactSettings = (a, c) => (hang ? new Promise(() => undefined) : original(a, c));
    const id = r.queue.send(ROMEO, "x"); // send() reads the policy too, within the deadline
    await settleMany();
    r.timers.advance(5_000);
    await settleMany();
    expect((await r.store.load()).map((m) => m.mayBePlaintext)).toEqual([undefined]); // unknown: encrypted-only
    r.timers.advance(5_000);
    await settleMany();
    expect(r.queue.get(await id)).toMatchObject({ state: "queued", lastError: "error", attempts: 2 });
    hang = false;
    r.omemo.availability = () => new Promise(() => undefined);
    r.queue.retryNow();
    await settleMany();
    r.timers.advance(5_000);
    await settleMany();
    expect(r.queue.get(await id)).toMatchObject({ state: "queued", lastError: "error", attempts: 3 });
  });

  it("M2: another account's records are skipped with an event and left in the store; v1 records are adopted", async () => {
    const store = memoryQueueStore();
    const a = await rig({ store, account: "juliet@example.com" });
    a.transport.online = false;
    const id = await a.queue.send(ROMEO, "from juliet");
    await a.queue.close();
    // A v1 record (written before records carried their account) belongs to whoever opens the store.
    const v1 = `{"v":1,"id":"3f1c1a7e-0000-4000-8000-000000000000","c":"${ROMEO}","s":99,"b":"old","st":"queued","a":1,"t":1}`;
    store.records.set("3f1c1a7e-0000-4000-8000-000000000000", new TextEncoder().encode(v1));
    const b = await rig({ store, account: "Nurse@Example.com/phone" });
    await settleMany();
    expect(b.events).toContainEqual({ type: "skipped", id, reason: "other-account" });
    expect(b.transport.sent.map((s) => s.originId)).toEqual(["3f1c1a7e-0000-4000-8000-000000000000"]);
    expect(store.records.has(id)).toBe(true);
    const c = await rig({ store, account: "JULIET@example.com" }); // the same account, spelled otherwise
    await settleMany();
    expect(c.transport.sent.map((s) => s.originId)).toEqual([id]);
  });

  it("M3: a cancel of an in-flight message whose delete fails puts it back in its line; a second cancel removes it", async () => {
    const store = new GatedStore();
    const r = await rig({ store });
    let finish: () => void = () => undefined;
    r.omemo.negotiateWith = () =>
      new Promise(
        (resolve) =>
          (finish = () => {
            resolve({ ok: true });
          }),
      );
    const sending = r.queue.send(ROMEO, "x");
    await settleMany();
    store.release();
    const id = await sending;
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("negotiating");
    const cancelling = r.queue.cancel(id);
    const dup = r.queue.cancel(id); // joins the running cancel
    await settleMany();
    finish(); // the abandoned attempt's result is ignored
    await settleMany();
    expect(r.transport.sent).toEqual([]);
    store.release(true);
    await expect(cancelling).rejects.toMatchObject({ code: "STORE_FAILED" });
    await expect(dup).rejects.toMatchObject({ code: "STORE_FAILED" });
    // Back in its line as queued, and attempted again at once.
    expect(r.states.get(id)!.slice(-2)).toEqual(["queued", "negotiating"]);
    expect(r.events.filter((e) => e.type === "cancelled")).toEqual([]);
    const second = r.queue.cancel(id);
    for (let i = 0; i < 3; i++) {
      await settleMany();
      store.release(); // the restored record, then the delete
    }
    await second;
    await settleMany();
    expect(r.queue.get(id)).toBeUndefined();
    expect(await store.inner.load()).toEqual([]);
    expect(r.transport.sent).toEqual([]);
  });
});

describe("review fixes: lows", () => {
  it("a stored retryAt further ahead than backoffMaxMs (a clock set back) is clamped on load", async () => {
    const store = memoryQueueStore();
    const a = await rig({ store, timers: new ManualTimers(10 ** 12) });
    a.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const id = await a.queue.send(ROMEO, "x");
    await settleMany();
    expect(a.queue.get(id)?.state).toBe("queued");
    await a.queue.close();
    // Reopened with the clock a year behind: the retry runs within backoffMaxMs, not in a year.
    const b = await rig({ store, timers: new ManualTimers(10 ** 12 - 365 * 24 * 3600_000) });
    expect(b.queue.get(id)!.retryAt! - b.timers.now()).toBeLessThanOrEqual(BACKOFF_MAX_MS);
    b.timers.advance(BACKOFF_MAX_MS);
    await settleMany();
    expect(b.transport.sent.map((s) => s.originId)).toEqual([id]);
  });

  it("send() normalises the conversation to the lower-case bare JID: one conversation, one FIFO", async () => {
    const r = await rig();
    r.transport.online = false;
    const a = await r.queue.send("Romeo@Example.NET/balcony", "one");
    const b = await r.queue.send(ROMEO, "two");
    expect(r.queue.list(ROMEO).map((m) => [m.id, m.conversation])).toEqual([
      [a, ROMEO],
      [b, ROMEO],
    ]);
    expect(r.queue.list("ROMEO@example.net").length).toBe(2);
    await expect(r.queue.send("/resource", "x")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
