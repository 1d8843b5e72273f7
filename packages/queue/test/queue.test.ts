import { describe, expect, it } from "vitest";
import { isQueueError, memoryQueueStore, type QueueStore, type StoreBatch, type StoredMessage } from "../src/index.js";
import { FakeTransport, MERCUTIO, ROMEO, reverse, rig, settleMany, unseal, type FakeCiphertext } from "./helpers.js";

/** A store whose writes wait until the test releases them. */
class GatedStore implements QueueStore {
  readonly inner = memoryQueueStore();
  readonly waiting: Array<() => void> = [];
  load(): Promise<StoredMessage[]> {
    return this.inner.load();
  }
  write(batch: StoreBatch): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(() => {
        void this.inner.write(batch).then(resolve);
      });
    });
  }
  release(): void {
    for (const go of this.waiting.splice(0)) go();
  }
}

describe("send", () => {
  it("is persisted before send() resolves", async () => {
    const store = new GatedStore();
    const r = await rig({ store });
    let resolved = false;
    const pending = r.queue.send(ROMEO, "hello").then((id) => {
      resolved = true;
      return id;
    });
    await settleMany();
    expect(resolved).toBe(false);
    expect(store.inner.records.size).toBe(0);
    expect(r.transport.sent).toHaveLength(0);
    store.release();
    const id = await pending;
    expect(store.inner.records.has(id)).toBe(true);
    const [stored] = await store.inner.load();
    expect(stored).toMatchObject({ id, conversation: ROMEO, body: "hello", state: "queued", attempts: 1 });
  });

  it("a store that fails to write rejects send() with STORE_FAILED and holds nothing", async () => {
    const store: QueueStore = { load: () => Promise.resolve([]), write: () => Promise.reject(new Error("disk full")) };
    const r = await rig({ store });
    await expect(r.queue.send(ROMEO, "hello")).rejects.toSatisfy((e) => isQueueError(e, "STORE_FAILED"));
    expect(r.queue.size.held).toBe(0);
    expect(r.queue.list()).toEqual([]);
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
  });

  it("goes queued -> negotiating -> sending -> sent -> delivered, with events and the record removed at the end", async () => {
    const r = await rig();
    const id = await r.queue.send(ROMEO, "hello");
    await settleMany();
    expect(r.states.get(id)).toEqual(["queued", "negotiating", "sending", "sent"]);
    expect(r.transport.sent).toHaveLength(1);
    const stanza = r.transport.sent[0]!;
    expect(stanza).toMatchObject({ to: ROMEO, originId: id, method: "omemo", attempt: 1 });
    expect(unseal(stanza.payload as FakeCiphertext)).toBe("hello");
    expect(r.queue.get(id)?.state).toBe("sent");
    // Sent: only what a receipt needs is kept, no body in memory or in the store.
    expect((await r.store.load()).map((m) => [m.state, m.body])).toEqual([["sent", ""]]);
    expect(r.queue.body(id)).toBeUndefined();
    r.transport.emit({ type: "receipt", from: `${ROMEO}/balcony`, id });
    await settleMany();
    expect(r.states.get(id)!.at(-1)).toBe("delivered");
    expect(r.queue.get(id)).toBeUndefined();
    expect(await r.store.load()).toEqual([]);
  });

  it("origin-ids are UUID v4 from the injected randomness, and stay the same on every attempt", async () => {
    const a = await rig();
    const b = await rig();
    const idA = await a.queue.send(ROMEO, "x");
    const idB = await b.queue.send(ROMEO, "x");
    expect(idA).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idA).toBe(idB);
    const c = await rig();
    c.transport.outcome = (s) => (s.attempt < 3 ? { ok: false, transient: true, reason: "ack-timeout" } : { ok: true });
    const id = await c.queue.send(ROMEO, "x");
    for (let i = 0; i < 5; i++) {
      await settleMany();
      c.timers.advance(60_000);
    }
    expect(c.transport.sent.map((s) => [s.originId, s.attempt])).toEqual([
      [id, 1],
      [id, 2],
      [id, 3],
    ]);
  });

  it("a receipt from another JID does not mark the message delivered", async () => {
    const r = await rig();
    const id = await r.queue.send(ROMEO, "hello");
    await settleMany();
    r.transport.emit({ type: "receipt", from: "mallory@evil.example", id });
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
  });
});

describe("order", () => {
  it("keeps FIFO within a conversation: a retrying head holds the messages behind it", async () => {
    const r = await rig();
    let failFirst = true;
    r.transport.outcome = (s) => {
      if (failFirst && s.to === ROMEO) {
        failFirst = false;
        return { ok: false, transient: true, reason: "ack-timeout" };
      }
      return { ok: true };
    };
    const a = await r.queue.send(ROMEO, "one");
    const b = await r.queue.send(ROMEO, "two");
    const c = await r.queue.send(MERCUTIO, "three");
    await settleMany();
    // Mercutio's conversation went on; Romeo's waits for its head's retry.
    expect(r.transport.sent.map((s) => s.originId)).toEqual([a, c]);
    expect(r.queue.get(b)?.state).toBe("queued");
    r.timers.advance(1_000);
    await settleMany();
    expect(r.transport.sent.map((s) => s.originId)).toEqual([a, c, a, b]);
  });

  it("a message's failure is stored before the next message of its conversation leaves", async () => {
    const store = new GatedStore();
    const r = await rig({ store });
    r.transport.outcome = (st) =>
      st.originId === first ? { ok: false, transient: false, reason: "peer-rejected" } : { ok: true };
    let first = "";
    const sending = [r.queue.send(ROMEO, "one"), r.queue.send(ROMEO, "two")];
    await settleMany();
    store.release();
    const [a, b] = await Promise.all(sending);
    first = a!;
    await settleMany();
    expect(r.queue.get(a!)?.state).toBe("failed");
    // The failure is being written: "two" waits, so a crash now cannot bring "one" back behind it.
    expect(r.transport.sent.map((st) => st.originId)).toEqual([a]);
    store.release();
    await settleMany();
    expect(r.transport.sent.map((st) => st.originId)).toEqual([a, b]);
  });

  it("a cancelled message's removal is stored before the next message of its conversation leaves", async () => {
    const store = new GatedStore();
    const r = await rig({ store });
    r.transport.online = false;
    const sending = [r.queue.send(ROMEO, "one"), r.queue.send(ROMEO, "two")];
    await settleMany();
    store.release();
    const [a, b] = await Promise.all(sending);
    const cancelling = r.queue.cancel(a!);
    r.transport.goOnline();
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    store.release();
    await cancelling;
    await settleMany();
    expect(r.transport.sent.map((st) => st.originId)).toEqual([b]);
  });

  it("sends many messages of one conversation in order while others interleave", async () => {
    const r = await rig();
    const ids: Record<string, string[]> = { [ROMEO]: [], [MERCUTIO]: [] };
    for (let i = 0; i < 20; i++) {
      const to = i % 3 === 0 ? MERCUTIO : ROMEO;
      ids[to]!.push(await r.queue.send(to, `m${i}`));
    }
    await settleMany(20);
    for (const to of [ROMEO, MERCUTIO])
      expect(r.transport.sent.filter((s) => s.to === to).map((s) => s.originId)).toEqual(ids[to]);
  });
});

describe("encryption choice", () => {
  it("never sends plaintext when the contact's default is none and plaintext is not allowed", async () => {
    const r = await rig();
    r.policy.defaults.set(ROMEO, "none");
    const id = await r.queue.send(ROMEO, "secret");
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "plaintext-forbidden" });
  });

  it("sends plaintext only when both the app allows it and the contact's default is none", async () => {
    const r = await rig({ allowPlaintext: true });
    r.policy.defaults.set(ROMEO, "none");
    const id = await r.queue.send(ROMEO, "hi");
    const other = await r.queue.send(MERCUTIO, "still secret");
    await settleMany();
    expect(r.transport.sent.find((s) => s.originId === id)).toEqual({
      to: ROMEO,
      originId: id,
      method: "none",
      payload: "hi",
      attempt: 1,
    });
    // Allowing plaintext changes nothing for a contact whose default is an encryption.
    const encrypted = r.transport.sent.find((s) => s.originId === other)!;
    expect(encrypted.method).toBe("omemo");
    expect(encrypted.payload).toEqual({ sealedBy: "omemo", to: MERCUTIO, box: reverse("still secret") });
    expect(r.omemo.negotiations).toBe(1);
  });

  it("does not fall back to plaintext when no encryption is available, even with plaintext allowed", async () => {
    const r = await rig({ allowPlaintext: true });
    r.omemo.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "no-trusted-device" });
    r.otr.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "contact-offline-otr-required" });
    const id = await r.queue.send(ROMEO, "secret");
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "no-trusted-device" });
  });

  it("falls back from OMEMO to OTR (both encrypted) unless fallback is off", async () => {
    const r = await rig();
    r.omemo.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "no-trusted-device" });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.transport.sent.map((s) => s.method)).toEqual(["otr"]);
    expect(r.queue.get(id)?.method).toBe("otr");

    const strict = await rig({ fallback: false });
    strict.omemo.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "no-trusted-device" });
    const id2 = await strict.queue.send(ROMEO, "x");
    await settleMany();
    expect(strict.transport.sent).toHaveLength(0);
    expect(strict.queue.get(id2)).toMatchObject({ state: "failed", reason: "no-trusted-device" });
  });

  it("OTR required and the contact offline fails with contact-offline-otr-required", async () => {
    const r = await rig({ fallback: false });
    r.policy.defaults.set(ROMEO, "otr");
    r.otr.availabilityOf.set(ROMEO, { available: false, transient: false, reason: "contact-offline-otr-required" });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "contact-offline-otr-required" });
  });

  it("a method with no provider wired is never chosen", async () => {
    const r = await rig({ providers: {} });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "no-encryption-available" });
  });

  it("a negotiation that does not finish in time is aborted and retried", async () => {
    const r = await rig({ limits: { negotiationTimeoutMs: 5_000 } });
    const signals: AbortSignal[] = [];
    r.omemo.negotiateWith = (_c, signal) => {
      signals.push(signal);
      return new Promise(() => undefined);
    };
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("negotiating");
    r.timers.advance(5_000);
    await settleMany();
    expect(signals[0]!.aborted).toBe(true);
    expect(r.queue.get(id)).toMatchObject({ state: "queued", lastError: "negotiation-timeout", attempts: 2 });
    expect(r.transport.sent).toHaveLength(0);
  });

  it("peer-rejected from the transport fails at once, without retries", async () => {
    const r = await rig();
    r.transport.outcome = () => ({ ok: false, transient: false, reason: "peer-rejected" });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    r.timers.advance(3_600_000);
    await settleMany();
    expect(r.transport.sent).toHaveLength(1);
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "peer-rejected" });
  });

  it("a provider that throws counts as a transient error", async () => {
    const r = await rig();
    r.omemo.negotiateWith = () => {
      throw new Error("boom");
    };
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "queued", lastError: "error", attempts: 2 });
  });
});

describe("retries", () => {
  it("backs off exponentially with jitter, capped, and stops at the attempt cap with retries-exhausted", async () => {
    const r = await rig({ limits: { maxAttempts: 6, backoffBaseMs: 1_000, backoffMaxMs: 8_000 } });
    r.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const id = await r.queue.send(ROMEO, "x");
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      await settleMany();
      const next = r.timers.nextAt();
      if (next === undefined) break;
      delays.push(next - r.timers.now());
      r.timers.advance(next - r.timers.now());
    }
    await settleMany();
    expect(r.transport.sent).toHaveLength(6);
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "retries-exhausted", lastError: "ack-timeout" });
    // Five delays between six attempts: each in [½, 1] of min(8 s, 1 s·2^(k−1)).
    expect(delays).toHaveLength(5);
    delays.forEach((d, k) => {
      const full = Math.min(8_000, 1_000 * 2 ** k);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    });
    const events = r.events.filter((e) => e.type === "retry");
    expect(events).toHaveLength(5);
  });

  it("a retry does not run before its attempt number is stored", async () => {
    const store = new GatedStore();
    const sending = rig({ store });
    const r = await sending;
    r.transport.outcome = (st) =>
      st.attempt === 1 ? { ok: false, transient: true, reason: "ack-timeout" } : { ok: true };
    const pending = r.queue.send(ROMEO, "x");
    await settleMany();
    store.release();
    const id = await pending;
    await settleMany();
    expect(r.transport.sent).toHaveLength(1);
    // The reservation of attempt 2 is being written; its time comes, but it waits for the write.
    expect(store.waiting).toHaveLength(1);
    r.timers.advance(60_000);
    await settleMany();
    expect(r.transport.sent).toHaveLength(1);
    store.release();
    await settleMany();
    expect(r.transport.sent.map((st) => st.attempt)).toEqual([1, 2]);
    expect(r.queue.get(id)?.state).toBe("sent");
    expect((await store.inner.load())[0]).toMatchObject({ id, attempts: 2 });
  });

  it("retryNow() runs a waiting retry at once", async () => {
    const r = await rig();
    let n = 0;
    r.transport.outcome = () => (n++ === 0 ? { ok: false, transient: true, reason: "ack-timeout" } : { ok: true });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("queued");
    r.queue.retryNow();
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
  });

  it("waits while offline without using attempts, and resumes on reconnect", async () => {
    const r = await rig();
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    r.timers.advance(3_600_000);
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    expect(r.queue.get(id)).toMatchObject({ state: "queued", attempts: 1 });
    r.transport.goOnline();
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
  });

  it("a send failing because our connection dropped is not counted and resumes on reconnect", async () => {
    const r = await rig();
    r.transport.outcome = () => {
      r.transport.online = false;
      return { ok: false, transient: true, reason: "offline" };
    };
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "queued", attempts: 1 });
    r.transport.outcome = () => ({ ok: true });
    r.transport.goOnline();
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
    expect(r.transport.sent.map((s) => s.attempt)).toEqual([1, 1]);
  });

  it("a reconnect that arrives while the conversation's pump is stopping is not lost", async () => {
    const r = await rig();
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    r.queue.retryNow(); // the pump runs, sees "offline" and is stopping ...
    r.transport.goOnline(); // ... when the reconnect kicks it
    await settleMany();
    expect(r.transport.sent.map((s) => s.originId)).toEqual([id]);
  });

  it("reconnecting runs backed-off retries now", async () => {
    const r = await rig();
    let n = 0;
    r.transport.outcome = () => (n++ === 0 ? { ok: false, transient: true, reason: "ack-timeout" } : { ok: true });
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    r.transport.goOffline();
    r.transport.goOnline();
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
  });
});

describe("resend and cancel", () => {
  it("resend() puts a failed message at the end of its conversation with the same id and fresh attempts", async () => {
    const r = await rig();
    r.transport.outcome = () => ({ ok: false, transient: false, reason: "peer-rejected" });
    const a = await r.queue.send(ROMEO, "one");
    await settleMany();
    expect(r.queue.get(a)?.state).toBe("failed");
    r.transport.online = false;
    const b = await r.queue.send(ROMEO, "two");
    r.transport.outcome = () => ({ ok: true });
    await r.queue.resend(a);
    expect(r.queue.list(ROMEO).map((m) => [m.id, m.state, m.attempts])).toEqual([
      [b, "queued", 1],
      [a, "queued", 1],
    ]);
    r.transport.goOnline();
    await settleMany();
    expect(r.transport.sent.map((s) => s.originId)).toEqual([a, b, a]);
    expect(r.states.get(a)).toEqual([
      "queued",
      "negotiating",
      "sending",
      "failed",
      "queued",
      "negotiating",
      "sending",
      "sent",
    ]);
  });

  it("resend() of a message that has not failed is INVALID_STATE and changes nothing", async () => {
    const r = await rig();
    r.transport.online = false;
    const id = await r.queue.send(ROMEO, "x");
    const before = r.queue.list();
    await expect(r.queue.resend(id)).rejects.toSatisfy((e) => isQueueError(e, "INVALID_STATE"));
    await expect(r.queue.resend("nope")).rejects.toSatisfy((e) => isQueueError(e, "NOT_FOUND"));
    expect(r.queue.list()).toEqual(before);
  });

  it("cancel() removes a queued message from memory and the store", async () => {
    const r = await rig();
    r.transport.online = false;
    const a = await r.queue.send(ROMEO, "one");
    const b = await r.queue.send(ROMEO, "two");
    await r.queue.cancel(a);
    expect((await r.store.load()).map((m) => m.id)).toEqual([b]);
    expect(r.events.some((e) => e.type === "cancelled" && e.id === a)).toBe(true);
    r.transport.goOnline();
    await settleMany();
    expect(r.transport.sent.map((s) => s.originId)).toEqual([b]);
    expect(r.queue.size.held).toBe(0);
  });

  it("cancel() during negotiation abandons the attempt; a sent message cannot be cancelled", async () => {
    const r = await rig();
    let finish: () => void = () => undefined;
    r.omemo.negotiateWith = () =>
      new Promise((resolve) => {
        finish = () => {
          resolve({ ok: true });
        };
      });
    const a = await r.queue.send(ROMEO, "one");
    await settleMany();
    expect(r.queue.get(a)?.state).toBe("negotiating");
    await r.queue.cancel(a);
    finish();
    await settleMany();
    expect(r.transport.sent).toHaveLength(0);
    r.omemo.negotiateWith = () => ({ ok: true });
    const b = await r.queue.send(ROMEO, "two");
    await settleMany();
    expect(r.queue.get(b)?.state).toBe("sent");
    await expect(r.queue.cancel(b)).rejects.toSatisfy((e) => isQueueError(e, "INVALID_STATE"));
  });
});

describe("bounds and bad input", () => {
  it("QUEUE_FULL per conversation, in total and in bytes; nothing changes", async () => {
    const r = await rig({ limits: { maxPerConversation: 2, maxTotal: 3, maxTotalBytes: 20 } });
    r.transport.online = false;
    await r.queue.send(ROMEO, "a");
    await r.queue.send(ROMEO, "b");
    await expect(r.queue.send(ROMEO, "c")).rejects.toSatisfy((e) => isQueueError(e, "QUEUE_FULL"));
    await r.queue.send(MERCUTIO, "c");
    await expect(r.queue.send("tybalt@example.com", "d")).rejects.toSatisfy((e) => isQueueError(e, "QUEUE_FULL"));
    expect(r.queue.size).toEqual({ held: 3, heldBytes: 3, awaitingReceipt: 0 });
    expect(await r.store.load()).toHaveLength(3);

    const bytes = await rig({ limits: { maxTotalBytes: 10 } });
    bytes.transport.online = false;
    await bytes.queue.send(ROMEO, "12345678");
    await expect(bytes.queue.send(ROMEO, "123")).rejects.toSatisfy((e) => isQueueError(e, "QUEUE_FULL"));
    expect(bytes.queue.size.heldBytes).toBe(8);
  });

  it("concurrent sends cannot overshoot the bound while they are being stored", async () => {
    const r = await rig({ limits: { maxTotal: 5 } });
    r.transport.online = false;
    const results = await Promise.allSettled(Array.from({ length: 9 }, (_, i) => r.queue.send(ROMEO, `m${i}`)));
    expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(5);
    expect(await r.store.load()).toHaveLength(5);
  });

  it("failed messages count until resent or cancelled", async () => {
    const r = await rig({ limits: { maxPerConversation: 1 } });
    r.transport.outcome = () => ({ ok: false, transient: false, reason: "peer-rejected" });
    const a = await r.queue.send(ROMEO, "a");
    await settleMany();
    await expect(r.queue.send(ROMEO, "b")).rejects.toSatisfy((e) => isQueueError(e, "QUEUE_FULL"));
    await r.queue.cancel(a);
    await r.queue.send(ROMEO, "b");
  });

  it("bad arguments are INVALID_ARGUMENT and change nothing", async () => {
    const r = await rig({ limits: { maxBodyBytes: 16 } });
    r.transport.online = false;
    const bad: Array<[unknown, unknown]> = [
      ["", "x"],
      [42, "x"],
      [ROMEO, 42],
      [ROMEO, "\ud800"],
      [ROMEO, "x".repeat(17)],
      [ROMEO, "é".repeat(9)],
      ["x".repeat(3072), "x"],
    ];
    for (const [to, body] of bad) {
      await expect(r.queue.send(to as string, body as string)).rejects.toSatisfy((e) =>
        isQueueError(e, "INVALID_ARGUMENT"),
      );
    }
    expect(r.queue.size.held).toBe(0);
    expect(await r.store.load()).toEqual([]);
    const transport = new FakeTransport();
    const badLimits: unknown[] = [{ maxAttempts: 0 }, { maxTotal: 10_001 }, { nope: 1 }, { backoffBaseMs: 1.5 }];
    for (const limits of badLimits) {
      await expect(rig({ transport, limits: limits as never })).rejects.toSatisfy((e) =>
        isQueueError(e, "INVALID_ARGUMENT"),
      );
    }
    expect(transport.listeners).toBe(0);
  });

  it("sent messages awaiting a receipt are bounded: the oldest is forgotten", async () => {
    const r = await rig({ limits: { maxAwaitingReceipt: 2 } });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await r.queue.send(ROMEO, `m${i}`));
    await settleMany(10);
    expect(r.queue.size.awaitingReceipt).toBe(2);
    expect(r.events.filter((e) => e.type === "forgotten").map((e) => (e as { id: string }).id)).toEqual([ids[0]]);
    expect((await r.store.load()).map((m) => m.id).sort()).toEqual([ids[1], ids[2]].sort());
  });

  it("after close() every call is CLOSED and the transport is unsubscribed", async () => {
    const r = await rig();
    await r.queue.close();
    expect(r.transport.listeners).toBe(0);
    await expect(r.queue.send(ROMEO, "x")).rejects.toSatisfy((e) => isQueueError(e, "CLOSED"));
    expect(() => {
      r.queue.retryNow();
    }).toThrow(/closed/);
  });
});

describe("restart", () => {
  it("resumes queued messages, keeps failed ones failed, waits for receipts of sent ones", async () => {
    const store = memoryQueueStore();
    const first = await rig({ store });
    first.transport.outcome = (s) =>
      s.to === MERCUTIO ? { ok: false, transient: false, reason: "peer-rejected" } : { ok: true };
    const sent = await first.queue.send(ROMEO, "sent one");
    const failed = await first.queue.send(MERCUTIO, "failed one");
    await settleMany();
    first.transport.online = false;
    const queued = await first.queue.send(ROMEO, "queued one");
    // Crash: the old instance is dropped without close().

    const second = await rig({ store });
    await settleMany();
    expect(second.queue.get(sent)?.state).toBe("sent");
    expect(second.queue.get(failed)).toMatchObject({ state: "failed", reason: "peer-rejected" });
    expect(second.transport.sent.map((s) => s.originId)).toEqual([queued]);
    second.transport.emit({ type: "receipt", from: ROMEO, id: sent });
    await settleMany();
    expect(second.queue.get(sent)).toBeUndefined();
    // New messages keep their place after the resumed ones.
    const next = await second.queue.send(ROMEO, "after");
    expect(second.queue.list(ROMEO).map((m) => m.id)).toEqual([queued, next]);
  });

  it("a receipt for a message resumed as queued marks it delivered without sending it again", async () => {
    const store = memoryQueueStore();
    const first = await rig({ store });
    first.transport.online = false;
    const id = await first.queue.send(ROMEO, "x");
    const second = await rig({ store, transport: Object.assign(new FakeTransport(), { online: false }) });
    second.transport.emit({ type: "receipt", from: ROMEO, id });
    await settleMany();
    second.transport.goOnline();
    await settleMany();
    expect(second.transport.sent).toHaveLength(0);
    expect(second.states.get(id)).toEqual(["delivered"]);
    expect(await store.load()).toEqual([]);
  });
});
