/**
 * Parley behind the protocol's OMEMO ops: one @parley/omemo SessionManager per device, with a transport
 * that answers from the PEP items the runner hands in and records what the device publishes and sends,
 * an in-memory store and blind trust. Public API of @parley/omemo only.
 */
import { type Crypto, type KeyPair } from "@parley/crypto";
import {
  acceptSession,
  decrypt as ratchetDecrypt,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  type Session,
} from "@parley/double-ratchet";
import {
  decodeEnvelope,
  isOmemoError,
  legacy,
  openLegacyPayload,
  openV2Payload,
  v2,
  memoryOmemoStore,
  NS_LEGACY,
  NS_V2,
  parseXml,
  serializeXml,
  SessionManager,
  wrapMessage,
  type Element,
  type OmemoNamespace,
} from "@parley/omemo";
import { generateSignedPreKey, InMemoryPreKeyStore, isX3dhError } from "@parley/x3dh";
import { bytes, integer } from "./args.js";
import { AdapterError } from "./errors.js";
import type { ErrorCode, OpName, OpResult, ProfileName } from "./protocol.js";
import { OMEMO_OP_NAMES, type OmemoDeviceKeys, type OmemoEffects, type PepItem } from "./protocol-omemo.js";
import { errorCodeOf, type ReferenceArea } from "./reference.js";

const NAMESPACES: Partial<Record<ProfileName, OmemoNamespace>> = { legacyOmemo: NS_LEGACY, omemo2: NS_V2 };

/** The OMEMO profiles. */
export const OMEMO_PROFILES: readonly ProfileName[] = ["legacyOmemo", "omemo2"];

function namespaceOf(profile: unknown): OmemoNamespace {
  const ns = typeof profile === "string" ? NAMESPACES[profile as ProfileName] : undefined;
  if (ns === undefined)
    throw new AdapterError("UNSUPPORTED_PROFILE", `not an OMEMO profile: ${JSON.stringify(profile)}`);
  return ns;
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") throw new AdapterError("INVALID_ARGUMENT", `${name} must be a string`);
  return value;
}

function pepItem(value: unknown, name: string): PepItem {
  const v = value as Partial<PepItem> | null;
  if (typeof v !== "object" || v === null) throw new AdapterError("INVALID_ARGUMENT", `${name} must be an object`);
  if (v.xml !== null && typeof v.xml !== "string") {
    throw new AdapterError("INVALID_ARGUMENT", `${name}.xml must be XML text or null`);
  }
  return {
    jid: text(v.jid, `${name}.jid`),
    node: text(v.node, `${name}.node`),
    itemId: text(v.itemId, `${name}.itemId`),
    xml: v.xml,
  };
}

/** The protocol code for an error of @parley/omemo (its cause decides between ratchet failures). */
function codeOf(e: unknown): ErrorCode {
  if (!isOmemoError(e)) return errorCodeOf(e, "message"); // the ratchet's and X3DH's own errors
  const cause: unknown = e.cause;
  switch (e.code) {
    case "MALFORMED_STANZA":
    case "STANZA_TOO_LARGE":
    case "INVALID_BASE64":
    case "UNSUPPORTED_NAMESPACE":
      return "MALFORMED_STANZA";
    case "SCE_WRONG_RECIPIENT":
    case "SCE_WRONG_SENDER":
      return "ENVELOPE_MISMATCH";
    case "NO_KEY_FOR_US":
    case "NO_SESSION":
    case "DUPLICATE_MESSAGE":
    case "INVALID_ARGUMENT":
      return e.code;
    case "DECRYPTION_FAILED":
      if (isDoubleRatchetError(cause)) {
        return cause.code === "TOO_MANY_SKIPPED" || cause.code === "MALFORMED_MESSAGE" ? cause.code : "BAD_MAC";
      }
      return "BAD_MAC"; // the payload's authentication (AES-GCM tag, or OMEMO 2's HMAC through the ratchet)
    case "KEY_EXCHANGE_FAILED":
      if (isDoubleRatchetError(cause) || isX3dhError(cause)) {
        const c = cause.code;
        if (c === "UNKNOWN_PRE_KEY" || c === "UNKNOWN_SIGNED_PRE_KEY" || c === "MISSING_ONE_TIME_PRE_KEY") return c;
      }
      return "UNKNOWN_PRE_KEY";
    case "BUNDLE_INVALID":
      return "INVALID_BUNDLE";
    default:
      return "INTERNAL";
  }
}

/** One device: its manager, its view of PEP and what it did since the last answer. */
class Device {
  readonly jid: string;
  manager!: SessionManager;
  /** "jid node" → item id → payload, in publication order. */
  readonly #view = new Map<string, Map<string, Element>>();
  #published: PepItem[] = [];
  #sent: OmemoEffects["sent"] = [];

  constructor(jid: string) {
    this.jid = jid;
  }

  put(item: PepItem): Element | undefined {
    const key = `${item.jid} ${item.node}`;
    let node = this.#view.get(key);
    if (node === undefined) this.#view.set(key, (node = new Map<string, Element>()));
    if (item.xml === null) {
      node.delete(item.itemId);
      return undefined;
    }
    let payload: Element;
    try {
      payload = parseXml(item.xml);
    } catch (e) {
      throw new AdapterError("MALFORMED_STANZA", `item ${item.itemId} of ${item.node}: ${(e as Error).message}`);
    }
    node.delete(item.itemId); // a republished item moves to the end, as the newest
    node.set(item.itemId, payload);
    return payload;
  }

  readonly transport = {
    publish: (node: string, itemId: string, payload: Element): Promise<void> => {
      const item: PepItem = { jid: this.jid, node, itemId, xml: serializeXml(payload) };
      this.put(item);
      this.#published.push(item);
      return Promise.resolve();
    },
    fetch: (jid: string, node: string, itemId?: string): Promise<readonly Element[] | null> => {
      const items = this.#view.get(`${jid} ${node}`);
      if (items === undefined || items.size === 0) return Promise.resolve(null);
      if (itemId === undefined) return Promise.resolve([...items.values()]);
      const one = items.get(itemId);
      return Promise.resolve(one === undefined ? null : [one]);
    },
    send: (to: string, message: Element): Promise<void> => {
      this.#sent.push({ to, xml: serializeXml(message) });
      return Promise.resolve();
    },
  };

  /** What happened since the last call (and forget it). */
  effects(): OmemoEffects {
    const out = { published: this.#published, sent: this.#sent };
    this.#published = [];
    this.#sent = [];
    return out;
  }
}

/**
 * The omemo ops answered by Parley: devices (`omemo.createDevice`) are @parley/omemo SessionManagers on
 * in-memory stores, with blind trust and a transport that records their publications and automatic
 * messages; `omemo.decryptWithKeys` builds a device from fixed keys with the public codecs and ratchet.
 */
export class OmemoReference implements ReferenceArea {
  readonly ops: readonly OpName[] = OMEMO_OP_NAMES;
  readonly #crypto: Crypto;
  readonly #now: (() => number) | undefined;
  readonly #devices = new Map<string, Device>();
  #next = 1;

  constructor(crypto: Crypto, now?: () => number) {
    this.#crypto = crypto;
    this.#now = now;
  }

  /**
   * A device from fixed keys, with the public codecs and the ratchet: parse each `<message>`, run our
   * `<key>` through the Double Ratchet (the first one accepts the key exchange), open the payload, and
   * for OMEMO 2 check and read the envelope.
   */
  #decryptWithKeys(ns: OmemoNamespace, keys: unknown, stanzas: string[]) {
    const k = keys as Partial<OmemoDeviceKeys> | null;
    if (typeof k !== "object" || k === null || !Array.isArray(k.oneTimePreKeys)) {
      throw new AdapterError("INVALID_ARGUMENT", "device must be OmemoDeviceKeys");
    }
    const crypto = this.#crypto;
    const profile = ns === NS_LEGACY ? legacyOmemo : omemo2;
    const jid = text(k.jid, "device.jid");
    const deviceId = integer(k.deviceId, "device.deviceId");
    const seed = bytes(k.identitySeed, "device.identitySeed");
    const identity: KeyPair =
      profile.x3dh.identityKeyType === "ed25519"
        ? crypto.ed25519KeyPair(seed)
        : crypto.x25519KeyPair(crypto.ed25519SeedToX25519(seed));
    const spk = generateSignedPreKey(profile.x3dh, identity, integer(k.signedPreKeyId, "device.signedPreKeyId"), {
      crypto,
      keyPair: crypto.x25519KeyPair(bytes(k.signedPreKeyPrivateKey, "device.signedPreKeyPrivateKey")),
    });
    const store = new InMemoryPreKeyStore(
      [spk],
      k.oneTimePreKeys.map((o, i) => ({
        id: integer(o.id, `device.oneTimePreKeys[${i}].id`),
        keyPair: crypto.x25519KeyPair(bytes(o.privateKey, `device.oneTimePreKeys[${i}].privateKey`)),
      })),
    );
    let session: Session | undefined;
    return stanzas.map((xml) => {
      let stanza: Element;
      try {
        stanza = parseXml(xml);
      } catch (e) {
        throw new AdapterError("MALFORMED_STANZA", (e as Error).message);
      }
      const encrypted = stanza.getChild("encrypted", ns);
      if (encrypted === undefined) throw new AdapterError("MALFORMED_STANZA", `no <encrypted xmlns='${ns}'>`);
      const from = (stanza.attrs["from"] as string | undefined)?.split("/")[0] ?? "";
      const to = (stanza.attrs["to"] as string | undefined)?.split("/")[0] ?? jid;
      let sid: number;
      let key: { data: Uint8Array; keyExchange: boolean } | undefined;
      let open: (km: Uint8Array) => string | null;
      if (ns === NS_LEGACY) {
        const m = legacy.decodeEncryptedMessage(encrypted);
        sid = m.sid;
        const found = m.keys.find((x) => x.rid === deviceId);
        key = found && { data: found.data, keyExchange: found.prekey };
        open = (km) =>
          m.payload === undefined ? null : new TextDecoder().decode(openLegacyPayload(km, m.iv, m.payload, { crypto }));
      } else {
        const m = v2.decodeEncryptedMessage(encrypted);
        sid = m.sid;
        const found = m.keys.find((g) => g.jid === jid)?.keys.find((x) => x.rid === deviceId);
        key = found && { data: found.data, keyExchange: found.kex };
        open = (km) => {
          if (m.payload === undefined) return null;
          const envelope = decodeEnvelope(new TextDecoder().decode(openV2Payload(km, m.payload, { crypto })), {
            to,
            from,
          });
          const body = envelope.content.find((c) => c.name === "body");
          return body === undefined ? null : body.getText();
        };
      }
      if (key === undefined) throw new AdapterError("NO_KEY_FOR_US", `no <key> for device ${deviceId}`);
      let keyMaterial: Uint8Array;
      if (session === undefined) {
        if (!key.keyExchange) throw new AdapterError("NO_SESSION", "the first stanza must carry the key exchange");
        const r = acceptSession(profile, identity, store, key.data, { crypto });
        session = r.session;
        keyMaterial = r.plaintext;
      } else {
        const r = ratchetDecrypt(session, key.data, { crypto, kind: key.keyExchange ? "keyExchange" : "message" });
        session = r.session;
        keyMaterial = r.plaintext;
      }
      return { body: open(keyMaterial), senderDeviceId: sid, keyExchange: key.keyExchange };
    });
  }

  #device(handle: unknown): Device {
    const d = typeof handle === "string" ? this.#devices.get(handle) : undefined;
    if (d === undefined) throw new AdapterError("UNKNOWN_HANDLE", `no device ${JSON.stringify(handle)}`);
    return d;
  }

  async handle(op: OpName, a: Record<string, unknown>): Promise<unknown> {
    // Effects of a failed op are dropped with it: a failed decrypt publishes and sends nothing.
    let device: Device | undefined;
    try {
      switch (op) {
        case "omemo.createDevice": {
          const jid = text(a["jid"], "jid");
          if (!Array.isArray(a["profiles"]) || a["profiles"].length === 0) {
            throw new AdapterError("INVALID_ARGUMENT", "profiles must be a non-empty array");
          }
          const namespaces = (a["profiles"] as unknown[]).map(namespaceOf);
          device = new Device(jid);
          const pep = a["pep"] ?? [];
          if (!Array.isArray(pep)) throw new AdapterError("INVALID_ARGUMENT", "pep must be an array");
          const items = pep.map((p, i) => pepItem(p, `pep[${i}]`));
          for (const item of items) device.put(item);
          device.manager = await SessionManager.create({
            jid,
            store: memoryOmemoStore(),
            transport: device.transport,
            trust: { decide: () => "trusted" },
            namespaces,
            crypto: this.#crypto,
            ...(this.#now ? { now: this.#now } : {}),
          });
          // Device lists of other accounts, as the PEP notifications after login would bring them.
          for (const item of items) {
            if (item.jid !== jid && item.xml !== null) {
              await device.manager.handlePubsubEvent(item.jid, item.node, [
                { id: item.itemId, payload: parseXml(item.xml) },
              ]);
            }
          }
          const handle = `device-${this.#next++}`;
          this.#devices.set(handle, device);
          return {
            device: handle,
            deviceId: device.manager.deviceId,
            ...device.effects(),
          } satisfies OpResult<"omemo.createDevice">;
        }

        case "omemo.pepPut": {
          device = this.#device(a["device"]);
          const item = pepItem(a["item"], "item");
          const payload = device.put(item);
          if (payload !== undefined) {
            await device.manager.handlePubsubEvent(item.jid, item.node, [{ id: item.itemId, payload }]);
          }
          return device.effects() satisfies OpResult<"omemo.pepPut">;
        }

        case "omemo.encrypt": {
          device = this.#device(a["device"]);
          const ns = namespaceOf(a["profile"]);
          const to = text(a["to"], "to");
          const body = a["body"];
          if (body !== null && typeof body !== "string") {
            throw new AdapterError("INVALID_ARGUMENT", "body must be a string or null");
          }
          const envelopeTo = a["envelopeTo"] === undefined ? undefined : text(a["envelopeTo"], "envelopeTo");
          const options = { namespaces: [ns], ...(envelopeTo !== undefined ? { envelopeTo } : {}) };
          const r =
            body === null
              ? await device.manager.encryptKeyTransport(to, options)
              : await device.manager.encrypt(to, { body }, options);
          const message = r.messages.find((m) => m.namespace === ns);
          if (message === undefined || r.undeliverable.length > 0) {
            const failed = r.devices.find((d) => d.status === "failed");
            throw new AdapterError(
              failed?.error ? codeOf(failed.error) : "INTERNAL",
              `no device of ${to} could get a key${failed?.error ? `: ${failed.error.message}` : ""}`,
            );
          }
          return {
            stanza: serializeXml(wrapMessage(to, ns, message.encrypted)),
            keys: r.devices
              .filter((d) => d.status === "encrypted")
              .map((d) => ({ jid: d.jid, deviceId: d.deviceId, keyExchange: d.keyExchange === true })),
            ...device.effects(),
          } satisfies OpResult<"omemo.encrypt">;
        }

        case "omemo.decrypt": {
          device = this.#device(a["device"]);
          let stanza: Element;
          try {
            stanza = parseXml(text(a["stanza"], "stanza"));
          } catch (e) {
            if (e instanceof AdapterError) throw e;
            throw new AdapterError("MALFORMED_STANZA", (e as Error).message);
          }
          const r = await device.manager.decrypt(stanza);
          return {
            body: r.kind === "empty" ? null : (r.body ?? null),
            from: r.from,
            senderDeviceId: integer(r.deviceId, "deviceId"),
            keyExchange: r.keyExchange,
            ...device.effects(),
          } satisfies OpResult<"omemo.decrypt">;
        }

        case "omemo.decryptWithKeys": {
          const ns = namespaceOf(a["profile"]);
          if (!Array.isArray(a["stanzas"]) || a["stanzas"].length === 0) {
            throw new AdapterError("INVALID_ARGUMENT", "stanzas must be a non-empty array");
          }
          const stanzas = (a["stanzas"] as unknown[]).map((x, i) => text(x, `stanzas[${i}]`));
          return {
            messages: this.#decryptWithKeys(ns, a["device"], stanzas),
          } satisfies OpResult<"omemo.decryptWithKeys">;
        }

        default:
          throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
      }
    } catch (e) {
      device?.effects(); // nothing of a failed op is reported
      if (e instanceof AdapterError) throw e;
      throw new AdapterError(codeOf(e), e instanceof Error ? e.message : String(e));
    }
  }
}
