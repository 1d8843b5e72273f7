/**
 * Every OTR message form on the wire: encoded binary messages (`?OTR:<base64>.`) for v2 and v3, query
 * messages, whitespace tags, error messages and fragments. Parsers are hostile-input safe: bounded by
 * the limits of consts.ts, strict base64, typed OtrError for anything else.
 */
import { base64Decode, base64Encode, Reader, Writer, utf8Decode } from "./bytes.js";
import {
  MAX_ENCODED_MESSAGE_BYTES,
  MAX_FRAGMENTS,
  MAX_REVEALED_MAC_BYTES,
  MAX_TLVS,
  MAX_WIRE_MESSAGE_CHARS,
  MIN_INSTANCE_TAG,
} from "./consts.js";
import { OtrError } from "./errors.js";

/** Protocol versions this package speaks. */
export type OtrVersion = 2 | 3;

export const MSG_DH_COMMIT = 0x02;
export const MSG_DATA = 0x03;
export const MSG_DH_KEY = 0x0a;
export const MSG_REVEAL_SIG = 0x11;
export const MSG_SIG = 0x12;

/** Largest DATA field of an AKE message (encrypted g^x, encrypted signature): a few hundred bytes in practice. */
const MAX_AKE_DATA = 4096;

export interface Header {
  readonly version: OtrVersion;
  readonly type: number;
  /** Sender instance tag (0 for v2). */
  readonly senderTag: number;
  /** Receiver instance tag (0 for v2, or 0 when unknown in v3). */
  readonly receiverTag: number;
}

export type AkeMessage =
  | (Header & { readonly type: 0x02; readonly encGx: Uint8Array; readonly hashGx: Uint8Array })
  | (Header & { readonly type: 0x0a; readonly gy: bigint })
  | (Header & {
      readonly type: 0x11;
      readonly r: Uint8Array;
      readonly encSig: Uint8Array;
      readonly mac: Uint8Array;
    })
  | (Header & { readonly type: 0x12; readonly encSig: Uint8Array; readonly mac: Uint8Array });

export interface DataMessage extends Header {
  readonly type: 0x03;
  readonly flags: number;
  readonly senderKeyId: number;
  readonly recipientKeyId: number;
  readonly nextDh: bigint;
  readonly ctr: Uint8Array;
  readonly encrypted: Uint8Array;
  readonly mac: Uint8Array;
  readonly oldMacKeys: Uint8Array;
  /** The bytes the MAC covers: protocol version through the encrypted message. */
  readonly authenticated: Uint8Array;
}

export type BinaryMessage = AkeMessage | DataMessage;

export const FLAG_IGNORE_UNREADABLE = 0x01;

function header(w: Writer, h: Omit<Header, "type">, type: number): Writer {
  w.short(h.version).byte(type);
  if (h.version === 3) w.int(h.senderTag).int(h.receiverTag);
  return w;
}

export function encodeDhCommit(h: Omit<Header, "type">, encGx: Uint8Array, hashGx: Uint8Array): Uint8Array {
  return header(new Writer(), h, MSG_DH_COMMIT).data(encGx).data(hashGx).finish();
}
export function encodeDhKey(h: Omit<Header, "type">, gy: bigint): Uint8Array {
  return header(new Writer(), h, MSG_DH_KEY).mpi(gy).finish();
}
export function encodeRevealSig(
  h: Omit<Header, "type">,
  r: Uint8Array,
  encSig: Uint8Array,
  mac: Uint8Array,
): Uint8Array {
  return header(new Writer(), h, MSG_REVEAL_SIG).data(r).data(encSig).raw(mac).finish();
}
export function encodeSig(h: Omit<Header, "type">, encSig: Uint8Array, mac: Uint8Array): Uint8Array {
  return header(new Writer(), h, MSG_SIG).data(encSig).raw(mac).finish();
}

/** The MAC'd part of a data message (version through encrypted message). */
export function encodeDataAuthenticated(
  h: Omit<Header, "type">,
  flags: number,
  senderKeyId: number,
  recipientKeyId: number,
  nextDh: bigint,
  ctr: Uint8Array,
  encrypted: Uint8Array,
): Uint8Array {
  return header(new Writer(), h, MSG_DATA)
    .byte(flags)
    .int(senderKeyId)
    .int(recipientKeyId)
    .mpi(nextDh)
    .raw(ctr)
    .data(encrypted)
    .finish();
}

export function encodeDataMessage(authenticated: Uint8Array, mac: Uint8Array, oldMacKeys: Uint8Array): Uint8Array {
  return new Writer().raw(authenticated).raw(mac).data(oldMacKeys).finish();
}

/** `?OTR:<base64>.` */
export function armor(binary: Uint8Array): string {
  return `?OTR:${base64Encode(binary)}.`;
}

/** Parses a binary OTR message (after base64). Throws MALFORMED_MESSAGE, TOO_LARGE or UNSUPPORTED_VERSION. */
export function parseBinary(bytes: Uint8Array): BinaryMessage {
  if (bytes.length > MAX_ENCODED_MESSAGE_BYTES) throw new OtrError("TOO_LARGE", "encoded message is too large");
  const r = new Reader(bytes, "OTR message");
  const version = r.short();
  if (version !== 2 && version !== 3)
    throw new OtrError("UNSUPPORTED_VERSION", `protocol version ${version} is not supported`);
  const type = r.byte();
  let senderTag = 0;
  let receiverTag = 0;
  if (version === 3) {
    senderTag = r.int();
    receiverTag = r.int();
  }
  const v: OtrVersion = version === 2 ? 2 : 3;
  let msg: BinaryMessage;
  switch (type) {
    case MSG_DH_COMMIT: {
      const encGx = r.data(MAX_AKE_DATA);
      const hashGx = r.data(MAX_AKE_DATA);
      if (hashGx.length !== 32) throw new OtrError("MALFORMED_MESSAGE", "DH-Commit hash is not 32 bytes");
      msg = { version: v, senderTag, receiverTag, type, encGx, hashGx };
      break;
    }
    case MSG_DH_KEY:
      msg = { version: v, senderTag, receiverTag, type, gy: r.mpi() };
      break;
    case MSG_REVEAL_SIG: {
      const rr = r.data(MAX_AKE_DATA);
      if (rr.length !== 16) throw new OtrError("MALFORMED_MESSAGE", "Reveal-Signature key r is not 16 bytes");
      const encSig = r.data(MAX_AKE_DATA);
      msg = { version: v, senderTag, receiverTag, type, r: rr, encSig, mac: r.raw(20) };
      break;
    }
    case MSG_SIG: {
      const encSig = r.data(MAX_AKE_DATA);
      msg = { version: v, senderTag, receiverTag, type, encSig, mac: r.raw(20) };
      break;
    }
    case MSG_DATA: {
      const flags = r.byte();
      const senderKeyId = r.int();
      const recipientKeyId = r.int();
      const nextDh = r.mpi();
      const ctr = r.raw(8);
      const encrypted = r.data(MAX_ENCODED_MESSAGE_BYTES);
      const authenticated = bytes.slice(0, r.offset);
      const mac = r.raw(20);
      const oldMacKeys = r.data(MAX_REVEALED_MAC_BYTES);
      if (oldMacKeys.length % 20 !== 0)
        throw new OtrError("MALFORMED_MESSAGE", "revealed MAC keys are not a multiple of 20 bytes");
      msg = {
        version: v,
        senderTag,
        receiverTag,
        type,
        flags,
        senderKeyId,
        recipientKeyId,
        nextDh,
        ctr,
        encrypted,
        mac,
        oldMacKeys,
        authenticated,
      };
      break;
    }
    default:
      throw new OtrError("MALFORMED_MESSAGE", `unknown message type ${type}`);
  }
  r.end();
  if (version === 3) {
    if (senderTag < MIN_INSTANCE_TAG) throw new OtrError("WRONG_INSTANCE", "sender instance tag is below 0x100");
    if (receiverTag !== 0 && receiverTag < MIN_INSTANCE_TAG)
      throw new OtrError("WRONG_INSTANCE", "receiver instance tag is below 0x100");
  }
  return msg;
}

// ---- TLVs ----------------------------------------------------------------------------------------

export const TLV_PADDING = 0;
export const TLV_DISCONNECTED = 1;
export const TLV_SMP1 = 2;
export const TLV_SMP2 = 3;
export const TLV_SMP3 = 4;
export const TLV_SMP4 = 5;
export const TLV_SMP_ABORT = 6;
export const TLV_SMP1Q = 7;
export const TLV_EXTRA_KEY = 8;

export interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Splits a decrypted data message into its human-readable part and its TLVs (strict: a truncated TLV is MALFORMED_MESSAGE). */
export function parsePlaintext(bytes: Uint8Array): { message: Uint8Array; tlvs: Tlv[] } {
  const nul = bytes.indexOf(0);
  if (nul < 0) return { message: bytes, tlvs: [] };
  const r = new Reader(bytes.subarray(nul + 1), "TLV list");
  const tlvs: Tlv[] = [];
  while (r.remaining > 0) {
    if (tlvs.length >= MAX_TLVS) throw new OtrError("TOO_LARGE", `more than ${MAX_TLVS} TLVs`);
    const type = r.short();
    const len = r.short();
    tlvs.push({ type, value: r.raw(len) });
  }
  return { message: bytes.slice(0, nul), tlvs };
}

export function encodePlaintext(message: Uint8Array, tlvs: readonly Tlv[]): Uint8Array {
  const w = new Writer().raw(message);
  if (tlvs.length > 0) {
    w.byte(0);
    for (const t of tlvs) {
      if (t.value.length > 0xffff) throw new OtrError("TOO_LARGE", "a TLV value exceeds 65535 bytes");
      w.short(t.type).short(t.value.length).raw(t.value);
    }
  }
  return w.finish();
}

// ---- Unencoded messages -----------------------------------------------------------------------------

export const WHITESPACE_BASE = " \t  \t\t\t\t \t \t \t  ";
export const WHITESPACE_V1 = " \t \t  \t ";
export const WHITESPACE_V2 = "  \t\t  \t ";
export const WHITESPACE_V3 = "  \t\t  \t\t";

export function queryMessage(versions: readonly OtrVersion[]): string {
  return `?OTRv${[...versions].sort().join("")}?`;
}

export function whitespaceTag(versions: readonly OtrVersion[]): string {
  let tag = WHITESPACE_BASE;
  if (versions.includes(2)) tag += WHITESPACE_V2;
  if (versions.includes(3)) tag += WHITESPACE_V3;
  return tag;
}

export const ERROR_PREFIX = "?OTR Error:";

/** What an incoming line is, before any cryptography. */
export type Classified =
  | { readonly kind: "fragment"; readonly fragment: Fragment }
  | { readonly kind: "encoded"; readonly bytes: Uint8Array }
  | { readonly kind: "error"; readonly text: string }
  | { readonly kind: "query"; readonly versions: readonly number[] }
  | { readonly kind: "tagged"; readonly versions: readonly number[]; readonly text: string }
  | { readonly kind: "plain"; readonly text: string };

export interface Fragment {
  readonly version: OtrVersion;
  readonly senderTag: number;
  readonly receiverTag: number;
  readonly k: number;
  readonly n: number;
  readonly piece: string;
}

const FRAG_V3 = /^\?OTR\|([0-9a-fA-F]{1,8})\|([0-9a-fA-F]{1,8}),(\d{1,5}),(\d{1,5}),([^,]+),$/;
const FRAG_V2 = /^\?OTR,(\d{1,5}),(\d{1,5}),([^,]+),$/;

/** Parses a fragment; MALFORMED_MESSAGE if it does not have the printf shape of the spec. */
export function parseFragment(text: string): Fragment {
  let m = FRAG_V3.exec(text);
  if (m) {
    const k = Number(m[3]);
    const n = Number(m[4]);
    checkKN(k, n);
    return { version: 3, senderTag: parseInt(m[1]!, 16), receiverTag: parseInt(m[2]!, 16), k, n, piece: m[5]! };
  }
  m = FRAG_V2.exec(text);
  if (m) {
    const k = Number(m[1]);
    const n = Number(m[2]);
    checkKN(k, n);
    return { version: 2, senderTag: 0, receiverTag: 0, k, n, piece: m[3]! };
  }
  throw new OtrError("MALFORMED_MESSAGE", "malformed OTR fragment");
}

function checkKN(k: number, n: number): void {
  if (k === 0 || n === 0 || k > n || n > 65535)
    throw new OtrError("MALFORMED_MESSAGE", "fragment numbers are out of range");
  if (n > MAX_FRAGMENTS) throw new OtrError("TOO_LARGE", `a message in more than ${MAX_FRAGMENTS} fragments`);
}

/** Splits an armored message into fragments of at most `maxSize` characters each. */
export function fragment(
  message: string,
  maxSize: number,
  version: OtrVersion,
  senderTag: number,
  receiverTag: number,
): string[] {
  const prefixLen = version === 3 ? 36 : 18; // "?OTR|%08x|%08x,%05hu,%05hu," or "?OTR,%05hu,%05hu," plus ","
  const room = maxSize - prefixLen;
  if (message.length <= maxSize) return [message];
  if (room < 1) throw new OtrError("INVALID_ARGUMENT", "maxFragmentSize is too small");
  const n = Math.ceil(message.length / room);
  if (n > 65535) throw new OtrError("TOO_LARGE", "message needs more than 65535 fragments");
  const out: string[] = [];
  const hex = (v: number) => v.toString(16).padStart(8, "0");
  const dec = (v: number) => String(v).padStart(5, "0");
  for (let k = 1; k <= n; k++) {
    const piece = message.slice((k - 1) * room, k * room);
    out.push(
      version === 3
        ? `?OTR|${hex(senderTag)}|${hex(receiverTag)},${dec(k)},${dec(n)},${piece},`
        : `?OTR,${dec(k)},${dec(n)},${piece},`,
    );
  }
  return out;
}

function parseQueryVersions(text: string, at: number): number[] | undefined {
  // text[at..] starts with "?OTR"; "?OTR?" (v1) optionally followed by "v...?", or "?OTRv...?".
  let i = at + 4;
  const versions: number[] = [];
  if (text[i] === "?") {
    versions.push(1);
    i++;
  }
  if (text[i] === "v") {
    const end = text.indexOf("?", i + 1);
    if (end < 0) return versions.length ? versions : undefined;
    for (const c of text.slice(i + 1, Math.min(end, i + 1 + 16))) if (c >= "0" && c <= "9") versions.push(Number(c));
    return versions;
  }
  return versions.length ? versions : undefined;
}

/** Classifies an incoming message (one line as received). Throws TOO_LARGE for oversized input, MALFORMED_MESSAGE for a bad fragment or base64. */
export function classify(text: string): Classified {
  if (typeof text !== "string") throw new OtrError("INVALID_ARGUMENT", "message must be a string");
  if (text.length > MAX_WIRE_MESSAGE_CHARS) throw new OtrError("TOO_LARGE", "incoming message is too large");
  if (text.startsWith("?OTR|") || text.startsWith("?OTR,")) return { kind: "fragment", fragment: parseFragment(text) };
  const enc = text.indexOf("?OTR:");
  if (enc >= 0) {
    const end = text.indexOf(".", enc + 5);
    if (end < 0) throw new OtrError("MALFORMED_MESSAGE", "encoded OTR message lacks its final '.'");
    return { kind: "encoded", bytes: base64Decode(text.slice(enc + 5, end)) };
  }
  const err = text.indexOf(ERROR_PREFIX);
  if (err >= 0) return { kind: "error", text: text.slice(err + ERROR_PREFIX.length).trim() };
  const q = text.indexOf("?OTR");
  if (q >= 0) {
    const versions = parseQueryVersions(text, q);
    if (versions) return { kind: "query", versions };
  }
  const ws = text.indexOf(WHITESPACE_BASE);
  if (ws >= 0) {
    const versions: number[] = [];
    let i = ws + 16;
    for (; i + 8 <= text.length; i += 8) {
      const t = text.slice(i, i + 8);
      if (t === WHITESPACE_V1) versions.push(1);
      else if (t === WHITESPACE_V2) versions.push(2);
      else if (t === WHITESPACE_V3) versions.push(3);
      else if (!/^[ \t]{8}$/.test(t)) break;
    }
    return { kind: "tagged", versions, text: text.slice(0, ws) + text.slice(i) };
  }
  return { kind: "plain", text };
}

export function decodeUtf8(bytes: Uint8Array): string {
  return utf8Decode(bytes);
}
