/**
 * @parley/trust declares where it stores records as TrustStorage (packages/trust/src/storage.ts).
 * Declared again here, identically, so this test does not depend on a package built concurrently:
 * a namespace handle must satisfy it structurally and behave like its reference (a sorted Map).
 */
import { describe, expect, it } from "vitest";
import { EncryptedStore, MemoryBackend } from "../src/index.js";
import { bytes, FAST_KDF, text } from "./helpers.js";

interface TrustStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  scan(options?: { prefix?: string }): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** What comes next, declared the same way: sessions keyed by address and device, an ordered queue. */
type SessionStorage = TrustStorage;
type QueueStorage = TrustStorage;

describe("@parley/trust's TrustStorage is satisfied by a namespace handle", () => {
  it("type-checks structurally and round-trips trust records keyed account/contact/protocol/fingerprint", async () => {
    const db = await EncryptedStore.create(new MemoryBackend(), { passphrase: "p", kdf: FAST_KDF });
    const storage: TrustStorage = db.namespace("trust");
    const enc = encodeURIComponent;
    const key = (contact: string, fp: string) => `${enc("me@example.org")}/${enc(contact)}/omemo2/${fp}`;
    await storage.put(key("alice@example.org", "05aa"), bytes('{"state":"tofu"}'));
    await storage.put(key("alice@example.org", "05bb"), bytes('{"state":"verified"}'));
    await storage.put(key("bob@example.org", "05cc"), bytes('{"state":"untrusted"}'));
    const alice = await storage.scan({ prefix: `${enc("me@example.org")}/${enc("alice@example.org")}/` });
    expect(alice.map((r) => [r.key, text(r.value)])).toEqual([
      [key("alice@example.org", "05aa"), '{"state":"tofu"}'],
      [key("alice@example.org", "05bb"), '{"state":"verified"}'],
    ]);
    await storage.delete(key("alice@example.org", "05aa"));
    expect(await storage.get(key("alice@example.org", "05aa"))).toBeUndefined();
    expect((await storage.scan()).map((r) => r.key)).toEqual([
      key("alice@example.org", "05bb"),
      key("bob@example.org", "05cc"),
    ]);
    await db.close();
  });

  it("serves the next consumers: sessions by address and device, a per-conversation queue scanned in order", async () => {
    const db = await EncryptedStore.create(new MemoryBackend(), { passphrase: "p", kdf: FAST_KDF });
    const sessions: SessionStorage = db.namespace("sessions");
    const queue: QueueStorage = db.namespace("queue");
    for (const device of [7, 123, 42]) await sessions.put(`alice@example.org/${device}`, bytes(`s${device}`));
    expect((await sessions.scan({ prefix: "alice@example.org/" })).map((r) => r.key)).toEqual([
      "alice@example.org/123",
      "alice@example.org/42",
      "alice@example.org/7",
    ]);
    // Sequence numbers zero-padded so string order is send order.
    const seq = (n: number) => String(n).padStart(12, "0");
    for (const n of [3, 1, 10, 2]) await queue.put(`bob@example.org/${seq(n)}`, bytes(`m${n}`));
    await queue.put(`carol@example.org/${seq(1)}`, bytes("other conversation"));
    expect((await queue.scan({ prefix: "bob@example.org/" })).map((r) => text(r.value))).toEqual([
      "m1",
      "m2",
      "m3",
      "m10",
    ]);
    await db.close();
  });
});
