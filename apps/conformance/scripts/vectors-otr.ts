/**
 * Writes vectors/otr-v1.json from Parley (@parley/otr) through the same protocol ops an adapter answers
 * (ParleyImplementation), then cross-checks every value against libotr 4.1.1 through adapters/libotr.mjs
 * and records the result in `provenance.crossChecked`. A value libotr does not agree with fails the script
 * (exit 1, nothing written). Where libotr cannot run (no libotr5-dev, gcc or libotr5-bin), the file's
 * existing crossChecked entry is kept if the values are the ones it was checked for (said on stderr), and
 * left empty otherwise. Run: `pnpm exec tsx scripts/vectors-otr.ts` from apps/conformance.
 *
 * What OTR makes deterministic and this file fixes:
 *   - DSA keys (libotr's private key file) and their fingerprints (SHA-1 of the public key as OTR encodes
 *     it), each key drawn by @parley/otr's generateDsaKey from deterministicRandom("parley-conformance
 *     otr-v1 <key name>");
 *   - which version of D-H Commit a Query message starts (spec "Receiving a Query Message", with the
 *     spec's own example Query messages) for sessions allowing v2 and v3, or v2 only;
 *   - the data-message keys of fixed D-H pairs (`otr.sessionKeys`, spec "Computing AES keys, MAC keys"):
 *     three exchanges, each private key x 320 bits (top bit set, as OTR draws it) from
 *     deterministicRandom("parley-conformance otr-v1 session keys <n><a|b>"), each exchange seen from both
 *     ends (one high, one low), cross-checked with libotr's otr_sesskeys / otr_mackey.
 * A published version (v1) is never rewritten with other values: change the script, bump the version.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { exportLibotrPrivateKeys, generateDsaKey, MODP_G, MODP_P } from "@parley/otr";
import { AdapterProcess } from "../src/client.js";
import type { Implementation } from "../src/reference.js";
import { ParleyImplementation } from "../src/reference.js";
import type { OtrKeyVector, OtrQueryVector, OtrSessionKeysVector, OtrVectorFile } from "../src/vectors.js";

const root = new URL("../", import.meta.url);
const FILE = "vectors/otr-v1.json";
const otrVersion = (
  JSON.parse(readFileSync(new URL("../../../packages/otr/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
/** What the vectors come from (relative to the repository root): uncommitted changes there are named in the provenance. */
const SOURCES = ["packages/otr/src", "packages/crypto/src", "apps/conformance/src", "apps/conformance/scripts"];
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", cwd: repoRoot }).trim();
  const changed = SOURCES.filter(
    (dir) =>
      execFileSync("git", ["status", "--porcelain", "--", dir], { encoding: "utf8", cwd: repoRoot }).trim() !== "",
  );
  if (changed.length > 0) commit += ` with uncommitted changes in ${changed.join(", ")}`;
} catch {
  // not a git checkout
}

const KEYS: { name: string; account: string; protocol: string }[] = [
  // The suite's Parley side uses this one (src/suites/otr.ts PARLEY_ACCOUNT).
  { name: "parley", account: "parley@conformance.example", protocol: "xmpp" },
  { name: "alice", account: "alice@example.org", protocol: "xmpp" },
  { name: "bob", account: "bob@example.net", protocol: "prpl-jabber" },
];

/** The spec's example Query messages ("OTR Query Messages"), plus "?OTRv32?" (order does not matter) and "?OTRv3?". */
const QUERIES = [
  "?OTRv23?",
  "?OTRv32?",
  "?OTRv3?",
  "?OTRv2?",
  "?OTR?v2?",
  "?OTRv24x?",
  "?OTR?v24x?",
  "?OTR?",
  "?OTR?v?",
  "?OTRv?",
];
const POLICIES = [
  { v2: true, v3: true },
  { v2: true, v3: false },
];

async function fingerprintOf(impl: Implementation, k: Omit<OtrKeyVector, "fingerprint">): Promise<string> {
  const a = await impl.call("otr.createAccount", {
    account: k.account,
    protocol: k.protocol,
    privateKey: k.privateKey,
  });
  return a.fingerprint;
}

/** The version of the D-H Commit `impl` answers `message` with, or null when it answers with none. */
async function answerOf(
  impl: Implementation,
  message: string,
  policy: { v2: boolean; v3: boolean },
): Promise<2 | 3 | null> {
  const { account } = await impl.call("otr.createAccount", { account: "query@example.org", protocol: "xmpp" });
  const { session } = await impl.call("otr.session", { account, peer: "peer@example.org", policy, maxFragmentSize: 0 });
  const r = await impl.call("otr.receive", { session, message });
  if (r.replies.length === 0) return null;
  const bin = r.replies.length === 1 ? /^\?OTR:([A-Za-z0-9+/=]+)\./.exec(r.replies[0]!) : null;
  const b = bin ? Buffer.from(bin[1]!, "base64") : undefined;
  if (!b || b[2] !== 0x02) throw new Error(`${message}: the reply is not one D-H Commit: ${JSON.stringify(r.replies)}`);
  const v = b.readUInt16BE(0);
  if (v !== 2 && v !== 3) throw new Error(`${message}: D-H Commit of version ${v}`);
  return v;
}

/** How many exchanges; each gives two vectors (its two ends). */
const SESSION_KEY_EXCHANGES = 3;

/** A 320-bit D-H private key (top bit set) from its named deterministic source, as hex. */
function dhPrivate(seed: string): string {
  const b = deterministicRandom(seed)(40);
  b[0]! |= 0x80;
  return Buffer.from(b).toString("hex");
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let r = 1n;
  for (let b = base % modulus, e = exponent; e > 0n; e >>= 1n, b = (b * b) % modulus) if (e & 1n) r = (r * b) % modulus;
  return r;
}

const evenHex = (n: bigint): string => {
  const h = n.toString(16);
  return h.length % 2 ? `0${h}` : h;
};

const keyFields = (r: Omit<OtrSessionKeysVector, "name" | "description" | "ourPrivateKey" | "theirPublicKey">) => ({
  ourPublicKey: r.ourPublicKey,
  high: r.high,
  sendingAesKey: r.sendingAesKey,
  sendingMacKey: r.sendingMacKey,
  receivingAesKey: r.receivingAesKey,
  receivingMacKey: r.receivingMacKey,
});

const parley = new ParleyImplementation(createCrypto({ random: deterministicRandom("parley-conformance otr-v1") }));

const keys: OtrKeyVector[] = [];
for (const k of KEYS) {
  const key = generateDsaKey({ random: deterministicRandom(`parley-conformance otr-v1 ${k.name}`) });
  const privateKey = exportLibotrPrivateKeys([{ account: k.account, protocol: k.protocol, key }]);
  const entry = { ...k, privateKey };
  keys.push({ ...entry, fingerprint: await fingerprintOf(parley, entry) });
}
const queries: OtrQueryVector[] = [];
for (const policy of POLICIES) {
  for (const message of QUERIES) queries.push({ message, policy, answer: await answerOf(parley, message, policy) });
}

const sessionKeys: OtrSessionKeysVector[] = [];
for (let n = 1; n <= SESSION_KEY_EXCHANGES; n++) {
  const seeds = {
    a: `parley-conformance otr-v1 session keys ${n}a`,
    b: `parley-conformance otr-v1 session keys ${n}b`,
  };
  const x = { a: dhPrivate(seeds.a), b: dhPrivate(seeds.b) };
  for (const [us, them] of [
    ["a", "b"],
    ["b", "a"],
  ] as const) {
    const theirPublicKey = evenHex(modPow(MODP_G, BigInt(`0x${x[them]}`), MODP_P));
    const r = await parley.call("otr.sessionKeys", { ourPrivateKey: x[us], theirPublicKey });
    sessionKeys.push({
      name: `exchange-${n}-${us}`,
      description: `exchange ${n} seen by ${us}: x from "${seeds[us]}", g^y from "${seeds[them]}"; ${r.high ? "high" : "low"} end`,
      ourPrivateKey: x[us],
      theirPublicKey,
      ...keyFields(r),
    });
  }
}
for (let i = 0; i < sessionKeys.length; i += 2) {
  const [a, b] = [sessionKeys[i]!, sessionKeys[i + 1]!];
  if (a.high === b.high || a.sendingAesKey !== b.receivingAesKey || a.receivingMacKey !== b.sendingMacKey)
    throw new Error(`${a.name} and ${b.name}: the two ends do not mirror each other`);
}

/** Why libotr cannot run here (a missing tool, a harness that does not build or start), or undefined when it can. */
async function libotrMissing(): Promise<string | undefined> {
  for (const tool of ["otr_sesskeys", "otr_mackey"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed (libotr5-bin)`;
  }
  const probe = new AdapterProcess({
    command: "node adapters/libotr.mjs",
    timeoutMs: 60_000,
    cwd: new URL(".", root).pathname,
  });
  try {
    await probe.call("hello", { protocol: 1 });
    return undefined;
  } catch (e) {
    return `adapters/libotr.mjs does not start: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    await probe.close();
  }
}

/** Cross-checks every value with libotr; throws at the first one libotr does not agree with. */
async function crossCheck(): Promise<string> {
  const libotr = new AdapterProcess({
    command: "node adapters/libotr.mjs",
    timeoutMs: 60_000,
    cwd: new URL(".", root).pathname,
  });
  try {
    const hello = await libotr.call("hello", { protocol: 1 });
    let fingerprints = 0;
    for (const k of keys) {
      const got = await fingerprintOf(libotr, k);
      if (got !== k.fingerprint)
        throw new Error(`key ${k.name}: libotr's fingerprint ${got}, Parley's ${k.fingerprint}`);
      fingerprints++;
    }
    let answers = 0;
    for (const q of queries) {
      const got = await answerOf(libotr, q.message, q.policy);
      if (got !== q.answer) throw new Error(`${q.message}: libotr answers ${got}, Parley ${q.answer}`);
      answers++;
    }
    let derived = 0;
    for (const v of sessionKeys) {
      const got = keyFields(
        await libotr.call("otr.sessionKeys", { ourPrivateKey: v.ourPrivateKey, theirPublicKey: v.theirPublicKey }),
      );
      if (JSON.stringify(got) !== JSON.stringify(keyFields(v)))
        throw new Error(`${v.name}: libotr derives ${JSON.stringify(got)}, Parley ${JSON.stringify(keyFields(v))}`);
      derived++;
    }
    return (
      `${hello.version} (Debian libotr5-dev) through adapters/libotr.mjs and packages/otr/interop/libotr_peer.c: ` +
      `${fingerprints} of ${keys.length} fingerprints equal (otrl_privkey_read_FILEp + otrl_privkey_fingerprint), ` +
      `${answers} of ${queries.length} Query-message answers equal (otrl_message_receiving, same D-H Commit version or none), ` +
      `${derived} of ${sessionKeys.length} session-key derivations equal (libotr5-bin's otr_sesskeys and otr_mackey: ` +
      `our public key, high end, sending and receiving AES and MAC keys)`
    );
  } finally {
    await libotr.close();
  }
}

let crossChecked: string[] = [];
const missing = await libotrMissing();
if (missing === undefined) {
  try {
    crossChecked = [await crossCheck()];
  } catch (e) {
    // A disagreement (or libotr failing mid-check) is never published: nothing is written.
    console.error(`libotr does not agree, ${FILE} not written: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
} else {
  let old: OtrVectorFile | undefined;
  try {
    old = JSON.parse(readFileSync(new URL(FILE, root), "utf8")) as OtrVectorFile;
  } catch {
    // first run
  }
  const same =
    old !== undefined &&
    JSON.stringify([old.keys, old.queries, old.sessionKeys]) === JSON.stringify([keys, queries, sessionKeys]);
  if (same && old!.provenance.crossChecked.length > 0) {
    crossChecked = old!.provenance.crossChecked;
    console.error(
      `libotr cannot run here (${missing}): keeping ${FILE}'s crossChecked, recorded for these same values`,
    );
  } else {
    console.error(
      `libotr cannot run here (${missing}): ${FILE} is written with an empty crossChecked` +
        (old === undefined ? "" : " (its values differ from those the existing entry was checked for)"),
    );
  }
}

const file: OtrVectorFile = {
  version: 1,
  provenance: {
    generator: "apps/conformance/scripts/vectors-otr.ts",
    implementation: `Parley @parley/otr ${otrVersion} (git ${commit}), through ParleyImplementation's otr ops`,
    keys:
      'each DSA key (1024/160) drawn by @parley/otr generateDsaKey from deterministicRandom(seed) of @parley/crypto/testing, seed "parley-conformance otr-v1 <key name>"; ' +
      'each D-H private key x of sessionKeys the first 40 bytes of deterministicRandom("parley-conformance otr-v1 session keys <n><a|b>") with the top bit set, g^y the other end\'s g^x',
    crossChecked,
    generatedAt: new Date().toISOString().slice(0, 10),
  },
  keys,
  queries,
  sessionKeys,
};
writeFileSync(new URL(FILE, root), `${JSON.stringify(file, null, 2)}\n`);
console.log(
  `wrote ${FILE}: ${keys.length} keys, ${queries.length} query messages, ${sessionKeys.length} session keys; ` +
    `cross-checked: ${crossChecked.length > 0}`,
);
