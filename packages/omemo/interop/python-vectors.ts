// python-omemo's own XML as test vectors, so that codec tests can read what python-omemo writes without
// python installed: device lists (with an OMEMO 2 label), bundles, and <encrypted> elements (key exchange,
// empty message, plain message, one message to two devices, one to two accounts), each with what
// python-omemo's own parser reads from it. Seeded, so a rerun writes the same file up to the order of
// <key> elements, which python-omemo keeps in a set of objects (compare with normalizeKeyOrder).
//
// Regenerate: npx tsx interop/python-vectors.ts (from packages/omemo) writes vectors/python/python-omemo.json.
import { writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse, type Element } from "ltx";
import { PepRelay } from "./pep.js";
import {
  DEVICE_LIST_NODE,
  LEGACY_NS,
  OMEMO2_NS,
  PythonOmemoPeer,
  type KeyInfo,
  type OmemoNamespace,
  type PepItem,
} from "./python-omemo.js";

export const VECTORS_FILE = fileURLToPath(new URL("../vectors/python/python-omemo.json", import.meta.url));

export interface DeviceListVector {
  jid: string;
  xml: string;
  /** As python-omemo's parse_device_list read it, in document order. */
  devices: Array<{ id: number; label: string | null }>;
}

export interface BundleVector {
  jid: string;
  deviceId: number;
  node: string;
  itemId: string;
  xml: string;
  /** As python-omemo's parse_bundle read it. */
  signedPreKeyId: number;
  preKeyIds: number[];
  /** Ed25519, base64; in legacy OMEMO derived from the Curve25519 key and the sign bit in signature[63]. */
  identityKey: string;
}

export interface MessageVector {
  name: string;
  from: string;
  sid: number;
  xml: string;
  keys: KeyInfo[];
  empty: boolean;
  /** What the recipients decrypted (null: empty message). */
  plaintext: string | null;
}

export interface NamespaceVectors {
  deviceLists: DeviceListVector[];
  bundles: BundleVector[];
  messages: MessageVector[];
}

export interface PythonXmlVectors {
  origin: string;
  versions: { omemo: string; oldmemo: string; twomemo: string };
  namespaces: Record<OmemoNamespace, NamespaceVectors>;
}

const ALICE = "alice@example.org";
const BOB = "bob@example.net";
const NAMESPACES = [LEGACY_NS, OMEMO2_NS] as const;

/** Runs the seeded scenario against python-omemo and collects what it wrote. */
export async function generatePythonVectors(): Promise<PythonXmlVectors> {
  const relay = new PepRelay();
  const peers: PythonOmemoPeer[] = [];
  const start = async (jid: string, seed: number, label?: string) => {
    const peer = PythonOmemoPeer.spawn(jid);
    peers.push(peer);
    await relay.join(peer);
    const own = await peer.create(label === undefined ? { seed } : { seed, label });
    await relay.publish(own.published, peer);
    return { peer, own };
  };
  try {
    const messages: Record<OmemoNamespace, MessageVector[]> = { [LEGACY_NS]: [], [OMEMO2_NS]: [] };
    // Sends through python-omemo, delivers to every addressed device, relays what the recipients publish
    // and delivers the empty messages they send back.
    const exchange = async (
      name: string,
      sender: { peer: PythonOmemoPeer; own: { jid: string; deviceId: number } },
      to: string,
      text: string,
      ns: OmemoNamespace,
    ) => {
      const out = await sender.peer.encrypt([to], text, ns);
      if (out.xml === null) throw new Error(`nothing encrypted for ${name}`);
      messages[ns].push({
        name,
        from: sender.own.jid,
        sid: sender.own.deviceId,
        xml: out.xml,
        keys: out.keys,
        empty: false,
        plaintext: text,
      });
      for (const key of out.keys) {
        const at = byDevice(key.jid, key.deviceId);
        const got = await at.peer.decrypt(out.xml, sender.own.jid, ns);
        if (got.plaintext !== text) throw new Error(`${name}: decrypted ${String(got.plaintext)}`);
        await relay.publish(got.published, at.peer);
        for (const sent of got.sent) {
          if (!messages[ns].some((m) => m.empty)) {
            messages[ns].push({
              name: "empty message completing a key exchange",
              from: sent.from,
              sid: sent.fromDeviceId,
              xml: sent.xml,
              keys: sent.keys,
              empty: true,
              plaintext: null,
            });
          }
          for (const k of sent.keys) {
            const heard = await byDevice(k.jid, k.deviceId).peer.decrypt(sent.xml, sent.from, ns);
            if (heard.plaintext !== null) throw new Error(`${name}: empty message decrypted to text`);
          }
        }
      }
    };
    const devices: Array<{ peer: PythonOmemoPeer; own: { jid: string; deviceId: number } }> = [];
    const byDevice = (jid: string, deviceId: number) => {
      const d = devices.find((x) => x.own.jid === jid && x.own.deviceId === deviceId);
      if (!d) throw new Error(`no device ${jid}/${deviceId}`);
      return d;
    };

    const alice = await start(ALICE, 1);
    devices.push(alice);
    const bob = await start(BOB, 2, "Bob's laptop");
    devices.push(bob);
    for (const ns of NAMESPACES) {
      await exchange("key exchange (first message)", alice, BOB, "Hello Bob! <b>&amp;</b>", ns);
      await exchange("reply without key exchange", bob, ALICE, "Hi Alice \u2713", ns);
    }
    const bobPhone = await start(BOB, 3, "Bob's phone");
    devices.push(bobPhone);
    for (const ns of NAMESPACES) {
      await exchange("to two devices of one account (one of them new: key exchange)", alice, BOB, "To both of you", ns);
      await exchange("to a contact and to the sender's other device", bobPhone, ALICE, "From Bob's phone", ns);
    }

    // Each published item as a fresh python-omemo process (no account) parses it.
    const checker = PythonOmemoPeer.spawn("checker@example.com");
    peers.push(checker);
    const namespaces = {} as Record<OmemoNamespace, NamespaceVectors>;
    for (const ns of NAMESPACES) {
      const deviceLists: DeviceListVector[] = [];
      const bundles: BundleVector[] = [];
      for (const item of relay.items()) {
        if (item.xml === null || !item.node.startsWith(ns === LEGACY_NS ? `${LEGACY_NS}.` : `${OMEMO2_NS}:`)) continue;
        const read = await checker.pepPut(item);
        if (item.node === DEVICE_LIST_NODE[ns]) {
          deviceLists.push({ jid: item.jid, xml: item.xml, devices: read.devices ?? [] });
        } else {
          bundles.push(bundleVector(item, item.xml, read));
        }
      }
      namespaces[ns] = { deviceLists, bundles, messages: messages[ns] };
    }
    const { omemo, oldmemo, twomemo } = await checker.versions();
    return {
      origin:
        "Generated by packages/omemo/interop/python-vectors.ts from Debian's python3-omemo / python3-oldmemo / " +
        "python3-twomemo (seeded). Do not edit; <key> order may differ between runs.",
      versions: { omemo, oldmemo, twomemo },
      namespaces,
    };
  } finally {
    await Promise.all(peers.map((p) => p.close()));
  }
}

function bundleVector(
  item: PepItem,
  xml: string,
  read: { preKeyIds?: number[]; signedPreKeyId?: number; identityKey?: string },
): BundleVector {
  const deviceId = Number(item.node.startsWith(`${LEGACY_NS}.bundles:`) ? item.node.split(":")[1] : item.itemId);
  if (read.preKeyIds === undefined || read.signedPreKeyId === undefined || read.identityKey === undefined) {
    throw new Error(`python-omemo did not read the bundle at ${item.node}`);
  }
  return {
    jid: item.jid,
    deviceId,
    node: item.node,
    itemId: item.itemId,
    xml,
    signedPreKeyId: read.signedPreKeyId,
    preKeyIds: read.preKeyIds,
    identityKey: read.identityKey,
  };
}

/** The XML with <key> elements sorted by rid (and OMEMO 2 <keys> groups by jid), everything else as is. */
export function normalizeKeyOrder(xml: string): string {
  const sortChildren = (el: Element, name: string, by: (e: Element) => string) => {
    const picked = el.getChildren(name);
    if (picked.length < 2) return;
    const sorted = [...picked].sort((a, b) => (by(a) < by(b) ? -1 : by(a) > by(b) ? 1 : 0));
    let i = 0;
    el.children = el.children.map((c) => (typeof c !== "string" && picked.includes(c) ? sorted[i++]! : c));
  };
  const attr = (e: Element, name: string) => {
    const v: unknown = e.attrs[name];
    return typeof v === "string" ? v.padStart(12, "0") : "";
  };
  const root = parse(xml);
  const header = root.getChild("header");
  if (header) {
    sortChildren(header, "key", (e) => attr(e, "rid"));
    sortChildren(header, "keys", (e) => attr(e, "jid"));
    for (const group of header.getChildren("keys")) sortChildren(group, "key", (e) => attr(e, "rid"));
  }
  return root.toString();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const vectors = await generatePythonVectors();
  mkdirSync(fileURLToPath(new URL("../vectors/python/", import.meta.url)), { recursive: true });
  writeFileSync(VECTORS_FILE, JSON.stringify(vectors, null, 1) + "\n");
  console.warn(`wrote ${VECTORS_FILE}`);
}
