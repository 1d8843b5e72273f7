/**
 * The store's per-record primitives on node:crypto (src/record-crypto.ts) must give exactly the bytes
 * of the noble provider, which browsers use: a store written in one opens in the other.
 */
import fc from "fast-check";
import { createCrypto } from "@parley/crypto";
import { describe, expect, it } from "vitest";
import { facadeRecordCrypto, nativeRecordCrypto, recordCryptoFor } from "../src/record-crypto.js";
import { defaultCrypto } from "@parley/crypto";
import { utf8 } from "../src/encoding.js";
import { EncryptedStore, MemoryBackend } from "../src/index.js";
import { FAST_KDF, bytes, text } from "./helpers.js";

const noble = facadeRecordCrypto(createCrypto({ provider: "noble" }));
const native = nativeRecordCrypto()!;
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 24, maxLength: 24 });
const data = fc.uint8Array({ maxLength: 600 });

describe("record crypto: node:crypto path == noble", () => {
  it("is the native path in Node with the default Crypto, the facade with any Crypto a caller passes", () => {
    expect(native.path).toBe("native");
    expect(recordCryptoFor(defaultCrypto()).path).toBe(defaultCrypto().provider === "native" ? "native" : "facade");
    expect(recordCryptoFor(createCrypto({ provider: "native" })).path).toBe("facade");
    expect(recordCryptoFor(createCrypto({ provider: "noble" })).path).toBe("facade");
  });

  it("XChaCha20-Poly1305 seal: byte-identical; each opens the other's", () => {
    fc.assert(
      fc.property(key, nonce, data, data, (k, n, plaintext, ad) => {
        const a = native.seal(k, n, plaintext, ad);
        const b = noble.seal(k, n, plaintext, ad);
        expect(a).toEqual(b);
        expect(native.open(k, n, b, ad)).toEqual(plaintext);
        expect(noble.open(k, n, a, ad)).toEqual(plaintext);
      }),
      { numRuns: 300 },
    );
  });

  it("seal with room reserved in front: those bytes, then exactly the same ciphertext and tag", () => {
    fc.assert(
      fc.property(key, nonce, data, data, fc.integer({ min: 0, max: 40 }), (k, n, plaintext, ad, reserve) => {
        const expected = noble.seal(k, n, plaintext, ad);
        for (const rc of [native, noble]) {
          const out = rc.seal(k, n, plaintext, ad, reserve);
          expect(out.length).toBe(reserve + expected.length);
          expect(out.subarray(reserve)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("open refuses the same forgeries: any flipped bit of ciphertext, tag, nonce, key or associated data", () => {
    fc.assert(
      fc.property(
        key,
        nonce,
        data,
        data,
        fc.constantFrom("sealed", "nonce", "key", "ad"),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (k, n, plaintext, ad, where, at, bit) => {
          const sealed = noble.seal(k, n, plaintext, ad);
          const parts = { sealed: sealed.slice(), nonce: n.slice(), key: k.slice(), ad: ad.slice() };
          const target = parts[where];
          fc.pre(target.length > 0);
          target[at % target.length]! ^= 1 << bit;
          expect(native.open(parts.key, parts.nonce, parts.sealed, parts.ad)).toBeUndefined();
          expect(noble.open(parts.key, parts.nonce, parts.sealed, parts.ad)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
    expect(native.open(new Uint8Array(32), new Uint8Array(24), new Uint8Array(15), new Uint8Array(0))).toBeUndefined();
  });

  it("HMAC-SHA256, one call or a keyed MAC reused: byte-identical (keys shorter and longer than a block)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), data, data, (k, message, second) => {
        const expected = noble.hmacSha256(k, message);
        expect(native.hmacSha256(k, message)).toEqual(expected);
        const mac = native.macFor(k);
        expect(mac(message)).toEqual(expected);
        expect(mac(second)).toEqual(noble.hmacSha256(k, second));
        expect(mac(message)).toEqual(expected);
        expect(noble.macFor(k)(message)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("HChaCha20 matches the XChaCha20 draft's test vector (draft-irtf-cfrg-xchacha-03 §2.2.1)", async () => {
    const { hchacha20 } = await import("../src/record-crypto.js");
    const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/[^0-9a-f]/g, ""), "hex"));
    const out = new Uint8Array(32);
    hchacha20(
      hex("00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f"),
      hex("00:00:00:09:00:00:00:4a:00:00:00:00:31:41:59:27"),
      out,
    );
    expect(Buffer.from(out).toString("hex")).toBe("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
  });
});

describe("byte helpers on the hot path", () => {
  it("utf8 gives TextEncoder's bytes for any well-formed string (ASCII fast path and the rest)", () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: "grapheme", maxLength: 60 }),
          fc.string({ unit: "binary-ascii", maxLength: 300 }),
        ),
        (s) => {
          expect(utf8(s)).toEqual(encoder.encode(s));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("a store written on one path opens on the other", () => {
  it("records and integrity state sealed natively open with noble, and the other way round", async () => {
    const backend = new MemoryBackend();
    const nativeStore = await EncryptedStore.create(backend, { passphrase: "p", kdf: FAST_KDF });
    const ns = nativeStore.namespace("sessions");
    await ns.put("alice/1", bytes("one"));
    await nativeStore.transaction(async (tx) => {
      await tx.namespace("sessions").put("alice/2", bytes("two"));
      await tx.namespace("trust").put("bob/ü", bytes("three"));
    });
    await ns.delete("alice/1");
    await nativeStore.close();

    const nobleCrypto = createCrypto({ provider: "noble" });
    const nobleStore = await EncryptedStore.open(backend, { passphrase: "p", crypto: nobleCrypto, verify: "full" });
    expect(text(await nobleStore.namespace("sessions").get("alice/2"))).toBe("two");
    expect(text(await nobleStore.namespace("trust").get("bob/ü"))).toBe("three");
    expect(await nobleStore.namespace("sessions").get("alice/1")).toBeUndefined();
    await nobleStore.namespace("sessions").put("alice/3", bytes("four"));
    expect(nobleStore.commitCounter).toBe(4);
    await nobleStore.close();

    const again = await EncryptedStore.open(backend, { passphrase: "p", verify: "full" });
    const rows = await again.namespace("sessions").scan({ prefix: "alice/" });
    expect(rows.map((r) => [r.key, text(r.value)])).toEqual([
      ["alice/2", "two"],
      ["alice/3", "four"],
    ]);
    expect(again.commitCounter).toBe(4);
    await again.close();
  });
});
