// The system source serves small requests from a pool (one getRandomValues call per 4 KiB instead of
// one per request) and larger ones directly. What it hands out must still be fresh every time.
import { afterEach, describe, expect, it, vi } from "vitest";
import { systemRandom } from "../src/index.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

describe("systemRandom", () => {
  it("returns exactly the requested length, from 0 bytes to more than one getRandomValues call", () => {
    for (const n of [0, 1, 2, 31, 32, 33, 255, 256, 257, 4095, 4096, 4097, 65536, 70000]) {
      expect(systemRandom(n)).toHaveLength(n);
    }
  });

  it("never hands out the same bytes twice: 2,000 draws of 16 bytes across pool refills are all distinct", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(hex(systemRandom(16)));
    expect(seen.size).toBe(2000);
  });

  it("small draws share one platform call per 4 KiB; large draws call the platform themselves", () => {
    const spy = vi.spyOn(globalThis.crypto, "getRandomValues");
    for (let i = 0; i < 256; i++) systemRandom(32); // 8 KiB in all
    expect(spy.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(spy.mock.calls.length).toBeLessThanOrEqual(3);
    spy.mockClear();
    systemRandom(100_000);
    expect(spy.mock.calls.length).toBe(2); // 65536 + 34464
  });

  it("a draw is not a view into the pool: changing it changes no later draw", () => {
    const a = systemRandom(32);
    a.fill(0);
    const b = systemRandom(32);
    expect(b.buffer).not.toBe(a.buffer);
    expect(b.some((x) => x !== 0)).toBe(true);
  });

  it("without a platform source it fails with UNSUPPORTED, for small and large draws", () => {
    vi.spyOn(globalThis, "crypto", "get").mockReturnValue(undefined as unknown as Crypto);
    expect(() => systemRandom(8)).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }));
    expect(() => systemRandom(8192)).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }));
  });
});
