/**
 * The queue on @parley/storage's EncryptedStore (memory and SQLite backends) through
 * @parley/queue/storage, and on @parley/trust's TrustStore as its ContactPolicy.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EncryptedStore, memoryBackend, type StorageBackend } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { createTrustStore, memoryTrustStorage } from "@parley/trust";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord } from "../src/codec.js";
import { isQueueError, memoryQueueStore, type StoredMessage } from "../src/index.js";
import { encryptedQueueStore } from "../src/storage.js";
import { FakeTransport, ROMEO, rig, settleMany } from "./helpers.js";

const FAST_KDF = { N: 16, r: 1, p: 1, dkLen: 32 };

const BACKENDS: Array<{ name: string; fresh: () => { open: () => Promise<StorageBackend>; cleanup: () => void } }> = [
  {
    name: "memory",
    fresh: () => {
      const b = memoryBackend();
      return { open: () => Promise.resolve(b), cleanup: () => undefined };
    },
  },
  {
    name: "sqlite",
    fresh: () => {
      const dir = mkdtempSync(join(tmpdir(), "parley-queue-"));
      return {
        open: () => openSqliteBackend(join(dir, "q.db")),
        cleanup: () => {
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

describe.each(BACKENDS)("encryptedQueueStore on the $name backend", ({ fresh }) => {
  it("survives a restart: queued resumes, failed stays, delivered is gone", async () => {
    const { open, cleanup } = fresh();
    try {
      let db = await EncryptedStore.create(await open(), { passphrase: "p", kdf: FAST_KDF });
      const first = await rig({ store: encryptedQueueStore(db) });
      first.transport.outcome = (s) =>
        s.payload !== undefined && first.transport.sent.length === 1
          ? { ok: false, transient: false, reason: "peer-rejected" }
          : { ok: true };
      const failed = await first.queue.send(ROMEO, "rejected");
      await settleMany();
      const delivered = await first.queue.send(ROMEO, "delivered");
      await settleMany();
      first.transport.emit({ type: "receipt", from: ROMEO, id: delivered });
      first.transport.online = false;
      const queued = await first.queue.send(ROMEO, "queued");
      await first.queue.close();
      await db.close();

      db = await EncryptedStore.open(await open(), { passphrase: "p" });
      const second = await rig({ store: encryptedQueueStore(db) });
      expect(second.queue.get(failed)).toMatchObject({ state: "failed", reason: "peer-rejected" });
      expect(second.queue.get(delivered)).toBeUndefined();
      expect(second.queue.body(queued)).toBe("queued");
      await settleMany();
      expect(second.transport.sent.map((s) => s.originId)).toEqual([queued]);
      await second.queue.close();
      await db.close();
    } finally {
      cleanup();
    }
  });

  it("a record not written by the queue is CORRUPTED at open", async () => {
    const { open, cleanup } = fresh();
    try {
      const db = await EncryptedStore.create(await open(), { passphrase: "p", kdf: FAST_KDF });
      await db.namespace("queue").put("x", new TextEncoder().encode('{"v":1}'));
      await expect(rig({ store: encryptedQueueStore(db) })).rejects.toSatisfy((e) => isQueueError(e, "CORRUPTED"));
      await db.close();
    } finally {
      cleanup();
    }
  });
});

describe("store adapter errors", () => {
  it("a failing encrypted store is STORE_FAILED with the cause attached", async () => {
    const db = await EncryptedStore.create(memoryBackend(), { passphrase: "p", kdf: FAST_KDF });
    const store = encryptedQueueStore(db);
    await db.close();
    const error: unknown = await store.load().catch((e: unknown) => e);
    expect(isQueueError(error, "STORE_FAILED")).toBe(true);
    expect((error as Error).cause).toBeDefined();
  });
});

describe("record codec", () => {
  const base: StoredMessage = {
    id: "3f1c1a7e-0000-4000-8000-000000000000",
    conversation: ROMEO,
    seq: 7,
    body: "héllo 👋",
    state: "failed",
    attempts: 3,
    createdAt: 1_700_000_000_000,
    retryAt: 1_700_000_001_000,
    method: "otr",
    reason: "retries-exhausted",
    lastError: "ack-timeout",
    account: "juliet@example.com",
    mayBePlaintext: true,
  };
  it("round-trips every field", () => {
    expect(decodeRecord(encodeRecord(base), base.id)).toEqual(base);
  });
  it("reads a v2 record as written by this version (the stored format is pinned)", () => {
    const v2 =
      '{"v":2,"id":"3f1c1a7e-0000-4000-8000-000000000000","c":"romeo@example.net","s":7,"b":"hi","st":"queued","a":2,"t":1700000000000,"r":1700000001000,"le":"ack-timeout","ac":"juliet@example.com","pt":true}';
    const m = decodeRecord(new TextEncoder().encode(v2));
    expect(m).toEqual({
      id: "3f1c1a7e-0000-4000-8000-000000000000",
      conversation: ROMEO,
      seq: 7,
      body: "hi",
      state: "queued",
      attempts: 2,
      createdAt: 1_700_000_000_000,
      retryAt: 1_700_000_001_000,
      lastError: "ack-timeout",
      account: "juliet@example.com",
      mayBePlaintext: true,
    });
    expect(new TextDecoder().decode(encodeRecord(m))).toBe(v2);
  });

  it("reads a v1 record (before accounts and the plaintext flag) as no account's and encrypted-only", () => {
    const v1 =
      '{"v":1,"id":"3f1c1a7e-0000-4000-8000-000000000000","c":"romeo@example.net","s":7,"b":"hi","st":"queued","a":2,"t":1700000000000,"r":1700000001000,"le":"ack-timeout","pt":true}';
    const m = decodeRecord(new TextEncoder().encode(v1));
    expect(m).toEqual({
      id: "3f1c1a7e-0000-4000-8000-000000000000",
      conversation: ROMEO,
      seq: 7,
      body: "hi",
      state: "queued",
      attempts: 2,
      createdAt: 1_700_000_000_000,
      retryAt: 1_700_000_001_000,
      lastError: "ack-timeout",
    });
    expect(m.mayBePlaintext).toBeUndefined();
  });

  it("refuses what it would not have written", () => {
    const enc = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
    const good = JSON.parse(new TextDecoder().decode(encodeRecord(base))) as Record<string, unknown>;
    const cases: unknown[] = [
      { ...good, v: 3 },
      { ...good, ac: undefined },
      { ...good, ac: "" },
      { ...good, pt: false },
      { ...good, st: "sending" },
      { ...good, a: 99 },
      { ...good, s: -1 },
      { ...good, b: 5 },
      { ...good, why: "because" },
      { ...good, why: undefined },
      { ...good, m: "rot13" },
      [],
    ];
    for (const doc of cases)
      expect(() => decodeRecord(enc(doc))).toThrow(expect.toSatisfy((e) => isQueueError(e, "CORRUPTED")));
    expect(() => decodeRecord(new Uint8Array([0xff]))).toThrow(/unreadable/);
    expect(() => decodeRecord(encodeRecord(base), "other-key")).toThrow(/key/);
  });
});

describe("@parley/trust's TrustStore as the ContactPolicy", () => {
  it("the contact's default encryption decides: omemo, otr, none (plaintext only where allowed)", async () => {
    const trust = createTrustStore({ storage: memoryTrustStorage() });
    const me = "juliet@example.com";
    await trust.setContactSettings(me, "otr-fan@example.net", { defaultEncryption: "otr" });
    await trust.setContactSettings(me, "plain@example.net", { defaultEncryption: "none" });
    const strict = await rig({ policy: trust, store: memoryQueueStore() });
    const a = await strict.queue.send(ROMEO, "1");
    const b = await strict.queue.send("otr-fan@example.net", "2");
    const c = await strict.queue.send("plain@example.net", "3");
    await settleMany();
    expect(strict.transport.sent.map((s) => [s.originId, s.method])).toEqual([
      [a, "omemo"],
      [b, "otr"],
    ]);
    expect(strict.queue.get(c)).toMatchObject({ state: "failed", reason: "plaintext-forbidden" });

    const lax = await rig({ policy: trust, allowPlaintext: true, transport: new FakeTransport() });
    const d = await lax.queue.send("plain@example.net", "4");
    await settleMany();
    expect(lax.transport.sent.map((s) => [s.originId, s.method, s.payload])).toEqual([[d, "none", "4"]]);
  });
});
