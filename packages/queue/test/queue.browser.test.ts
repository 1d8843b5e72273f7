/** The queue with its in-memory store in a real headless Chromium: no Node API is needed. */
import { describe, expect, it } from "vitest";
import { DuplicateFilter, isQueueError } from "../src/index.js";
import { FakeTransport, ROMEO, rig, settleMany, unseal, type FakeCiphertext } from "./helpers.js";

describe("queue in the browser", () => {
  it("sends encrypted, retries after a transient failure, and the receiver drops the duplicate", async () => {
    const r = await rig();
    let first = true;
    r.transport.outcome = () => {
      if (first) {
        first = false;
        return { ok: false, transient: true, reason: "ack-timeout" }; // it arrived, the ack was lost
      }
      return { ok: true };
    };
    const id = await r.queue.send(ROMEO, "hello from Chromium");
    await settleMany();
    r.timers.advance(1_000);
    await settleMany();
    expect(r.queue.get(id)?.state).toBe("sent");
    expect(r.transport.sent.map((s) => [s.originId, s.method, s.attempt])).toEqual([
      [id, "omemo", 1],
      [id, "omemo", 2],
    ]);
    const receiver = new DuplicateFilter();
    const shown = r.transport.sent
      .filter((s) => !receiver.isDuplicate("juliet@example.com", s.originId))
      .map((s) => unseal(s.payload as FakeCiphertext));
    expect(shown).toEqual(["hello from Chromium"]);
  });

  it("refuses plaintext by default and bad input with typed errors", async () => {
    const r = await rig({ transport: new FakeTransport() });
    r.policy.defaults.set(ROMEO, "none");
    const id = await r.queue.send(ROMEO, "x");
    await settleMany();
    expect(r.queue.get(id)).toMatchObject({ state: "failed", reason: "plaintext-forbidden" });
    await expect(r.queue.send("", "x")).rejects.toSatisfy((e) => isQueueError(e, "INVALID_ARGUMENT"));
  });
});
