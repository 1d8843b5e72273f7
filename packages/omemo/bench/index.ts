// The session manager's cost per message beside the raw Double Ratchet work for the same devices, with
// both providers of @parley/crypto in one run (issue "Performance"). One message from a device of an
// account with 3 devices to a contact with 3 devices: 5 keys (3 for the contact, 2 for our own other
// devices), then each of the 5 devices decrypts it. "manager" includes the store (in memory: record
// encoding, session (de)serialization), locks, trust calls and the XML of the stanza (serialized and
// parsed once per receiving device); "raw" is 5 ratchet encrypts + 5 ratchet decrypts + the payload
// cipher on sessions kept in memory. ratio = manager ÷ raw.
// Run: npx tsx bench/index.ts  (BENCH_QUICK=1 for a smoke run). Writes bench/results.json.
import { createCrypto, type Crypto } from "@parley/crypto";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  omemo2,
  legacyOmemo,
  type RatchetProfile,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import {
  MemoryOmemoStore,
  MemoryXmppNetwork,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  SessionManager,
  wrapMessage,
  type OmemoNamespace,
} from "../src/index.js";
import { openLegacy, openV2, sealLegacy, sealV2 } from "../src/session/payload.js";

const QUICK = process.env["BENCH_QUICK"] === "1";
const N = QUICK ? 50 : 500;
const N_FIRST = QUICK ? 5 : 30;
const te = new TextEncoder();
const BODY = "A message of ordinary length, about as long as a sentence people type.";

interface Row {
  scenario: string;
  namespace: string;
  provider: string;
  unit: string;
  manager: number;
  raw?: number;
  ratio?: number;
}

async function world(ns: OmemoNamespace, crypto: Crypto) {
  const network = new MemoryXmppNetwork();
  const devices: SessionManager[] = [];
  for (const jid of [
    "alice@example.org",
    "alice@example.org",
    "alice@example.org",
    "bob@example.net",
    "bob@example.net",
    "bob@example.net",
  ]) {
    const client = network.connect(`${jid}/${devices.length}`);
    const manager = await SessionManager.create({
      jid,
      store: new MemoryOmemoStore(),
      transport: client.transport,
      trust: { decide: () => "trusted" },
      namespaces: [ns],
      crypto,
    });
    network.setHandlers(client, {
      message: (stanza) => manager.decrypt(stanza).catch(() => undefined),
      pubsub: (from, node, items) => manager.handlePubsubEvent(from, node, items),
    });
    devices.push(manager);
  }
  await network.flush();
  return { network, devices };
}

async function managerRound(network: MemoryXmppNetwork, devices: SessionManager[], text: string): Promise<void> {
  const [sender, ...receivers] = devices as [SessionManager, ...SessionManager[]];
  const r = await sender.encrypt("bob@example.net", { body: text });
  const m = r.messages[0]!;
  const xml = serializeXml(wrapMessage("bob@example.net", m.namespace, m.encrypted));
  for (const d of receivers) {
    const stanza = parseXml(xml);
    stanza.attrs["from"] = "alice@example.org/0";
    const got = await d.decrypt(stanza);
    if (got.body !== text) throw new Error("benchmark message did not round-trip");
  }
  network.queue.length = 0; // heartbeats and completions are not delivered in the steady state
}

function rawPair(profile: RatchetProfile, crypto: Crypto): { a: Session; b: Session } {
  const bobId = generateIdentityKeyPair(profile.x3dh, crypto);
  const spk = generateSignedPreKey(profile.x3dh, bobId, 1, { crypto });
  const opks = generateOneTimePreKeys(1, 1, crypto);
  const store = new InMemoryPreKeyStore([spk], opks);
  let a = createInitiatorSession(
    profile,
    generateIdentityKeyPair(profile.x3dh, crypto),
    createBundle(profile.x3dh, bobId, spk, opks),
    { crypto },
  );
  const first = encrypt(a, new Uint8Array(32), { crypto });
  a = first.session;
  const accepted = acceptSession(profile, bobId, store, first.message, { crypto });
  const reply = encrypt(accepted.session, new Uint8Array(32), { crypto });
  a = decrypt(a, reply.message, { crypto }).session;
  return { a, b: reply.session };
}

function rawRound(ns: OmemoNamespace, crypto: Crypto, pairs: Array<{ a: Session; b: Session }>): void {
  const plaintext = te.encode(BODY);
  const legacy = ns === NS_LEGACY ? sealLegacy(crypto, plaintext) : undefined;
  const sealed = legacy ?? sealV2(crypto, plaintext);
  for (const p of pairs) {
    const e = encrypt(p.a, sealed.keyMaterial, { crypto });
    p.a = e.session;
    const d = decrypt(p.b, e.message, { crypto });
    p.b = d.session;
    const out =
      legacy === undefined
        ? openV2(crypto, d.plaintext, sealed.payload)
        : openLegacy(crypto, d.plaintext, legacy.iv, legacy.payload);
    if (out.length !== plaintext.length) throw new Error("raw round did not round-trip");
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const provider of ["native", "noble"] as const) {
    const crypto = createCrypto({ provider });
    for (const ns of [NS_V2, NS_LEGACY] as const) {
      const label = ns === NS_V2 ? "OMEMO 2" : "legacy";
      const { network, devices } = await world(ns, crypto);
      await managerRound(network, devices, "warm-up");
      // Every receiver answers once so no session still carries its key exchange.
      for (const d of devices.slice(1)) await d.encrypt("alice@example.org", { body: "ack" });
      await network.flush();
      let t = performance.now();
      for (let i = 0; i < N; i++) await managerRound(network, devices, `${BODY} ${i}`);
      const manager = ((performance.now() - t) * 1000) / N;
      const profile = ns === NS_V2 ? omemo2 : legacyOmemo;
      const pairs = Array.from({ length: 5 }, () => rawPair(profile, crypto));
      rawRound(ns, crypto, pairs);
      t = performance.now();
      for (let i = 0; i < N; i++) rawRound(ns, crypto, pairs);
      const raw = ((performance.now() - t) * 1000) / N;
      rows.push({
        scenario: "one message to 3 contact + 2 own devices, decrypted at each (sessions established)",
        namespace: label,
        provider,
        unit: "µs/message",
        manager,
        raw,
        ratio: manager / raw,
      });
      // First contact: the sender fetches 5 bundles and builds 5 sessions, the receivers accept them.
      let firstTotal = 0;
      for (let i = 0; i < N_FIRST; i++) {
        const fresh = await world(ns, crypto);
        const start = performance.now();
        await managerRound(fresh.network, fresh.devices, "first");
        firstTotal += performance.now() - start;
      }
      rows.push({
        scenario: "first contact: 5 bundles fetched and verified, 5 key exchanges built and accepted",
        namespace: label,
        provider,
        unit: "µs/message",
        manager: (firstTotal * 1000) / N_FIRST,
      });
    }
  }
  for (const r of rows) {
    const ratio = r.ratio === undefined ? "" : `  raw ${r.raw!.toFixed(0)}  ratio ${r.ratio.toFixed(2)}`;
    console.log(
      `${r.provider.padEnd(6)} ${r.namespace.padEnd(7)} ${r.manager.toFixed(0).padStart(7)} ${r.unit}${ratio}  ${r.scenario}`,
    );
  }
  writeFileSync(
    new URL("./results.json", import.meta.url),
    JSON.stringify(
      { machine: `${cpus()[0]?.model ?? "?"} (${cpus().length} cores), Node ${process.version}`, quick: QUICK, rows },
      null,
      2,
    ) + "\n",
  );
}

await main();
