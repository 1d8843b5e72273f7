// Per-primitive cost of the native provider (node:crypto) beside the noble reference, measured in
// one run. ratio = noble µs/op ÷ native µs/op (above 1: native is faster). Writes bench/results.json.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createCrypto, type Crypto } from "../src/index.js";

const native = createCrypto({ provider: "native" });
const noble = createCrypto({ provider: "noble" });
const KB = native.randomBytes(1024);
const MB = native.randomBytes(1 << 20);
const key32 = native.randomBytes(32);
const iv12 = native.randomBytes(12);
const iv16 = native.randomBytes(16);
const nonce24 = native.randomBytes(24);
const alice = native.generateX25519KeyPair();
const bob = native.generateX25519KeyPair();
const ed = native.generateEd25519KeyPair();
const msg = native.randomBytes(100);
const edSig = native.ed25519Sign(ed.privateKey, msg);
const spk = native.randomBytes(33);
const nonce64 = native.randomBytes(64);
const xedSig = native.xeddsaSign(alice.privateKey, spk);
const libSig = native.libsignalSign(alice.privateKey, spk);
const freshPublics = Array.from({ length: 512 }, () => native.generateX25519KeyPair().publicKey);

type Op = (c: Crypto, i: number) => unknown;
const scenarios: Array<[string, Op]> = [
  ["x25519 (same keys, cached)", (c) => c.x25519(alice.privateKey, bob.publicKey)],
  ["x25519 (new peer key each call)", (c, i) => c.x25519(alice.privateKey, freshPublics[i % 512]!)],
  // A new private key each call, as in a DH ratchet step (a new array defeats the KeyObject cache).
  ["x25519PublicKey (new private key)", (c, i) => c.x25519PublicKey(freshPublics[i % 512]!.slice())],
  ["ed25519Sign 100 B", (c) => c.ed25519Sign(ed.privateKey, msg)],
  ["ed25519Sign 100 B (new key array)", (c) => c.ed25519Sign(ed.privateKey.slice(), msg)],
  ["ed25519Verify 100 B", (c) => c.ed25519Verify(edSig, msg, ed.publicKey)],
  ["xeddsaSign 33 B", (c) => c.xeddsaSign(alice.privateKey, spk, nonce64)],
  ["xeddsaVerify 33 B", (c) => c.xeddsaVerify(alice.publicKey, spk, xedSig)],
  ["libsignalVerify 33 B", (c) => c.libsignalVerify(alice.publicKey, spk, libSig)],
  ["sha256 1 KiB", (c) => c.sha256(KB)],
  ["sha512 1 KiB", (c) => c.sha512(KB)],
  ["hmacSha256 100 B", (c) => c.hmacSha256(key32, msg)],
  ["hkdfSha256 80 B out", (c) => c.hkdfSha256(key32, key32, msg, 80)],
  ["aesCbcEncrypt 1 KiB", (c) => c.aesCbcEncrypt(key32, iv16, KB)],
  ["aesGcmEncrypt 1 KiB", (c) => c.aesGcmEncrypt(key32, iv12, KB)],
  ["aesGcmEncrypt 1 MiB", (c) => c.aesGcmEncrypt(key32, iv12, MB)],
  ["xchacha20Poly1305Encrypt 1 KiB", (c) => c.xchacha20Poly1305Encrypt(key32, nonce24, KB)],
  ["xchacha20Poly1305Encrypt 1 MiB", (c) => c.xchacha20Poly1305Encrypt(key32, nonce24, MB)],
];

/** µs per op: best of 5 rounds of ~150 ms each (the best round is the least disturbed by noise). */
function measure(c: Crypto, op: Op): number {
  let n = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < n; i++) op(c, i);
    if (performance.now() - t > 20) break;
    n *= 2;
  }
  const perRound = Math.max(1, Math.round((n * 150) / 20));
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < perRound; i++) op(c, i);
    best = Math.min(best, ((performance.now() - t) * 1000) / perRound);
  }
  return best;
}

async function measureAsync(c: Crypto): Promise<number> {
  const params = { N: 1 << 14, r: 8, p: 1, dkLen: 32 };
  await c.scrypt(msg, key32, params);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    await c.scrypt(msg, key32, params);
    best = Math.min(best, (performance.now() - t) * 1000);
  }
  return best;
}

const rows: Array<{ scenario: string; ours: number; peer: number; unit: string; ratio: number }> = [];
for (const [scenario, op] of scenarios) {
  const peer = measure(noble, op);
  const ours = measure(native, op);
  rows.push({ scenario, ours, peer, unit: "µs/op", ratio: peer / ours });
}
{
  const peer = await measureAsync(noble);
  const ours = await measureAsync(native);
  rows.push({ scenario: "scrypt N=2^14 r=8 p=1", ours, peer, unit: "µs/op", ratio: peer / ours });
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
console.log(`@parley/crypto — ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}`);
console.log("ours = native provider (node:crypto), peer = noble reference; ratio = noble ÷ native\n");
console.log(`${"scenario".padEnd(34)} ${"native µs".padStart(11)} ${"noble µs".padStart(11)} ${"ratio".padStart(7)}`);
for (const r of rows) {
  console.log(
    `${r.scenario.padEnd(34)} ${fmt(r.ours).padStart(11)} ${fmt(r.peer).padStart(11)} ${r.ratio.toFixed(2).padStart(7)}`,
  );
}
writeFileSync(
  new URL("./results.json", import.meta.url),
  JSON.stringify(
    rows.map((r) => ({ ...r, ours: +r.ours.toFixed(3), peer: +r.peer.toFixed(3), ratio: +r.ratio.toFixed(3) })),
    null,
    2,
  ) + "\n",
);
