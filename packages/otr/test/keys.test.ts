// deriveSessionKeys, the public form of the data-message key derivation: libotr's recorded otr_sesskeys /
// otr_mackey answers (test/vectors/libotr-sesskeys.json), both engines, both input forms, the extra key
// and SSID from their definitions, and typed errors (without key material) for bad input.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bytesToHex, hexToBytes, mpi } from "../src/bytes.js";
import {
  createBigintEngine,
  deriveSessionKeys,
  isOtrError,
  MODP_P,
  OtrError,
  type OtrSessionKeys,
} from "../src/index.js";
import vectors from "./vectors/libotr-sesskeys.json" with { type: "json" };

const big = (hex: string) => BigInt(`0x${hex}`);
const sha = (alg: string, ...parts: Uint8Array[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

function errorOf(f: () => unknown): OtrError {
  try {
    f();
  } catch (e) {
    if (isOtrError(e)) return e;
    throw e;
  }
  throw new Error("no error");
}

describe("deriveSessionKeys", () => {
  it.each(vectors.sesskeys.map((v, i) => [i, v] as const))(
    "libotr vector %i: otr_sesskeys' public key, high end, AES and MAC keys",
    (_i, v) => {
      const answers: OtrSessionKeys[] = [
        deriveSessionKeys(big(v.ourPrivate), big(v.theirPublic)),
        deriveSessionKeys(hexToBytes(v.ourPrivate), hexToBytes(v.theirPublic), { engine: "bigint" }),
        deriveSessionKeys(big(v.ourPrivate), hexToBytes(v.theirPublic), { engine: createBigintEngine() }),
      ];
      for (const k of answers) {
        expect(k.ourPublic.toString(16)).toBe(v.ourPublic);
        expect(k.high).toBe(v.high);
        expect(bytesToHex(k.sendingAesKey)).toBe(v.sendAes);
        expect(bytesToHex(k.sendingMacKey)).toBe(v.sendMac);
        expect(bytesToHex(k.receivingAesKey)).toBe(v.recvAes);
        expect(bytesToHex(k.receivingMacKey)).toBe(v.recvMac);
      }
      expect(answers[1]).toEqual(answers[0]);
    },
  );

  it("the extra symmetric key is SHA-256(0xff ‖ MPI(s)), the SSID the first 8 bytes of SHA-256(0x00 ‖ MPI(s))", () => {
    const v = vectors.sesskeys[0]!;
    const x = big(v.ourPrivate);
    const gy = big(v.theirPublic);
    let s = 1n;
    for (let b = gy, e = x; e > 0n; e >>= 1n, b = (b * b) % MODP_P) if (e & 1n) s = (s * b) % MODP_P;
    const k = deriveSessionKeys(x, gy);
    expect(bytesToHex(k.extraSymmetricKey)).toBe(bytesToHex(sha("sha256", Uint8Array.of(0xff), mpi(s))));
    expect(bytesToHex(k.ssid)).toBe(bytesToHex(sha("sha256", Uint8Array.of(0x00), mpi(s)).slice(0, 8)));
    // Not libotr's toolkit "Session id", which is OTR v1's SHA-1(0x00 ‖ MPI(s)).
    expect(bytesToHex(sha("sha1", Uint8Array.of(0x00), mpi(s)))).toBe(v.sessionId);
  });

  it("both ends agree: one's sending keys are the other's receiving keys, the extra key and SSID are shared", () => {
    const x = 0x1234567890abcdef1234567890abcdef1234567890abcdefn;
    const y = 0xfedcba0987654321fedcba0987654321fedcba0987654321n;
    const gx = deriveSessionKeys(x, 2n).ourPublic;
    const gy = deriveSessionKeys(y, 2n).ourPublic;
    const a = deriveSessionKeys(x, gy);
    const b = deriveSessionKeys(y, gx);
    expect(a.high).toBe(!b.high);
    expect(a.sendingAesKey).toEqual(b.receivingAesKey);
    expect(a.sendingMacKey).toEqual(b.receivingMacKey);
    expect(a.receivingAesKey).toEqual(b.sendingAesKey);
    expect(a.receivingMacKey).toEqual(b.sendingMacKey);
    expect(a.extraSymmetricKey).toEqual(b.extraSymmetricKey);
    expect(a.ssid).toEqual(b.ssid);
    expect([a.sendingAesKey.length, a.sendingMacKey.length, a.extraSymmetricKey.length, a.ssid.length]).toEqual([
      16, 20, 32, 8,
    ]);
  });

  it("refuses bad input with typed errors that name no key", () => {
    const v = vectors.sesskeys[0]!;
    const x = big(v.ourPrivate);
    const gy = big(v.theirPublic);
    const cases: [() => unknown, string][] = [
      [() => deriveSessionKeys(0n, gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys(-1n, gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys(MODP_P, gy), "INVALID_ARGUMENT"],
      // x = q = (p-1)/2: g^x = 1.
      [() => deriveSessionKeys((MODP_P - 1n) / 2n, gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys(new Uint8Array(0), gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys(new Uint8Array(193).fill(1), gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys("01" as unknown as bigint, gy), "INVALID_ARGUMENT"],
      [() => deriveSessionKeys(x, 1n), "INVALID_GROUP_ELEMENT"],
      [() => deriveSessionKeys(x, 0n), "INVALID_GROUP_ELEMENT"],
      [() => deriveSessionKeys(x, MODP_P - 1n), "INVALID_GROUP_ELEMENT"],
      [() => deriveSessionKeys(x, MODP_P), "INVALID_GROUP_ELEMENT"],
      [() => deriveSessionKeys(x, Uint8Array.of(1)), "INVALID_GROUP_ELEMENT"],
      [() => deriveSessionKeys(x, null as unknown as bigint), "INVALID_ARGUMENT"],
    ];
    for (const [f, code] of cases) {
      const e = errorOf(f);
      expect(e.code).toBe(code);
      expect(e.message).not.toMatch(/[0-9a-f]{16}/i);
    }
    expect(deriveSessionKeys(1n, gy).ourPublic).toBe(2n);
  });
});
