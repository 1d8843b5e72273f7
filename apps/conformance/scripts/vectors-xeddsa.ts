/**
 * Writes vectors/xeddsa-v1.json from Parley's implementation, through the same protocol ops an adapter
 * answers (ParleyImplementation), for both variants (`xeddsa`: the spec; `libsignal`: curve25519_sign):
 * keys with either Edwards sign bit, signatures with fixed nonces over messages of 0, 1, 32 and 1000
 * bytes, the published vectors of libsignal-protocol-c, and verifications that must fail (flipped bits,
 * wrong key, s ≥ 2^253, u + p for a key with u < 19, the wrong sign bit) or that only the spec's bound
 * accepts (s + L), and forged signatures (R = the identity, s = 0) for the low-order keys, which the spec's
 * equation accepts and a verifier with a small-order check refuses. Every key, message and nonce comes from a named deterministic source, so a rerun gives
 * the same file. Run: `pnpm exec tsx scripts/vectors-xeddsa.ts`; then `/usr/bin/python3
 * scripts/cross_check_xeddsa.py` records the cross-check. A published version (v1) is never rewritten
 * with other values: change the script, bump the version.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bytesToHex, createCrypto, hexToBytes } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import type { Hex, OpArgs, OpName, OpResult } from "../src/protocol.js";
import { XEDDSA_VARIANTS, type XeddsaVariant } from "../src/protocol-xeddsa.js";
import { ParleyImplementation } from "../src/reference.js";
import type {
  Provenance,
  XeddsaKeyVector,
  XeddsaSignatureVector,
  XeddsaVectorFile,
  XeddsaVerifyVector,
} from "../src/vectors.js";

const FILE = new URL("../vectors/xeddsa-v1.json", import.meta.url);
const SEED = "parley-conformance xeddsa-v1";
/** The order of the base point (q in the spec, L in RFC 8032). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** The field prime. */
const P = 2n ** 255n - 19n;

const cryptoVersion = (
  JSON.parse(readFileSync(new URL("../../../packages/crypto/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
/** What the vectors depend on: Parley's crypto, and this kit's ops and generator. */
const SOURCES = ["packages/crypto/src", "apps/conformance/src", "apps/conformance/scripts"];
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  const dirty = SOURCES.filter(
    (dir) => execFileSync("git", ["status", "--porcelain", "--", dir], { cwd: ROOT, encoding: "utf8" }).trim() !== "",
  );
  if (dirty.length > 0) commit += ` with uncommitted changes in ${dirty.join(", ")}`;
} catch {
  // not a git checkout
}

const parley = new ParleyImplementation(createCrypto());
const call = <O extends OpName>(op: O, args: OpArgs<O>): OpResult<O> => parley.handle(op, args);
const random = (what: string) => deterministicRandom(`${SEED} ${what}`);

// Little-endian 32-byte integers.
const toInt = (hex: Hex): bigint => BigInt(`0x${hex.match(/../g)!.reverse().join("")}`);
const toHex = (n: bigint): Hex => n.toString(16).padStart(64, "0").match(/../g)!.reverse().join("");

// ------------------------------------------------------------------------------------------------ keys

const LIBSIGNAL_C = "signalapp/libsignal-protocol-c (commit e5eb401)";
const CURVESIGS_TEST = `${LIBSIGNAL_C} src/curve25519/ed25519/tests/internal_fast_tests.c`;
const SIGNATURE_TEST = `${LIBSIGNAL_C} tests/test_curve25519.c, test_curve25519_signature (also libsignal-protocol-java's Curve25519Test)`;

function key(name: string, privateKey: Hex, source?: string): XeddsaKeyVector {
  const r = call("xeddsa.toEdwards", { privateKey });
  return { name, privateKey, ...r, ...(source !== undefined ? { source } : {}) };
}

/** Two keys of each sign bit, the first the draws give, in draw order. */
function generatedKeys(): XeddsaKeyVector[] {
  const draw = random("keys");
  const found: XeddsaKeyVector[] = [];
  const count = [0, 0];
  while (found.length < 4) {
    const k = draw(32);
    k[0]! &= 248;
    k[31]! &= 127;
    k[31]! |= 64;
    const v = key("", bytesToHex(k));
    if (count[v.signBit]! === 2) continue;
    count[v.signBit]!++;
    found.push({ ...v, name: `sign${v.signBit}-${String.fromCharCode(96 + count[v.signBit]!)}` });
  }
  return found;
}

const keys = generatedKeys();
// curvesigs_fast_test and xeddsa_fast_test: privkey 0 with byte 8 = 189, clamped.
const fastTestKey = new Uint8Array(32);
fastTestKey[8] = 189;
fastTestKey[31] = 0x40;
keys.push(key("libsignal-c-fast-test", bytesToHex(fastTestKey), `${CURVESIGS_TEST}: privkey (byte 8 = 189, clamped)`));
keys.push(
  key(
    "libsignal-c-alice-identity",
    "c097248412e58bf05df4879682051327" + "94178e367637f5818f81e0e6ce73e865",
    `${SIGNATURE_TEST}: aliceIdentityPrivate`,
  ),
);
// A clamped private key whose public key is u = 9, the base point's u: k = 5q − 1 ≡ −1 (mod q) is a multiple of
// 8 with bit 254 set, so k·B = −B (sign bit 1). Only a key with u < 19 has u + p < 2^255: a non-canonical
// encoding with bit 255 clear, which masking bit 255 (convert_mont) does not change.
keys.push(key("u9", toHex(5n * L - 1n)));
const keyByName = new Map(keys.map((k) => [k.name, k]));
if (keyByName.get("u9")!.publicKey !== toHex(9n)) throw new Error("u9: u is not 9");
if (
  keyByName.get("libsignal-c-alice-identity")!.publicKey !==
  "ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64"
)
  throw new Error("libsignal-c-alice-identity: not aliceIdentityPublic");

// ---------------------------------------------------------------------------------------- signatures

const LENGTHS = [0, 1, 32, 1000];
const messages = (() => {
  const draw = random("messages");
  return new Map(LENGTHS.map((n) => [n, bytesToHex(draw(n))]));
})();

const NONCE_NOTE =
  "libxeddsa's own XEdDSA signing (ed25519_priv_sign(priv_force_sign(k, False), M, Z), as python-x3dh and libsignal-protocol-c's xed25519_sign do) " +
  "hashes the clamped k unreduced into the nonce where the spec (§3) hashes a = k mod q, so for a key with sign bit 0 its bytes differ from these; " +
  "both signatures verify everywhere. The cross-check reproduces these bytes with libxeddsa's ed25519_priv_sign given a = k mod q.";

function sign(
  name: string,
  variant: XeddsaVariant,
  k: XeddsaKeyVector,
  message: Hex,
  nonce: Hex,
  source?: string,
): XeddsaSignatureVector {
  const { signature } = call("xeddsa.sign", { variant, privateKey: k.privateKey, message, nonce });
  if (!call("xeddsa.verify", { variant, publicKey: k.publicKey, message, signature }).valid)
    throw new Error(`${name}: does not verify`);
  return {
    name,
    variant,
    key: k.name,
    privateKey: k.privateKey,
    publicKey: k.publicKey,
    message,
    nonce,
    signature,
    ...(source !== undefined ? { source } : {}),
    ...(variant === "xeddsa" && k.signBit === 0 ? { knownDifference: NONCE_NOTE } : {}),
  };
}

const signatures: XeddsaSignatureVector[] = [];
for (const variant of XEDDSA_VARIANTS) {
  for (const k of keys.slice(0, 4)) {
    for (const n of LENGTHS) {
      const name = `${variant} ${k.name} ${n}-byte message`;
      signatures.push(sign(name, variant, k, messages.get(n)!, bytesToHex(random(`nonce ${name}`)(64))));
    }
  }
}
const zeros = (n: number) => "00".repeat(n);
const published = [
  [
    "libsignal",
    "cf873d0379ac20e8893e5567ee0f8951f8db840d26b243b463526689d01ca718ac189fb1678574ebdde569330659448b0bd6c1973f7d780ab39518626803d782",
    `${CURVESIGS_TEST}, curvesigs_fast_test: curve25519_sign over 200 zero bytes with 64 zero bytes of random`,
  ],
  [
    "xeddsa",
    "11c7f3e6c4df9e8a5150e1db3b30f92de3a3b3aa438656545fa7390f4bcc7bb26c431d9e90643e4f0eaa0e9c557766fa69ada576d63dcaf2ac326c11d0b97702",
    `${CURVESIGS_TEST}, xeddsa_fast_test: xed25519_sign over 200 zero bytes with 64 zero bytes of random`,
  ],
] as const;
for (const [variant, expected, source] of published) {
  const v = sign(
    `${variant} libsignal-c-fast-test (published)`,
    variant,
    keyByName.get("libsignal-c-fast-test")!,
    zeros(200),
    zeros(64),
    source,
  );
  if (v.signature !== expected) throw new Error(`${v.name}: Parley does not reproduce the published signature`);
  signatures.push(v);
}

const u9 = keyByName.get("u9")!;
signatures.push(
  sign(
    "xeddsa u9 32-byte message",
    "xeddsa",
    u9,
    messages.get(32)!,
    bytesToHex(random("nonce xeddsa u9 32-byte message")(64)),
  ),
);

// ------------------------------------------------------------------------------------- verifications

const verifications: XeddsaVerifyVector[] = [];
const find = (name: string) => signatures.find((s) => s.name === name)!;

function flip(hex: Hex, byte: number, bit = 0): Hex {
  const b = hexToBytes(hex);
  b[byte]! ^= 1 << bit;
  return bytesToHex(b);
}

/** The signature with s replaced by f(s) (libsignal: the sign bit in byte 63 kept out of s and put back). */
function withS(variant: XeddsaVariant, signature: Hex, f: (s: bigint) => bigint): Hex {
  const b = hexToBytes(signature);
  const signBit = variant === "libsignal" ? b[63]! & 0x80 : 0;
  b[63]! &= variant === "libsignal" ? 0x7f : 0xff;
  const s = f(toInt(bytesToHex(b.subarray(32))));
  if (s >= 2n ** (variant === "libsignal" ? 255n : 256n)) throw new Error("s does not fit");
  const out = hexToBytes(signature.slice(0, 64) + toHex(s));
  out[63]! |= signBit;
  return bytesToHex(out);
}

function verification(
  name: string,
  variant: XeddsaVariant,
  description: string,
  publicKey: Hex,
  message: Hex,
  signature: Hex,
  extra: { nonCanonicalS?: boolean; source?: string; knownDifference?: string } = {},
): void {
  const { valid } = call("xeddsa.verify", { variant, publicKey, message, signature });
  const nonCanonicalS = extra.nonCanonicalS ?? false;
  const strict = call("xeddsa.verify", { variant, publicKey, message, signature, strict: true }).valid;
  if (strict !== (valid && !nonCanonicalS)) throw new Error(`${name}: strict answer ${strict}`);
  verifications.push({
    name,
    variant,
    description,
    publicKey,
    message,
    signature,
    valid,
    nonCanonicalS,
    ...(extra.source !== undefined ? { source: extra.source } : {}),
    ...(extra.knownDifference !== undefined ? { knownDifference: extra.knownDifference } : {}),
  });
}

const STRICT_NOTE =
  "libxeddsa (python3-xeddsa) refuses s ≥ L (ed25519_verify checks s < L, as RFC 8032 §5.1.7); the spec bounds s by 2^253 only, " +
  "as Parley's default and libsignal do.";

// Low-order points of Curve25519 (u = 0, 1, the two of order 8, p − 1) and the order of convert_mont(u).
const LOW_ORDER_U: [string, bigint, bigint][] = [
  ["u = 0 (order 2)", 0n, 2n],
  ["u = 1 (order 4)", 1n, 4n],
  ["u of order 8", toInt("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), 8n],
  ["u of order 8 (the other)", toInt("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"), 8n],
  ["u = p − 1 (order 4: convert_mont gives y = 0 as for u = 1)", P - 1n, 4n],
];
const modPow = (b: bigint, e: bigint, m: bigint): bigint => {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
};
/** convert_mont(u) (spec §2.3) encoded: y = (u − 1)·inv(u + 1) with inv(0) = 0, sign bit 0. */
const convertMont = (u: bigint): Hex => {
  const m = u % 2n ** 255n;
  return toHex((((m - 1n + P) % P) * modPow(m + 1n, P - 2n, P)) % P);
};
/** h = hash(R ‖ A ‖ M) mod q (spec §3). */
const hashH = (R: Hex, A: Hex, M: Hex): bigint =>
  toInt(
    bytesToHex(
      createHash("sha512")
        .update(hexToBytes(R + A + M))
        .digest(),
    ),
  ) % L;
/** R = the identity point's encoding (y = 1), s = 0: sB − hA = −hA, the identity when ord(A) divides h. */
const FORGED = toHex(1n) + toHex(0n);
/** The first message "low-order <i>" (UTF-8) whose h is (`multiple`) or is not a multiple of `order`. */
function forgedMessage(A: Hex, order: bigint, multiple: boolean): Hex {
  for (let i = 0; ; i++) {
    const M = bytesToHex(new TextEncoder().encode(`low-order ${i}`));
    if ((hashH(FORGED.slice(0, 64), A, M) % order === 0n) === multiple) return M;
  }
}
const LOW_ORDER_NOTE =
  "A forgery (R = the identity, s = 0; no private key made it): the spec's xeddsa_verify (§3) has no small-order check, " +
  "and sB − hA = −hA is the identity because h is a multiple of the key's order, so it answers true, as Parley does, and as " +
  "libsignal-protocol-c 2.3.3's curve25519_verify and xed25519_verify do (ref10's crypto_sign_open and crypto_sign_open_modified, " +
  "no small-order check; run once through a harness built from its src/curve25519, not in CI). " +
  "libxeddsa answers false: its ed25519_verify is libsodium's crypto_sign_verify_detached, which refuses a small-order key " +
  "(and R). The suite accepts either answer, the same for every such key.";

for (const variant of XEDDSA_VARIANTS) {
  const others = variant === "xeddsa" ? "libsignal" : "xeddsa";
  for (const k of [keys[0]!, keys[2]!]) {
    const base = find(`${variant} ${k.name} 32-byte message`);
    const { publicKey, message, signature } = base;
    const at = `${variant} ${k.name}`;
    verification(`${at}: valid`, variant, `${base.name}, unchanged`, publicKey, message, signature);
    verification(
      `${at}: bit 0 of R flipped`,
      variant,
      `${base.name}, bit 0 of byte 0 (R) flipped`,
      publicKey,
      message,
      flip(signature, 0),
    );
    verification(
      `${at}: bit in R's y flipped`,
      variant,
      `${base.name}, bit 3 of byte 17 (R) flipped`,
      publicKey,
      message,
      flip(signature, 17, 3),
    );
    verification(
      `${at}: bit 0 of s flipped`,
      variant,
      `${base.name}, bit 0 of byte 32 (s) flipped`,
      publicKey,
      message,
      flip(signature, 32),
    );
    verification(
      `${at}: bit in s flipped`,
      variant,
      `${base.name}, bit 5 of byte 50 (s) flipped`,
      publicKey,
      message,
      flip(signature, 50, 5),
    );
    verification(
      `${at}: message bit flipped`,
      variant,
      `${base.name}, bit 0 of message byte 9 flipped`,
      publicKey,
      flip(message, 9),
      signature,
    );
    verification(
      `${at}: message shortened`,
      variant,
      `${base.name}, message without its last byte`,
      publicKey,
      message.slice(0, -2),
      signature,
    );
    const other = keys.find((x) => x !== k && x.signBit === k.signBit)!;
    verification(
      `${at}: another key`,
      variant,
      `${base.name}, verified with ${other.name}'s public key`,
      other.publicKey,
      message,
      signature,
    );
    verification(
      `${at}: s + L`,
      variant,
      `${base.name}, s replaced by s + L (non-canonical, < 2^253)`,
      publicKey,
      message,
      withS(variant, signature, (s) => s + L),
      { nonCanonicalS: true, knownDifference: STRICT_NOTE },
    );
    verification(
      `${at}: s + 2L`,
      variant,
      `${base.name}, s replaced by s + 2L (≥ 2^253: invalid for every bound)`,
      publicKey,
      message,
      withS(variant, signature, (s) => s + 2n * L),
    );
    verification(
      `${at}: s = 0`,
      variant,
      `${base.name}, s replaced by 0`,
      publicKey,
      message,
      withS(variant, signature, () => 0n),
    );
    if (variant === "libsignal") {
      verification(
        `${at}: sign bit flipped`,
        variant,
        `${base.name}, the sign bit (bit 7 of byte 63) flipped: the Edwards key of the other sign`,
        publicKey,
        message,
        flip(signature, 63, 7),
      );
    } else {
      verification(
        `${at}: bit 255 of s set`,
        variant,
        `${base.name}, bit 7 of byte 63 set (s ≥ 2^255: the spec reads all 256 bits as s)`,
        publicKey,
        message,
        flip(signature, 63, 7),
      );
    }
    // The other variant's signature of the same key and message.
    const cross = find(`${others} ${k.name} 32-byte message`);
    verification(
      `${at}: ${others} signature`,
      variant,
      `${cross.name} verified as ${variant}: ` +
        (variant === "libsignal"
          ? "libsignal's verifier accepts spec signatures (sign bit 0 in byte 63)"
          : k.signBit === 0
            ? "a libsignal signature of a key with sign bit 0 is a spec signature"
            : "a libsignal signature with sign bit 1 has bit 255 of s set"),
      publicKey,
      message,
      cross.signature,
    );
  }
  for (const [what, u, order] of LOW_ORDER_U) {
    const A = convertMont(u);
    const message = forgedMessage(A, order, true);
    verification(
      `${variant}: low-order key, ${what}: forged signature`,
      variant,
      `R = the identity, s = 0, over "${new TextDecoder().decode(hexToBytes(message))}", whose h is a multiple of ${order}: ` +
        `the spec's equation R = sB − hA holds for the low-order key ${what}`,
      toHex(u),
      message,
      FORGED,
      { knownDifference: LOW_ORDER_NOTE },
    );
    const other = forgedMessage(A, order, false);
    verification(
      `${variant}: low-order key, ${what}: forged signature, other message`,
      variant,
      `the same forgery over "${new TextDecoder().decode(hexToBytes(other))}", whose h is not a multiple of ${order}: ` +
        "sB − hA = −hA is not the identity, refused by the spec and by a verifier with a small-order check alike",
      toHex(u),
      other,
      FORGED,
    );
  }
}

// XEdDSA §3 verify, step 1: u ≥ p is invalid. Only u + p < 2^255 tests that step alone (for larger u, bit 255
// is set and convert_mont's masking already changes u): the key with u = 9.
const u9Signature = find("xeddsa u9 32-byte message");
verification(
  "xeddsa u9: valid",
  "xeddsa",
  `${u9Signature.name}, unchanged`,
  u9.publicKey,
  u9Signature.message,
  u9Signature.signature,
);
verification(
  "xeddsa u9: u + p",
  "xeddsa",
  `${u9Signature.name}, verified with u + p = 9 + p (< 2^255: bit 255 clear, convert_mont's masking changes nothing): ` +
    "the spec refuses u ≥ p (§3 verify, first step); a verifier without that check reads u mod p = 9 and accepts",
  toHex(9n + P),
  u9Signature.message,
  u9Signature.signature,
);

// libsignal-protocol-c's test_curve25519_signature: a signature with a random nonce (verify only), and
// each of its 64 bytes with bit 0 flipped refused; here the first of R and of s.
const alice = keyByName.get("libsignal-c-alice-identity")!;
const aliceMessage = "05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a";
const aliceSignature =
  "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfbede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88";
const source = `${SIGNATURE_TEST}: aliceSignature over aliceEphemeralPublic (0x05 ‖ u)`;
verification(
  "libsignal-c-alice: valid",
  "libsignal",
  "the published signature",
  alice.publicKey,
  aliceMessage,
  aliceSignature,
  { source },
);
verification(
  "libsignal-c-alice: bit 0 of R flipped",
  "libsignal",
  "the published signature, bit 0 of byte 0 flipped",
  alice.publicKey,
  aliceMessage,
  flip(aliceSignature, 0),
  { source },
);
verification(
  "libsignal-c-alice: bit 0 of s flipped",
  "libsignal",
  "the published signature, bit 0 of byte 32 flipped",
  alice.publicKey,
  aliceMessage,
  flip(aliceSignature, 32),
  { source },
);
verification(
  "libsignal-c-alice: as xeddsa",
  "xeddsa",
  "the published signature verified as spec XEdDSA: its sign bit 1 is bit 255 of s",
  alice.publicKey,
  aliceMessage,
  aliceSignature,
  { source },
);

// ------------------------------------------------------------------------------------------- write

let crossChecked: string[] = [];
try {
  const old = JSON.parse(readFileSync(FILE, "utf8")) as { provenance?: Provenance };
  crossChecked = old.provenance?.crossChecked ?? [];
} catch {
  // first run
}
const file: XeddsaVectorFile = {
  version: 1,
  provenance: {
    generator: "apps/conformance/scripts/vectors-xeddsa.ts",
    implementation: `Parley @parley/crypto ${cryptoVersion} (xeddsaSign/xeddsaVerify, libsignalSign/libsignalVerify, x25519PrivateToEdwards; git ${commit}), through the conformance ops xeddsa.sign, xeddsa.verify, xeddsa.toEdwards`,
    keys:
      `private keys, messages and nonces drawn from deterministicRandom(seed) of @parley/crypto/testing: seed "${SEED} keys" (clamped; the first two of each Edwards sign bit), ` +
      `"${SEED} messages" (one message of each length, shared), "${SEED} nonce <signature name>"; ` +
      `the key u9, k = 5q − 1 (u = 9); the low-order forgeries' messages "low-order <i>", the first i whose h is (or is not) a multiple of the key's order; ` +
      `published vectors (source fields): ${LIBSIGNAL_C} src/curve25519/ed25519/tests/internal_fast_tests.c (curvesigs_fast_test, xeddsa_fast_test: reproduced byte for byte) and tests/test_curve25519.c (test_curve25519_signature: verified)`,
    crossChecked,
    generatedAt: new Date().toISOString().slice(0, 10),
  },
  keys,
  signatures,
  verifications,
};
writeFileSync(FILE, `${JSON.stringify(file, null, 2)}\n`);
console.log(
  `wrote vectors/xeddsa-v1.json: ${keys.length} keys, ${signatures.length} signatures, ${verifications.length} verifications (${verifications.filter((v) => v.valid).length} valid, ${verifications.filter((v) => v.nonCanonicalS).length} non-canonical s)`,
);
