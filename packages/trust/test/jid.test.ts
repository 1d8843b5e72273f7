import { describe, expect, it } from "vitest";
import { encodeRecord, encodeSettings } from "../src/codec.js";
import { storageKeys } from "../src/storage.js";
import { createTrustStore, isTrustError, memoryTrustStorage, normalizeJid } from "../src/index.js";
import type { TrustRecord, TrustStorage } from "../src/index.js";

const ME = "me@example.com";
const K1 = "11".repeat(32);
const K2 = "22".repeat(32);
const K3 = "33".repeat(32);

describe("RFC 7622 §3.2-3.3 JID comparison: the bare JID, case-insensitive, without a trailing dot", () => {
  it.each([
    ["Alice@Example.com", "alice@example.com"],
    ["ALICE@EXAMPLE.COM/Phone", "alice@example.com"],
    ["Example.COM", "example.com"],
    ["Élise@Exämple.org/Tab/A@B", "élise@exämple.org"],
    ["alice@example.com", "alice@example.com"],
    ["romeo@example.net.", "romeo@example.net"],
    ["romeo@Example.NET./evil", "romeo@example.net"],
    ["example.net.", "example.net"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeJid(input)).toBe(expected);
  });
});

describe("one contact whatever the case it is written in", () => {
  it("the review's case: a key verified from Alice@Example.com's URI is verified for alice@example.com", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen(ME, "alice@example.com", "omemo", K1);
    await store.applyUri(ME, `xmpp:Alice@Example.com?omemo-sid-5=${K2}`);
    expect((await store.keySeen(ME, "alice@example.com", "omemo", K2)).state).toBe("verified");
    expect((await store.shouldEncryptTo(ME, "ALICE@example.COM", "omemo", K2)).reason).toBe("verified");
  });

  it("keysSeen, getRecord, listRecords, settings and forgetContact see one contact; records carry the normalised JID", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    await store.keySeen("Me@Example.com", "Alice@Example.com", "omemo", K1);
    const second = await store.keySeen(ME, "alice@EXAMPLE.com", "omemo", K2);
    expect(second.state).toBe("untrusted");
    expect(second).toMatchObject({ account: ME, contact: "alice@example.com" });
    expect(await store.listRecords(ME, "ALICE@example.com")).toHaveLength(2);
    expect((await store.getRecord(ME, "alice@example.com", "omemo", K1))?.state).toBe("tofu");
    await store.setContactSettings(ME, "Alice@Example.com", { muted: true });
    expect((await store.getContactSettings(ME, "alice@example.com")).muted).toBe(true);
    await store.forgetContact(ME, "ALICE@EXAMPLE.COM");
    expect(await store.listRecords(ME, "alice@example.com")).toEqual([]);
    expect(await store.listRecords(ME)).toEqual([]);
  });
});

describe("applyUri with the chat the user scanned in (as Conversations does)", () => {
  const uri = `xmpp:Bob@Example.NET/laptop?omemo-sid-5=${K2}`;

  it("verifies when the URI's bare JID is that contact, ignoring case of localpart and domain", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const [record] = await store.applyUri(ME, uri, { expectedContact: "bob@example.net" });
    expect(record).toMatchObject({ contact: "bob@example.net", state: "verified" });
  });

  it("refuses a URI for someone else with CONTACT_MISMATCH and verifies nothing", async () => {
    const store = createTrustStore({ storage: memoryTrustStorage() });
    const error: unknown = await store
      .applyUri(ME, uri, { expectedContact: "carol@example.net" })
      .catch((e: unknown) => e);
    expect(isTrustError(error, "CONTACT_MISMATCH")).toBe(true);
    expect((error as Error).message).toContain("carol@example.net");
    expect(await store.listRecords(ME)).toEqual([]);
    await expect(store.applyUri(ME, uri, { expectedContact: "bob@example.net.evil" })).rejects.toSatisfy((e) =>
      isTrustError(e, "CONTACT_MISMATCH"),
    );
    // @ts-expect-error a JavaScript caller may pass anything
    await expect(store.applyUri(ME, uri, { expectedContact: 42 })).rejects.toSatisfy((e) =>
      isTrustError(e, "INVALID_ARGUMENT"),
    );
  });
});

/** A row exactly as @parley/trust v1 (before JID normalisation) wrote it: identifiers as the caller gave them. */
async function putV1Record(storage: TrustStorage, record: TrustRecord): Promise<void> {
  await storage.put(
    storageKeys.record(record.account, record.contact, record.protocol, record.fingerprint),
    encodeRecord(record),
  );
}

function v1Record(contact: string, fingerprint: string, history: TrustRecord["history"]): TrustRecord {
  return {
    account: "Me@Example.com",
    contact,
    protocol: "omemo",
    fingerprint,
    state: history.at(-1)!.state,
    firstSeenAt: history[0]!.at,
    history,
  };
}

describe("records a v1 store wrote under a non-normalised JID still load", () => {
  it("moves them to the normalised JID on first use; a clash keeps the latest user decision", async () => {
    const storage = memoryTrustStorage();
    // v1: the bug's own aftermath. K1 first seen under alice@, K2 verified from a URI under Alice@,
    // then K2 seen under alice@ and stored untrusted.
    await putV1Record(
      storage,
      v1Record("alice@example.com", K1, [
        { state: "tofu", at: 1, cause: { kind: "first-seen", policy: "tofu", firstBatch: true } },
      ]),
    );
    await putV1Record(
      storage,
      v1Record("Alice@Example.com", K2, [{ state: "verified", at: 2, cause: { kind: "user", method: "xmpp-uri" } }]),
    );
    await putV1Record(
      storage,
      v1Record("alice@example.com", K2, [
        { state: "untrusted", at: 3, cause: { kind: "first-seen", policy: "tofu", firstBatch: false } },
      ]),
    );
    await putV1Record(
      storage,
      v1Record("Alice@Example.com/Phone", K3, [
        { state: "tofu", at: 4, cause: { kind: "first-seen", policy: "tofu", firstBatch: true } },
      ]),
    );
    await storage.put(
      storageKeys.settings("Me@Example.com", "Alice@Example.com"),
      encodeSettings("Me@Example.com", "Alice@Example.com", { defaultEncryption: "otr", muted: true }),
    );

    const store = createTrustStore({ storage });
    expect((await store.getRecord(ME, "alice@example.com", "omemo", K2))?.state).toBe("verified");
    expect((await store.getRecord(ME, "alice@example.com", "omemo", K1))?.state).toBe("tofu");
    // K3 was stored under a full JID, a contact of its own then, with its own first batch: it joins the bare
    // contact, but as a later key (untrusted), since alice@example.com saw its first key before.
    const k3 = await store.getRecord(ME, "alice@example.com/Phone", "omemo", K3);
    expect(k3?.state).toBe("untrusted");
    expect(k3?.history.at(-1)?.cause).toEqual({ kind: "first-seen", policy: "jid-merge", firstBatch: false });
    expect(await store.getContactSettings(ME, "alice@example.com")).toEqual({ defaultEncryption: "otr", muted: true });
    const records = await store.listRecords(ME);
    expect(records.map((r) => [r.account, r.contact]).sort()).toEqual([
      [ME, "alice@example.com"],
      [ME, "alice@example.com"],
      [ME, "alice@example.com"],
    ]);
    // Only normalised rows and the marker remain; a second store does not redo the work.
    const keys = (await storage.scan()).map((row) => row.key);
    expect(keys.filter((k) => /Alice|Me%40/.test(k.split("/").slice(0, 3).join("/")))).toEqual([]);
    const reopened = createTrustStore({ storage });
    expect(await reopened.listRecords(ME)).toEqual(records);
  });
});
