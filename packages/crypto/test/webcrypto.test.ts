// @parley/crypto/webcrypto on Node's WebCrypto (OpenSSL, X25519 and Ed25519 since Node 20): agreement with
// the synchronous facade (shared with the Chromium run in webcrypto.browser.test.ts), the noble fallback,
// and platforms that misbehave (missing algorithms, a lenient verifier, an all-zero X25519 output).
import { describe, expect, it, vi } from "vitest";
import { bytesToHex, concatBytes, hexToBytes as hex } from "../src/index.js";
import {
  ed25519VerifyAsync,
  generateX25519KeyPairs,
  libsignalVerifyAsync,
  webCryptoAvailable,
  x25519Async,
  xeddsaVerifyAsync,
} from "../src/webcrypto.js";
import { agree, defineAgreementTests, FORGED, noble } from "./webcrypto-agreement.js";

const subtle = globalThis.crypto.subtle;

/** A SubtleCrypto that delegates to Node's, with some methods replaced. */
function wrapped(overrides: Partial<Record<keyof SubtleCrypto, unknown>>): SubtleCrypto {
  return new Proxy(subtle, {
    get(target, name: keyof SubtleCrypto) {
      if (name in overrides) return overrides[name];
      const value: unknown = Reflect.get(target, name);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Raw bytes behind each imported key, so a fake can answer per key. */
const rawOf = new WeakMap<CryptoKey, Uint8Array>();
const recordingImport = async (...args: Parameters<SubtleCrypto["importKey"]>) => {
  const key = await subtle.importKey(...args);
  if (args[0] === "raw") rawOf.set(key, new Uint8Array(args[1] as ArrayBuffer | Uint8Array));
  return key;
};

describe("@parley/crypto/webcrypto agrees with the sync facade (Node's WebCrypto)", () => {
  defineAgreementTests();
});

describe("@parley/crypto/webcrypto without WebCrypto (subtle: null): noble behind a promise", () => {
  defineAgreementTests({ subtle: null }, false);
});

describe("the XEdDSA verify options (signBit, strict) agree with the sync facade", () => {
  it.each([
    ["WebCrypto", undefined],
    ["noble fallback", null],
  ] as const)("%s", async (_label, platform) => {
    const Q = (1n << 252n) + 27742317777372353535851937790883648493n;
    const o = platform === null ? { subtle: null } : {};
    let checked = 0;
    for (let i = 0; i < 24; i++) {
      const kp = noble.generateX25519KeyPair();
      const msg = new Uint8Array([i, 7]);
      const lib = noble.libsignalSign(kp.privateKey, msg);
      const cleared = lib.slice();
      cleared[63]! &= 0x7f;
      // s + q, when it stays below 2^253: valid by the spec's bound, refused by strict.
      let s = 0n;
      for (let j = 63; j >= 32; j--) s = (s << 8n) | BigInt(cleared[j]!);
      const high = cleared.slice();
      let t = s + Q;
      for (let j = 32; j < 64; j++, t >>= 8n) high[j] = Number(t & 0xffn);
      for (const signature of [cleared, high]) {
        for (const options of [
          {},
          { strict: true },
          { signBit: 0 as const },
          { signBit: 1 as const },
          { signBit: 1 as const, strict: true },
        ]) {
          const sync = noble.xeddsaVerify(kp.publicKey, msg, signature, options);
          expect(await xeddsaVerifyAsync(kp.publicKey, msg, signature, { ...o, ...options })).toBe(sync);
          checked++;
        }
        for (const options of [{}, { strict: true }]) {
          const withBit = signature.slice();
          withBit[63]! |= lib[63]! & 0x80;
          const sync = noble.libsignalVerify(kp.publicKey, msg, withBit, options);
          expect(await libsignalVerifyAsync(kp.publicKey, msg, withBit, { ...o, ...options })).toBe(sync);
        }
      }
    }
    expect(checked).toBe(24 * 2 * 5);
  });
});

describe("@parley/crypto/webcrypto on platforms that lack or bend the algorithms", () => {
  it("a platform without X25519 and Ed25519 is detected and noble answers", async () => {
    const refuse = () => Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"));
    const none = wrapped({ importKey: refuse, generateKey: refuse });
    expect(await webCryptoAvailable({ subtle: none })).toEqual({ x25519: false, ed25519: false });
    const [pair] = await generateX25519KeyPairs(1, { subtle: none });
    expect(bytesToHex(pair!.publicKey)).toBe(bytesToHex(noble.x25519PublicKey(pair!.privateKey)));
    await agree(
      () => x25519Async(pair!.privateKey, new Uint8Array(32), { subtle: none }),
      (c) => c.x25519(pair!.privateKey, new Uint8Array(32)),
    );
  });

  it("a verifier that accepts everything fails the probe and is not used", async () => {
    const lying = wrapped({ verify: () => Promise.resolve(true) });
    expect(await webCryptoAvailable({ subtle: lying })).toEqual({ x25519: true, ed25519: false });
    const msg = new Uint8Array(3);
    expect(
      await ed25519VerifyAsync(new Uint8Array(64).fill(1), msg, noble.generateEd25519KeyPair().publicKey, {
        subtle: lying,
      }),
    ).toBe(false);
  });

  it("a cofactored verifier (accepts s·B − h·A = R + small-order) fails the probe", async () => {
    // Accepts exactly what a cofactored equation would add here: the probe's mixed-order key.
    const cofactored = wrapped({
      importKey: recordingImport,
      verify: async (alg: AlgorithmIdentifier, key: CryptoKey, sig: BufferSource, data: BufferSource) =>
        bytesToHex(rawOf.get(key) ?? new Uint8Array()).startsWith("c0435242") || subtle.verify(alg, key, sig, data),
    });
    expect(await webCryptoAvailable({ subtle: cofactored })).toEqual({ x25519: true, ed25519: false });
  });

  it("a lenient verifier (no s < L, no canonical A or R) passes the probe; the facade's checks still refuse", async () => {
    const sBelowL = (sig: Uint8Array) => sig[63]! < 0x10;
    const lenient = wrapped({
      importKey: recordingImport,
      verify: async (alg: AlgorithmIdentifier, key: CryptoKey, sig: BufferSource, data: BufferSource) => {
        const s = new Uint8Array(sig as ArrayBuffer);
        const A = rawOf.get(key)!;
        const canonical = (e: Uint8Array) =>
          !(e[0]! >= 0xed && e.subarray(1, 31).every((b) => b === 0xff) && (e[31]! & 0x7f) === 0x7f) &&
          !(
            e[31]! & 0x80 &&
            (e[0] === 1 || e[0] === 0xec) &&
            e.subarray(1, 31).every((b) => b === (e[0] === 1 ? 0 : 0xff))
          );
        if (!sBelowL(s) || !canonical(A) || !canonical(s.subarray(0, 32))) return true;
        return subtle.verify(alg, key, sig, data);
      },
    });
    expect(await webCryptoAvailable({ subtle: lenient })).toEqual({ x25519: true, ed25519: true });
    const options = { subtle: lenient };
    const seed = new Uint8Array(32).fill(5);
    const msg = new TextEncoder().encode("m");
    const pub = noble.ed25519PublicKey(seed);
    const sig = noble.ed25519Sign(seed, msg);
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const sPlusL = sig.slice();
    let t = s + L;
    for (let i = 0; i < 32; i++, t >>= 8n) sPlusL[32 + i] = Number(t & 0xffn);
    const yPlusP = hex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    const negativeZero = hex("0100000000000000000000000000000000000000000000000000000000000080");
    const nonCanonicalR = concatBytes(
      hex("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      sig.subarray(32),
    );
    for (const [sg, k] of [
      [sPlusL, pub],
      [FORGED, yPlusP],
      [FORGED, negativeZero],
      [nonCanonicalR, pub],
      [sig, pub],
    ] as const) {
      await agree(
        () => ed25519VerifyAsync(sg, msg, k, options),
        (c) => c.ed25519Verify(sg, msg, k),
      );
    }
    // The same checks guard XEdDSA and libsignal verification.
    const pair = noble.generateX25519KeyPair();
    const xsig = noble.xeddsaSign(pair.privateKey, msg);
    const high = xsig.slice();
    let xs = 0n;
    for (let i = 31; i >= 0; i--) xs = (xs << 8n) | BigInt(xsig[32 + i]!);
    let xt = xs + L;
    for (let i = 0; i < 32; i++, xt >>= 8n) high[32 + i] = Number(xt & 0xffn);
    for (const sg of [xsig, high]) {
      await agree(
        () => xeddsaVerifyAsync(pair.publicKey, msg, sg, options),
        (c) => c.xeddsaVerify(pair.publicKey, msg, sg),
      );
      await agree(
        () => libsignalVerifyAsync(pair.publicKey, msg, sg, options),
        (c) => c.libsignalVerify(pair.publicKey, msg, sg),
      );
    }
  });

  it("a platform that returns the all-zero X25519 secret instead of throwing: LOW_ORDER_POINT all the same", async () => {
    const zeros = wrapped({
      importKey: recordingImport,
      deriveBits: async (alg: { name: string; public: CryptoKey }, key: CryptoKey, length: number) =>
        rawOf.get(alg.public)?.every((b) => b === 0) ? new ArrayBuffer(32) : subtle.deriveBits(alg, key, length),
    });
    expect(await webCryptoAvailable({ subtle: zeros })).toEqual({ x25519: true, ed25519: true });
    const k = new Uint8Array(32).fill(9);
    const r = await agree(
      () => x25519Async(k, new Uint8Array(32), { subtle: zeros }),
      (c) => c.x25519(k, new Uint8Array(32)),
    );
    expect(r).toMatchObject({ code: "LOW_ORDER_POINT" });
  });

  it("a platform whose public keys are wrong fails the X25519 probe", async () => {
    const wrong = wrapped({
      exportKey: async (format: "jwk", key: CryptoKey) => ({
        ...(await subtle.exportKey(format, key)),
        x: "A".repeat(43),
      }),
    });
    expect((await webCryptoAvailable({ subtle: wrong })).x25519).toBe(false);
  });
});

describe("README example (examples/webcrypto.ts)", () => {
  it("runs and prints what the README says", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
    });
    try {
      await import("../examples/webcrypto.js");
    } finally {
      spy.mockRestore();
    }
    expect(lines).toEqual([
      'webcrypto: {"x25519":true,"ed25519":true}',
      "prekeys: 100 shared secret bytes: 32",
      "bundle valid: true",
      "tampered bundle valid: false",
    ]);
  });
});
