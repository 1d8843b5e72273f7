/**
 * Writes vectors/x3dh-v1.json and vectors/ratchet-v1.json from Parley's implementation, through the same
 * protocol ops an adapter answers (ParleyImplementation), with every key drawn from a named
 * deterministic source so a rerun gives the same keys. Run: `pnpm vectors` (tsx scripts/make-vectors.ts).
 * A published version (v1) is never rewritten with other values: change the script, bump the version.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { bytesToHex, createCrypto, type Crypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import type { KeyPairHex, OpArgs, OpName, OpResult, ProfileName } from "../src/protocol.js";
import { ParleyImplementation } from "../src/reference.js";
import type {
  Party,
  Provenance,
  RatchetVector,
  RatchetVectorFile,
  ResponderKeys,
  SendStep,
  Step,
  X3dhVector,
  X3dhVectorFile,
} from "../src/vectors.js";

const root = new URL("../", import.meta.url);
const version = (pkg: string): string =>
  (
    JSON.parse(readFileSync(new URL(`../../../packages/${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  const packages = ["crypto", "x3dh", "double-ratchet"].map((p) => `../../packages/${p}/src`);
  const changed = execFileSync("git", ["status", "--porcelain", "--", ...packages], { encoding: "utf8" }).trim();
  if (changed !== "") commit += " with uncommitted changes in the packages";
} catch {
  // not a git checkout
}

function provenance(): Provenance {
  return {
    generator: "apps/conformance/scripts/make-vectors.ts",
    implementation: `Parley @parley/x3dh ${version("x3dh")}, @parley/double-ratchet ${version("double-ratchet")}, @parley/crypto ${version("crypto")} (native provider, git ${commit})`,
    keys: 'every private key (and XEdDSA signature nonce) drawn from deterministicRandom(seed) of @parley/crypto/testing, seed "parley-conformance x3dh-v1 <vector name>" or "parley-conformance ratchet-v1 <vector name>"',
    crossChecked: [],
    generatedAt: new Date().toISOString().slice(0, 10),
  };
}

class Maker {
  readonly crypto: Crypto;
  readonly impl: ParleyImplementation;
  constructor(seed: string) {
    this.crypto = createCrypto({ random: deterministicRandom(seed) });
    this.impl = new ParleyImplementation(this.crypto);
  }
  call<O extends OpName>(op: O, args: OpArgs<O>): OpResult<O> {
    return this.impl.handle(op, args);
  }
  keyPair(): KeyPairHex {
    const kp = this.crypto.generateX25519KeyPair();
    return { privateKey: bytesToHex(kp.privateKey), publicKey: bytesToHex(kp.publicKey) };
  }
  responder(profile: ProfileName, oneTimePreKeys: number) {
    const id = this.call("x3dh.generateIdentity", { profile });
    const keys: ResponderKeys = {
      identityPrivateKey: id.privateKey,
      identityKey: id.identityKey,
      signedPreKeyId: 1,
      signedPreKeyPrivateKey: this.keyPair().privateKey,
      oneTimePreKeys: Array.from({ length: oneTimePreKeys }, (_, i) => ({
        id: 100 + i,
        privateKey: this.keyPair().privateKey,
      })),
    };
    const made = this.call("x3dh.bundle", { profile, ...keys });
    return { keys, ...made };
  }
}

function x3dhVector(profile: ProfileName, withOpk: boolean): X3dhVector {
  const name = `${profile}-${withOpk ? "4dh" : "3dh"}`;
  const m = new Maker(`parley-conformance x3dh-v1 ${name}`);
  const bob = m.responder(profile, withOpk ? 2 : 0);
  const alice = m.call("x3dh.generateIdentity", { profile });
  const ephemeralKeyPair = m.keyPair();
  const oneTimePreKeyId = withOpk ? 101 : null;
  const a = m.call("x3dh.initiate", {
    profile,
    identityPrivateKey: alice.privateKey,
    bundle: bob.bundle,
    ephemeralKeyPair,
    ...(oneTimePreKeyId !== null ? { oneTimePreKeyId } : {}),
  });
  const b = m.call("x3dh.respond", { party: bob.party, keyExchange: a.keyExchange });
  if (b.sharedSecret !== a.sharedSecret || b.associatedData !== a.associatedData)
    throw new Error(`${name}: sides disagree`);
  return {
    name,
    profile,
    alice: { identityPrivateKey: alice.privateKey, identityKey: alice.identityKey, ephemeralKeyPair },
    bob: bob.keys,
    bundle: bob.bundle,
    oneTimePreKeyId,
    keyExchange: a.keyExchange,
    sharedSecret: a.sharedSecret,
    associatedData: a.associatedData,
  };
}

const te = new TextEncoder();
const hexText = (s: string) => bytesToHex(te.encode(s));

/**
 * The conversation: two key-exchange messages, a reply read out of order, a late key exchange, a lost
 * and late message across a DH step, and a last round trip. [actor, "send", label] or [actor, "receive", label].
 */
const SCRIPT: [Party, "send" | "receive", string][] = [
  ["alice", "send", "a0"],
  ["alice", "send", "a1"],
  ["bob", "receive", "a0"],
  ["bob", "send", "b0"],
  ["bob", "send", "b1"],
  ["alice", "receive", "b1"],
  ["alice", "receive", "b0"],
  ["bob", "receive", "a1"],
  ["alice", "send", "a2"],
  ["alice", "send", "a3"],
  ["alice", "send", "a4"],
  ["bob", "receive", "a4"],
  ["bob", "receive", "a2"],
  ["bob", "send", "b2"],
  ["alice", "receive", "b2"],
  ["alice", "send", "a5"],
  ["bob", "receive", "a3"],
  ["bob", "receive", "a5"],
  ["bob", "send", "b3"],
  ["alice", "receive", "b3"],
];

function ratchetVector(profile: ProfileName): RatchetVector {
  const name = `${profile}-conversation`;
  const m = new Maker(`parley-conformance ratchet-v1 ${name}`);
  const bob = m.responder(profile, 1);
  const alice = m.call("x3dh.generateIdentity", { profile });
  const fixed = { ephemeralKeyPair: m.keyPair(), ratchetKeyPair: m.keyPair() };
  const oneTimePreKeyId = 100;
  const sessions: Partial<Record<Party, string>> = {
    alice: m.call("ratchet.initiate", {
      profile,
      identityPrivateKey: alice.privateKey,
      bundle: bob.bundle,
      oneTimePreKeyId,
      ...fixed,
    }).session,
  };
  // Ratchet keys each side has seen: a message with a new one starts a DH step and gets a fixed next key.
  const seen: Record<Party, Set<string>> = { alice: new Set([bob.bundle.signedPreKey.slice(-64)]), bob: new Set() };
  const steps: Step[] = [];
  const sends: SendStep[] = [];
  const byLabel = new Map<string, number>();
  for (const [by, op, label] of SCRIPT) {
    if (op === "send") {
      const plaintext = hexText(`${label}: message ${label} from ${by}`);
      const r = m.call("ratchet.encrypt", { session: sessions[by]!, plaintext });
      const inspect = m.call("ratchet.inspect", { profile, message: r.message, isKeyExchange: r.isKeyExchange });
      const step: SendStep = { op: "send", by, plaintext, message: r.message, isKeyExchange: r.isKeyExchange, inspect };
      byLabel.set(label, sends.length);
      sends.push(step);
      steps.push(step);
      continue;
    }
    const index = byLabel.get(label)!;
    const s = sends[index]!;
    const ratchetKey = s.inspect.header!.ratchetKey;
    const next = seen[by].has(ratchetKey) ? undefined : m.keyPair();
    seen[by].add(ratchetKey);
    const extra = next ? { nextRatchetKeyPair: next } : {};
    let plaintext: string;
    if (sessions[by] === undefined) {
      const r = m.call("ratchet.accept", { party: bob.party, message: s.message, ...extra });
      sessions[by] = r.session;
      plaintext = r.plaintext;
    } else {
      plaintext = m.call("ratchet.decrypt", {
        session: sessions[by],
        message: s.message,
        isKeyExchange: s.isKeyExchange,
        ...extra,
      }).plaintext;
    }
    if (plaintext !== s.plaintext) throw new Error(`${name}: ${label} decrypted wrong`);
    steps.push({ op: "receive", by, send: index, ...extra });
  }
  return {
    name,
    profile,
    alice: { identityPrivateKey: alice.privateKey, identityKey: alice.identityKey, ...fixed },
    bob: bob.keys,
    bundle: bob.bundle,
    oneTimePreKeyId,
    steps,
  };
}

const x3dh: X3dhVectorFile = {
  version: 1,
  provenance: provenance(),
  vectors: [
    x3dhVector("legacyOmemo", true),
    x3dhVector("legacyOmemo", false),
    x3dhVector("omemo2", true),
    x3dhVector("signal", true),
    x3dhVector("signal", false),
  ],
};
const ratchet: RatchetVectorFile = {
  version: 1,
  provenance: provenance(),
  vectors: (["legacyOmemo", "omemo2", "signal"] as const).map(ratchetVector),
};
// Keep an existing file's crossChecked notes (scripts/cross-check-x3dh.py adds them).
for (const [file, data] of [
  ["vectors/x3dh-v1.json", x3dh],
  ["vectors/ratchet-v1.json", ratchet],
] as const) {
  try {
    const old = JSON.parse(readFileSync(new URL(file, root), "utf8")) as { provenance?: Provenance };
    if (old.provenance?.crossChecked) data.provenance.crossChecked = old.provenance.crossChecked;
  } catch {
    // first run
  }
  writeFileSync(new URL(file, root), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote ${file}: ${data.vectors.length} vectors`);
}
