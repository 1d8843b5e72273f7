/**
 * Writes vectors/omemo-v1.json: known answers, stanzas from a Parley device (SessionManager) to a device
 * made of fixed keys, which `omemo.decryptWithKeys` must read; and vectors/omemo-malformed-v1.json:
 * stanzas every OMEMO implementation must refuse as malformed,
 * each a real message of Parley's (one device to another, keys drawn from a named deterministic source)
 * with one thing broken. Every vector is checked here against Parley (MALFORMED_STANZA, and the intact
 * message still decrypts afterwards); test/python-omemo-adapter.interop.test.ts plays them against
 * python-omemo's parsers. Run: `pnpm exec tsx scripts/vectors-omemo.ts`. A published version (v1) is never
 * rewritten with other values: change the script, bump the version.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { bytesToHex, createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { legacy, NS_LEGACY, NS_V2, parseXml, serializeXml, v2, type Element } from "@parley/omemo";
import { AdapterError } from "../src/errors.js";
import type { OmemoDeviceKeys, OmemoEffects, PepItem } from "../src/protocol-omemo.js";
import type { ProfileName } from "../src/protocol.js";
import { ParleyImplementation } from "../src/reference.js";
import { setText } from "../src/suites/xml.js";
import type {
  OmemoDecryptVector,
  OmemoMalformedFile,
  OmemoMalformedVector,
  OmemoVectorFile,
  Provenance,
} from "../src/vectors.js";

const FILE = new URL("../vectors/omemo-malformed-v1.json", import.meta.url);
const DECRYPT_FILE = new URL("../vectors/omemo-v1.json", import.meta.url);
/** The devices' clock (OMEMO 2 envelopes carry `<time>`): fixed, so that a rerun writes the same bytes. */
const FIXED_TIME = Date.UTC(2026, 11, 1, 12, 0, 0);
const ALICE = "alice@vectors.example";
const BOB = "bob@vectors.example";

type Mutation = { name: string; description: string; edit: (message: Element, encrypted: Element) => void };

const child = (el: Element, name: string): Element => {
  const c = el.getChild(name);
  if (!c) throw new Error(`no <${name}> in <${el.name}>`);
  return c;
};
const firstKey = (encrypted: Element): Element => {
  const header = child(encrypted, "header");
  return header.getChild("key") ?? child(child(header, "keys"), "key");
};

/**
 * Malformations that leave no `<key>` the receiving device can recognise as its own: "silently
 * discarded" as not for us (v0.3.0 §5) is as good a refusal as MALFORMED_STANZA.
 */
const NO_KEY_LEFT = new Set(["key-without-rid", "rid-not-a-number", "keys-without-jid"]);

const mutation = (name: string, description: string, edit: Mutation["edit"]): Mutation => ({ name, description, edit });

const COMMON: Mutation[] = [
  mutation("no-header", "<encrypted> without <header>", (_, e) => {
    e.remove("header");
  }),
  mutation("header-without-sid", "<header> without its sid attribute", (_, e) => {
    delete child(e, "header").attrs["sid"];
  }),
  mutation("sid-not-a-number", 'sid="abc"', (_, e) => {
    child(e, "header").attrs["sid"] = "abc";
  }),
  mutation("sid-over-32-bits", 'sid="4294967296" (2^32; device ids are 31-bit)', (_, e) => {
    child(e, "header").attrs["sid"] = "4294967296";
  }),
  mutation("key-without-rid", "a <key> without its rid attribute", (_, e) => {
    delete firstKey(e).attrs["rid"];
  }),
  mutation("rid-not-a-number", 'rid="x1"', (_, e) => {
    firstKey(e).attrs["rid"] = "x1";
  }),
  mutation("key-not-base64", "a <key> whose text is not base64", (_, e) => {
    setText(firstKey(e), "!!not*base64!!");
  }),
  mutation("payload-not-base64", "a <payload> whose text is not base64", (_, e) => {
    setText(child(e, "payload"), "%%%%");
  }),
  mutation("encrypted-in-another-namespace", "the <encrypted> element in a namespace that is not OMEMO's", (_, e) => {
    e.attrs["xmlns"] = "urn:example:not-omemo";
  }),
  mutation("no-encrypted", "a <message> with a <body> and no <encrypted>", (m) => {
    m.children.length = 0;
    m.c("body").t("plain text");
  }),
];
const LEGACY: Mutation[] = [
  mutation("no-iv", "a legacy <header> without <iv>", (_, e) => {
    child(e, "header").remove("iv");
  }),
  mutation("iv-not-base64", "an <iv> whose text is not base64", (_, e) => {
    setText(child(child(e, "header"), "iv"), "***");
  }),
];
const OMEMO2: Mutation[] = [
  mutation("keys-without-jid", "an OMEMO 2 <keys> element without its jid attribute", (_, e) => {
    delete child(child(e, "header"), "keys").attrs["jid"];
  }),
];

/** Runs an op of the reference; the promise's rejection is an AdapterError. */
async function call<T>(impl: ParleyImplementation, op: string, args: unknown): Promise<T> {
  return await impl.call(op as never, args as never);
}

async function vectorsFor(profile: ProfileName): Promise<OmemoMalformedVector[]> {
  const impl = new ParleyImplementation(
    createCrypto({ random: deterministicRandom(`parley-conformance omemo-malformed-v1 ${profile}`) }),
    { now: () => FIXED_TIME },
  );
  type Created = OmemoEffects & { device: string; deviceId: number };
  const alice = await call<Created>(impl, "omemo.createDevice", { jid: ALICE, profiles: [profile] });
  const bob = await call<Created>(impl, "omemo.createDevice", { jid: BOB, profiles: [profile], pep: alice.published });
  for (const item of bob.published) await call(impl, "omemo.pepPut", { device: alice.device, item });
  const deliver = (stanza: string) => {
    const el = parseXml(stanza);
    el.attrs["from"] = `${ALICE}/vectors`;
    el.attrs["to"] = BOB;
    return call<{ body: string | null }>(impl, "omemo.decrypt", { device: bob.device, stanza: serializeXml(el) });
  };
  // An established session first, so that the malformed messages are not key exchanges.
  const first = await call<{ stanza: string }>(impl, "omemo.encrypt", {
    device: alice.device,
    profile,
    to: BOB,
    body: "first",
  });
  await deliver(first.stanza);
  const reply = await call<{ stanza: string }>(impl, "omemo.encrypt", {
    device: bob.device,
    profile,
    to: ALICE,
    body: "reply",
  });
  const r = parseXml(reply.stanza);
  r.attrs["from"] = `${BOB}/vectors`;
  r.attrs["to"] = ALICE;
  await call(impl, "omemo.decrypt", { device: alice.device, stanza: serializeXml(r) });
  const { stanza } = await call<{ stanza: string }>(impl, "omemo.encrypt", {
    device: alice.device,
    profile,
    to: BOB,
    body: "this message is intact",
  });

  const out: OmemoMalformedVector[] = [];
  for (const m of [...COMMON, ...(profile === "legacyOmemo" ? LEGACY : OMEMO2)]) {
    const message = parseXml(stanza);
    const encrypted = message.getChild("encrypted")!;
    m.edit(message, encrypted);
    const broken = serializeXml(message);
    try {
      await deliver(broken);
      throw new Error(`${profile} ${m.name}: Parley decrypted it`);
    } catch (e) {
      if (!(e instanceof AdapterError) || e.code !== "MALFORMED_STANZA") {
        throw new Error(`${profile} ${m.name}: Parley answered ${e instanceof AdapterError ? e.code : String(e)}`);
      }
    }
    out.push({
      name: `${profile}-${m.name}`,
      profile,
      description: m.description,
      stanza: broken,
      ...(NO_KEY_LEFT.has(m.name) ? { alsoAccepted: ["NO_KEY_FOR_US" as const] } : {}),
    });
  }
  const intact = await deliver(stanza);
  if (intact.body !== "this message is intact") throw new Error(`${profile}: the intact message no longer decrypts`);
  return out;
}

/**
 * Bob is a device of fixed keys (his bundle and device list written from them with the public codecs);
 * Alice, a Parley SessionManager, logs in seeing them and sends. Bob never answers, so every message
 * repeats the key exchange, as deployed clients do until a reply arrives.
 */
async function decryptVectorsFor(profile: ProfileName): Promise<OmemoDecryptVector[]> {
  const crypto = createCrypto({ random: deterministicRandom(`parley-conformance omemo-v1 ${profile}`) });
  const impl = new ParleyImplementation(crypto, { now: () => FIXED_TIME });
  const seed = crypto.randomBytes(32);
  const deviceId = 1 + (new DataView(crypto.randomBytes(4).buffer).getUint32(0) % 0x7fff_fffe);
  const device: OmemoDeviceKeys = {
    jid: BOB,
    deviceId,
    identitySeed: bytesToHex(seed),
    signedPreKeyId: 1,
    signedPreKeyPrivateKey: bytesToHex(crypto.generateX25519KeyPair().privateKey),
    oneTimePreKeys: [101, 102, 103].map((id) => ({
      id,
      privateKey: bytesToHex(crypto.generateX25519KeyPair().privateKey),
    })),
  };
  const made = await call<{
    bundle: {
      identityKey: string;
      signedPreKeyId: number;
      signedPreKey: string;
      signedPreKeySignature: string;
      oneTimePreKeys: { id: number; publicKey: string }[];
    };
  }>(impl, "x3dh.bundle", {
    profile,
    identityPrivateKey: profile === "legacyOmemo" ? bytesToHex(crypto.ed25519SeedToX25519(seed)) : device.identitySeed,
    signedPreKeyId: device.signedPreKeyId,
    signedPreKeyPrivateKey: device.signedPreKeyPrivateKey,
    oneTimePreKeys: device.oneTimePreKeys,
  });
  const b = made.bundle;
  const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
  const bundle = {
    identityKey: fromHex(b.identityKey),
    signedPreKeyId: b.signedPreKeyId,
    signedPreKey: fromHex(b.signedPreKey),
    signedPreKeySignature: fromHex(b.signedPreKeySignature),
    preKeys: b.oneTimePreKeys.map((k) => ({ id: k.id, publicKey: fromHex(k.publicKey) })),
  };
  const pep: PepItem[] =
    profile === "legacyOmemo"
      ? [
          {
            jid: BOB,
            node: `${NS_LEGACY}.devicelist`,
            itemId: "current",
            xml: serializeXml(legacy.encodeDeviceList({ ids: [deviceId] })),
          },
          {
            jid: BOB,
            node: `${NS_LEGACY}.bundles:${deviceId}`,
            itemId: "current",
            xml: serializeXml(legacy.encodeBundle(bundle)),
          },
        ]
      : [
          {
            jid: BOB,
            node: `${NS_V2}:devices`,
            itemId: "current",
            xml: serializeXml(v2.encodeDeviceList({ devices: [{ id: deviceId }] })),
          },
          { jid: BOB, node: `${NS_V2}:bundles`, itemId: String(deviceId), xml: serializeXml(v2.encodeBundle(bundle)) },
        ];
  const alice = await call<{ device: string; deviceId: number }>(impl, "omemo.createDevice", {
    jid: ALICE,
    profiles: [profile],
    pep,
  });
  const send = async (body: string | null) => {
    const { stanza } = await call<{ stanza: string }>(impl, "omemo.encrypt", {
      device: alice.device,
      profile,
      to: BOB,
      body,
    });
    const el = parseXml(stanza);
    el.attrs["from"] = `${ALICE}/vectors`;
    return serializeXml(el);
  };
  const texts = [
    "Hello Bob! This is the first message.",
    "A second one, before any reply.",
    'ünïcödé ✓ and <xml> & "quotes"',
    null,
    "x".repeat(1000),
  ];
  const stanzas: string[] = [];
  for (const t of texts) stanzas.push(await send(t));
  const vectors: OmemoDecryptVector[] = [
    {
      name: `${profile}-conversation`,
      profile,
      description:
        "five messages in order: texts, one without payload (key transport), a long one; all carry the key exchange",
      device,
      stanzas,
      messages: texts.map((body) => ({ body, senderDeviceId: alice.deviceId, keyExchange: true })),
    },
    {
      name: `${profile}-out-of-order`,
      profile,
      description: "the same messages delivered 3rd, 1st, 5th, 2nd (the 4th lost)",
      device,
      stanzas: [2, 0, 4, 1].map((i) => stanzas[i]!),
      messages: [2, 0, 4, 1].map((i) => ({ body: texts[i]!, senderDeviceId: alice.deviceId, keyExchange: true })),
    },
  ];
  for (const v of vectors) {
    const r = await call<{ messages: unknown[] }>(new ParleyImplementation(), "omemo.decryptWithKeys", {
      profile,
      device: v.device,
      stanzas: v.stanzas,
    });
    if (JSON.stringify(r.messages) !== JSON.stringify(v.messages))
      throw new Error(`${v.name}: Parley reads ${JSON.stringify(r.messages)}`);
  }
  return vectors;
}

let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  // The commit alone reproduces the files only if nothing they come from was changed since.
  const sources = ["packages/crypto/src", "packages/x3dh/src", "packages/double-ratchet/src", "packages/omemo/src"]
    .map((p) => `../../${p}`)
    .concat(["src", "scripts"]);
  const changed = execFileSync("git", ["status", "--porcelain", "--", ...sources], {
    encoding: "utf8",
    cwd: new URL("..", import.meta.url),
  }).trim();
  if (changed !== "") commit += " with uncommitted changes";
} catch {
  // not a git checkout
}
const version = (pkg: string): string =>
  (
    JSON.parse(readFileSync(new URL(`../../../packages/${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;

let crossChecked: string[] = [];
try {
  crossChecked = (JSON.parse(readFileSync(FILE, "utf8")) as OmemoMalformedFile).provenance.crossChecked;
} catch {
  // first run
}
const provenance: Provenance = {
  generator: "apps/conformance/scripts/vectors-omemo.ts",
  implementation: `Parley @parley/omemo ${version("omemo")} (git ${commit}); every vector refused by it as MALFORMED_STANZA, and the intact message decrypted afterwards`,
  keys: 'every key drawn from deterministicRandom("parley-conformance omemo-malformed-v1 <profile>") of @parley/crypto/testing; the stanzas are Alice\'s second message to Bob (after his reply) with one thing broken',
  crossChecked,
  generatedAt: new Date().toISOString().slice(0, 10),
};
const file: OmemoMalformedFile = {
  version: 1,
  provenance,
  vectors: [...(await vectorsFor("legacyOmemo")), ...(await vectorsFor("omemo2"))],
};
writeFileSync(FILE, `${JSON.stringify(file, null, 2)}\n`);
console.log(`wrote vectors/omemo-malformed-v1.json: ${file.vectors.length} vectors`);

let decryptCrossChecked: string[] = [];
try {
  decryptCrossChecked = (JSON.parse(readFileSync(DECRYPT_FILE, "utf8")) as OmemoVectorFile).provenance.crossChecked;
} catch {
  // first run
}
const decryptFile: OmemoVectorFile = {
  version: 1,
  provenance: {
    generator: "apps/conformance/scripts/vectors-omemo.ts",
    implementation: `Parley @parley/omemo ${version("omemo")} (git ${commit}): Alice is a SessionManager; Bob's bundle and device list are written from his fixed keys with @parley/omemo's codecs; every vector read back by omemo.decryptWithKeys`,
    keys: "every key drawn from deterministicRandom(\"parley-conformance omemo-v1 <profile>\") of @parley/crypto/testing (Bob's identity seed, device id, prekeys; Alice's keys, payload keys and IVs, envelope padding)",
    crossChecked: decryptCrossChecked,
    generatedAt: new Date().toISOString().slice(0, 10),
  },
  vectors: [...(await decryptVectorsFor("legacyOmemo")), ...(await decryptVectorsFor("omemo2"))],
};
writeFileSync(DECRYPT_FILE, `${JSON.stringify(decryptFile, null, 2)}\n`);
console.log(`wrote vectors/omemo-v1.json: ${decryptFile.vectors.length} vectors`);
