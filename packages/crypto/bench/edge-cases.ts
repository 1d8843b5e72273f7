// What a platform's raw WebCrypto (no facade checks) answers on the edge cases where the facade has a
// rule: Wycheproof's X25519 and Ed25519 files, and the hand-made cases of test/facade-checks.test.ts.
// `pnpm bench:browser` runs it in Chromium and in this Node, and prints every difference to the facade;
// @parley/crypto/webcrypto removes each of them (pre-checks, or noble on a refusal): README "Browser speed".
import { bytesToHex, concatBytes, createCrypto, hexToBytes as hex } from "../src/index.js";
import wycheproofEd25519 from "../vectors/wycheproof-ed25519.json" with { type: "json" };
import wycheproofX25519 from "../vectors/wycheproof-x25519.json" with { type: "json" };

export interface EdgeCaseReport {
  /** X25519 cases where the raw platform differs from the facade, grouped by what happened. */
  x25519: Record<string, number>;
  /** Ed25519 cases (Wycheproof tcId or a name) where raw platform verify differs from the facade. */
  ed25519: Array<{ case: string; facade: boolean; platform: string }>;
}

const noble = createCrypto({ provider: "noble" });
const X25519_PKCS8 = hex("302e020100300506032b656e04220420");
const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
function le32(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}
const encodeY = (y: bigint, sign = 0) => {
  const out = le32(y);
  out[31]! |= sign << 7;
  return out;
};
const B = hex("5866666666666666666666666666666666666666666666666666666666666666");

async function rawX25519(subtle: SubtleCrypto, k: Uint8Array, u: Uint8Array): Promise<string> {
  let stage = "import private key";
  try {
    const priv = await subtle.importKey(
      "pkcs8",
      new Uint8Array(concatBytes(X25519_PKCS8, k)),
      { name: "X25519" },
      false,
      ["deriveBits"],
    );
    stage = "import public key";
    const pub = await subtle.importKey("raw", new Uint8Array(u), { name: "X25519" }, false, []);
    stage = "deriveBits";
    return bytesToHex(new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, priv, 256)));
  } catch (e) {
    return `${stage} throws ${(e as Error).name}`;
  }
}

async function rawVerify(subtle: SubtleCrypto, sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): Promise<string> {
  try {
    const key = await subtle.importKey("raw", new Uint8Array(pk), { name: "Ed25519" }, false, ["verify"]);
    return String(await subtle.verify("Ed25519", key, new Uint8Array(sig), new Uint8Array(msg)));
  } catch (e) {
    return `throws ${(e as Error).name}`;
  }
}

export async function edgeCases(subtle: SubtleCrypto): Promise<EdgeCaseReport> {
  const x25519: Record<string, number> = {};
  for (const v of wycheproofX25519.vectors) {
    const raw = await rawX25519(subtle, hex(v.private), hex(v.public));
    let facade: string;
    try {
      facade = bytesToHex(noble.x25519(hex(v.private), hex(v.public)));
    } catch (e) {
      facade = (e as { code: string }).code;
    }
    if (raw === facade) continue;
    const what =
      facade === "LOW_ORDER_POINT"
        ? `all-zero secret (facade: LOW_ORDER_POINT): platform ${raw.startsWith("0000") ? "returns zeros" : raw}`
        : `facade returns a secret: platform ${raw}`;
    x25519[what] = (x25519[what] ?? 0) + 1;
  }

  const ed25519: EdgeCaseReport["ed25519"] = [];
  const check = async (name: string, sig: Uint8Array, msg: Uint8Array, pk: Uint8Array) => {
    if (sig.length !== 64) return; // the facade throws INVALID_ARGUMENT before any platform call
    const facade = noble.ed25519Verify(sig, msg, pk);
    const platform = await rawVerify(subtle, sig, msg, pk);
    if (platform !== String(facade)) ed25519.push({ case: name, facade, platform });
  };
  for (const v of wycheproofEd25519.vectors) {
    await check(
      `Wycheproof tcId ${v.tcId} [${v.flags.join(", ")}] ${v.comment}`.trim(),
      hex(v.sig),
      hex(v.msg),
      hex(v.pk),
    );
  }
  const msg = new TextEncoder().encode("transfer all the money");
  const forged = concatBytes(B, le32(1n));
  await check("forgery under A = y = p + 1 (non-canonical identity)", forged, msg, encodeY(P + 1n));
  await check("forgery under A = y = 1 with the sign bit (x = 0)", forged, msg, encodeY(1n, 1));
  await check("forgery under A = y = p - 1 with the sign bit (x = 0)", forged, msg, encodeY(P - 1n, 1));
  const seed = new Uint8Array(32).fill(5);
  const pk = noble.ed25519PublicKey(seed);
  const sig = noble.ed25519Sign(seed, msg);
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
  await check("valid signature with s + L", concatBytes(sig.subarray(0, 32), le32(s + L)), msg, pk);
  await check(
    "signature only a cofactored verifier accepts (mixed-order A)",
    hex(
      "14cb7f298f9d01335a3a3f5f71f93fc0e959ae3b9c80a111cf091a029e007615006130fafd92b502e75458fa1098bc2e2efa4a2d7eade21f6692663b21f33800",
    ),
    hex("7061726c657920636f666163746f722070726f62652030"),
    hex("c043524245c0513bb0d2dba6b5e3ddacbd9b521c1fcfb27a64e627d94ad5e1e0"),
  );
  return { x25519, ed25519 };
}
