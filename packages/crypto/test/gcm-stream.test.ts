// Streaming AES-GCM (src/gcm-stream.ts) against the one-shot aesGcmEncrypt, SP 800-38D §7.1/§7.2.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToHex,
  concatBytes,
  createAesGcmDecryptor,
  createAesGcmEncryptor,
  createCrypto,
  type GcmStreamProvider,
} from "../src/index.js";
import { inc32 } from "../src/gcm-stream.js";
import { hex, loadVectors, outcome } from "./helpers.js";

const oneShot = createCrypto({ provider: "native" });
const streamProviders: Array<"native" | "noble"> = ["native", "noble"];

/** Cuts `data` at the given (sorted, deduplicated) offsets. */
function chunk(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(data.subarray(start, p));
    start = p;
  }
  out.push(data.subarray(start));
  return out;
}

function streamEncrypt(
  provider: GcmStreamProvider,
  key: Uint8Array,
  iv: Uint8Array,
  chunks: Uint8Array[],
  aad?: Uint8Array,
): Uint8Array {
  const e = createAesGcmEncryptor(key, iv, aad === undefined ? { provider } : { provider, aad });
  const parts = chunks.map((c) => e.update(c));
  return concatBytes(...parts, e.final());
}

function streamDecrypt(
  provider: GcmStreamProvider,
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
  cuts: number[],
): Uint8Array {
  const d = createAesGcmDecryptor(key, iv, { provider });
  const body = sealed.subarray(0, sealed.length - 16);
  const parts = chunk(body, cuts).map((c) => d.update(c));
  d.final(sealed.subarray(sealed.length - 16));
  expect(d.verified).toBe(true);
  return concatBytes(...parts);
}

const keyArb = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
);
const ivArb = fc.oneof(
  fc.uint8Array({ minLength: 12, maxLength: 12 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
);
const cutsArb = fc.array(fc.nat(), { maxLength: 8 });

describe.each(streamProviders)("streaming AES-GCM (%s)", (provider) => {
  it("reports the provider asked for", () => {
    expect(createAesGcmEncryptor(new Uint8Array(32), new Uint8Array(12), { provider }).provider).toBe(provider);
    expect(createAesGcmDecryptor(new Uint8Array(32), new Uint8Array(12), { provider }).provider).toBe(provider);
  });

  it("§7.1: any chunking of any plaintext gives the one-shot aesGcmEncrypt bytes (12- and 16-byte IVs, AAD)", () => {
    fc.assert(
      fc.property(
        keyArb,
        ivArb,
        fc.uint8Array({ maxLength: 300 }),
        cutsArb,
        fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
        (key, iv, pt, cuts, aad) => {
          const expected = oneShot.aesGcmEncrypt(key, iv, pt, aad);
          expect(bytesToHex(streamEncrypt(provider, key, iv, chunk(pt, cuts), aad))).toBe(bytesToHex(expected));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("§7.2: any chunking decrypts the one-shot output back to the plaintext", () => {
    fc.assert(
      fc.property(keyArb, ivArb, fc.uint8Array({ maxLength: 300 }), cutsArb, (key, iv, pt, cuts) => {
        const sealed = oneShot.aesGcmEncrypt(key, iv, pt);
        expect(bytesToHex(streamDecrypt(provider, key, iv, sealed, cuts))).toBe(bytesToHex(pt));
      }),
      { numRuns: 300 },
    );
  });

  it("§7.2: any flipped bit in ciphertext or tag is DECRYPT_FAILED, and verified stays false", () => {
    fc.assert(
      fc.property(keyArb, ivArb, fc.uint8Array({ maxLength: 100 }), cutsArb, fc.nat(), (key, iv, pt, cuts, bit) => {
        const sealed = oneShot.aesGcmEncrypt(key, iv, pt).slice();
        const i = bit % (sealed.length * 8);
        sealed[i >> 3]! ^= 1 << (i & 7);
        const d = createAesGcmDecryptor(key, iv, { provider });
        for (const c of chunk(sealed.subarray(0, sealed.length - 16), cuts)) d.update(c);
        expect(
          outcome(() => {
            d.final(sealed.subarray(sealed.length - 16));
          }),
        ).toEqual({ code: "DECRYPT_FAILED" });
        expect(d.verified).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("§7.2: a wrong key or a wrong IV is DECRYPT_FAILED", () => {
    const key = hex("11".repeat(32));
    const iv = hex("22".repeat(12));
    const sealed = oneShot.aesGcmEncrypt(key, iv, new TextEncoder().encode("media"));
    expect(outcome(() => streamDecrypt(provider, hex("12".repeat(32)), iv, sealed, []))).toEqual({
      code: "DECRYPT_FAILED",
    });
    expect(outcome(() => streamDecrypt(provider, key, hex("23".repeat(12)), sealed, []))).toEqual({
      code: "DECRYPT_FAILED",
    });
  });

  it("the NIST (12-byte IV) and pyca (16-byte IV) known answers, streamed byte by byte", () => {
    type V = { key: string; iv: string; plaintext: string; aad: string; ciphertext: string; tag: string };
    const vectors = [...loadVectors<V>("aes-gcm-nist.json"), ...loadVectors<V>("aes-gcm-iv16-pyca.json")];
    for (const v of vectors.slice(0, 60)) {
      const pt = hex(v.plaintext);
      const bytes = Array.from(pt, (_, i) => pt.subarray(i, i + 1));
      const sealed = streamEncrypt(provider, hex(v.key), hex(v.iv), bytes, hex(v.aad));
      expect(bytesToHex(sealed)).toBe(v.ciphertext + v.tag);
    }
  });

  it("refuses bad arguments and use after final with INVALID_ARGUMENT", () => {
    expect(outcome(() => createAesGcmEncryptor(new Uint8Array(31), new Uint8Array(12), { provider }))).toEqual({
      code: "INVALID_ARGUMENT",
    });
    expect(outcome(() => createAesGcmDecryptor(new Uint8Array(32), new Uint8Array(8), { provider }))).toEqual({
      code: "INVALID_ARGUMENT",
    });
    const e = createAesGcmEncryptor(new Uint8Array(32), new Uint8Array(12), { provider });
    e.final();
    expect(outcome(() => e.update(new Uint8Array(1)))).toEqual({ code: "INVALID_ARGUMENT" });
    expect(outcome(() => e.final())).toEqual({ code: "INVALID_ARGUMENT" });
    const d = createAesGcmDecryptor(new Uint8Array(32), new Uint8Array(12), { provider });
    expect(
      outcome(() => {
        d.final(new Uint8Array(15));
      }),
    ).toEqual({ code: "INVALID_ARGUMENT" });
  });
});

describe("streaming AES-GCM: counter and providers", () => {
  it("§6.2 inc32 increments the low 32 bits only and wraps them (a 16-byte IV's J0 can sit anywhere)", () => {
    const block = hex("00112233445566778899aabbfffffffe");
    inc32(block);
    expect(bytesToHex(block)).toBe("00112233445566778899aabbffffffff");
    inc32(block);
    expect(bytesToHex(block)).toBe("00112233445566778899aabb00000000");
  });

  it("native and noble give identical bytes on larger inputs with odd chunk sizes", () => {
    const key = oneShot.randomBytes(32);
    const iv = oneShot.randomBytes(12);
    const pt = oneShot.randomBytes(200_003);
    const cuts = [1, 15, 16, 17, 4096, 65_535, 65_536, 65_537, 150_000];
    expect(bytesToHex(streamEncrypt("noble", key, iv, chunk(pt, cuts)))).toBe(
      bytesToHex(streamEncrypt("native", key, iv, chunk(pt, cuts))),
    );
  });
});
