/**
 * Writes vectors/otr-v1.json from Parley (@parley/otr) through the same protocol ops an adapter answers
 * (ParleyImplementation), then cross-checks every value against libotr 4.1.1 through adapters/libotr.mjs
 * and records the result in `provenance.crossChecked` (left empty, with a warning, when libotr cannot
 * run). Run: `pnpm exec tsx scripts/vectors-otr.ts` from apps/conformance.
 *
 * What OTR makes deterministic and this file fixes:
 *   - DSA keys (libotr's private key file) and their fingerprints (SHA-1 of the public key as OTR encodes
 *     it), each key drawn by @parley/otr's generateDsaKey from deterministicRandom("parley-conformance
 *     otr-v1 <key name>");
 *   - which version of D-H Commit a Query message starts (spec "Receiving a Query Message", with the
 *     spec's own example Query messages) for sessions allowing v2 and v3, or v2 only.
 * A published version (v1) is never rewritten with other values: change the script, bump the version.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { exportLibotrPrivateKeys, generateDsaKey } from "@parley/otr";
import { AdapterProcess } from "../src/client.js";
import type { Implementation } from "../src/reference.js";
import { ParleyImplementation } from "../src/reference.js";
import type { OtrKeyVector, OtrQueryVector, OtrVectorFile } from "../src/vectors.js";

const root = new URL("../", import.meta.url);
const FILE = "vectors/otr-v1.json";
const otrVersion = (
  JSON.parse(readFileSync(new URL("../../../packages/otr/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const changed = execFileSync("git", ["status", "--porcelain", "--", "../../packages/otr/src"], {
    encoding: "utf8",
  }).trim();
  if (changed !== "") commit += " with uncommitted changes in packages/otr";
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

const crossChecked: string[] = [];
let libotr: AdapterProcess | undefined;
try {
  libotr = new AdapterProcess({
    command: "node adapters/libotr.mjs",
    timeoutMs: 60_000,
    cwd: new URL(".", root).pathname,
  });
  const hello = await libotr.call("hello", { protocol: 1 });
  let fingerprints = 0;
  for (const k of keys) {
    const got = await fingerprintOf(libotr, k);
    if (got !== k.fingerprint) throw new Error(`key ${k.name}: libotr's fingerprint ${got}, Parley's ${k.fingerprint}`);
    fingerprints++;
  }
  let answers = 0;
  for (const q of queries) {
    const got = await answerOf(libotr, q.message, q.policy);
    if (got !== q.answer) throw new Error(`${q.message}: libotr answers ${got}, Parley ${q.answer}`);
    answers++;
  }
  crossChecked.push(
    `${hello.version} (Debian libotr5-dev) through adapters/libotr.mjs and packages/otr/interop/libotr_peer.c: ` +
      `${fingerprints} of ${keys.length} fingerprints equal (otrl_privkey_read_FILEp + otrl_privkey_fingerprint), ` +
      `${answers} of ${queries.length} Query-message answers equal (otrl_message_receiving, same D-H Commit version or none)`,
  );
} catch (e) {
  console.warn(`not cross-checked with libotr: ${e instanceof Error ? e.message : String(e)}`);
} finally {
  await libotr?.close();
}

const file: OtrVectorFile = {
  version: 1,
  provenance: {
    generator: "apps/conformance/scripts/vectors-otr.ts",
    implementation: `Parley @parley/otr ${otrVersion} (git ${commit}), through ParleyImplementation's otr ops`,
    keys: 'each DSA key (1024/160) drawn by @parley/otr generateDsaKey from deterministicRandom(seed) of @parley/crypto/testing, seed "parley-conformance otr-v1 <key name>"',
    crossChecked,
    generatedAt: new Date().toISOString().slice(0, 10),
  },
  keys,
  queries,
};
writeFileSync(new URL(FILE, root), `${JSON.stringify(file, null, 2)}\n`);
console.log(
  `wrote ${FILE}: ${keys.length} keys, ${queries.length} query messages; cross-checked: ${crossChecked.length > 0}`,
);
