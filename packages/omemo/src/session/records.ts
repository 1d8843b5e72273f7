/**
 * The records the manager stores, their keys, and versioned codecs for them: JSON with bytes as
 * base64, except the session record, which is binary (below). Every decoder checks every field and
 * throws OmemoError `STORE_CORRUPT`; no record is trusted just because it came from our own store.
 *
 * Keys ('/'-separated, @parley/storage scans fastest on a '/' boundary):
 *   account                                  AccountRecord
 *   prekeys/<ns>                             PreKeysRecord (our signed and one-time prekeys)
 *   session/<ns>/<bare jid>/<device id>      SessionRecord
 *   devices/<ns>/<bare jid>                  DeviceListRecord (the cached device list)
 *   identity/<ns>/<bare jid>/<device id>     IdentityRecord (the identity key last seen for a device)
 *   announced/<ns>, unpublished/<ns>,
 *   deactivated                              flags (one byte)
 *   answered/<ns>/<bare jid>/<device id>     raw base key (the key exchange we last answered)
 * `<ns>` is "legacy" or "v2"; JIDs are stored in bareJidKey form (NFC, lower case).
 */
import { decodeBase64, encodeBase64 } from "../base64.js";
import { SIGNATURE_LENGTH } from "../consts.js";
import { OmemoError } from "../errors.js";
import { RECORD_VERSION } from "./consts.js";

export type NamespaceTag = "legacy" | "v2";

export const keys = {
  account: "account",
  preKeys: (ns: NamespaceTag): string => `prekeys/${ns}`,
  session: (ns: NamespaceTag, jid: string, deviceId: number): string => `session/${ns}/${jid}/${deviceId}`,
  sessionPrefix: (ns: NamespaceTag, jid: string): string => `session/${ns}/${jid}/`,
  devices: (ns: NamespaceTag, jid: string): string => `devices/${ns}/${jid}`,
  identity: (ns: NamespaceTag, jid: string, deviceId: number): string => `identity/${ns}/${jid}/${deviceId}`,
  /** Present once our bundle and device list of the namespace were published (a first run can fail in between). */
  announced: (ns: NamespaceTag): string => `announced/${ns}`,
  /**
   * Present while the app has turned OMEMO off for this device (`unpublishOwnDevice`), in every
   * namespace, those enabled later included: our device is not announced again and no bundle is
   * published until `publishOwnDevice({ reactivate: true })` turns it back on.
   */
  deactivated: "deactivated",
  /**
   * Present while our stored prekeys are newer than the bundle the server has (a consumed one-time
   * prekey, a rotation): written with the prekeys, deleted only after a publication of them succeeded.
   */
  unpublished: (ns: NamespaceTag): string => `unpublished/${ns}`,
  /**
   * The base key of the session with a device whose key exchange we last answered: a repeated key
   * exchange of that session (v0.8.3 §4.3, a MAM catch-up) gets no second completion message.
   */
  answered: (ns: NamespaceTag, jid: string, deviceId: number): string => `answered/${ns}/${jid}/${deviceId}`,
};

export interface AccountRecord {
  readonly jid: string;
  readonly deviceId: number;
  /** The Ed25519 seed of our identity: both namespaces derive their identity key from it. */
  readonly seed: Uint8Array;
  readonly createdAt: number;
}

export interface StoredSignedPreKey {
  readonly id: number;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly createdAt: number;
}

export interface StoredOneTimePreKey {
  readonly id: number;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface PreKeysRecord {
  /** Newest first: the current signed prekey, then the previous one while its grace period lasts. */
  readonly signed: readonly StoredSignedPreKey[];
  readonly oneTime: readonly StoredOneTimePreKey[];
  /** Next one-time prekey id: ids only grow, so a used id is never published again. */
  readonly nextPreKeyId: number;
  readonly nextSignedPreKeyId: number;
  /**
   * One-time prekeys consumed during a catch-up (XEP-0384 v0.8.3 §6 SHOULD): kept, so later messages
   * of the catch-up built on them still decrypt, but no longer published; deleted when it ends.
   */
  readonly used?: readonly number[];
}

export interface SessionRecord {
  /** Grows with every write of this record: compare-and-swap on it (a replaced session restarts its own generation). */
  readonly revision: number;
  /** `serializeSession` output; the session's own generation is inside. */
  readonly session: Uint8Array;
  /**
   * Sessions this one replaced, serialized, newest first (PREVIOUS_SESSIONS_KEPT): a message that
   * fails in the current session is tried in these, as libsignal does, so that two devices that
   * started sessions with each other at the same moment still read each other.
   */
  readonly previous: readonly Uint8Array[];
  /** Base keys of sessions this one replaced, newest first (RETIRED_BASE_KEYS_KEPT). */
  readonly retiredBaseKeys: readonly Uint8Array[];
  /** Receiving counter at which we sent a heartbeat in the current receiving chain, if we did. */
  readonly heartbeatAt: number | null;
  /**
   * Legacy OMEMO only: the current session was built from a key exchange that consumed a one-time
   * prekey during a catch-up, whose deletion was postponed (XEP-0384 v0.3.0 §5): the prekey may be
   * used twice, so nothing is ever sent in this session (§8 MUST NOT); a new session of ours, from
   * the sender's bundle, replaces it before anything is sent to the device. Absent means false.
   */
  readonly rekey?: boolean;
  /**
   * Base keys of sessions in `previous` that were `rekey` sessions when replaced: still read, never
   * answered in (no completion, no heartbeat). Newest first, at most PREVIOUS_SESSIONS_KEPT. Absent: none.
   */
  readonly noSend?: readonly Uint8Array[];
}

export interface CachedDevice {
  readonly id: number;
  /** In the latest list we saw; inactive devices are kept (python-omemo keeps every id ever seen) but not encrypted to. */
  readonly active: boolean;
  /** As published, unverified: {@link SessionManager.deviceInfo} shows it only with a valid `labelsig`. */
  readonly label?: string;
  /** The label's signature by the device's identity key (XEP-0384 v0.9.1 §5.3.1), as published. */
  readonly labelsig?: Uint8Array;
}

export interface DeviceListRecord {
  readonly devices: readonly CachedDevice[];
}

export interface IdentityRecord {
  readonly identityKey: Uint8Array;
}

// ------------------------------------------------------------------ codec

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });

function corrupt(what: string): OmemoError {
  return new OmemoError("STORE_CORRUPT", `stored ${what} is corrupt or of an unknown version`);
}

function encode(value: Record<string, unknown>): Uint8Array {
  return te.encode(JSON.stringify({ v: RECORD_VERSION, ...value }));
}

type Json = Record<string, unknown>;

function decode(bytes: Uint8Array, what: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(td.decode(bytes));
  } catch {
    throw corrupt(what);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw corrupt(what);
  const json = parsed as Json;
  if (json["v"] !== RECORD_VERSION) throw corrupt(what);
  return json;
}

function int(json: Json, field: string, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = json[field];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) throw corrupt(what);
  return v;
}

function bytes(value: unknown, what: string, length?: number): Uint8Array {
  if (typeof value !== "string") throw corrupt(what);
  let out: Uint8Array;
  try {
    out = decodeBase64(value, what, 1 << 20);
  } catch {
    throw corrupt(what);
  }
  if (length !== undefined && out.length !== length) throw corrupt(what);
  return out;
}

function array(json: Json, field: string, what: string): unknown[] {
  const v = json[field];
  if (!Array.isArray(v)) throw corrupt(what);
  return v;
}

function object(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(what);
  return value as Json;
}

export function encodeAccount(r: AccountRecord): Uint8Array {
  return encode({ jid: r.jid, deviceId: r.deviceId, seed: encodeBase64(r.seed), createdAt: r.createdAt });
}

export function decodeAccount(b: Uint8Array): AccountRecord {
  const what = "account";
  const j = decode(b, what);
  if (typeof j["jid"] !== "string") throw corrupt(what);
  return {
    jid: j["jid"],
    deviceId: int(j, "deviceId", what, 1, 0x7fffffff),
    seed: bytes(j["seed"], what, 32),
    createdAt: int(j, "createdAt", what),
  };
}

export function encodePreKeys(r: PreKeysRecord): Uint8Array {
  return encode({
    signed: r.signed.map((k) => ({
      id: k.id,
      privateKey: encodeBase64(k.privateKey),
      publicKey: encodeBase64(k.publicKey),
      signature: encodeBase64(k.signature),
      createdAt: k.createdAt,
    })),
    oneTime: r.oneTime.map((k) => ({
      id: k.id,
      privateKey: encodeBase64(k.privateKey),
      publicKey: encodeBase64(k.publicKey),
    })),
    nextPreKeyId: r.nextPreKeyId,
    nextSignedPreKeyId: r.nextSignedPreKeyId,
    ...(r.used === undefined || r.used.length === 0 ? {} : { used: r.used }),
  });
}

export function decodePreKeys(b: Uint8Array): PreKeysRecord {
  const what = "prekeys";
  const j = decode(b, what);
  const signed = array(j, "signed", what).map((v): StoredSignedPreKey => {
    const k = object(v, what);
    return {
      id: int(k, "id", what, 1, 0x7fffffff),
      privateKey: bytes(k["privateKey"], what, 32),
      publicKey: bytes(k["publicKey"], what, 32),
      signature: bytes(k["signature"], what, 64),
      createdAt: int(k, "createdAt", what),
    };
  });
  if (signed.length === 0) throw corrupt(what);
  const oneTime = array(j, "oneTime", what).map((v): StoredOneTimePreKey => {
    const k = object(v, what);
    return {
      id: int(k, "id", what, 1, 0x7fffffff),
      privateKey: bytes(k["privateKey"], what, 32),
      publicKey: bytes(k["publicKey"], what, 32),
    };
  });
  const base = {
    signed,
    oneTime,
    nextPreKeyId: int(j, "nextPreKeyId", what, 1, 0x80000000),
    nextSignedPreKeyId: int(j, "nextSignedPreKeyId", what, 1, 0x80000000),
  };
  if (j["used"] === undefined) return base;
  const used = array(j, "used", what).map((id) => int({ id }, "id", what, 1, 0x7fffffff));
  return { ...base, used };
}

/**
 * Session records are on the path of every message, so they are binary rather than JSON (no base64
 * of the ~500-byte session): tag "S", version, revision (u32 high, u32 low), heartbeatAt + 1 (u32,
 * 0 = none), then counted lists of length-prefixed byte strings (previous sessions, retired base
 * keys) and the session itself as the rest. Version 2 adds one flags byte after heartbeatAt (bit 0:
 * `rekey`; bit 1: a `noSend` list follows, a count byte then each key as a length byte and its
 * bytes); a record without flags is still written as version 1, byte for byte as before, so a store
 * stays readable by earlier releases unless a catch-up left a session to rekey.
 */
const SESSION_TAG = 0x53;
/** The session record version with a flags byte (version 1 is RECORD_VERSION, without it). */
const SESSION_VERSION_FLAGS = 2;
const FLAG_REKEY = 0x01;
const FLAG_NO_SEND = 0x02;

export function encodeSession(r: SessionRecord): Uint8Array {
  const parts = [...r.previous, ...r.retiredBaseKeys];
  const noSend = r.noSend ?? [];
  if (noSend.length > 255 || noSend.some((k) => k.length > 255)) {
    throw new OmemoError("INVALID_ARGUMENT", "a session record keeps at most 255 no-send base keys of 255 bytes");
  }
  const flags = (r.rekey === true ? FLAG_REKEY : 0) | (noSend.length > 0 ? FLAG_NO_SEND : 0);
  let length = 1 + 1 + 8 + 4 + (flags === 0 ? 0 : 1) + 1 + 1 + r.session.length;
  if (noSend.length > 0) length += 1 + noSend.reduce((n, k) => n + 1 + k.length, 0);
  for (const p of parts) length += 4 + p.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = SESSION_TAG;
  out[at++] = flags === 0 ? RECORD_VERSION : SESSION_VERSION_FLAGS;
  view.setUint32(at, Math.floor(r.revision / 2 ** 32));
  view.setUint32(at + 4, r.revision % 2 ** 32);
  view.setUint32(at + 8, r.heartbeatAt === null ? 0 : r.heartbeatAt + 1);
  at += 12;
  if (flags !== 0) out[at++] = flags;
  if (noSend.length > 0) {
    out[at++] = noSend.length;
    for (const k of noSend) {
      out[at++] = k.length;
      out.set(k, at);
      at += k.length;
    }
  }
  for (const list of [r.previous, r.retiredBaseKeys]) {
    out[at++] = list.length;
    for (const item of list) {
      view.setUint32(at, item.length);
      out.set(item, at + 4);
      at += 4 + item.length;
    }
  }
  out.set(r.session, at);
  return out;
}

/** The revision of a stored session record, with the header checks of decodeSession, reading nothing else. */
export function sessionRevision(b: Uint8Array): number {
  if (b.length < 16 || b[0] !== SESSION_TAG || (b[1] !== RECORD_VERSION && b[1] !== SESSION_VERSION_FLAGS)) {
    throw corrupt("session");
  }
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const high = view.getUint32(2);
  if (high >= 2 ** 21) throw corrupt("session"); // beyond 2^53: not a revision we wrote
  const revision = high * 2 ** 32 + view.getUint32(6);
  if (revision < 1) throw corrupt("session");
  return revision;
}

export function decodeSession(b: Uint8Array): SessionRecord {
  const what = "session";
  const revision = sessionRevision(b);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const heartbeat = view.getUint32(10);
  let at = 14;
  let flags = 0;
  if (b[1] === SESSION_VERSION_FLAGS) {
    flags = b[at++]!;
    // Only known flags, and version 2 only when there is one (encodeSession writes version 1 otherwise).
    if (flags === 0 || (flags & ~(FLAG_REKEY | FLAG_NO_SEND)) !== 0) throw corrupt(what);
  }
  const noSend: Uint8Array[] = [];
  if ((flags & FLAG_NO_SEND) !== 0) {
    if (at >= b.length) throw corrupt(what);
    const count = b[at++]!;
    if (count === 0) throw corrupt(what);
    for (let i = 0; i < count; i++) {
      if (at >= b.length) throw corrupt(what);
      const length = b[at++]!;
      if (at + length > b.length) throw corrupt(what);
      noSend.push(b.slice(at, at + length));
      at += length;
    }
  }
  const lists: Uint8Array[][] = [];
  for (let l = 0; l < 2; l++) {
    if (at >= b.length) throw corrupt(what);
    const count = b[at++]!;
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (at + 4 > b.length) throw corrupt(what);
      const length = view.getUint32(at);
      if (at + 4 + length > b.length) throw corrupt(what);
      list.push(b.slice(at + 4, at + 4 + length));
      at += 4 + length;
    }
    lists.push(list);
  }
  if (at >= b.length) throw corrupt(what);
  return {
    revision,
    session: b.slice(at),
    previous: lists[0]!,
    retiredBaseKeys: lists[1]!,
    heartbeatAt: heartbeat === 0 ? null : heartbeat - 1,
    ...((flags & FLAG_REKEY) === 0 ? {} : { rekey: true }),
    ...(noSend.length === 0 ? {} : { noSend }),
  };
}

export function encodeDeviceList(r: DeviceListRecord): Uint8Array {
  return encode({
    devices: r.devices.map((d) => ({
      id: d.id,
      active: d.active,
      ...(d.label === undefined ? {} : { label: d.label }),
      ...(d.label === undefined || d.labelsig === undefined ? {} : { labelsig: encodeBase64(d.labelsig) }),
    })),
  });
}

export function decodeDeviceList(b: Uint8Array): DeviceListRecord {
  const what = "device list";
  const j = decode(b, what);
  const devices = array(j, "devices", what).map((v): CachedDevice => {
    const d = object(v, what);
    const active = d["active"];
    const label = d["label"];
    if (typeof active !== "boolean" || (label !== undefined && typeof label !== "string")) throw corrupt(what);
    const id = int(d, "id", what, 1, 0x7fffffff);
    if (label === undefined) return { id, active };
    return d["labelsig"] === undefined
      ? { id, active, label }
      : { id, active, label, labelsig: bytes(d["labelsig"], what, SIGNATURE_LENGTH) };
  });
  return { devices };
}

export function encodeIdentity(r: IdentityRecord): Uint8Array {
  return encode({ identityKey: encodeBase64(r.identityKey) });
}

export function decodeIdentity(b: Uint8Array): IdentityRecord {
  const what = "identity";
  const j = decode(b, what);
  return { identityKey: bytes(j["identityKey"], what) };
}
