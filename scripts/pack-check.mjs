#!/usr/bin/env node
// Pack-and-install check: what a user gets from the registry, tried before it is published.
// Run after `pnpm build`. For every publishable package (not `private`) under packages/* and apps/* it
//   1. runs `pnpm pack` (which rewrites `workspace:*` to real versions) and reads the tarball:
//      no `workspace:` string may remain in the packed package.json, and every file that `exports`,
//      `main` and `types` name must be in the tarball;
//   2. installs all tarballs at once with plain npm into a clean temporary project ("type": "module"),
//      so the @parley/* dependencies resolve to the tarballs and the others (@noble/*, ltx,
//      protobufjs) come from the registry;
//   3. per package, one TypeScript file (written below, in EXCHANGES) imports the root entry and every
//      subpath, with public types, and runs a small real exchange. It is type-checked with the repo's
//      TypeScript twice (`--moduleResolution bundler` and `node16`, `--strict --skipLibCheck false`),
//      then transpiled and run by Node, after a dynamic import() of every entry of the exports map.
// Each package x check is one test case in <package>/.reports/pack.json (the shape of a vitest JSON
// report, so scripts/summarize.mjs counts them). Prints a table, exits 1 on any failure, removes its
// temporary directory (`--keep` leaves it for debugging).
//
//   node scripts/pack-check.mjs [--keep]
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const keep = process.argv.includes("--keep");
const started = Date.now();
const require = createRequire(join(root, "package.json"));
const ts = require("typescript");
const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
const pnpm = existsSync(join(root, ".tools", "node_modules", ".bin", "pnpm"))
  ? join(root, ".tools", "node_modules", ".bin", "pnpm")
  : "pnpm";

const CHECKS = [
  ["manifest", "pack: no workspace: range in the packed package.json"],
  ["files", "pack: every file exports/main/types name is in the tarball"],
  ["import", "node: import() of the root entry and every subpath"],
  ["exchange", "node: a small exchange with the installed package"],
  ["bundler", "tsc: --module esnext --moduleResolution bundler --strict --skipLibCheck false"],
  ["node16", "tsc: --module node16 --moduleResolution node16 --strict --skipLibCheck false"],
];

// One small exchange per package, in TypeScript, as a user would write it against the published API.
// Each file is prefixed with `import * as` of every entry of the package's exports map.
const EXCHANGES = {
  crypto: `
import { createCrypto, isCryptoError, type Crypto, type KeyPair } from "@parley/crypto";
import { nobleProvider } from "@parley/crypto/noble";
import { deterministicRandom } from "@parley/crypto/testing";

export default function run(): string {
  const message = new TextEncoder().encode("pack check");
  const auto: Crypto = createCrypto();
  const pair: KeyPair = auto.generateEd25519KeyPair();
  const signature = auto.ed25519Sign(pair.privateKey, message);
  const noble = createCrypto({ provider: nobleProvider });
  if (!noble.ed25519Verify(signature, message, pair.publicKey)) throw new Error("noble rejects the signature");
  const xsig = noble.xeddsaSign(noble.generateX25519KeyPair().privateKey, message);
  if (xsig.length !== 64) throw new Error("bad XEdDSA signature length");
  const a = createCrypto({ random: deterministicRandom("seed") }).generateX25519KeyPair();
  const b = createCrypto({ random: deterministicRandom("seed") }).generateX25519KeyPair();
  if (!auto.constantTimeEqual(a.publicKey, b.publicKey)) throw new Error("deterministicRandom is not deterministic");
  try {
    auto.x25519(a.privateKey, new Uint8Array(32));
    throw new Error("low-order point accepted");
  } catch (e) {
    if (!isCryptoError(e, "LOW_ORDER_POINT")) throw e;
  }
  return \`Ed25519 signed (\${auto.provider}), verified (noble); XEdDSA; deterministic random\`;
}
`,
  x3dh: `
import { constantTimeEqual } from "@parley/crypto";
import {
  createBundle, generateIdentityKeyPair, generateOneTimePreKeys, generateSignedPreKey, InMemoryPreKeyStore,
  initiate, omemo2X3dh, respond, type Bundle, type InitiatorResult, type ResponderResult,
} from "@parley/x3dh";

export default function run(): string {
  const bob = generateIdentityKeyPair(omemo2X3dh);
  const signedPreKey = generateSignedPreKey(omemo2X3dh, bob, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, 5);
  const store = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);
  const bundle: Bundle = createBundle(omemo2X3dh, bob, signedPreKey, oneTimePreKeys);
  const alice = generateIdentityKeyPair(omemo2X3dh);
  const a: InitiatorResult = initiate(omemo2X3dh, alice, bundle);
  const b: ResponderResult = respond(omemo2X3dh, bob, store, {
    identityKey: a.identityKey,
    ephemeralKey: a.ephemeralKey,
    signedPreKeyId: a.signedPreKeyId,
    oneTimePreKeyId: a.oneTimePreKeyId,
  });
  if (!constantTimeEqual(a.sharedSecret, b.sharedSecret)) throw new Error("the shared secrets differ");
  return "X3DH (OMEMO 2): both sides derive the same SK";
}
`,
  "double-ratchet": `
import {
  acceptSession, createInitiatorSession, decrypt, deserializeSession, encrypt, omemo2, serializeSession,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle, generateIdentityKeyPair, generateOneTimePreKeys, generateSignedPreKey, InMemoryPreKeyStore,
} from "@parley/x3dh";

export default function run(): string {
  const te = new TextEncoder();
  const td = new TextDecoder();
  const bobIdentity = generateIdentityKeyPair(omemo2.x3dh);
  const signedPreKey = generateSignedPreKey(omemo2.x3dh, bobIdentity, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, 5);
  const bobStore = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);
  const bundle = createBundle(omemo2.x3dh, bobIdentity, signedPreKey, oneTimePreKeys);
  const aliceIdentity = generateIdentityKeyPair(omemo2.x3dh);

  let alice: Session = createInitiatorSession(omemo2, aliceIdentity, bundle);
  const first = encrypt(alice, te.encode("Hi Bob!"));
  alice = first.session;
  const accepted = acceptSession(omemo2, bobIdentity, bobStore, first.message);
  let bob: Session = accepted.session;
  if (td.decode(accepted.plaintext) !== "Hi Bob!") throw new Error("Bob read the wrong text");
  const reply = encrypt(bob, te.encode("Hi Alice!"));
  bob = reply.session;
  const read = decrypt(alice, reply.message);
  alice = deserializeSession(serializeSession(read.session));
  if (td.decode(read.plaintext) !== "Hi Alice!") throw new Error("Alice read the wrong text");
  const third = encrypt(alice, te.encode("again"));
  if (third.isKeyExchange) throw new Error("still a key exchange after the reply");
  if (td.decode(decrypt(bob, third.message).plaintext) !== "again") throw new Error("Bob read the wrong text");
  return "OMEMO 2 session: Alice -> Bob, Bob -> Alice, Alice -> Bob after a serialize round trip";
}
`,
  omemo: `
import { formatFingerprint, memoryOmemoStore, MemoryXmppNetwork, SessionManager } from "@parley/omemo";

export default async function run(): Promise<string> {
  const network = new MemoryXmppNetwork();
  const trust = { decide: () => "trusted" as const };
  const read: string[] = [];
  async function login(jid: string): Promise<SessionManager> {
    const client = network.connect(\`\${jid}/phone\`);
    const manager = await SessionManager.create({ jid, store: memoryOmemoStore(), transport: client.transport, trust });
    network.setHandlers(client, {
      message: async (stanza) => {
        const m = await manager.decrypt(stanza);
        if (m.kind === "message") read.push(\`\${jid} <- \${m.body ?? ""}\`);
      },
      pubsub: (from, node, items) => manager.handlePubsubEvent(from, node, items),
    });
    return manager;
  }
  const alice = await login("alice@example.org");
  const bob = await login("bob@example.net");
  await network.flush();
  await alice.send("bob@example.net", { body: "Hi Bob!" });
  await network.flush();
  await bob.send("alice@example.org", { body: "Hi Alice!" });
  await network.flush();
  const want = ["bob@example.net <- Hi Bob!", "alice@example.org <- Hi Alice!"];
  if (read.join("|") !== want.join("|")) throw new Error(\`read \${JSON.stringify(read)}\`);
  return \`two accounts, one message each way; fingerprint \${formatFingerprint(alice.fingerprint).slice(0, 17)}…\`;
}
`,
  otr: `
import { generateDsaKey, OtrSession, type OtrEvent } from "@parley/otr";

export default function run(): string {
  const alice = new OtrSession({ account: "alice@example.org", contact: "bob@example.net", privateKey: generateDsaKey() });
  const bob = new OtrSession({ account: "bob@example.net", contact: "alice@example.org", privateKey: generateDsaKey() });
  const seen: string[] = [];
  const peerOf = (s: OtrSession): OtrSession => (s === alice ? bob : alice);
  const show = (who: OtrSession, e: OtrEvent): void => {
    const name = who === alice ? "alice" : "bob";
    if (e.type === "message") seen.push(\`\${name} reads \${e.text}\`);
    else if (e.type === "smp-result") seen.push(\`\${name} smp \${e.result}\`);
    else if (e.type === "error") seen.push(\`\${name} error \${e.error.code}\`);
  };
  const deliver = (from: OtrSession, wire: readonly string[]): void => {
    const queue = wire.map((m) => [peerOf(from), m] as const);
    for (let item = queue.shift(); item; item = queue.shift()) {
      const [to, message] = item;
      const { events, replies } = to.receive(message);
      for (const e of events) show(to, e);
      for (const r of replies) queue.push([peerOf(to), r]);
    }
  };
  deliver(alice, alice.startAke());
  if (alice.messageState !== "encrypted" || bob.messageState !== "encrypted") throw new Error("AKE did not finish");
  deliver(alice, alice.send("Hi Bob"));
  deliver(alice, alice.smp.start("the blue door", "Where did we meet?"));
  deliver(bob, bob.smp.respond("the blue door"));
  const want = ["bob reads Hi Bob", "bob smp verified", "alice smp verified"];
  if (seen.join("|") !== want.join("|")) throw new Error(\`events \${JSON.stringify(seen)}\`);
  return "AKE (v3), one data message, SMP verified on both sides";
}
`,
  trust: `
import { createTrustStore, memoryTrustStorage, type TrustStore } from "@parley/trust";

export default async function run(): Promise<string> {
  const store: TrustStore = createTrustStore({ storage: memoryTrustStorage() });
  const me = "juliet@example.com";
  const romeo = "romeo@example.net";
  const phone = "05a364484c7c74a0d427b89d8a5613de8c2fc0179ea493392242348b0e597d9b06";
  const laptop = "44afeb6e69c09ccb0db769cba844a8eab246066e54147eabb65590d3ad90e411";
  const first = await store.keySeen(me, romeo, "omemo", { fingerprint: phone, deviceId: 1522580533 });
  const second = await store.keySeen(me, romeo, "omemo", { fingerprint: laptop, deviceId: 1157939698 });
  if (first.state !== "tofu" || second.state !== "untrusted") throw new Error(\`states \${first.state}, \${second.state}\`);
  const verified = await store.verify(me, romeo, "omemo", laptop, { method: "fingerprint-compared" });
  const decision = await store.shouldEncryptTo(me, romeo, "omemo", laptop);
  if (verified.state !== "verified" || !decision.allowed) throw new Error(\`after verify: \${verified.state}\`);
  return "TOFU for the first key, a new key untrusted, then verified and encrypted to";
}
`,
  storage: `
import { EncryptedStore, isStorageError, memoryBackend } from "@parley/storage";

export default async function run(): Promise<string> {
  const kdf = { N: 2 ** 10, r: 8, p: 1, dkLen: 32 }; // cheap for a check; the default costs 128 MiB
  const backend = memoryBackend();
  const db = await EncryptedStore.create(backend, { passphrase: "correct horse", kdf });
  await db.namespace("trust").put("juliet/romeo", new TextEncoder().encode("verified"));
  await db.transaction(async (tx) => {
    await tx.namespace("sessions").put("romeo/1", new Uint8Array([1, 2, 3]));
  });
  await db.close();
  try {
    await EncryptedStore.open(backend, { passphrase: "wrong" });
    throw new Error("a wrong passphrase opened the store");
  } catch (e) {
    if (!isStorageError(e, "WRONG_PASSPHRASE")) throw e;
  }
  const again = await EncryptedStore.open(backend, { passphrase: "correct horse" });
  const value = await again.namespace("trust").get("juliet/romeo");
  const session = await again.namespace("sessions").get("romeo/1");
  await again.close();
  if (new TextDecoder().decode(value) !== "verified" || session?.length !== 3) throw new Error("wrong values read back");
  return "memory backend: put, transaction, close, wrong passphrase refused, reopen, get";
}
`,
  queue: `
import {
  ManualTimers, memoryQueueStore, openQueue, type EncryptionProvider, type MessageState, type Queue,
  type TransportEvent,
} from "@parley/queue";

export default async function run(): Promise<string> {
  const romeo = "romeo@example.net";
  let trusted = false;
  const omemo: EncryptionProvider = {
    availability: () =>
      Promise.resolve(trusted ? { available: true } : { available: false, transient: false, reason: "no-trusted-device" }),
    negotiate: () => Promise.resolve({ ok: true }),
    encrypt: (m) => Promise.resolve({ ok: true, payload: \`<encrypted>\${m.body.length}</encrypted>\` }),
  };
  const listeners = new Set<(e: TransportEvent) => void>();
  const wire: string[] = [];
  const queue = await openQueue({
    account: "juliet@example.com",
    store: memoryQueueStore(),
    providers: { omemo },
    policy: { getContactSettings: () => Promise.resolve({ defaultEncryption: "omemo" }) },
    timers: new ManualTimers(),
    transport: {
      isOnline: () => true,
      subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
      send: (stanza) => {
        wire.push(String(stanza.payload));
        setTimeout(() => {
          for (const l of listeners) l({ type: "receipt", from: \`\${romeo}/balcony\`, id: stanza.originId });
        }, 0);
        return Promise.resolve({ ok: true });
      },
    },
  });
  const until = (q: Queue, id: string, state: MessageState): Promise<void> =>
    new Promise((resolve) => {
      const stop = q.subscribe((e) => {
        if (e.type === "state" && e.message.id === id && e.message.state === state) {
          stop();
          resolve();
        }
      });
    });
  const id = await queue.send(romeo, "Wherefore art thou?");
  await until(queue, id, "failed");
  trusted = true;
  await queue.resend(id);
  await until(queue, id, "delivered");
  await queue.close();
  if (wire.length !== 1) throw new Error(\`sent \${wire.length} stanzas\`);
  return "a message failed (no trusted device), resent, delivered with a receipt";
}
`,
  sdk: `
import {
  ParleyClient, parseRequestText, PROTOCOL_VERSION, isProtocolError, type Status, type WebSocketLike,
} from "@parley/sdk";

// parley-chat's side of the WebSocket API, in process: the auth reply, the ready event, a status reply.
class LoopbackSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: never) => void) | null = null;
  onmessage: ((event: never) => void) | null = null;
  onclose: ((event: never) => void) | null = null;
  onerror: ((event: never) => void) | null = null;
  constructor(_url: string) {
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({} as never);
    }, 0);
  }
  #push(frame: object): void {
    setTimeout(() => this.onmessage?.({ data: JSON.stringify(frame) } as never), 0);
  }
  send(data: string): void {
    const frame = JSON.parse(data) as { cmd: string; id?: string; token?: string };
    if (frame.cmd === "auth") {
      this.#push({ type: "reply", id: frame.id, ok: true, result: { authenticated: true, version: PROTOCOL_VERSION } });
      this.#push({ type: "event", event: "ready", version: PROTOCOL_VERSION, jid: "bot@example.org", deviceId: 7, fingerprint: "ab" });
      return;
    }
    const request = parseRequestText(data);
    const status: Status = {
      version: PROTOCOL_VERSION, jid: "bot@example.org", deviceId: 7, fingerprint: "ab", otrFingerprint: "cd",
      online: true, pending: 0, remembersPassphrase: false,
    };
    this.#push({ type: "reply", id: frame.id, ok: request.cmd === "status", result: status });
  }
  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason } as never), 0);
  }
}

export default async function run(): Promise<string> {
  let refused = false;
  try {
    parseRequestText(JSON.stringify({ cmd: "send", to: "not a jid", body: "x" }));
  } catch (e) {
    refused = isProtocolError(e);
  }
  if (!refused) throw new Error("a bad command was not refused with a ProtocolError");
  const client = await ParleyClient.connect("ws://127.0.0.1:1/", { token: "t", WebSocket: LoopbackSocket, reconnect: false });
  const status = await client.status();
  await client.close();
  if (status.deviceId !== 7 || client.ready.jid !== "bot@example.org") throw new Error("wrong status");
  return "bad command refused; connect, auth, ready event, status request and reply, close";
}
`,
  conformance: `
import { runConformance, type RunReport } from "@parley/conformance";

export default async function run(): Promise<string> {
  // The installed package's own reference adapter, through the runner, as a user's CI would run theirs.
  const report: RunReport = await runConformance({
    adapter: "node node_modules/@parley/conformance/dist/adapters/parley.js",
    suites: ["xeddsa"],
  });
  const { passed, failed } = report.summary;
  if (failed !== 0 || passed === 0) throw new Error(\`xeddsa suite: \${passed} passed, \${failed} failed\`);
  return \`xeddsa suite against the installed reference adapter: \${passed} passed\`;
}
`,
};

// The runner each package's Node process starts with: import() every entry, then run the exchange.
const RUNNER = `
const plan = JSON.parse(await (await import("node:fs/promises")).readFile(new URL("./plan.json", import.meta.url), "utf8"));
const pkg = plan[process.argv[2]];
const out = { import: { ok: true, detail: [] }, exchange: { ok: false, detail: "" } };
for (const spec of pkg.entries) {
  try {
    const m = spec.endsWith(".json") ? await import(spec, { with: { type: "json" } }) : await import(spec);
    if (Object.keys(m).length === 0) throw new Error("the module has no exports");
    out.import.detail.push(spec);
  } catch (e) {
    out.import.ok = false;
    out.import.detail.push(\`\${spec}: \${e.code ? e.code + " " : ""}\${String(e.message).split("\\n")[0]}\`);
  }
}
try {
  const t = Date.now();
  const result = await (await import(pkg.exchange)).default();
  out.exchange = { ok: true, detail: \`\${result} (\${Date.now() - t} ms)\` };
} catch (e) {
  out.exchange = { ok: false, detail: e && e.stack ? e.stack.split("\\n").slice(0, 4).join(" | ") : String(e) };
}
console.log("PACK-CHECK " + JSON.stringify(out));
process.exit(0);
`;

/** Runs a command; resolves with {code, stdout, stderr} (never rejects). */
function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...options }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      const killed = error?.killed ? `killed (${error.signal ?? "timeout"})\n` : "";
      resolve({ code, stdout: String(stdout), stderr: killed + String(stderr) });
    });
  });
}

/** The files of a .tgz (ustar, with pax or GNU long names), paths without the leading `package/`. */
function tarFiles(path) {
  const buf = gunzipSync(readFileSync(path));
  const files = new Map();
  let offset = 0;
  let longName;
  while (offset + 512 <= buf.length) {
    const header = buf.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (from, to) =>
      header
        .subarray(from, to)
        .toString("utf8")
        .replace(/\0[\s\S]*$/, "");
    const size = parseInt(field(124, 136).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = field(345, 500);
    let name = (prefix ? `${prefix}/` : "") + field(0, 100);
    const body = buf.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      longName = /\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1];
      continue;
    }
    if (type === "L") {
      longName = body.toString("utf8").replace(/\0[\s\S]*$/, "");
      continue;
    }
    if (longName) [name, longName] = [longName, undefined];
    if (type === "0" || type === "7") files.set(name.replace(/^[^/]+\//, ""), body);
  }
  return files;
}

/** Every path named by an exports map (strings at any depth), `main` and `types`. */
function namedTargets(manifest) {
  const out = new Set();
  const walk = (v) => {
    if (typeof v === "string") out.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(manifest.exports);
  for (const k of ["main", "types", "typings", "module"]) if (typeof manifest[k] === "string") out.add(manifest[k]);
  return [...out];
}

/** The import specifiers of an exports map: "pkg", "pkg/sub", … (patterns with * are skipped). */
function entrySpecifiers(manifest) {
  const keys =
    manifest.exports &&
    typeof manifest.exports === "object" &&
    Object.keys(manifest.exports).some((k) => k.startsWith("."))
      ? Object.keys(manifest.exports)
      : ["."];
  return keys
    .filter((k) => !k.includes("*"))
    .map((k) => (k === "." ? manifest.name : `${manifest.name}/${k.slice(2)}`));
}

// Libraries under packages/, and the apps that are published too (@parley/sdk, @parley/conformance);
// the private ones (the chat client, the demo) are not packed. Directory names are unique across both.
const packages = ["packages", "apps"]
  .flatMap((group) =>
    readdirSync(join(root, group))
      .sort()
      .filter((d) => existsSync(join(root, group, d, "package.json")))
      .map((dir) => ({
        dir,
        path: join(root, group, dir),
        manifest: JSON.parse(readFileSync(join(root, group, dir, "package.json"), "utf8")),
      })),
  )
  .filter((p) => !p.manifest.private);
if (new Set(packages.map((p) => p.dir)).size !== packages.length)
  throw new Error("two packages share a directory name");
const results = new Map(packages.map((p) => [p.dir, new Map()]));
const record = (dir, check, ok, detail = "") => results.get(dir).set(check, { ok, detail });

const scratch = mkdtempSync(join(tmpdir(), "parley-pack-"));
const cleanup = () => {
  if (!keep) rmSync(scratch, { recursive: true, force: true });
};
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}
// npm must not inherit pnpm's settings when this runs under `pnpm run` (npm_config_* from pnpm).
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || /^npm_config_(registry|cache|userconfig)$/i.test(k)),
);

const phase = (name, t) => console.log(`pack-check: ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
try {
  // 1. Pack every package (two at a time: two cores) and read its tarball.
  let t = Date.now();
  const tarballs = [];
  const pending = [...packages];
  await Promise.all(
    [0, 1].map(async () => {
      for (let p = pending.shift(); p; p = pending.shift()) {
        const dest = join(scratch, "tarballs", p.dir);
        mkdirSync(dest, { recursive: true });
        const r = await run(pnpm, ["pack", "--pack-destination", dest], { cwd: p.path });
        const tgz = readdirSync(dest).find((f) => f.endsWith(".tgz"));
        if (r.code !== 0 || !tgz) {
          const output = `${r.stdout}\n${r.stderr}`
            .trim()
            .split("\n")
            .filter((l) => l.trim());
          record(p.dir, "manifest", false, `pnpm pack failed (exit ${r.code}): ${output.slice(-3).join(" | ")}`);
          for (const [check] of CHECKS.slice(1)) record(p.dir, check, false, "not run: pnpm pack failed");
          continue;
        }
        p.tarball = join(dest, tgz);
        tarballs.push(p.tarball);
        const files = tarFiles(p.tarball);
        const packedText = files.get("package.json")?.toString("utf8");
        if (!packedText) {
          record(p.dir, "manifest", false, "no package.json in the tarball");
          record(p.dir, "files", false, "no package.json in the tarball");
          continue;
        }
        p.packed = JSON.parse(packedText);
        const leaks = packedText.split("\n").filter((l) => l.includes("workspace:"));
        const siblings = new Map(packages.map((s) => [s.manifest.name, s.manifest.version]));
        const wrong = Object.entries({ ...p.packed.dependencies, ...p.packed.peerDependencies })
          .filter(([n, v]) => siblings.has(n) && v !== siblings.get(n) && v !== `^${siblings.get(n)}`)
          .map(([n, v]) => `${n}: "${v}" (the workspace has ${siblings.get(n)})`);
        record(
          p.dir,
          "manifest",
          leaks.length === 0 && wrong.length === 0,
          leaks.length > 0
            ? `workspace: left in package.json: ${leaks.map((l) => l.trim()).join(" ")}`
            : wrong.join("; "),
        );
        const missing = namedTargets(p.packed).filter((target) => {
          const path = target.replace(/^\.\//, "");
          if (!path.includes("*")) return !files.has(path);
          const re = new RegExp(
            `^${path
              .split("*")
              .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
              .join(".+")}$`,
          );
          return ![...files.keys()].some((f) => re.test(f));
        });
        record(
          p.dir,
          "files",
          missing.length === 0,
          missing.length
            ? `missing from the tarball: ${missing.join(", ")}${existsSync(join(p.path, "dist")) ? "" : " (no dist/: run pnpm build first)"}`
            : `${files.size} files`,
        );
      }
    }),
  );
  phase(`packed ${tarballs.length} of ${packages.length} packages`, t);

  // 2. A clean project with every tarball installed by npm.
  t = Date.now();
  const project = join(scratch, "project");
  mkdirSync(join(project, "check"), { recursive: true });
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "parley-pack-check", version: "0.0.0", private: true, type: "module" }, null, 2),
  );
  const npm = await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", ...tarballs],
    { cwd: project, env: npmEnv },
  );
  phase(`npm install ${npm.code === 0 ? "ok" : `failed (exit ${npm.code})`}`, t);
  const installable = packages.filter((p) => p.packed);
  if (npm.code !== 0) {
    const why = `npm install failed: ${`${npm.stdout}\n${npm.stderr}`.trim().split("\n").slice(-5).join(" | ")}`;
    for (const p of installable)
      for (const check of ["import", "exchange", "bundler", "node16"]) record(p.dir, check, false, why);
  } else {
    // 3. One TypeScript file per package, checked twice, then transpiled and run.
    const plan = {};
    for (const p of installable) {
      const entries = entrySpecifiers(p.packed);
      const code = entries.filter((e) => !e.endsWith(".json"));
      const header =
        code.map((e, i) => `import * as entry${i} from "${e}";`).join("\n") +
        `\nexport const entries: readonly object[] = [${code.map((_, i) => `entry${i}`).join(", ")}];\n`;
      const body =
        EXCHANGES[p.dir] ??
        `export default function run(): string {\n  return "no exchange written for this package";\n}\n`;
      const source = header + body;
      writeFileSync(join(project, "check", `${p.dir}.ts`), source);
      const js = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      writeFileSync(join(project, "check", `${p.dir}.mjs`), js);
      plan[p.dir] = { entries, exchange: `./check/${p.dir}.mjs` };
    }
    writeFileSync(join(project, "plan.json"), JSON.stringify(plan, null, 2));
    writeFileSync(join(project, "run.mjs"), RUNNER);

    // Which packages a third-party file belongs to: the packages that depend on it directly, else all.
    const owners = (file) => {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
      if (/^check\//.test(file)) return [file.slice(6).replace(/\.ts$/, "")];
      if (!m) return installable.map((p) => p.dir);
      const own = installable.find((p) => p.packed.name === m[1]);
      if (own) return [own.dir];
      const name = m[1].replace(/^@types\//, "");
      const users = installable.filter((p) =>
        Object.keys({ ...p.packed.dependencies, ...p.packed.peerDependencies }).some((d) => d === m[1] || d === name),
      );
      return users.length ? users.map((p) => p.dir) : installable.map((p) => p.dir);
    };
    const typecheck = async (mode, module, resolution) => {
      const files = installable.map((p) => join("check", `${p.dir}.ts`));
      const argv = [tsc, "--module", module, "--moduleResolution", resolution, "--target", "es2022"];
      argv.push(
        "--strict",
        "--noEmit",
        "--skipLibCheck",
        "false",
        "--pretty",
        "false",
        "--noErrorTruncation",
        ...files,
      );
      const r = await run(process.execPath, argv, { cwd: project });
      const errors = new Map(installable.map((p) => [p.dir, []]));
      let last = [];
      for (const line of r.stdout.split("\n")) {
        const m = /^(.+?)(\(\d+,\d+\)): error (TS\d+: .*)$/.exec(line) ?? /^()()error (TS\d+: .*)$/.exec(line);
        if (m) {
          last = owners(m[1]).map((d) => errors.get(d));
          const where = m[1] ? `${m[1].replace(/^.*node_modules\//, "")}${m[2]}: ` : "";
          for (const list of last) list.push(`${where}${m[3]}`);
        } else if (line.trim() && last.length) {
          for (const list of last) list[list.length - 1] += ` ${line.trim()}`;
        }
      }
      for (const p of installable) {
        const list = errors.get(p.dir);
        const crashed = r.code !== 0 && [...errors.values()].every((l) => l.length === 0);
        record(
          p.dir,
          mode,
          list.length === 0 && !crashed,
          crashed ? `tsc exit ${r.code}: ${r.stdout}${r.stderr}` : list.join("\n"),
        );
      }
    };
    t = Date.now();
    await Promise.all([typecheck("bundler", "esnext", "bundler"), typecheck("node16", "node16", "node16")]);
    phase("tsc (bundler, node16)", t);

    t = Date.now();
    const queue = [...installable];
    await Promise.all(
      [0, 1].map(async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          const r = await run(process.execPath, ["run.mjs", p.dir], { cwd: project, timeout: 120_000 });
          const line = r.stdout.split("\n").find((l) => l.startsWith("PACK-CHECK "));
          if (!line) {
            const why = `node exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(0, 4).join(" | ")}`;
            record(p.dir, "import", false, why);
            record(p.dir, "exchange", false, why);
            continue;
          }
          const out = JSON.parse(line.slice("PACK-CHECK ".length));
          record(
            p.dir,
            "import",
            out.import.ok,
            out.import.ok ? out.import.detail.join(", ") : out.import.detail.filter((d) => d.includes(": ")).join("\n"),
          );
          record(p.dir, "exchange", out.exchange.ok, out.exchange.detail);
        }
      }),
    );
    phase("node: imports and exchanges", t);
  }
} finally {
  cleanup();
}

// Reports (vitest-shaped, one per package), the table, the failures.
let failed = 0;
let passed = 0;
const width = Math.max(...packages.map((p) => p.dir.length));
console.log(`\n${"package".padEnd(width)}  ${CHECKS.map(([c]) => c.padEnd(8)).join(" ")}`);
for (const p of packages) {
  const row = CHECKS.map(([check, title]) => {
    const r = results.get(p.dir).get(check) ?? { ok: false, detail: "not run (an earlier step failed)" };
    return { check, title, ...r };
  });
  console.log(`${p.dir.padEnd(width)}  ${row.map((r) => (r.ok ? "ok" : "FAIL").padEnd(8)).join(" ")}`);
  const ok = row.filter((r) => r.ok).length;
  passed += ok;
  failed += row.length - ok;
  const reports = join(p.path, ".reports");
  mkdirSync(reports, { recursive: true });
  writeFileSync(
    join(reports, "pack.json"),
    JSON.stringify(
      {
        numPassedTests: ok,
        numFailedTests: row.length - ok,
        numTotalTests: row.length,
        testResults: [
          {
            name: "scripts/pack-check.mjs",
            status: ok === row.length ? "passed" : "failed",
            assertionResults: row.map((r) => ({
              title: r.title,
              fullName: `${p.manifest.name} ${r.title}`,
              status: r.ok ? "passed" : "failed",
              failureMessages: r.ok ? [] : [r.detail],
            })),
          },
        ],
        pack: Object.fromEntries(row.map((r) => [r.check, { ok: r.ok, detail: r.detail }])),
      },
      null,
      2,
    ),
  );
}
for (const p of packages) {
  for (const [check, title] of CHECKS) {
    const r = results.get(p.dir).get(check);
    if (r && !r.ok) console.log(`\nFAIL ${p.manifest.name} ${title}\n  ${r.detail.split("\n").join("\n  ")}`);
  }
}
console.log(
  `\npack-check: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s${keep ? ` (kept ${scratch})` : ""}`,
);
process.exit(failed === 0 ? 0 : 1);
