/** Chunked AEAD (STREAM): any split of the input round-trips; any cut, extension or edit is TAMPERED. */
import { defaultCrypto } from "@parley/crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isStorageError } from "../src/index.js";
import { collect, openStream, sealStream } from "../src/stream.js";

const crypto = defaultCrypto();
const key = crypto.randomBytes(32);
const ad = new TextEncoder().encode("test");

async function* split(data: Uint8Array, cuts: number[]): AsyncIterable<Uint8Array> {
  let at = 0;
  for (const c of [...cuts.map((x) => x % (data.length + 1))].sort((a, b) => a - b)) {
    yield await Promise.resolve(data.subarray(at, Math.max(at, c)));
    at = Math.max(at, c);
  }
  yield data.subarray(at);
}

async function seal(
  data: Uint8Array,
  chunk: number,
  cuts: number[] = [],
): Promise<{ sealed: Uint8Array; chunks: number }> {
  const stats = { size: 0, chunks: 0 };
  const sealed = await collect(sealStream(crypto, key, ad, chunk, split(data, cuts), stats));
  expect(stats.size).toBe(data.length);
  return { sealed, chunks: stats.chunks };
}

describe("STREAM chunked AEAD", () => {
  it("round-trips any data, any chunk size, any split of input and of sealed bytes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (data, chunk, cutsIn, cutsOut) => {
          const { sealed, chunks } = await seal(data, chunk, cutsIn);
          expect(chunks).toBe(Math.max(1, Math.ceil(data.length / chunk)));
          expect(sealed.length).toBe(data.length + 16 * chunks);
          const opened = await collect(openStream(crypto, key, ad, chunk, split(sealed, cutsOut), "test"));
          expect(opened).toEqual(data);
        },
      ),
    );
  });

  it("every truncation, every one-byte extension and every flipped byte is TAMPERED", async () => {
    const data = crypto.randomBytes(50);
    const { sealed } = await seal(data, 16);
    const variants: Uint8Array[] = [];
    for (let n = 0; n < sealed.length; n++) variants.push(sealed.subarray(0, n));
    variants.push(Uint8Array.of(...sealed, 0));
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i]! ^= 0x01;
      variants.push(bad);
    }
    for (const v of variants) {
      await expect(collect(openStream(crypto, key, ad, 16, split(v, []), "test"))).rejects.toSatisfy((e) =>
        isStorageError(e, "TAMPERED"),
      );
    }
  });
});
