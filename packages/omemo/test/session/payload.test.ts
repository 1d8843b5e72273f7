// The payload ciphers (XEP-0384 v0.3.0 §4.5 and docs/libsignal-wire-format.md §5; v0.8.3 §4.4/§4.5),
// the stored records, and what the manager lets print.
import { createCrypto } from "@parley/crypto";
import fc from "fast-check";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { isOmemoError, NS_V2, parseXml, serializeXml } from "../../src/index.js";
import { openLegacy, openV2, sealLegacy, sealV2 } from "../../src/session/payload.js";
import {
  decodeAccount,
  decodeDeviceList,
  decodePreKeys,
  decodeSession,
  encodeAccount,
  encodeDeviceList,
  encodePreKeys,
  encodeSession,
  sessionRevision,
} from "../../src/session/records.js";
import { ALICE, BOB, World } from "./world.js";

const crypto = createCrypto();
const te = new TextEncoder();

function expectCode(fn: () => unknown, code: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(isOmemoError(error) && error.code === code, String(error)).toBe(true);
}

describe("v0.3.0 §4.5 legacy payload: AES-128-GCM, 12-byte IV, key || tag through the ratchet", () => {
  it("has the sizes deployed clients use and round-trips", () => {
    const sealed = sealLegacy(crypto, te.encode("hello"));
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.keyMaterial).toHaveLength(32);
    expect(sealed.payload).toHaveLength(5); // the tag travels with the key
    expect(new TextDecoder().decode(openLegacy(crypto, sealed.keyMaterial, sealed.iv, sealed.payload))).toBe("hello");
    // The same as plain AES-128-GCM with the tag appended (what python-oldmemo and Conversations do).
    const key = sealed.keyMaterial.subarray(0, 16);
    const tag = sealed.keyMaterial.subarray(16);
    expect(crypto.aesGcmDecrypt(key, sealed.iv, Uint8Array.of(...sealed.payload, ...tag))).toEqual(te.encode("hello"));
  });

  it("accepts 16-byte key material with the tag at the end of the payload (early Conversations)", () => {
    const key = crypto.randomBytes(16);
    const iv = crypto.randomBytes(16);
    const sealed = crypto.aesGcmEncrypt(key, iv, te.encode("old style"));
    expect(new TextDecoder().decode(openLegacy(crypto, key, iv, sealed))).toBe("old style");
  });

  it("any flipped bit in payload or key material is DECRYPTION_FAILED", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.nat(), fc.boolean(), (plaintext, at, inKey) => {
        const s = sealLegacy(crypto, plaintext);
        const target = inKey || s.payload.length === 0 ? s.keyMaterial.slice() : s.payload.slice();
        target[at % target.length]! ^= 1 << (at % 8);
        const km = inKey || s.payload.length === 0 ? target : s.keyMaterial;
        const payload = inKey || s.payload.length === 0 ? s.payload : target;
        expectCode(() => openLegacy(crypto, km, s.iv, payload), "DECRYPTION_FAILED");
      }),
      { numRuns: 200 },
    );
    expectCode(
      () => openLegacy(crypto, new Uint8Array(20), new Uint8Array(12), new Uint8Array(4)),
      "DECRYPTION_FAILED",
    );
  });
});

describe("v0.8.3 §4.4 OMEMO 2 payload: HKDF 'OMEMO Payload', AES-256-CBC, HMAC-SHA-256/16", () => {
  it("follows the steps of §4.4 exactly", () => {
    const sealed = sealV2(crypto, te.encode("<envelope/>"));
    expect(sealed.keyMaterial).toHaveLength(48);
    const key = sealed.keyMaterial.subarray(0, 32);
    const okm = crypto.hkdfSha256(key, new Uint8Array(32), te.encode("OMEMO Payload"), 80);
    const mac = crypto.hmacSha256(okm.subarray(32, 64), sealed.payload).subarray(0, 16);
    expect(sealed.keyMaterial.subarray(32)).toEqual(mac);
    expect(crypto.aesCbcDecrypt(okm.subarray(0, 32), okm.subarray(64, 80), sealed.payload)).toEqual(
      te.encode("<envelope/>"),
    );
    expect(openV2(crypto, sealed.keyMaterial, sealed.payload)).toEqual(te.encode("<envelope/>"));
  });

  it("any flipped bit is DECRYPTION_FAILED, the MAC checked before the padding (§4.5)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.nat(), fc.boolean(), (plaintext, at, inKey) => {
        const s = sealV2(crypto, plaintext);
        const target = inKey ? s.keyMaterial.slice() : s.payload.slice();
        target[at % target.length]! ^= 1 << (at % 8);
        expectCode(
          () => openV2(crypto, inKey ? target : s.keyMaterial, inKey ? s.payload : target),
          "DECRYPTION_FAILED",
        );
      }),
      { numRuns: 200 },
    );
    expectCode(() => openV2(crypto, new Uint8Array(32), new Uint8Array(16)), "DECRYPTION_FAILED");
  });
});

describe("stored records", () => {
  it("round-trip, and anything else is STORE_CORRUPT", () => {
    const account = { jid: ALICE, deviceId: 42, seed: crypto.randomBytes(32), createdAt: 5 };
    expect(decodeAccount(encodeAccount(account))).toEqual(account);
    const session = {
      revision: 3,
      session: Uint8Array.of(1, 2, 3),
      previous: [Uint8Array.of(4)],
      retiredBaseKeys: [Uint8Array.of(9)],
      heartbeatAt: null,
    };
    expect(decodeSession(encodeSession(session))).toEqual(session);
    const list = {
      devices: [
        { id: 1, active: true, label: "phone" },
        { id: 2, active: false },
      ],
    };
    expect(decodeDeviceList(encodeDeviceList(list))).toEqual(list);
    const pk = { id: 1, privateKey: crypto.randomBytes(32), publicKey: crypto.randomBytes(32) };
    const preKeys = {
      signed: [{ ...pk, signature: crypto.randomBytes(64), createdAt: 7 }],
      oneTime: [pk],
      nextPreKeyId: 2,
      nextSignedPreKeyId: 2,
    };
    expect(decodePreKeys(encodePreKeys(preKeys))).toEqual(preKeys);
    const bad = [
      new Uint8Array([0xff]),
      te.encode("[]"),
      te.encode(JSON.stringify({ v: 2, jid: ALICE })),
      te.encode(JSON.stringify({ v: 1, jid: ALICE, deviceId: 0, seed: "", createdAt: 1 })),
    ];
    for (const b of bad) expectCode(() => decodeAccount(b), "STORE_CORRUPT");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeAccount, decodeSession, decodeDeviceList, decodePreKeys]) {
          try {
            decode(bytes);
          } catch (e) {
            expect(isOmemoError(e, "STORE_CORRUPT")).toBe(true);
          }
        }
      }),
    );
  });

  it("session records (binary) round-trip for any content, and every cut or extension of one is refused or read exactly", () => {
    const record = fc.record(
      {
        revision: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        session: fc.uint8Array({ minLength: 1, maxLength: 600 }),
        previous: fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 4 }),
        retiredBaseKeys: fc.array(fc.uint8Array({ minLength: 32, maxLength: 33 }), { maxLength: 16 }),
        heartbeatAt: fc.option(fc.integer({ min: 0, max: 0xfffffffe }), { nil: null }),
        rekey: fc.constant(true as const),
        noSend: fc.array(fc.uint8Array({ minLength: 1, maxLength: 33 }), { minLength: 1, maxLength: 4 }),
      },
      { requiredKeys: ["revision", "session", "previous", "retiredBaseKeys", "heartbeatAt"] },
    );
    fc.assert(
      fc.property(record, fc.nat(), (r, cut) => {
        const bytes = encodeSession(r);
        expect(decodeSession(bytes)).toEqual(r);
        // A truncated record never decodes to something else than the truth about its prefix.
        const short = bytes.subarray(0, cut % bytes.length);
        try {
          const d = decodeSession(short);
          expect(d.revision).toBe(r.revision);
        } catch (e) {
          expect(isOmemoError(e, "STORE_CORRUPT")).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a session record without flags is written as version 1, byte for byte as before; the rekey flag needs version 2", () => {
    const base = {
      revision: 7,
      session: Uint8Array.of(1, 2, 3),
      previous: [],
      retiredBaseKeys: [],
      heartbeatAt: 4,
    };
    // tag, version 1, revision, heartbeat + 1, two empty lists, the session (the format of 2026-12).
    const v1 = Uint8Array.of(0x53, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 1, 2, 3);
    expect(encodeSession(base)).toEqual(v1);
    expect(encodeSession({ ...base, rekey: false })).toEqual(v1);
    const flagged = encodeSession({ ...base, rekey: true });
    expect(Array.from(flagged)).toEqual([0x53, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5, 1, 0, 0, 1, 2, 3]);
    expect(decodeSession(flagged)).toEqual({ ...base, rekey: true });
    expect(sessionRevision(flagged)).toBe(7);
    // Version 2 with no flag, or an unknown one, is not something we wrote.
    for (const f of [0, 2, 0x81]) {
      const odd = flagged.slice();
      odd[14] = f;
      expectCode(() => decodeSession(odd), "STORE_CORRUPT");
    }
  });

  it("a corrupt session record makes that device fail with STORE_CORRUPT, nothing else", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "x");
    await world.network.flush();
    const kv = alice.store.namespace("omemo");
    const key = (await kv.scan({ prefix: "session/" }))[0]!.key;
    await kv.put(key, te.encode("{"));
    const r = await alice.manager.encrypt(BOB, { body: "y" });
    expect(r.devices[0]!.deviceId).toBe(bob.deviceId);
    expect(isOmemoError(r.devices[0]!.error, "STORE_CORRUPT")).toBe(true);
    expect(r.undeliverable).toEqual([BOB]);
  });
});

describe("no secrets in toString, inspect, JSON or errors", () => {
  it("the manager, decrypt results and errors print no keys, seeds or plaintext", async () => {
    const world = new World();
    const alice = await world.add(ALICE, { namespaces: [NS_V2] });
    const bob = await world.add(BOB, { namespaces: [NS_V2] });
    await world.send(alice, BOB, "the secret plan");
    await world.network.flush();
    const result = bob.received[0]!.result!;
    const seed = (await alice.store.namespace("omemo").get("account"))!;
    const seedB64 = (JSON.parse(new TextDecoder().decode(seed)) as { seed: string }).seed;
    const seedHex = Buffer.from(seedB64, "base64").toString("hex");
    for (const text of [
      String(alice.manager),
      inspect(alice.manager),
      JSON.stringify(alice.manager),
      inspect(result, { depth: 5 }),
    ]) {
      expect(text).not.toContain("the secret plan");
      expect(text).not.toContain(seedB64);
      expect(text).not.toContain(seedHex);
    }
    expect(inspect(result)).toContain("redacted");
    // Key material (here: a key transport) is readable but neither printed nor serialized.
    const material = new Uint8Array(32).fill(0xab);
    const transported = await alice.manager.encryptKeyTransport(BOB, { keyMaterial: material });
    const s0 = world.network.queue.length;
    expect(s0).toBe(0);
    const kt = await bob.manager.decrypt(
      parseXml(`<message from='${ALICE}/x' to='${BOB}'>${serializeXml(transported.messages[0]!.encrypted)}</message>`),
    );
    expect(kt.keyMaterial).toEqual(material);
    for (const text of [JSON.stringify(kt), inspect(kt, { depth: 5 }), inspect({ ...kt }, { depth: 5 })]) {
      expect(text).not.toContain("ab".repeat(8));
      expect(text).not.toContain("171, 171");
      expect(text).not.toContain(Buffer.from(material).toString("base64"));
    }
    expect(String(alice.manager)).toContain(String(alice.deviceId));
    // An error from a tampered message names no key, payload or JID.
    const stanza = world.network.queue[0]?.stanza;
    expect(stanza).toBeUndefined();
    await world.send(alice, BOB, "second secret");
    const s = world.network.queue.splice(0)[0]!.stanza;
    const payload = s.getChild("encrypted", NS_V2)!.getChild("payload")!;
    const b = Buffer.from(payload.getText(), "base64");
    b[3]! ^= 0x10;
    payload.children = [b.toString("base64")];
    const error = await bob.manager.decrypt(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOmemoError(error, "DECRYPTION_FAILED")).toBe(true);
    const message = (error as Error).message;
    expect(message).not.toContain(ALICE);
    expect(message).not.toContain(b.toString("base64"));
  });
});

describe("openLegacyPayload and openV2Payload (the public openers)", () => {
  const crypto = createCrypto();
  const te = new TextEncoder();
  it("open what the session manager's sealers made, with the default or a given provider", async () => {
    const { openLegacyPayload, openV2Payload } = await import("../../src/index.js");
    const l = sealLegacy(crypto, te.encode("legacy text"));
    expect(new TextDecoder().decode(openLegacyPayload(l.keyMaterial, l.iv, l.payload))).toBe("legacy text");
    const n = sealV2(crypto, te.encode("<envelope/>"));
    expect(new TextDecoder().decode(openV2Payload(n.keyMaterial, n.payload, { crypto }))).toBe("<envelope/>");
  });

  it("refuse tampered payloads and wrong key material with DECRYPTION_FAILED", async () => {
    const { openLegacyPayload, openV2Payload } = await import("../../src/index.js");
    const l = sealLegacy(crypto, te.encode("legacy text"));
    const badPayload = Uint8Array.from(l.payload);
    badPayload[0]! ^= 1;
    expect(() => openLegacyPayload(l.keyMaterial, l.iv, badPayload)).toThrow(
      expect.objectContaining({ code: "DECRYPTION_FAILED" }),
    );
    expect(() => openLegacyPayload(l.keyMaterial.subarray(0, 20), l.iv, l.payload)).toThrow(
      expect.objectContaining({ code: "DECRYPTION_FAILED" }),
    );
    const n = sealV2(crypto, te.encode("<envelope/>"));
    const badMac = Uint8Array.from(n.keyMaterial);
    badMac[47]! ^= 1;
    expect(() => openV2Payload(badMac, n.payload)).toThrow(expect.objectContaining({ code: "DECRYPTION_FAILED" }));
  });
});
