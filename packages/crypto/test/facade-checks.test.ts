/**
 * The security checks the Crypto facade runs for every provider (src/checks.ts, src/crypto.ts). Each is
 * tested through the native provider (OpenSSL, which skips some of them) and through custom providers
 * that skip everything: an Ed25519 verify that accepts any signature, an X25519 that returns zeros, and
 * a provider that records whether the facade called it at all.
 */
import { describe, expect, it } from "vitest";
import {
  concatBytes,
  createCrypto,
  isCryptoError,
  nobleProvider,
  type Crypto,
  type CryptoProvider,
  type ScryptParams,
} from "../src/index.js";
import { hex, outcome, providers } from "./helpers.js";

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;

function le32(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}
function fromLE(bytes: Uint8Array): bigint {
  let x = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i]!);
  return x;
}
/** An encoding whose y is `y` (not reduced) with the given sign bit. */
function encodeY(y: bigint, signBit: 0 | 1 = 0): Uint8Array {
  const out = le32(y);
  out[31]! |= signBit << 7;
  return out;
}

/** The Ed25519 base point B (RFC 8032 §5.1), y = 4/5. */
const B = hex("5866666666666666666666666666666666666666666666666666666666666666");
/**
 * R = B, s = 1: under any encoding of the identity as A, s·B − h·A = B = R for every message, so this
 * "signature" verifies everywhere a key decodes to the identity. y = p + 1 is such an encoding; OpenSSL
 * (Node 20, OpenSSL 3.0) accepts it.
 */
const FORGED = concatBytes(B, le32(1n));
const MESSAGE = new TextEncoder().encode("transfer all the money");

/** A provider whose Ed25519 verification accepts anything: the facade's checks are all that is left. */
const acceptAllEd25519: CryptoProvider = { ...nobleProvider, ed25519Verify: () => true };
const native = createCrypto({ provider: "native" });
const acceptAll = createCrypto({ provider: acceptAllEd25519 });
const nativeAndAcceptAll: Array<[string, Crypto]> = [
  ["native", native],
  ["accept-all custom", acceptAll],
];

describe.each(nativeAndAcceptAll)("RFC 8032 §5.1.3 at the facade: canonical A (%s provider)", (_name, c) => {
  it("rejects a forged signature under the non-canonical identity y = p + 1", () => {
    const yPlusP = encodeY(P + 1n);
    expect(c.ed25519Verify(FORGED, MESSAGE, yPlusP)).toBe(false);
    // Every non-canonical y (p..2^255 − 1) is refused, with either sign bit.
    for (const y of [P, P + 1n, P + 2n, P + 18n]) {
      expect(c.ed25519Verify(FORGED, MESSAGE, encodeY(y, 0))).toBe(false);
      expect(c.ed25519Verify(FORGED, MESSAGE, encodeY(y, 1))).toBe(false);
    }
  });

  it("rejects a forged signature under x = 0 with the sign bit set (step 4: y = 1 and y = p − 1)", () => {
    expect(c.ed25519Verify(FORGED, MESSAGE, encodeY(1n, 1))).toBe(false);
    expect(c.ed25519Verify(FORGED, MESSAGE, encodeY(P - 1n, 1))).toBe(false);
  });
});

describe("RFC 8032 §5.1.3 / §5.1.7 at the facade, with a provider that accepts every signature", () => {
  it("passes canonical encodings to the provider: y = p − 1, and the largest s, L − 1", () => {
    expect(acceptAll.ed25519Verify(FORGED, MESSAGE, encodeY(P - 1n))).toBe(true);
    expect(acceptAll.ed25519Verify(concatBytes(B, le32(L - 1n)), MESSAGE, B)).toBe(true);
  });

  it("§5.1.7: s >= L never reaches the provider (s = L, L + 1, 2^255, 2^256 − 1)", () => {
    for (const s of [L, L + 1n, 1n << 255n, (1n << 256n) - 1n]) {
      expect(acceptAll.ed25519Verify(concatBytes(B, le32(s)), MESSAGE, B)).toBe(false);
    }
  });

  it("§5.1.7 step 1: a non-canonical R (y >= p, or x = 0 with the sign bit) is rejected", () => {
    for (const R of [encodeY(P + 4n), encodeY(P), encodeY(1n, 1), encodeY(P - 1n, 1)]) {
      expect(acceptAll.ed25519Verify(concatBytes(R, le32(1n)), MESSAGE, B)).toBe(false);
    }
  });

  it("XEdDSA and libsignal verification go through the same checks", () => {
    const kp = acceptAll.generateX25519KeyPair();
    const sig = acceptAll.xeddsaSign(kp.privateKey, MESSAGE);
    expect(acceptAll.xeddsaVerify(kp.publicKey, MESSAGE, sig)).toBe(true);
    // u = 0 with libsignal's sign bit converts to y = p − 1 with the sign bit: x = 0, non-canonical.
    const signBitSet = FORGED.slice();
    signBitSet[63]! |= 0x80;
    expect(acceptAll.libsignalVerify(new Uint8Array(32), MESSAGE, signBitSet)).toBe(false);
  });
});

describe("libsignal verification of u = 0 with the sign bit (native provider)", () => {
  it("rejects a forgery under x = 0 with the sign bit set that OpenSSL's decoder would read as the order-2 point", () => {
    // A = (0, −1) has order 2: s·B − h·A = B = R whenever h is even. Pick such a message.
    const A = encodeY(P - 1n, 1);
    let message: Uint8Array | undefined;
    for (let i = 0; i < 64 && !message; i++) {
      const m = Uint8Array.of(i);
      if ((fromLE(native.sha512(concatBytes(B, A, m))) % L) % 2n === 0n) message = m;
    }
    expect(message).toBeDefined();
    const sig = FORGED.slice();
    sig[63]! |= 0x80; // libsignal's variant: the sign bit of A
    expect(native.libsignalVerify(new Uint8Array(32), message!, sig)).toBe(false);
  });
});

describe.each(providers)("XEdDSA §3 verify: bit 255 belongs to s (%s provider)", (_name, c) => {
  it("rejects a valid signature with bit 255 of s set (s >= 2^253); masking the bit would make it valid", () => {
    for (let i = 0; i < 8; i++) {
      const kp = c.generateX25519KeyPair();
      const msg = Uint8Array.of(i);
      const sig = c.xeddsaSign(kp.privateKey, msg);
      expect(c.xeddsaVerify(kp.publicKey, msg, sig)).toBe(true);
      const marked = sig.slice();
      marked[63]! |= 0x80;
      expect(c.xeddsaVerify(kp.publicKey, msg, marked)).toBe(false);
    }
  });
});

describe("RFC 7748 §6.1 at the facade: the all-zero X25519 output", () => {
  const answer = (output: Uint8Array) => createCrypto({ provider: { ...nobleProvider, x25519: () => output.slice() } });
  const k = new Uint8Array(32).fill(7);
  const u = new Uint8Array(32).fill(9);

  it("throws LOW_ORDER_POINT when a provider returns 32 zero bytes", () => {
    expect(outcome(() => answer(new Uint8Array(32)).x25519(k, u))).toEqual({ code: "LOW_ORDER_POINT" });
  });

  it("returns any other output unchanged, a single non-zero byte anywhere included", () => {
    for (const position of [0, 15, 31]) {
      const output = new Uint8Array(32);
      output[position] = 1;
      expect(answer(output).x25519(k, u)).toEqual(output);
    }
  });
});

/** A provider that records every call and returns placeholder bytes: shows what the facade lets through. */
function recordingProvider(): { provider: CryptoProvider; calls: string[] } {
  const calls: string[] = [];
  const record = (name: string) => (): Uint8Array => {
    calls.push(name);
    return new Uint8Array(1);
  };
  const provider: CryptoProvider = {
    ...nobleProvider,
    aesCbcDecrypt: record("aesCbcDecrypt"),
    aesGcmDecrypt: record("aesGcmDecrypt"),
    xchacha20Poly1305Decrypt: record("xchacha20Poly1305Decrypt"),
    scrypt: (_password, _salt, params) => {
      calls.push("scrypt");
      return Promise.resolve(new Uint8Array(Math.min(params.dkLen, 64)));
    },
  };
  return { provider, calls };
}

describe("RFC 7914 §2 scrypt parameters are checked before any provider runs", () => {
  const pw = new Uint8Array(4);
  const refused: Array<[string, ScryptParams]> = [
    ["N not a power of two", { N: 1000, r: 8, p: 1, dkLen: 32 }],
    ["N = 2^(16r), the first N the RFC forbids for r = 1", { N: 2 ** 16, r: 1, p: 1, dkLen: 32 }],
    ["working memory 128·r·(N + p) of 2 GiB, over the 1 GiB cap", { N: 2 ** 21, r: 8, p: 1, dkLen: 32 }],
    ["dkLen above (2^32 − 1)·32", { N: 16, r: 1, p: 1, dkLen: 2 ** 40 }],
    ["p not an integer", { N: 16, r: 1, p: 1.5, dkLen: 32 }],
    ["r = 0", { N: 16, r: 0, p: 1, dkLen: 32 }],
  ];

  it.each(refused)("refuses %s with INVALID_ARGUMENT", async (_label, params) => {
    const { provider, calls } = recordingProvider();
    const c = createCrypto({ provider });
    await expect(c.scrypt(pw, pw, params)).rejects.toMatchObject({ name: "CryptoError", code: "INVALID_ARGUMENT" });
    expect(calls).toEqual([]);
  });

  it("passes the largest allowed parameters through: N = 2^15 for r = 1, and 512 MiB of working memory", async () => {
    const { provider, calls } = recordingProvider();
    const c = createCrypto({ provider });
    await c.scrypt(pw, pw, { N: 2 ** 15, r: 1, p: 1, dkLen: 32 });
    await c.scrypt(pw, pw, { N: 2 ** 19, r: 8, p: 1, dkLen: 32 });
    expect(calls).toEqual(["scrypt", "scrypt"]);
  });
});

describe("AEAD and CBC inputs that cannot be valid fail at the facade with DECRYPT_FAILED", () => {
  it("a sealed input shorter than the 16-byte tag, and a CBC ciphertext that is empty or not whole blocks", () => {
    const { provider, calls } = recordingProvider();
    const c = createCrypto({ provider });
    const key = new Uint8Array(32);
    const attempts = [
      () => c.aesGcmDecrypt(key, new Uint8Array(12), new Uint8Array(15)),
      () => c.xchacha20Poly1305Decrypt(key, new Uint8Array(24), new Uint8Array(15)),
      () => c.aesCbcDecrypt(key, new Uint8Array(16), new Uint8Array(0)),
      () => c.aesCbcDecrypt(key, new Uint8Array(16), new Uint8Array(17)),
    ];
    for (const attempt of attempts) {
      let thrown: unknown;
      try {
        attempt();
      } catch (e) {
        thrown = e;
      }
      expect(isCryptoError(thrown, "DECRYPT_FAILED")).toBe(true);
    }
    expect(calls).toEqual([]);
    // Whole inputs reach the provider.
    c.aesGcmDecrypt(key, new Uint8Array(12), new Uint8Array(16));
    c.aesCbcDecrypt(key, new Uint8Array(16), new Uint8Array(32));
    expect(calls).toEqual(["aesGcmDecrypt", "aesCbcDecrypt"]);
  });
});
