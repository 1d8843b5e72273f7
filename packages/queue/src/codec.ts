/** Stored record format: UTF-8 JSON `{"v":2,...}`, checked field by field when read; v1 records still load. */
import { MAX_ATTEMPTS, MAX_BODY_BYTES, MAX_CONVERSATION_BYTES, RECORD_VERSION } from "./consts.js";
import { QueueError } from "./errors.js";
import type { FailureReason, SendMethod, StoredMessage, TransientReason } from "./types.js";

export const FAILURE_REASONS: readonly FailureReason[] = [
  "no-trusted-device",
  "contact-offline-otr-required",
  "peer-rejected",
  "retries-exhausted",
  "plaintext-forbidden",
  "no-encryption-available",
  "encryption-failed",
];
export const TRANSIENT_REASONS: readonly TransientReason[] = [
  "offline",
  "ack-timeout",
  "negotiation-timeout",
  "session-failed",
  "not-ready",
  "error",
];
const METHODS: readonly SendMethod[] = ["omemo", "otr", "none"];
const STORED_STATES = ["queued", "sent", "failed"] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8Length(s: string): number {
  // Fast path: ASCII-only strings are their length.
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      n = encoder.encode(s).length;
      break;
    }
  }
  return n;
}

/** A string without lone surrogates (it survives a UTF-8 round trip unchanged). */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

export function encodeRecord(m: StoredMessage): Uint8Array {
  const doc: Record<string, unknown> = {
    v: RECORD_VERSION,
    id: m.id,
    c: m.conversation,
    s: m.seq,
    b: m.body,
    st: m.state,
    a: m.attempts,
    t: m.createdAt,
  };
  if (m.retryAt !== undefined) doc["r"] = m.retryAt;
  if (m.method !== undefined) doc["m"] = m.method;
  if (m.reason !== undefined) doc["why"] = m.reason;
  if (m.lastError !== undefined) doc["le"] = m.lastError;
  if (m.account !== undefined) doc["ac"] = m.account;
  if (m.mayBePlaintext === true) doc["pt"] = true;
  return encoder.encode(JSON.stringify(doc));
}

function corrupted(what: string): QueueError {
  return new QueueError(
    "CORRUPTED",
    `a stored queue record is unreadable (${what}): damaged, or not written by @parley/queue`,
  );
}

function str(v: unknown, what: string, maxBytes: number): string {
  if (typeof v !== "string" || v === "" || utf8Length(v) > maxBytes) throw corrupted(what);
  return v;
}
function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) throw corrupted(what);
  return v;
}
function oneOf<T extends string>(v: unknown, values: readonly T[], what: string): T {
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) throw corrupted(what);
  return v as T;
}

/** Reads a record; CORRUPTED for anything this package would not have written. `key` must match its id. */
export function decodeRecord(bytes: Uint8Array, key?: string): StoredMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch {
    throw corrupted("not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw corrupted("not an object");
  const d = doc as Record<string, unknown>;
  // v1 (no account, no plaintext flag) is read as the opening account's and encrypted-only.
  const version = d["v"];
  if (version !== RECORD_VERSION && version !== 1) {
    if (typeof d["v"] === "number" && d["v"] > RECORD_VERSION)
      throw new QueueError("CORRUPTED", "a stored queue record was written by a newer version of @parley/queue");
    throw corrupted("version");
  }
  const id = str(d["id"], "id", 256);
  if (key !== undefined && key !== id) throw corrupted("id does not match its key");
  const state = oneOf(d["st"], STORED_STATES, "state");
  const body = d["b"];
  if (typeof body !== "string" || utf8Length(body) > MAX_BODY_BYTES) throw corrupted("body");
  const m: {
    -readonly [K in keyof StoredMessage]: StoredMessage[K];
  } = {
    id,
    conversation: str(d["c"], "conversation", MAX_CONVERSATION_BYTES),
    seq: int(d["s"], "seq", 0, Number.MAX_SAFE_INTEGER),
    body,
    state,
    attempts: int(d["a"], "attempts", 0, MAX_ATTEMPTS),
    createdAt: int(d["t"], "createdAt", -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  };
  if (d["r"] !== undefined) m.retryAt = int(d["r"], "retryAt", -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (d["m"] !== undefined) m.method = oneOf(d["m"], METHODS, "method");
  if (d["why"] !== undefined) m.reason = oneOf(d["why"], FAILURE_REASONS, "reason");
  if (d["le"] !== undefined) m.lastError = oneOf(d["le"], TRANSIENT_REASONS, "last error");
  if (state === "failed" && m.reason === undefined) throw corrupted("failed without a reason");
  if (version !== 1) {
    m.account = str(d["ac"], "account", MAX_CONVERSATION_BYTES);
    if (d["pt"] !== undefined) {
      if (d["pt"] !== true) throw corrupted("plaintext flag");
      m.mayBePlaintext = true;
    }
  }
  return m;
}
