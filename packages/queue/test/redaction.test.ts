/** Message bodies are user plaintext: they never appear in errors, inspect output, JSON, events or logs. */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { isQueueError, memoryQueueStore } from "../src/index.js";
import { encryptedQueueStore } from "../src/storage.js";
import { FakeTransport, ROMEO, reverse, rig, settleMany } from "./helpers.js";

const SECRET = "the-password-is-swordfish";

describe("redaction of message bodies", () => {
  it("does not show a body in inspect, JSON, events, logs or errors, through a whole life cycle", async () => {
    const lines: string[] = [];
    const errors: unknown[] = [];
    const r = await rig({ log: (line) => lines.push(line), limits: { maxAttempts: 2, maxPerConversation: 2 } });
    r.transport.outcome = () => ({ ok: false, transient: true, reason: "ack-timeout" });
    const id = await r.queue.send(ROMEO, SECRET);
    await r.queue.send(ROMEO, SECRET + "2");
    await settleMany();
    r.timers.advance(60_000);
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("failed");
    // Errors: a full queue, a wrong state, a body too long, a lone surrogate.
    for (const attempt of [
      () => r.queue.send(ROMEO, SECRET),
      () => r.queue.send(ROMEO, SECRET.repeat(10_000)),
      () => r.queue.send(ROMEO, SECRET + "\ud800"),
      () => r.queue.cancel("no-such-id"),
    ]) {
      errors.push(await attempt().catch((e: unknown) => e));
    }
    await r.queue.resend(id);
    r.transport.outcome = () => ({ ok: true });
    await settleMany();
    r.transport.emit({ type: "receipt", from: ROMEO, id });
    await settleMany();
    expect(errors.every((e) => isQueueError(e))).toBe(true);
    const shown = [
      inspect(r.queue, { depth: 10, showHidden: true }),
      JSON.stringify(r.queue),
      String(r.queue),
      inspect(r.queue.list(), { depth: 10 }),
      JSON.stringify(r.queue.list()),
      inspect(r.events, { depth: 10 }),
      JSON.stringify(r.events),
      ...lines,
      ...errors.map((e) => inspect(e, { depth: 10 })),
      ...errors.map((e) => String(e)),
    ].join("\n");
    expect(lines.length).toBeGreaterThan(5);
    expect(shown).not.toContain("swordfish");
    expect(shown).not.toContain(reverse(SECRET).slice(0, 10)); // nor the fake ciphertext
    // The body is reachable only when asked for by id.
    expect(r.queue.body(r.queue.list()[0]!.id)).toContain("swordfish");
  });

  it("a corrupted record's error does not quote the record", async () => {
    const store = memoryQueueStore();
    const bad = new TextEncoder().encode(JSON.stringify({ v: 1, id: "x", b: SECRET, st: "weird" }));
    store.records.set("x", bad);
    const error: unknown = await rig({ store, transport: new FakeTransport() }).catch((e: unknown) => e);
    expect(isQueueError(error, "CORRUPTED")).toBe(true);
    expect(inspect(error, { depth: 10 })).not.toContain("swordfish");
  });

  it("a failing encrypted store's error names no body", async () => {
    const failing = {
      namespace: () => ({
        put: () => Promise.reject(new Error("disk")),
        delete: () => Promise.reject(new Error("disk")),
        scan: () => Promise.resolve([]),
      }),
      transaction: () => Promise.reject(new Error("disk")),
    };
    const r = await rig({ store: encryptedQueueStore(failing) });
    const error: unknown = await r.queue.send(ROMEO, SECRET).catch((e: unknown) => e);
    expect(isQueueError(error, "STORE_FAILED")).toBe(true);
    expect(inspect(error, { depth: 10 })).not.toContain("swordfish");
  });
});
