import { existsSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRecord, decodeSettings, encodeRecord } from "../src/codec.js";
import {
  createTrustStore,
  FORMAT_VERSION,
  isTrustError,
  memoryTrustStorage,
  TRUST_STATES,
  VERIFICATION_METHODS,
} from "../src/index.js";
import type { TrustHistoryEntry, TrustRecord, TrustStorage } from "../src/index.js";

interface Fixture {
  rows: Array<{ key: string; value: string }>;
}
const fixtureUrl = (version: number) => new URL(`./fixtures/v${version}/store.json`, import.meta.url);
const utf8 = (text: string) => new TextEncoder().encode(text);

async function loadFixture(version: number): Promise<TrustStorage> {
  const fixture = JSON.parse(readFileSync(fixtureUrl(version), "utf8")) as Fixture;
  const storage = memoryTrustStorage();
  for (const row of fixture.rows) await storage.put(row.key, utf8(row.value));
  return storage;
}

describe("state is data: every earlier format version loads", () => {
  it("has a checked-in fixture for every version up to the current one", () => {
    for (let version = 1; version <= FORMAT_VERSION; version++) expect(existsSync(fixtureUrl(version))).toBe(true);
  });

  for (let version = 1; version <= FORMAT_VERSION; version++)
    it(`v${version} fixture: records, states, history and settings come back through the store's key layout`, async () => {
      const store = createTrustStore({ storage: await loadFixture(version) });
      const me = "me@example.com";
      const bob = "bob@example.net";
      const a = await store.getRecord(
        me,
        bob,
        "omemo",
        "a364484c7c74a0d427b89d8a5613de8c2fc0179ea493392242348b0e597d9b06",
      );
      expect(a).toMatchObject({ state: "tofu", deviceId: 1522580533, firstSeenAt: 1700000000000 });
      const b = await store.getRecord(
        me,
        bob,
        "omemo",
        "44AFEB6E 69C09CCB 0DB769CB A844A8EA B246066E 54147EAB B65590D3 AD90E411",
      );
      expect(b?.state).toBe("verified");
      expect(b?.history[1]).toEqual({
        state: "verified",
        at: 1700000200000,
        cause: { kind: "user", method: "qr", actor: "phone" },
      });
      expect((await store.getRecord(me, bob, "otr", "07771c1ab53e3e891f6643bbea44acd382f1e7f9"))?.state).toBe(
        "compromised",
      );
      expect((await store.shouldEncryptTo(me, bob, "otr", "07771c1ab53e3e891f6643bbea44acd382f1e7f9")).reason).toBe(
        "compromised",
      );
      const obrien = await store.listRecords(me, "o'brien@example.org/laptop");
      expect(obrien.map((r) => [r.state, r.history[0]!.cause])).toEqual([
        ["untrusted", { kind: "first-seen", policy: "btbv", firstBatch: true }],
      ]);
      expect(await store.listRecords(me)).toHaveLength(4);
      expect(await store.getContactSettings(me, bob)).toEqual({ defaultEncryption: "otr", muted: true });
      // A later key for bob is not a first key: the loaded records count.
      expect((await store.keySeen(me, bob, "omemo", "11".repeat(32))).state).toBe("untrusted");
    });

  it("the current encoder writes v1 exactly as the fixture has it (the format did not drift while FORMAT_VERSION is 1)", () => {
    if (FORMAT_VERSION !== 1) return;
    const fixture = JSON.parse(readFileSync(fixtureUrl(1), "utf8")) as Fixture;
    for (const row of fixture.rows.filter((r) => r.key.startsWith("rec/")))
      expect(JSON.parse(new TextDecoder().decode(encodeRecord(decodeRecord(utf8(row.value)))))).toEqual(
        JSON.parse(row.value),
      );
  });
});

describe("decoding refuses what it cannot trust", () => {
  const good = () => {
    const fixture = JSON.parse(readFileSync(fixtureUrl(1), "utf8")) as Fixture;
    return JSON.parse(fixture.rows[1]!.value) as Record<string, unknown>;
  };
  const bytes = (doc: unknown) => utf8(JSON.stringify(doc));

  it("a newer format version: UNSUPPORTED_VERSION, telling the user to upgrade", () => {
    expect(() => decodeRecord(bytes({ ...good(), v: FORMAT_VERSION + 1 }))).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_VERSION", message: expect.stringContaining("upgrade") as unknown }),
    );
  });

  const corrupt: Array<[string, Uint8Array]> = [
    ["not UTF-8", Uint8Array.from([0xff, 0xfe])],
    ["not JSON", utf8("{")],
    ["an array", bytes([])],
    ["no version", bytes({ ...good(), v: undefined })],
    ["version 0", bytes({ ...good(), v: 0 })],
    ["settings where a record is expected", bytes({ ...good(), t: "contact" })],
    ["an unknown state", bytes({ ...good(), state: "trusted" })],
    ["an uppercase fingerprint", bytes({ ...good(), fingerprint: "AB" })],
    ["an empty history", bytes({ ...good(), history: [] })],
    ["an unknown cause", bytes({ ...good(), history: [{ state: "tofu", at: 1, cause: { kind: "magic" } }] })],
    [
      "an unknown method",
      bytes({ ...good(), history: [{ state: "verified", at: 1, cause: { kind: "user", method: "vibes" } }] }),
    ],
    ["a negative device id", bytes({ ...good(), deviceId: -1 })],
    ["a string timestamp", bytes({ ...good(), firstSeenAt: "yesterday" })],
  ];
  it.each(corrupt)("%s: CORRUPT_RECORD", (_, input) => {
    expect(() => decodeRecord(input)).toThrow(expect.objectContaining({ name: "TrustError", code: "CORRUPT_RECORD" }));
  });

  it("settings with a bad method or muted flag: CORRUPT_RECORD", () => {
    const doc = { v: 1, t: "contact", account: "a", contact: "b", defaultEncryption: "omemo", muted: false };
    expect(decodeSettings(bytes(doc)).settings).toEqual({ defaultEncryption: "omemo", muted: false });
    for (const broken of [
      { ...doc, defaultEncryption: "pgp" },
      { ...doc, muted: "no" },
    ])
      expect(() => decodeSettings(bytes(broken))).toThrow(expect.objectContaining({ code: "CORRUPT_RECORD" }));
  });

  it("a corrupt row makes reads fail loudly rather than look like an unknown key", async () => {
    const storage = memoryTrustStorage();
    const store = createTrustStore({ storage });
    await store.keySeen("me@x", "b@y", "demo", "aa");
    const [row] = await storage.scan({ prefix: "rec/" });
    await storage.put(row!.key, utf8("garbage"));
    await expect(store.shouldEncryptTo("me@x", "b@y", "demo", "aa")).rejects.toSatisfy((e) =>
      isTrustError(e, "CORRUPT_RECORD"),
    );
  });
});

describe("encode/decode round-trips any record", () => {
  const id = fc.string({ minLength: 1, maxLength: 20 });
  const entry: fc.Arbitrary<TrustHistoryEntry> = fc.record({
    state: fc.constantFrom(...TRUST_STATES),
    at: fc.integer({ min: 0, max: 2 ** 45 }),
    cause: fc.oneof(
      fc.record({ kind: fc.constant("first-seen" as const), policy: id, firstBatch: fc.boolean() }),
      fc.record(
        { kind: fc.constant("user" as const), method: fc.constantFrom(...VERIFICATION_METHODS), actor: id },
        { requiredKeys: ["kind"] },
      ),
    ),
  });
  const record: fc.Arbitrary<TrustRecord> = fc.record(
    {
      account: id,
      contact: id,
      protocol: id,
      fingerprint: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b).toString("hex")),
      state: fc.constantFrom(...TRUST_STATES),
      deviceId: fc.integer({ min: 0, max: 0xffffffff }),
      firstSeenAt: fc.integer({ min: 0, max: 2 ** 45 }),
      history: fc.array(entry, { minLength: 1, maxLength: 5 }),
    },
    { requiredKeys: ["account", "contact", "protocol", "fingerprint", "state", "firstSeenAt", "history"] },
  );
  it("decode(encode(r)) equals r", () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(decodeRecord(encodeRecord(r))).toEqual(r);
      }),
    );
  });
});
