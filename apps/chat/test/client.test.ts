// The chat client's pieces that need no server: the outgoing queue's OMEMO provider, which stops using
// OMEMO while the user has turned it off for this device (`/omemo off`), and otherwise needs a device the
// trust store does not refuse. (The OTR provider is tested with OtrChat, in test/otr.test.ts.)
import { NS_LEGACY, NS_V2, type OmemoNamespace } from "@parley/omemo";
import { createTrustStore, memoryTrustStorage } from "@parley/trust";
import { describe, expect, it } from "vitest";
import { omemoProvider, type OmemoProviderHost } from "../src/client.js";

const ME = "alice@example.org";
const BOB = "bob@example.net";

function host(devices: Partial<Record<OmemoNamespace, number[]>>) {
  const encrypted: string[] = [];
  const h = {
    jid: ME,
    omemoEnabled: true,
    account: {
      omemo: {
        devices: (_jid: string, ns: OmemoNamespace) => Promise.resolve(devices[ns] ?? []),
        encrypt: (to: string) => {
          encrypted.push(to);
          return Promise.resolve({ messages: [{ namespace: NS_V2, encrypted: {} }], devices: [], undeliverable: [] });
        },
      },
    },
    profile: { trust: createTrustStore({ storage: memoryTrustStorage() }) },
  };
  return { host: h, encrypted };
}

describe("the queue's OMEMO provider", () => {
  const signal = new AbortController().signal;

  it("is unavailable while OMEMO is off for this device, and encrypts nothing; available again once on", async () => {
    const { host: h, encrypted } = host({ [NS_V2]: [7], [NS_LEGACY]: [7] });
    const provider = omemoProvider(Promise.resolve(h as unknown as OmemoProviderHost));
    expect(await provider.availability(BOB, signal)).toEqual({ available: true });
    h.omemoEnabled = false;
    expect(await provider.availability(BOB, signal)).toEqual({
      available: false,
      transient: false,
      reason: "no-encryption-available",
    });
    // Turned off after the queue chose OMEMO for a message: still nothing goes out with it.
    expect(await provider.encrypt({ id: "m1", to: BOB, body: "hi" }, signal)).toEqual({
      ok: false,
      transient: false,
      reason: "no-encryption-available",
    });
    expect(encrypted).toEqual([]);
    h.omemoEnabled = true;
    expect(await provider.availability(BOB, signal)).toEqual({ available: true });
    expect(await provider.encrypt({ id: "m2", to: BOB, body: "hi" }, signal)).toMatchObject({ ok: true });
    expect(encrypted).toEqual([BOB]);
  });

  it("a contact without devices (its last one turned OMEMO off) has no trusted device", async () => {
    const { host: h } = host({});
    const provider = omemoProvider(Promise.resolve(h as unknown as OmemoProviderHost));
    expect(await provider.availability(BOB, signal)).toEqual({
      available: false,
      transient: false,
      reason: "no-trusted-device",
    });
  });
});
