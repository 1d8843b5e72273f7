/**
 * Wire formats. The protobuf messages are those of the checked-in proto/WhisperTextProtocol.proto
 * and proto/OMEMO2.proto, written and read with protobufjs's Writer and Reader field by field, in
 * ascending field order (as protobuf-java and python's protobuf write them, so MACs over our bytes
 * and theirs agree). test/wire.test.ts checks these codecs against protobufjs loading the .proto files.
 * Parsing treats input as hostile: every field's presence and length is checked, any other input
 * gives MALFORMED_MESSAGE.
 */
import protobuf from "protobufjs/minimal.js";
import { DoubleRatchetError } from "./errors.js";

const { Reader, Writer } = protobuf;

/** libsignal's version byte: (3 << 4) | 3 (docs/libsignal-wire-format.md §2). */
export const LIBSIGNAL_VERSION_BYTE = 0x33;
const WIRE_VARINT = 0;
const WIRE_BYTES = 2;

function malformed(what: string, cause?: unknown): DoubleRatchetError {
  return new DoubleRatchetError(
    "MALFORMED_MESSAGE",
    `malformed message: ${what}`,
    cause === undefined ? undefined : { cause },
  );
}

type Field = { readonly kind: "varint"; value: number } | { readonly kind: "bytes"; value: Uint8Array };

/** Reads a flat protobuf message into field number → last value (protobuf's "last one wins"). */
function readFields(bytes: Uint8Array, what: string): Map<number, Field> {
  const out = new Map<number, Field>();
  try {
    const r = new Reader(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 0) throw malformed(`${what}: field number 0`);
      if (wireType === WIRE_VARINT) out.set(field, { kind: "varint", value: r.uint32() });
      else if (wireType === WIRE_BYTES) out.set(field, { kind: "bytes", value: r.bytes().slice() });
      else r.skipType(wireType);
    }
  } catch (cause) {
    if (cause instanceof DoubleRatchetError) throw cause;
    throw malformed(`${what} is not valid protobuf`, cause);
  }
  return out;
}

function getBytes(fields: Map<number, Field>, n: number, name: string): Uint8Array | undefined {
  const f = fields.get(n);
  if (f === undefined) return undefined;
  if (f.kind !== "bytes") throw malformed(`${name} has the wrong wire type`);
  return f.value;
}
function getUint(fields: Map<number, Field>, n: number, name: string): number | undefined {
  const f = fields.get(n);
  if (f === undefined) return undefined;
  if (f.kind !== "varint") throw malformed(`${name} has the wrong wire type`);
  return f.value;
}
function need<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw malformed(`${name} is missing`);
  return value;
}

// ---------------------------------------------------------------- libsignal v3 (legacy OMEMO)

/** textsecure.SignalMessage fields (docs/libsignal-wire-format.md §2.1). */
export interface SignalMessageFields {
  readonly ratchetKey: Uint8Array;
  readonly counter: number;
  readonly previousCounter: number;
  readonly ciphertext: Uint8Array;
}

function varintLength(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Writes `v` (a uint32) as a protobuf varint at `pos`; returns the position after it. */
function writeVarint(out: Uint8Array, pos: number, v: number): number {
  let x = v >>> 0;
  while (x > 0x7f) {
    out[pos++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  out[pos++] = x;
  return pos;
}

/** Byte length of 0x33 || SignalMessage (without the MAC). */
export function signalMessageLength(m: SignalMessageFields): number {
  return (
    1 +
    1 +
    varintLength(m.ratchetKey.length) +
    m.ratchetKey.length +
    1 +
    varintLength(m.counter >>> 0) +
    1 +
    varintLength(m.previousCounter >>> 0) +
    1 +
    varintLength(m.ciphertext.length) +
    m.ciphertext.length
  );
}

/**
 * Writes 0x33 || SignalMessage at `offset` (room for {@link signalMessageLength} bytes), byte for
 * byte what protobufjs's Writer gives for the fixed field order, without its per-field allocations
 * (this runs once per message).
 */
export function writeSignalMessage(m: SignalMessageFields, out: Uint8Array, offset: number): number {
  let p = offset;
  out[p++] = LIBSIGNAL_VERSION_BYTE;
  out[p++] = 0x0a;
  p = writeVarint(out, p, m.ratchetKey.length);
  out.set(m.ratchetKey, p);
  p += m.ratchetKey.length;
  out[p++] = 0x10;
  p = writeVarint(out, p, m.counter);
  out[p++] = 0x18;
  p = writeVarint(out, p, m.previousCounter);
  out[p++] = 0x22;
  p = writeVarint(out, p, m.ciphertext.length);
  out.set(m.ciphertext, p);
  return p + m.ciphertext.length;
}

/** 0x33 || SignalMessage (without the MAC). */
export function encodeSignalMessage(m: SignalMessageFields): Uint8Array {
  const out = new Uint8Array(signalMessageLength(m));
  writeSignalMessage(m, out, 0);
  return out;
}

function checkVersionByte(bytes: Uint8Array, what: string): void {
  if (bytes.length < 1) throw malformed(`${what} is empty`);
  const version = bytes[0]! >> 4;
  if (version < 3) throw malformed(`${what} has legacy version ${version} (libsignal v3 is required)`);
  if (version > 3) throw malformed(`${what} has unknown version ${version}`);
}

/**
 * A varint of at most 4 bytes (< 2^28) at `pos`: its value, with the position after it in
 * `varintEnd`; −1 for anything else (the general reader decides).
 */
function shortVarint(b: Uint8Array, pos: number, end: number): number {
  let v = 0;
  for (let i = 0; i < 4 && pos + i < end; i++) {
    const byte = b[pos + i]!;
    v |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      varintEnd = pos + i + 1;
      return v;
    }
  }
  return -1;
}
let varintEnd = 0;

/**
 * The layout every peer writes (ratchetKey, counter, previousCounter?, ciphertext, in this order,
 * each once, short varints), read without the general reader's Map and copies; anything else (other
 * order, repeated or unknown fields, long varints) returns null and goes through {@link readFields},
 * which gives the same fields for this layout. The ratchet key is copied (it may enter the session
 * state); the ciphertext is a view of `a`.
 */
function canonicalSignalMessage(a: Uint8Array): SignalMessageFields | null {
  const end = a.length;
  let p = 1;
  if (a[p++] !== 0x0a) return null;
  const keyLength = shortVarint(a, p, end);
  if (keyLength < 0 || varintEnd + keyLength > end) return null;
  p = varintEnd;
  const ratchetKey = a.slice(p, p + keyLength);
  p += keyLength;
  if (a[p++] !== 0x10) return null;
  const counter = shortVarint(a, p, end);
  if (counter < 0) return null;
  p = varintEnd;
  let previousCounter = 0;
  if (a[p] === 0x18) {
    previousCounter = shortVarint(a, p + 1, end);
    if (previousCounter < 0) return null;
    p = varintEnd;
  }
  if (a[p++] !== 0x22) return null;
  const ciphertextLength = shortVarint(a, p, end);
  if (ciphertextLength < 0 || varintEnd + ciphertextLength !== end) return null;
  return { ratchetKey, counter, previousCounter, ciphertext: a.subarray(varintEnd, end) };
}

/** Splits 0x33 || SignalMessage || mac and decodes the protobuf. Required: ratchetKey, counter, ciphertext (libsignal). */
export function decodeSignalMessage(
  bytes: Uint8Array,
  macLength: number,
  /** @internal false forces the general reader (tests compare the two). */
  fastPath = true,
): { fields: SignalMessageFields; authenticated: Uint8Array; mac: Uint8Array } {
  checkVersionByte(bytes, "SignalMessage");
  if (bytes.length < 1 + macLength) throw malformed("SignalMessage is shorter than its MAC");
  const authenticated = bytes.subarray(0, bytes.length - macLength);
  const fast = fastPath ? canonicalSignalMessage(authenticated) : null;
  if (fast !== null) return { fields: fast, authenticated, mac: bytes.subarray(bytes.length - macLength) };
  const f = readFields(authenticated.subarray(1), "SignalMessage");
  return {
    fields: {
      ratchetKey: need(getBytes(f, 1, "ratchetKey"), "SignalMessage.ratchetKey"),
      counter: need(getUint(f, 2, "counter"), "SignalMessage.counter"),
      previousCounter: getUint(f, 3, "previousCounter") ?? 0,
      ciphertext: need(getBytes(f, 4, "ciphertext"), "SignalMessage.ciphertext"),
    },
    authenticated,
    mac: bytes.subarray(bytes.length - macLength),
  };
}

/** textsecure.PreKeySignalMessage fields (docs/libsignal-wire-format.md §2.2). */
export interface PreKeySignalMessageFields {
  readonly preKeyId: number | undefined;
  readonly baseKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly message: Uint8Array;
  readonly registrationId: number | undefined;
  readonly signedPreKeyId: number;
}

export function encodePreKeySignalMessage(m: PreKeySignalMessageFields): Uint8Array {
  const w = new Writer();
  w.uint32(LIBSIGNAL_VERSION_BYTE);
  if (m.preKeyId !== undefined) w.uint32(0x08).uint32(m.preKeyId);
  w.uint32(0x12).bytes(m.baseKey);
  w.uint32(0x1a).bytes(m.identityKey);
  w.uint32(0x22).bytes(m.message);
  if (m.registrationId !== undefined) w.uint32(0x28).uint32(m.registrationId);
  w.uint32(0x30).uint32(m.signedPreKeyId);
  return w.finish();
}

/** Required (libsignal): signedPreKeyId, baseKey, identityKey, message. */
export function decodePreKeySignalMessage(bytes: Uint8Array): PreKeySignalMessageFields {
  checkVersionByte(bytes, "PreKeySignalMessage");
  const f = readFields(bytes.subarray(1), "PreKeySignalMessage");
  return {
    preKeyId: getUint(f, 1, "preKeyId"),
    baseKey: need(getBytes(f, 2, "baseKey"), "PreKeySignalMessage.baseKey"),
    identityKey: need(getBytes(f, 3, "identityKey"), "PreKeySignalMessage.identityKey"),
    message: need(getBytes(f, 4, "message"), "PreKeySignalMessage.message"),
    registrationId: getUint(f, 5, "registrationId"),
    signedPreKeyId: need(getUint(f, 6, "signedPreKeyId"), "PreKeySignalMessage.signedPreKeyId"),
  };
}

// ---------------------------------------------------------------- OMEMO 2

export interface OmemoMessageFields {
  readonly n: number;
  readonly pn: number;
  readonly dhPub: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Byte length of an OMEMOMessage. */
export function omemoMessageLength(m: OmemoMessageFields): number {
  return (
    1 +
    varintLength(m.n >>> 0) +
    1 +
    varintLength(m.pn >>> 0) +
    1 +
    varintLength(m.dhPub.length) +
    m.dhPub.length +
    1 +
    varintLength(m.ciphertext.length) +
    m.ciphertext.length
  );
}

/**
 * Writes an OMEMOMessage at `offset` (room for {@link omemoMessageLength} bytes), byte for byte what
 * protobufjs's Writer gives for the fixed field order, without its per-field allocations.
 */
export function writeOmemoMessage(m: OmemoMessageFields, out: Uint8Array, offset: number): number {
  let p = offset;
  out[p++] = 0x08;
  p = writeVarint(out, p, m.n);
  out[p++] = 0x10;
  p = writeVarint(out, p, m.pn);
  out[p++] = 0x1a;
  p = writeVarint(out, p, m.dhPub.length);
  out.set(m.dhPub, p);
  p += m.dhPub.length;
  out[p++] = 0x22;
  p = writeVarint(out, p, m.ciphertext.length);
  out.set(m.ciphertext, p);
  return p + m.ciphertext.length;
}

export function encodeOmemoMessage(m: OmemoMessageFields): Uint8Array {
  const out = new Uint8Array(omemoMessageLength(m));
  writeOmemoMessage(m, out, 0);
  return out;
}

/**
 * The layout every peer writes (n, pn, dh_pub, ciphertext, in this order, each once, short varints),
 * read without the general reader's Map and copies; anything else returns null and goes through
 * {@link readFields}, which gives the same fields for this layout. dh_pub is copied (it may enter the
 * session state); the ciphertext is a view of `a`.
 */
function canonicalOmemoMessage(a: Uint8Array): OmemoMessageFields | null {
  const end = a.length;
  let p = 0;
  if (a[p++] !== 0x08) return null;
  const n = shortVarint(a, p, end);
  if (n < 0) return null;
  p = varintEnd;
  if (a[p++] !== 0x10) return null;
  const pn = shortVarint(a, p, end);
  if (pn < 0) return null;
  p = varintEnd;
  if (a[p++] !== 0x1a) return null;
  const keyLength = shortVarint(a, p, end);
  if (keyLength < 0 || varintEnd + keyLength > end) return null;
  p = varintEnd;
  const dhPub = a.slice(p, p + keyLength);
  p += keyLength;
  if (a[p++] !== 0x22) return null;
  const ciphertextLength = shortVarint(a, p, end);
  if (ciphertextLength < 0 || varintEnd + ciphertextLength !== end) return null;
  return { n, pn, dhPub, ciphertext: a.subarray(varintEnd, end) };
}

export function decodeOmemoMessage(
  bytes: Uint8Array,
  /** @internal false forces the general reader (tests compare the two). */
  fastPath = true,
): OmemoMessageFields {
  const fast = fastPath ? canonicalOmemoMessage(bytes) : null;
  if (fast !== null) return fast;
  const f = readFields(bytes, "OMEMOMessage");
  return {
    n: need(getUint(f, 1, "n"), "OMEMOMessage.n"),
    pn: need(getUint(f, 2, "pn"), "OMEMOMessage.pn"),
    dhPub: need(getBytes(f, 3, "dh_pub"), "OMEMOMessage.dh_pub"),
    ciphertext: need(getBytes(f, 4, "ciphertext"), "OMEMOMessage.ciphertext"),
  };
}

/** Byte length of an OMEMOAuthenticatedMessage with a MAC of `macLength` bytes around a message of `messageLength`. */
function omemoAuthenticatedLength(macLength: number, messageLength: number): number {
  return 1 + varintLength(macLength) + macLength + 1 + varintLength(messageLength) + messageLength;
}

export function encodeOmemoAuthenticatedMessage(mac: Uint8Array, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(omemoAuthenticatedLength(mac.length, message.length));
  let p = 0;
  out[p++] = 0x0a;
  p = writeVarint(out, p, mac.length);
  out.set(mac, p);
  p += mac.length;
  out[p++] = 0x12;
  p = writeVarint(out, p, message.length);
  out.set(message, p);
  return out;
}

/**
 * OMEMOAuthenticatedMessage(mac, OMEMOMessage(m)) written once into one buffer: the message first,
 * then `macOf(message bytes)` (which must return `macLength` bytes) into its place in front of it.
 * The same bytes as encodeOmemoAuthenticatedMessage(mac, encodeOmemoMessage(m)).
 */
export function encodeOmemoAuthenticatedWith(
  m: OmemoMessageFields,
  macLength: number,
  macOf: (message: Uint8Array) => Uint8Array,
): Uint8Array {
  const messageLength = omemoMessageLength(m);
  const out = new Uint8Array(omemoAuthenticatedLength(macLength, messageLength));
  let p = 0;
  out[p++] = 0x0a;
  p = writeVarint(out, p, macLength);
  const macAt = p;
  p += macLength;
  out[p++] = 0x12;
  p = writeVarint(out, p, messageLength);
  writeOmemoMessage(m, out, p);
  const mac = macOf(out.subarray(p));
  if (mac.length !== macLength) throw new RangeError("the MAC has the wrong length");
  out.set(mac, macAt);
  return out;
}

/**
 * mac, then message, each once, short lengths, nothing after: views of `a` (the general reader
 * copies); anything else returns null.
 */
function canonicalOmemoAuthenticated(a: Uint8Array): { mac: Uint8Array; message: Uint8Array } | null {
  const end = a.length;
  let p = 0;
  if (a[p++] !== 0x0a) return null;
  const macLength = shortVarint(a, p, end);
  if (macLength < 0 || varintEnd + macLength > end) return null;
  p = varintEnd;
  const mac = a.subarray(p, p + macLength);
  p += macLength;
  if (a[p++] !== 0x12) return null;
  const messageLength = shortVarint(a, p, end);
  if (messageLength < 0 || varintEnd + messageLength !== end) return null;
  return { mac, message: a.subarray(varintEnd, end) };
}

export function decodeOmemoAuthenticatedMessage(
  bytes: Uint8Array,
  /** @internal false forces the general reader (tests compare the two). */
  fastPath = true,
): { mac: Uint8Array; message: Uint8Array } {
  const fast = fastPath ? canonicalOmemoAuthenticated(bytes) : null;
  if (fast !== null) return fast;
  const f = readFields(bytes, "OMEMOAuthenticatedMessage");
  return {
    mac: need(getBytes(f, 1, "mac"), "OMEMOAuthenticatedMessage.mac"),
    message: need(getBytes(f, 2, "message"), "OMEMOAuthenticatedMessage.message"),
  };
}

export interface OmemoKeyExchangeFields {
  readonly pkId: number;
  readonly spkId: number;
  readonly ik: Uint8Array;
  readonly ek: Uint8Array;
  /** The serialized OMEMOAuthenticatedMessage (an embedded message, field 5). */
  readonly message: Uint8Array;
}

export function encodeOmemoKeyExchange(m: OmemoKeyExchangeFields): Uint8Array {
  const w = new Writer();
  w.uint32(0x08).uint32(m.pkId);
  w.uint32(0x10).uint32(m.spkId);
  w.uint32(0x1a).bytes(m.ik);
  w.uint32(0x22).bytes(m.ek);
  w.uint32(0x2a).bytes(m.message);
  return w.finish();
}

export function decodeOmemoKeyExchange(bytes: Uint8Array): OmemoKeyExchangeFields {
  const f = readFields(bytes, "OMEMOKeyExchange");
  return {
    pkId: need(getUint(f, 1, "pk_id"), "OMEMOKeyExchange.pk_id"),
    spkId: need(getUint(f, 2, "spk_id"), "OMEMOKeyExchange.spk_id"),
    ik: need(getBytes(f, 3, "ik"), "OMEMOKeyExchange.ik"),
    ek: need(getBytes(f, 4, "ek"), "OMEMOKeyExchange.ek"),
    message: need(getBytes(f, 5, "message"), "OMEMOKeyExchange.message"),
  };
}

// ---------------------------------------------------------------- signal profile (Parley's own layout)

/** Message type bytes of the signal profile's layout (README "Wire format of the signal profile"). */
export const SIGNAL_TYPE_MESSAGE = 0x01;
export const SIGNAL_TYPE_KEY_EXCHANGE = 0x02;
/** dh (32) || pn (u32 BE) || n (u32 BE) — the paper's HEADER(dh_pair, pn, n). */
export const SIGNAL_HEADER_LENGTH = 40;
/** HENCRYPT output: nonce (24) || XChaCha20-Poly1305(header) (40 + 16). */
export const SIGNAL_ENCRYPTED_HEADER_LENGTH = 24 + SIGNAL_HEADER_LENGTH + 16;

export function encodeSignalHeader(dh: Uint8Array, pn: number, n: number): Uint8Array {
  const out = new Uint8Array(SIGNAL_HEADER_LENGTH);
  out.set(dh, 0);
  const view = new DataView(out.buffer);
  view.setUint32(32, pn);
  view.setUint32(36, n);
  return out;
}

export function decodeSignalHeader(bytes: Uint8Array): { dh: Uint8Array; pn: number; n: number } {
  if (bytes.length !== SIGNAL_HEADER_LENGTH) throw malformed("header has the wrong length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dh: bytes.slice(0, 32), pn: view.getUint32(32), n: view.getUint32(36) };
}

export interface SignalKeyExchangeFields {
  readonly identityKey: Uint8Array; // 33
  readonly ephemeralKey: Uint8Array; // 33
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId: number | undefined;
  readonly message: Uint8Array;
}

/** 0x02 || IK (33) || EK (33) || spkId (u32 BE) || hasOpk (1) || opkId (u32 BE) || message. */
export function encodeSignalKeyExchange(m: SignalKeyExchangeFields): Uint8Array {
  const out = new Uint8Array(1 + 33 + 33 + 4 + 1 + 4 + m.message.length);
  const view = new DataView(out.buffer);
  out[0] = SIGNAL_TYPE_KEY_EXCHANGE;
  out.set(m.identityKey, 1);
  out.set(m.ephemeralKey, 34);
  view.setUint32(67, m.signedPreKeyId);
  out[71] = m.oneTimePreKeyId === undefined ? 0 : 1;
  view.setUint32(72, m.oneTimePreKeyId ?? 0);
  out.set(m.message, 76);
  return out;
}

export function decodeSignalKeyExchange(bytes: Uint8Array): SignalKeyExchangeFields {
  if (bytes.length < 76 + 1 || bytes[0] !== SIGNAL_TYPE_KEY_EXCHANGE)
    throw malformed("not a signal-profile key exchange");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flag = bytes[71];
  if (flag !== 0 && flag !== 1) throw malformed("key exchange one-time prekey flag must be 0 or 1");
  return {
    identityKey: bytes.slice(1, 34),
    ephemeralKey: bytes.slice(34, 67),
    signedPreKeyId: view.getUint32(67),
    oneTimePreKeyId: flag === 1 ? view.getUint32(72) : undefined,
    message: bytes.subarray(76),
  };
}
