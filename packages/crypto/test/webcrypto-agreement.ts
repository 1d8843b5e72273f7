// The agreement checks of @parley/crypto/webcrypto against the synchronous facade (noble, the
// reference), shared by test/webcrypto.test.ts (Node's WebCrypto: OpenSSL) and
// test/webcrypto.browser.test.ts (Chromium's WebCrypto: BoringSSL). For every input the async function
// must give the facade's answer, or reject with the same CryptoError code and message.
import fc from "fast-check";
import { expect, it } from "vitest";
import { bytesToHex, concatBytes, createCrypto, hexToBytes as hex, type Crypto } from "../src/index.js";
import { deterministicRandom } from "../src/testing.js";
import {
  createX25519KeyPairPool,
  ed25519SignAsync,
  ed25519VerifyAsync,
  generateX25519KeyPairs,
  libsignalVerifyAsync,
  webCryptoAvailable,
  x25519Async,
  xeddsaVerifyAsync,
  type WebCryptoOptions,
} from "../src/webcrypto.js";
import wycheproofEd25519 from "../vectors/wycheproof-ed25519.json" with { type: "json" };
import wycheproofX25519 from "../vectors/wycheproof-x25519.json" with { type: "json" };
import xeddsaVectors from "../vectors/xeddsa-python-xeddsa.json" with { type: "json" };

export const noble = createCrypto({ provider: "noble" });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const b32 = bytes(32, 32);
const RUNS = { numRuns: 60 };

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const Q = L;
function le32(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}
/** An Edwards encoding of y (not reduced) with the sign bit. */
const encodeY = (y: bigint, sign = 0) => {
  const out = le32(y);
  out[31]! |= sign << 7;
  return out;
};
/** The base point's encoding; R = B with s = 1 is a valid signature under the identity for any message. */
const B = hex("5866666666666666666666666666666666666666666666666666666666666666");
export const FORGED = concatBytes(B, le32(1n));

type Outcome = { ok: unknown } | { code: string; message: string };
const normal = (value: unknown): unknown => (value instanceof Uint8Array ? bytesToHex(value) : value);
function syncOutcome(f: () => unknown): Outcome {
  try {
    return { ok: normal(f()) };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { code: err.code ?? String(e), message: err.message ?? "" };
  }
}
async function asyncOutcome(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: normal(await f()) };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { code: err.code ?? String(e), message: err.message ?? "" };
  }
}

/** The async call agrees with the sync facade: same value, or same error code and message. */
export async function agree(
  asyncCall: () => Promise<unknown>,
  syncCall: (c: Crypto) => unknown,
  label = "",
): Promise<Outcome> {
  const expected = syncOutcome(() => syncCall(noble));
  expect(await asyncOutcome(asyncCall), label).toEqual(expected);
  return expected;
}

/** Low-order and edge u-coordinates: 0, 1, the order-8 points, p − 1, p, p + 1, and their top-bit twins. */
const LOW_ORDER_U = [
  0n,
  1n,
  0x5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157n,
  0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5fn,
  P - 1n,
  P,
  P + 1n,
];
const EDGE_U = [...LOW_ORDER_U, ...LOW_ORDER_U.map((u) => u + (1n << 255n)).filter((u) => u < 1n << 256n)].map(le32);

/**
 * Defines the agreement tests. `options` selects the SubtleCrypto (default: the platform's); `expectWebCrypto`
 * says whether both algorithms must pass the probe here (true on Node 20.19+ and Chromium 150, where these tests run).
 */
export function defineAgreementTests(options: WebCryptoOptions = {}, expectWebCrypto = true): void {
  it("feature detection finds X25519 and Ed25519 in this platform's WebCrypto", async () => {
    const support = await webCryptoAvailable(options);
    expect(support).toEqual({ x25519: expectWebCrypto, ed25519: expectWebCrypto });
    expect(await webCryptoAvailable(options)).toBe(support); // probed once, cached
  });

  it("generateX25519KeyPairs: byte-identical to generateX25519KeyPair for the same random source", async () => {
    for (const seed of ["a", "b", "prekeys"]) {
      const ours = await generateX25519KeyPairs(40, { ...options, random: deterministicRandom(seed) });
      const reference = createCrypto({ provider: "noble", random: deterministicRandom(seed) });
      for (const pair of ours) {
        const expected = reference.generateX25519KeyPair();
        expect(pair.kind).toBe("x25519");
        expect(bytesToHex(pair.privateKey)).toBe(bytesToHex(expected.privateKey));
        expect(bytesToHex(pair.publicKey)).toBe(bytesToHex(expected.publicKey));
      }
    }
  });

  it("generateX25519KeyPairs: fresh keys are clamped, distinct and usable by the sync facade", async () => {
    const pairs = await generateX25519KeyPairs(100, options);
    expect(pairs).toHaveLength(100);
    expect(new Set(pairs.map((p) => bytesToHex(p.privateKey))).size).toBe(100);
    for (const pair of pairs) {
      expect(bytesToHex(pair.publicKey)).toBe(bytesToHex(noble.x25519PublicKey(pair.privateKey)));
      expect(bytesToHex(noble.x25519KeyPair(pair.privateKey).privateKey)).toBe(bytesToHex(pair.privateKey));
      expect(String(pair)).toContain("[redacted]");
    }
    const [a, b] = pairs;
    expect(bytesToHex(noble.x25519(a!.privateKey, b!.publicKey))).toBe(
      bytesToHex(noble.x25519(b!.privateKey, a!.publicKey)),
    );
  });

  it("generateX25519KeyPairs: a bad count or a broken random source is refused", async () => {
    for (const count of [0, -1, 1.5, Number.NaN, 10_001, "3" as unknown as number]) {
      await expect(generateX25519KeyPairs(count, options)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(generateX25519KeyPairs(1, { ...options, random: () => new Uint8Array(31) })).rejects.toMatchObject({
      code: "RANDOM_FAILED",
    });
    await expect(
      generateX25519KeyPairs(1, {
        ...options,
        random: () => {
          throw new Error("no entropy");
        },
      }),
    ).rejects.toMatchObject({ code: "RANDOM_FAILED" });
  });

  it("createX25519KeyPairPool: pooled key pairs as generateX25519KeyPair makes them, then the original Crypto", async () => {
    const pool = await createX25519KeyPairPool(noble, {
      ...options,
      capacity: 10,
      random: deterministicRandom("pool"),
    });
    expect(pool.size).toBe(10);
    expect(pool.crypto.provider).toBe("noble");
    const reference = createCrypto({ provider: "noble", random: deterministicRandom("pool") });
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const pair = pool.crypto.generateX25519KeyPair();
      const expected = reference.generateX25519KeyPair();
      expect(bytesToHex(pair.privateKey)).toBe(bytesToHex(expected.privateKey));
      expect(bytesToHex(pair.publicKey)).toBe(bytesToHex(expected.publicKey));
      seen.add(bytesToHex(pair.privateKey));
    }
    expect(seen.size).toBe(10);
    // Below half, a refill started by itself; an empty pool asks the original Crypto meanwhile.
    await pool.refill();
    expect(pool.size).toBe(10);
    const drained = Array.from({ length: 14 }, () => pool.crypto.generateX25519KeyPair());
    for (const pair of drained) {
      expect(bytesToHex(pair.publicKey)).toBe(bytesToHex(noble.x25519PublicKey(pair.privateKey)));
      expect(seen.has(bytesToHex(pair.privateKey))).toBe(false);
      seen.add(bytesToHex(pair.privateKey));
    }
    // Every other method is the original's.
    const [a, b] = drained;
    expect(bytesToHex(pool.crypto.x25519(a!.privateKey, b!.publicKey))).toBe(
      bytesToHex(noble.x25519(a!.privateKey, b!.publicKey)),
    );
    await pool.refill();
    expect(pool.size).toBe(10);
  });

  it("createX25519KeyPairPool: a bad capacity or random source is refused", async () => {
    for (const capacity of [0, 1001, 2.5]) {
      await expect(createX25519KeyPairPool(noble, { ...options, capacity })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
    await expect(createX25519KeyPairPool(noble, { ...options, random: () => new Uint8Array(1) })).rejects.toMatchObject(
      { code: "RANDOM_FAILED" },
    );
  });

  it("x25519Async: all 518 Wycheproof cases (low-order, twist, non-canonical u) as the facade", async () => {
    let lowOrder = 0;
    for (const v of wycheproofX25519.vectors) {
      const k = hex(v.private);
      const u = hex(v.public);
      const r = await agree(
        () => x25519Async(k, u, options),
        (c) => c.x25519(k, u),
        `tcId ${v.tcId}`,
      );
      if ("code" in r) lowOrder++;
      else expect(r.ok).toBe(v.shared);
    }
    expect(lowOrder).toBe(wycheproofX25519.vectors.filter((v) => /^0+$/.test(v.shared)).length);
  });

  it("x25519Async: random and edge keys, wrong lengths and types", async () => {
    await fc.assert(
      fc.asyncProperty(b32, b32, fc.constantFrom(...EDGE_U), async (k, u, edge) => {
        await agree(
          () => x25519Async(k, u, options),
          (c) => c.x25519(k, u),
        );
        await agree(
          () => x25519Async(k, edge, options),
          (c) => c.x25519(k, edge),
        );
      }),
      RUNS,
    );
    const k = new Uint8Array(32).fill(3);
    for (const [priv, pub] of [
      [k, new Uint8Array(31)],
      [k, new Uint8Array(33)],
      [new Uint8Array(0), k],
      [Array.from(k) as unknown as Uint8Array, k],
      [k, "k" as unknown as Uint8Array],
    ] as const) {
      const r = await agree(
        () => x25519Async(priv, pub, options),
        (c) => c.x25519(priv, pub),
      );
      expect(r).toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });

  it("ed25519SignAsync: byte-identical signatures (RFC 8032 is deterministic); wrong lengths refused alike", async () => {
    await fc.assert(
      fc.asyncProperty(b32, bytes(0, 200), async (seed, msg) => {
        await agree(
          () => ed25519SignAsync(seed, msg, options),
          (c) => c.ed25519Sign(seed, msg),
        );
      }),
      RUNS,
    );
    for (const [seed, msg] of [
      [new Uint8Array(31), new Uint8Array(1)],
      [new Uint8Array(32), "m" as unknown as Uint8Array],
    ] as const) {
      await agree(
        () => ed25519SignAsync(seed, msg, options),
        (c) => c.ed25519Sign(seed, msg),
      );
    }
  });

  it("ed25519VerifyAsync: all 151 Wycheproof cases as the facade", async () => {
    for (const v of wycheproofEd25519.vectors) {
      const [sig, msg, pk] = [hex(v.sig), hex(v.msg), hex(v.pk)];
      await agree(
        () => ed25519VerifyAsync(sig, msg, pk, options),
        (c) => c.ed25519Verify(sig, msg, pk),
        `tcId ${v.tcId}`,
      );
    }
  });

  it("ed25519VerifyAsync: genuine, tampered, junk and non-canonical inputs as the facade", async () => {
    await fc.assert(
      fc.asyncProperty(
        b32,
        bytes(0, 100),
        bytes(64, 64),
        b32,
        fc.nat({ max: 64 * 8 - 1 }),
        async (seed, msg, junk, junkKey, bit) => {
          const pub = noble.ed25519PublicKey(seed);
          const sig = noble.ed25519Sign(seed, msg);
          const flipped = sig.slice();
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          const highS = sig.slice();
          highS[63]! |= 0xf0;
          for (const [s, k] of [
            [sig, pub],
            [flipped, pub],
            [junk, pub],
            [sig, junkKey],
            [highS, pub],
          ] as const) {
            const r = await agree(
              () => ed25519VerifyAsync(s, msg, k, options),
              (c) => c.ed25519Verify(s, msg, k),
            );
            if (s === sig && k === pub) expect(r).toEqual({ ok: true });
          }
        },
      ),
      RUNS,
    );
    // Non-canonical keys and R (y >= p, x = 0 with the sign bit: a forgery verifies under y = p + 1 in
    // OpenSSL), s >= L, the small-order points as keys, wrong lengths.
    const msg = new TextEncoder().encode("transfer all the money");
    const keys = [
      encodeY(P + 1n),
      encodeY(P),
      encodeY(1n, 1),
      encodeY(P - 1n, 1),
      encodeY(1n),
      encodeY(P - 1n),
      encodeY(0n),
      hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
      hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
      hex("c043524245c0513bb0d2dba6b5e3ddacbd9b521c1fcfb27a64e627d94ad5e1e0"),
    ];
    const sigs = [
      FORGED,
      concatBytes(B, le32(L)),
      concatBytes(encodeY(P + 4n), le32(1n)),
      concatBytes(B, le32(L - 1n)),
    ];
    for (const k of keys) {
      for (const s of sigs) {
        await agree(
          () => ed25519VerifyAsync(s, msg, k, options),
          (c) => c.ed25519Verify(s, msg, k),
        );
      }
    }
    for (const [s, m, k] of [
      [new Uint8Array(63), msg, keys[0]!],
      [FORGED, msg, new Uint8Array(33)],
      [FORGED, [1, 2] as unknown as Uint8Array, keys[0]!],
    ] as const) {
      const r = await agree(
        () => ed25519VerifyAsync(s, m, k, options),
        (c) => c.ed25519Verify(s, m, k),
      );
      expect(r).toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });

  it("xeddsaVerifyAsync and libsignalVerifyAsync: python3-xeddsa's vectors as the facade", async () => {
    for (const v of xeddsaVectors.vectors) {
      const [pub, msg] = [hex(v.publicKey), hex(v.message)];
      for (const sig of [hex(v.xeddsaSignature), hex(v.libsignalSignature)]) {
        await agree(
          () => xeddsaVerifyAsync(pub, msg, sig, options),
          (c) => c.xeddsaVerify(pub, msg, sig),
        );
        const r = await agree(
          () => libsignalVerifyAsync(pub, msg, sig, options),
          (c) => c.libsignalVerify(pub, msg, sig),
        );
        expect(r).toEqual({ ok: true });
      }
    }
  });

  it("xeddsaVerifyAsync and libsignalVerifyAsync: random keys, tampering, u >= p, s >= q, bit 255, edge u", async () => {
    await fc.assert(
      fc.asyncProperty(
        b32,
        bytes(0, 64),
        bytes(64, 64),
        fc.nat({ max: 64 * 8 - 1 }),
        fc.constantFrom(...EDGE_U),
        async (k, msg, nonce, bit, edge) => {
          const pair = noble.x25519KeyPair(k);
          const pub = pair.publicKey;
          const xsig = noble.xeddsaSign(pair.privateKey, msg, nonce);
          const lsig = noble.libsignalSign(pair.privateKey, msg, nonce);
          const variants: Uint8Array[] = [xsig, lsig];
          for (const sig of [xsig, lsig]) {
            const flipped = sig.slice();
            flipped[bit >> 3]! ^= 1 << (bit & 7);
            const bit255 = sig.slice();
            bit255[63]! |= 0x80;
            // s + q (still below 2^253 for most s): the reference equation's path, refused by the bound or equation.
            const sPlusQ = concatBytes(
              sig.subarray(0, 32),
              le32((BigInt("0x" + bytesToHex(sig.slice(32).reverse())) + Q) % (1n << 256n)),
            );
            variants.push(flipped, bit255, sPlusQ);
          }
          const nonCanonicalU = le32(BigInt("0x" + bytesToHex(pub.slice().reverse())) + P);
          for (const sig of variants) {
            for (const u of [pub, edge, nonCanonicalU]) {
              await agree(
                () => xeddsaVerifyAsync(u, msg, sig, options),
                (c) => c.xeddsaVerify(u, msg, sig),
              );
              await agree(
                () => libsignalVerifyAsync(u, msg, sig, options),
                (c) => c.libsignalVerify(u, msg, sig),
              );
            }
          }
          expect(await xeddsaVerifyAsync(pub, msg, xsig, options)).toBe(true);
          expect(await libsignalVerifyAsync(pub, msg, lsig, options)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
    const pub = noble.generateX25519KeyPair().publicKey;
    for (const [u, m, s] of [
      [new Uint8Array(31), new Uint8Array(1), new Uint8Array(64)],
      [pub, new Uint8Array(1), new Uint8Array(65)],
      [pub, "m" as unknown as Uint8Array, new Uint8Array(64)],
    ] as const) {
      for (const [asyncVerify, name] of [
        [xeddsaVerifyAsync, "xeddsaVerify"],
        [libsignalVerifyAsync, "libsignalVerify"],
      ] as const) {
        const r = await agree(
          () => asyncVerify(u, m, s, options),
          (c) => c[name](u, m, s),
        );
        expect(r).toMatchObject({ code: "INVALID_ARGUMENT" });
      }
    }
  });
}
