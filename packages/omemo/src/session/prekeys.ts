/**
 * Our prekeys per namespace as pure functions over a PreKeysRecord: generate, publish as a bundle,
 * answer @parley/x3dh's PreKeyStore, replace a consumed one, rotate the signed prekey. The manager
 * persists the results (prekeys consumed and the session that consumed them in one transaction).
 */
import { KeyPair, type Crypto } from "@parley/crypto";
import {
  generateOneTimePreKeys,
  generateSignedPreKey,
  type OneTimePreKey,
  type PreKeyStore,
  type SignedPreKey,
} from "@parley/x3dh";
import { MAX_PRE_KEY_ID } from "../consts.js";
import { OmemoError } from "../errors.js";
import type { Bundle } from "../types.js";
import { ONE_TIME_PRE_KEYS, OLD_SIGNED_PRE_KEY_GRACE_MS, SIGNED_PRE_KEY_ROTATION_PERIOD_MS } from "./consts.js";
import { wireIdentityKey, type OwnIdentity } from "./identity.js";
import type { NamespaceAdapter } from "./namespaces.js";
import type { PreKeysRecord, StoredOneTimePreKey, StoredSignedPreKey } from "./records.js";

function identityFor(adapter: NamespaceAdapter, identity: OwnIdentity): KeyPair {
  return adapter.profile.x3dh.identityKeyType === "ed25519" ? identity.ed25519 : identity.x25519;
}

function storedSigned(k: SignedPreKey): StoredSignedPreKey {
  return {
    id: k.id,
    privateKey: k.keyPair.privateKey,
    publicKey: k.keyPair.publicKey,
    signature: k.signature,
    createdAt: k.createdAt,
  };
}

function storedOneTime(k: OneTimePreKey): StoredOneTimePreKey {
  return { id: k.id, privateKey: k.keyPair.privateKey, publicKey: k.keyPair.publicKey };
}

function nextIds(start: number, count: number): void {
  if (start + count - 1 > MAX_PRE_KEY_ID) {
    // 2^31 ids at 100 per key exchange: decades of key exchanges per second. Refuse rather than wrap.
    throw new OmemoError("INVALID_ARGUMENT", "one-time prekey ids are used up: create a new device");
  }
}

/** A new record: signed prekey id 1, one-time prekeys 1 … ONE_TIME_PRE_KEYS. */
export function createPreKeys(
  crypto: Crypto,
  adapter: NamespaceAdapter,
  identity: OwnIdentity,
  now: number,
): PreKeysRecord {
  const signed = generateSignedPreKey(adapter.profile.x3dh, identityFor(adapter, identity), 1, { crypto, now });
  const oneTime = generateOneTimePreKeys(1, ONE_TIME_PRE_KEYS, crypto);
  return {
    signed: [storedSigned(signed)],
    oneTime: oneTime.map(storedOneTime),
    nextPreKeyId: ONE_TIME_PRE_KEYS + 1,
    nextSignedPreKeyId: 2,
  };
}

/** The bundle to publish, keys encoded for the namespace (XEP-0384 v0.3.0 §4.3, v0.8.3 §5.3.2). */
export function bundleOf(adapter: NamespaceAdapter, identity: OwnIdentity, record: PreKeysRecord): Bundle {
  const current = record.signed[0]!;
  const legacy = adapter.profile.x3dh.keyEncoding !== "raw";
  const encode = (u: Uint8Array): Uint8Array => {
    if (!legacy) return u;
    const out = new Uint8Array(33);
    out[0] = 0x05;
    out.set(u, 1);
    return out;
  };
  return {
    signedPreKeyId: current.id,
    signedPreKey: encode(current.publicKey),
    signedPreKeySignature: current.signature,
    identityKey: wireIdentityKey(identity, adapter.namespace),
    // Keys consumed during a catch-up are kept for it but offered to nobody else.
    preKeys: record.oneTime
      .filter((k) => record.used?.includes(k.id) !== true)
      .map((k) => ({ id: k.id, publicKey: encode(k.publicKey) })),
  };
}

/**
 * @parley/x3dh's synchronous PreKeyStore over a loaded record. `removeOneTimePreKey` only notes the
 * id: the manager writes the new record together with the session (one store transaction).
 */
export class RecordPreKeyStore implements PreKeyStore {
  readonly #record: PreKeysRecord;
  /** Whether keys marked used in a catch-up still answer: only during a catch-up. */
  readonly #catchingUp: boolean;
  removed: number | undefined;

  constructor(record: PreKeysRecord, catchingUp = false) {
    this.#record = record;
    this.#catchingUp = catchingUp;
  }

  getSignedPreKey(id: number): SignedPreKey | undefined {
    const k = this.#record.signed.find((s) => s.id === id);
    if (k === undefined) return undefined;
    return {
      id: k.id,
      keyPair: new KeyPair("x25519", k.privateKey, k.publicKey),
      signature: k.signature,
      createdAt: k.createdAt,
    };
  }

  getOneTimePreKey(id: number): OneTimePreKey | undefined {
    if (this.removed === id) return undefined;
    if (!this.#catchingUp && this.#record.used?.includes(id) === true) return undefined;
    const k = this.#record.oneTime.find((o) => o.id === id);
    return k === undefined ? undefined : { id: k.id, keyPair: new KeyPair("x25519", k.privateKey, k.publicKey) };
  }

  removeOneTimePreKey(id: number): void {
    this.removed = id;
  }

  toString(): string {
    return "RecordPreKeyStore(private keys [redacted])";
  }
}

/**
 * The record after a key exchange consumed one-time prekey `id`: that key removed and a fresh one
 * with a new id added, so the bundle keeps ONE_TIME_PRE_KEYS keys and no id is ever reused
 * (python-omemo refills after every key exchange, v0.8.3 §5.6 "replacing the used PreKey").
 */
export function replaceOneTimePreKey(crypto: Crypto, record: PreKeysRecord, id: number): PreKeysRecord {
  const remaining = record.oneTime.filter((k) => k.id !== id);
  const missing = Math.max(0, ONE_TIME_PRE_KEYS - remaining.length);
  nextIds(record.nextPreKeyId, missing);
  const fresh = generateOneTimePreKeys(record.nextPreKeyId, missing, crypto).map(storedOneTime);
  return { ...record, oneTime: [...remaining, ...fresh], nextPreKeyId: record.nextPreKeyId + missing };
}

/**
 * During a catch-up (v0.8.3 §6, v0.3.0 §5 SHOULD): the consumed one-time prekey `id` is only marked
 * used, so another key exchange of the catch-up built on it (a peer that retried with a new session
 * from the same bundle) still decrypts; {@link settleUsedPreKeys} deletes it when the catch-up ends.
 */
export function markOneTimePreKeyUsed(record: PreKeysRecord, id: number): PreKeysRecord {
  const used = record.used ?? [];
  return used.includes(id) ? record : { ...record, used: [...used, id] };
}

/** After a catch-up: the keys marked used deleted and the bundle refilled (as replaceOneTimePreKey). */
export function settleUsedPreKeys(crypto: Crypto, record: PreKeysRecord): PreKeysRecord {
  const used = record.used ?? [];
  if (used.length === 0) return record;
  const remaining = record.oneTime.filter((k) => !used.includes(k.id));
  const missing = Math.max(0, ONE_TIME_PRE_KEYS - remaining.length);
  nextIds(record.nextPreKeyId, missing);
  const fresh = generateOneTimePreKeys(record.nextPreKeyId, missing, crypto).map(storedOneTime);
  return {
    signed: record.signed,
    oneTime: [...remaining, ...fresh],
    nextPreKeyId: record.nextPreKeyId + missing,
    nextSignedPreKeyId: record.nextSignedPreKeyId,
  };
}

/**
 * Signed-prekey rotation (v0.8.3 §4.2): when the current one is older than the period, a new one
 * with the next id becomes current and the old one is kept for a grace period; anything older goes.
 * Returns the same record when nothing is due.
 */
export function rotateSignedPreKey(
  crypto: Crypto,
  adapter: NamespaceAdapter,
  identity: OwnIdentity,
  record: PreKeysRecord,
  now: number,
  force = false,
): PreKeysRecord {
  const current = record.signed[0]!;
  const due = force || now - current.createdAt >= SIGNED_PRE_KEY_ROTATION_PERIOD_MS;
  if (!due) {
    // Drop a previous signed prekey whose grace period is over (measured from its successor's creation).
    if (record.signed.length === 1 || now - current.createdAt < OLD_SIGNED_PRE_KEY_GRACE_MS) return record;
    return { ...record, signed: [current] };
  }
  nextIds(record.nextSignedPreKeyId, 1);
  const fresh = generateSignedPreKey(adapter.profile.x3dh, identityFor(adapter, identity), record.nextSignedPreKeyId, {
    crypto,
    now,
  });
  return { ...record, signed: [storedSigned(fresh), current], nextSignedPreKeyId: record.nextSignedPreKeyId + 1 };
}
