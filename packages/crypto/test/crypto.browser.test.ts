// Runs in a real headless Chromium: there is no node:crypto, so "auto" must pick noble, and the
// known answers must hold there too.
import { describe, expect, it } from "vitest";
import { bytesToHex, createCrypto, hexToBytes as hex, nobleProvider } from "../src/index.js";
import { nativeProviderIfAvailable } from "../src/internal.js";
import ed from "../vectors/ed25519-rfc8032.json" with { type: "json" };
import gcm from "../vectors/aes-gcm-nist.json" with { type: "json" };
import x from "../vectors/x25519-rfc7748.json" with { type: "json" };
import xed from "../vectors/xeddsa-python-xeddsa.json" with { type: "json" };

describe("@parley/crypto in a browser", () => {
  const c = createCrypto();

  it("runs in a real browser and chooses the noble provider", () => {
    expect(typeof window).toBe("object");
    expect(nativeProviderIfAvailable()).toBeUndefined();
    expect(c.provider).toBe("noble");
    expect(() => createCrypto({ provider: "native" })).toThrow(/native provider needs node:crypto/);
  });

  it("RFC 7748, RFC 8032 and NIST AES-GCM known answers", () => {
    for (const v of x.vectors) expect(bytesToHex(c.x25519(hex(v.scalar), hex(v.u)))).toBe(v.output);
    for (const v of ed.vectors.slice(0, 16))
      expect(bytesToHex(c.ed25519Sign(hex(v.seed), hex(v.message)))).toBe(v.signature);
    for (const v of gcm.vectors.slice(0, 20)) {
      expect(bytesToHex(c.aesGcmEncrypt(hex(v.key), hex(v.iv), hex(v.plaintext), hex(v.aad)))).toBe(
        v.ciphertext + v.tag,
      );
    }
  });

  it("XEdDSA: python3-xeddsa's signatures verify and the libsignal variant is byte-identical", () => {
    for (const v of xed.vectors) {
      expect(c.xeddsaVerify(hex(v.publicKey), hex(v.message), hex(v.xeddsaSignature))).toBe(true);
      expect(bytesToHex(c.libsignalSign(hex(v.privateKey), hex(v.message), hex(v.nonce)))).toBe(v.libsignalSignature);
    }
  });

  it("the facade's checks hold here too: a forged signature under y = p + 1, and an all-zero X25519 output", () => {
    const forged = hex("5866666666666666666666666666666666666666666666666666666666666666" + "01" + "00".repeat(31));
    expect(c.ed25519Verify(forged, new Uint8Array(1), hex("ee" + "ff".repeat(30) + "7f"))).toBe(false);
    const zeros = createCrypto({ provider: { ...nobleProvider, x25519: () => new Uint8Array(32) } });
    expect(() => zeros.x25519(new Uint8Array(32), new Uint8Array(32))).toThrow(/all-zero shared secret/);
  });

  it("WebCrypto randomness and key generation work", () => {
    const a = c.generateX25519KeyPair();
    const b = c.generateX25519KeyPair();
    expect(c.x25519(a.privateKey, b.publicKey)).toEqual(c.x25519(b.privateKey, a.publicKey));
  });
});
