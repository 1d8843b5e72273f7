import { FORMAT_VERSION } from "./consts.js";
import { TrustError } from "./errors.js";
import { ENCRYPTION_METHODS, TRUST_STATES, VERIFICATION_METHODS } from "./types.js";
import type { ContactSettings, TrustCause, TrustHistoryEntry, TrustRecord } from "./types.js";

/*
 * Stored format: UTF-8 JSON with a version field `v` and a kind `t`.
 * v1 record:   {"v":1,"t":"record","account","contact","protocol","fingerprint","state",
 *               "deviceId"?,"firstSeenAt","supersededAt"?,"history":[{"state","at","cause"}]}
 *               (`supersededAt` came later: optional, so rows written before it load, and older readers skip it)
 * v1 settings: {"v":1,"t":"contact","account","contact","defaultEncryption","muted"}
 * v1 group:    {"v":1,"t":"group","open":boolean,"vouched":boolean}
 *               (per account, contact and protocol; absent for data written before it, see store.ts groupState)
 * A change of format bumps FORMAT_VERSION and adds MIGRATIONS[old] turning a vOld document into vOld+1;
 * decoding runs the chain, so every earlier version loads (test/codec.test.ts loads each fixture).
 */

type Doc = Record<string, unknown>;

/** MIGRATIONS[n] turns a version-n document into version n+1. Version 1 is the first; none yet. */
const MIGRATIONS: Readonly<Record<number, (doc: Doc) => Doc>> = {};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

function corrupt(message: string, cause?: unknown): TrustError {
  return new TrustError(
    "CORRUPT_RECORD",
    `stored trust data is corrupt: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

function parseDoc(bytes: Uint8Array, kind: string): Doc {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(bytes));
  } catch (cause) {
    throw corrupt("not UTF-8 JSON", cause);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt("not a JSON object");
  let doc = value as Doc;
  let version = doc["v"];
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1)
    throw corrupt("missing or invalid version field v");
  if (version > FORMAT_VERSION)
    throw new TrustError(
      "UNSUPPORTED_VERSION",
      `stored trust data has format v${version}, this @parley/trust reads up to v${FORMAT_VERSION}: upgrade the package`,
    );
  while (version < FORMAT_VERSION) {
    const migrate = MIGRATIONS[version];
    if (migrate === undefined) throw corrupt(`no migration from format v${version}`);
    doc = migrate(doc);
    version += 1;
  }
  if (doc["t"] !== kind) throw corrupt(`expected a ${kind}, found ${JSON.stringify(doc["t"])}`);
  return doc;
}

function str(doc: Doc, field: string): string {
  const value = doc[field];
  if (typeof value !== "string" || value.length === 0) throw corrupt(`field ${field} is not a non-empty string`);
  return value;
}

function time(doc: Doc, field: string): number {
  const value = doc[field];
  if (typeof value !== "number" || !Number.isFinite(value)) throw corrupt(`field ${field} is not a timestamp`);
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
    throw corrupt(`field ${field} has an unknown value`);
  return value as T;
}

function decodeCause(value: unknown): TrustCause {
  if (typeof value !== "object" || value === null) throw corrupt("history cause is not an object");
  const doc = value as Doc;
  if (doc["kind"] === "first-seen") {
    if (typeof doc["firstBatch"] !== "boolean") throw corrupt("first-seen cause lacks firstBatch");
    return { kind: "first-seen", policy: str(doc, "policy"), firstBatch: doc["firstBatch"] };
  }
  if (doc["kind"] === "user") {
    return {
      kind: "user",
      ...(doc["method"] === undefined ? {} : { method: oneOf(doc["method"], VERIFICATION_METHODS, "cause.method") }),
      ...(doc["actor"] === undefined ? {} : { actor: str(doc, "actor") }),
    };
  }
  throw corrupt("history cause has an unknown kind");
}

function decodeHistory(value: unknown): TrustHistoryEntry[] {
  if (!Array.isArray(value) || value.length === 0) throw corrupt("history is not a non-empty array");
  return value.map((entry: unknown) => {
    if (typeof entry !== "object" || entry === null) throw corrupt("history entry is not an object");
    const doc = entry as Doc;
    return {
      state: oneOf(doc["state"], TRUST_STATES, "history.state"),
      at: time(doc, "at"),
      cause: decodeCause(doc["cause"]),
    };
  });
}

export function encodeRecord(record: TrustRecord): Uint8Array {
  const doc = {
    v: FORMAT_VERSION,
    t: "record",
    account: record.account,
    contact: record.contact,
    protocol: record.protocol,
    fingerprint: record.fingerprint,
    state: record.state,
    deviceId: record.deviceId,
    firstSeenAt: record.firstSeenAt,
    supersededAt: record.supersededAt,
    history: record.history,
  };
  return textEncoder.encode(JSON.stringify(doc));
}

export function decodeRecord(bytes: Uint8Array): TrustRecord {
  const doc = parseDoc(bytes, "record");
  const deviceId = doc["deviceId"];
  if (deviceId !== undefined && (typeof deviceId !== "number" || !Number.isInteger(deviceId) || deviceId < 0))
    throw corrupt("field deviceId is not a non-negative integer");
  const fingerprint = str(doc, "fingerprint");
  if (!/^[0-9a-f]+$/.test(fingerprint)) throw corrupt("field fingerprint is not lowercase hex");
  return {
    account: str(doc, "account"),
    contact: str(doc, "contact"),
    protocol: str(doc, "protocol"),
    fingerprint,
    state: oneOf(doc["state"], TRUST_STATES, "state"),
    ...(deviceId === undefined ? {} : { deviceId }),
    firstSeenAt: time(doc, "firstSeenAt"),
    ...(doc["supersededAt"] === undefined ? {} : { supersededAt: time(doc, "supersededAt") }),
    history: decodeHistory(doc["history"]),
  };
}

/** A contact's state for one protocol (see store.ts). */
export interface GroupState {
  /** True while keys still join the contact's first batch; false once we encrypted to it or the user acted. */
  readonly open: boolean;
  /** The user has verified or marked compromised one of its keys (PolicyContext.everVerifiedOrCompromised). */
  readonly vouched: boolean;
}

export function encodeGroup(group: GroupState): Uint8Array {
  return textEncoder.encode(
    JSON.stringify({ v: FORMAT_VERSION, t: "group", open: group.open, vouched: group.vouched }),
  );
}

export function decodeGroup(bytes: Uint8Array): GroupState {
  const doc = parseDoc(bytes, "group");
  const { open, vouched } = doc;
  if (typeof open !== "boolean" || typeof vouched !== "boolean") throw corrupt("group fields are not booleans");
  return { open, vouched };
}

export function encodeSettings(account: string, contact: string, settings: ContactSettings): Uint8Array {
  const doc = {
    v: FORMAT_VERSION,
    t: "contact",
    account,
    contact,
    defaultEncryption: settings.defaultEncryption,
    muted: settings.muted,
  };
  return textEncoder.encode(JSON.stringify(doc));
}

export function decodeSettings(bytes: Uint8Array): { account: string; contact: string; settings: ContactSettings } {
  const doc = parseDoc(bytes, "contact");
  if (typeof doc["muted"] !== "boolean") throw corrupt("field muted is not a boolean");
  return {
    account: str(doc, "account"),
    contact: str(doc, "contact"),
    settings: {
      defaultEncryption: oneOf(doc["defaultEncryption"], ENCRYPTION_METHODS, "defaultEncryption"),
      muted: doc["muted"],
    },
  };
}
