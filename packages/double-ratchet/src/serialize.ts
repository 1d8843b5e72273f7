/**
 * Versioned binary serialization of sessions. Compact binary was chosen over JSON by measurement
 * (README "Serialization"): an idle session is a few hundred bytes, and the format has no parser
 * surprises. Layout of version 2 (all integers big-endian):
 *
 *   "PDR" 0x02 | generation (u32 high, u32 low; at most 2^53 − 1) | the body of version 1
 *
 * Version 1 is "PDR" 0x01 | body, and loads with generation 0. The body:
 *
 *   profile name (u8 len, ASCII) | flags u8 (bit0 responder, bit1 header encryption)
 *   | localIK, remoteIK, AD, baseKey (u16 len + bytes each) | RK 32 | DHs private 32 | DHs public 32
 *   | DHr, CKs (opt32) | Ns u32 | PN u32 | CKr (opt32) | Nr u32 | HKs, HKr, NHKs, NHKr (opt32)
 *   | limits: maxSkippedKeys, maxForwardJump, maxSkippedChains (u32 each)
 *   | pending key exchange: u8 present [ u8 hasOpk, u32 opk, u32 spk, EK, IK (u16 len), u8 hasReg, u32 reg ]
 *   | skipped: u16 chains, each: key (u16 len), u32 count, count × (u32 n, mk 32)
 *   | profile check: X3DH info, root info, message-key info (u8 len + bytes each), so a session of a
 *     custom `createSignalProfile({ application })` never loads silently under another profile.
 *
 * opt32 = u8 present + 32 bytes. A new version gets a new number and a migration in
 * `deserializeSession`; test/serialize.test.ts loads every earlier version from vectors/.
 *
 * A stored session is checked like a message, not trusted: its limits must lie between
 * LIMIT_FLOORS and the profile's own (a session cannot raise its limits: bytes that say "keep a
 * million skipped keys" are refused), and it may hold no more skipped chains and keys than they allow.
 */
import { constantTimeEqual } from "@parley/crypto";
import { LIMIT_FLOORS, SESSION_FORMAT_VERSION } from "./consts.js";
import { DoubleRatchetError } from "./errors.js";
import { builtinProfile, type Limits, type RatchetProfile } from "./profiles.js";
import {
  assertLive,
  newSession,
  Session,
  stateOf,
  type PendingKeyExchange,
  type RatchetState,
  type SkippedChain,
} from "./state.js";

const MAGIC = [0x50, 0x44, 0x52]; // "PDR"
const TWO_32 = 2 ** 32;
/** The high word of a generation: 2^53 − 1 (Number.MAX_SAFE_INTEGER) is the largest exact one. */
const MAX_GENERATION_HIGH = 0x1fffff;

/**
 * Writes into a buffer of the exact size `serializeSession` computed first (no growth, no final
 * copy). Writing past the end or stopping short is a bug here, never silent: `finish` checks both.
 */
class ByteWriter {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;
  constructor(size: number) {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }
  u8(v: number) {
    if (this.#pos >= this.#buf.length) throw sizeMismatch();
    this.#buf[this.#pos++] = v;
  }
  u16(v: number) {
    this.#view.setUint16(this.#pos, v); // RangeError past the end
    this.#pos += 2;
  }
  u32(v: number) {
    // Counters are refused before they pass 2^32 − 1 (ratchet.ts); never let one wrap silently here.
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) {
      throw new DoubleRatchetError("INVALID_STATE", "a session counter is out of the 32-bit range");
    }
    this.#view.setUint32(this.#pos, v);
    this.#pos += 4;
  }
  raw(b: Uint8Array) {
    this.#buf.set(b, this.#pos); // RangeError past the end
    this.#pos += b.length;
  }
  lp(b: Uint8Array) {
    this.u16(b.length);
    this.raw(b);
  }
  opt32(b: Uint8Array | null) {
    this.u8(b === null ? 0 : 1);
    if (b !== null) this.raw(b);
  }
  finish(): Uint8Array {
    if (this.#pos !== this.#buf.length) throw sizeMismatch();
    return this.#buf;
  }
}

function sizeMismatch(): DoubleRatchetError {
  return new DoubleRatchetError("INVALID_STATE", "serializeSession computed a wrong size (a bug in this package)");
}

const opt32Size = (b: Uint8Array | null) => 1 + (b === null ? 0 : b.length);

/** The exact length of `serializeSession`'s output for this state and encoded profile name. */
function serializedSize(s: RatchetState, name: Uint8Array, infos: readonly Uint8Array[]): number {
  let n = MAGIC.length + 1 + 8; // magic, version, generation
  n += 1 + name.length + 1; // name, flags
  n += 8 + s.localIdentityKey.length + s.remoteIdentityKey.length + s.associatedData.length + s.baseKey.length;
  n += s.rootKey.length + s.dhsPrivate.length + s.dhsPublic.length;
  n += opt32Size(s.dhr) + opt32Size(s.cks) + 8 + opt32Size(s.ckr) + 4; // DHr, CKs, Ns, PN, CKr, Nr
  n += opt32Size(s.hks) + opt32Size(s.hkr) + opt32Size(s.nhks) + opt32Size(s.nhkr);
  n += 12; // limits
  const p = s.pending;
  n += 1 + (p === null ? 0 : 1 + 4 + 4 + 2 + p.ephemeralKey.length + 2 + p.identityKey.length + 1 + 4);
  n += 2;
  for (const c of s.skipped) {
    n += 2 + c.key.length + 4 + 4 * c.keys.length;
    for (const k of c.keys) n += k.length;
  }
  for (const info of infos) n += 1 + info.length;
  return n;
}

const utf8 = new TextEncoder();

function corrupt(what: string): DoubleRatchetError {
  return new DoubleRatchetError("INVALID_SESSION", `serialized session is invalid: ${what}`);
}

class ByteReader {
  readonly #b: Uint8Array;
  readonly #view: DataView;
  #pos = 0;
  /** Copies the input once; fields are views into that copy (one ArrayBuffer per session, not thirty). */
  constructor(input: Uint8Array) {
    const b = input.slice();
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  #need(n: number) {
    if (this.#pos + n > this.#b.length) throw corrupt("truncated");
  }
  u8(): number {
    this.#need(1);
    return this.#b[this.#pos++]!;
  }
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }
  raw(n: number): Uint8Array {
    this.#need(n);
    const out = this.#b.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  lp(): Uint8Array {
    return this.raw(this.u16());
  }
  flag(): boolean {
    const v = this.u8();
    if (v > 1) throw corrupt("a presence flag is neither 0 nor 1");
    return v === 1;
  }
  opt32(): Uint8Array | null {
    return this.flag() ? this.raw(32) : null;
  }
  done(): void {
    if (this.#pos !== this.#b.length) throw corrupt("trailing bytes");
  }
}

/**
 * Serializes a session (secret: store it encrypted, e.g. with @parley/storage). A spent session is
 * STALE_SESSION: persisting it would bring back a state whose message keys were already used.
 */
export function serializeSession(session: Session): Uint8Array {
  if (!(session instanceof Session)) throw new DoubleRatchetError("INVALID_ARGUMENT", "session must be a Session");
  assertLive(session);
  const s = stateOf(session);
  const name = utf8.encode(s.profile.name);
  const infos = profileInfos(s.profile);
  const w = new ByteWriter(serializedSize(s, name, infos));
  for (const m of MAGIC) w.u8(m);
  w.u8(SESSION_FORMAT_VERSION);
  const generation = session.generation;
  w.u32(Math.floor(generation / TWO_32));
  w.u32(generation % TWO_32);
  w.u8(name.length);
  w.raw(name);
  w.u8((s.role === "responder" ? 1 : 0) | (s.profile.headerEncryption ? 2 : 0));
  w.lp(s.localIdentityKey);
  w.lp(s.remoteIdentityKey);
  w.lp(s.associatedData);
  w.lp(s.baseKey);
  w.raw(s.rootKey);
  w.raw(s.dhsPrivate);
  w.raw(s.dhsPublic);
  w.opt32(s.dhr);
  w.opt32(s.cks);
  w.u32(s.ns);
  w.u32(s.pn);
  w.opt32(s.ckr);
  w.u32(s.nr);
  w.opt32(s.hks);
  w.opt32(s.hkr);
  w.opt32(s.nhks);
  w.opt32(s.nhkr);
  w.u32(s.limits.maxSkippedKeys);
  w.u32(s.limits.maxForwardJump);
  w.u32(s.limits.maxSkippedChains);
  const p = s.pending;
  w.u8(p === null ? 0 : 1);
  if (p !== null) {
    w.u8(p.oneTimePreKeyId === undefined ? 0 : 1);
    w.u32(p.oneTimePreKeyId ?? 0);
    w.u32(p.signedPreKeyId);
    w.lp(p.ephemeralKey);
    w.lp(p.identityKey);
    w.u8(p.registrationId === undefined ? 0 : 1);
    w.u32(p.registrationId ?? 0);
  }
  w.u16(s.skipped.length);
  for (const c of s.skipped) {
    w.lp(c.key);
    w.u32(c.keys.length);
    for (let i = 0; i < c.keys.length; i++) {
      w.u32(c.counters[i]!);
      w.raw(c.keys[i]!);
    }
  }
  for (const info of infos) {
    w.u8(info.length);
    w.raw(info);
  }
  return w.finish();
}

function profileInfos(p: RatchetProfile): Uint8Array[] {
  return [p.x3dh.info, p.rootInfo, p.messageKeyInfo];
}

function resolveProfile(name: string, headerEncryption: boolean, given: RatchetProfile | undefined): RatchetProfile {
  if (given !== undefined) {
    if (given.name !== name || given.headerEncryption !== headerEncryption) {
      throw new DoubleRatchetError(
        "INVALID_SESSION",
        `the serialized session is for profile ${name}, not ${given.name}`,
      );
    }
    return given;
  }
  // The built-in profiles register themselves when their module loads (profiles.ts): all of them
  // under Node (the package entry loads every one); in a bundle, those the application imports.
  const builtin = builtinProfile(name, headerEncryption);
  if (builtin !== undefined) return builtin;
  if (name === "legacyOmemo" || name === "omemo2" || name === "signal") {
    throw new DoubleRatchetError(
      "INVALID_SESSION",
      `the serialized session is for profile ${name}, which this bundle does not import: pass it as options.profile`,
    );
  }
  throw corrupt("unknown profile name");
}

export interface DeserializeOptions {
  /**
   * The profile to bind (needed for a custom `createSignalProfile(...)`); built-ins are found by name
   * among the profiles loaded (all of them under Node; in a bundle, those the application imports).
   */
  readonly profile?: RatchetProfile;
}

/**
 * Loads a session written by any version of `serializeSession` (version 1 with generation 0);
 * throws INVALID_SESSION. Loading the same bytes twice gives two live sessions: a store must
 * compare-and-swap on `generation` when it writes their successors back (README "Sessions are single-use").
 */
export function deserializeSession(bytes: Uint8Array, options: DeserializeOptions = {}): Session {
  if (!(bytes instanceof Uint8Array)) throw new DoubleRatchetError("INVALID_ARGUMENT", "bytes must be a Uint8Array");
  const r = new ByteReader(bytes);
  for (const m of MAGIC) if (r.u8() !== m) throw corrupt("not a Parley Double Ratchet session (bad magic)");
  const version = r.u8();
  if (version === 1) return readBody(r, options, 0);
  if (version !== 2) throw corrupt(`unknown version ${version} (this library reads up to ${SESSION_FORMAT_VERSION})`);
  const high = r.u32();
  const low = r.u32();
  if (high > MAX_GENERATION_HIGH) throw corrupt("generation beyond 2^53 − 1");
  return readBody(r, options, high * TWO_32 + low);
}

/** Throws unless every limit lies between LIMIT_FLOORS and the profile's (a session cannot raise its own). */
function checkStoredLimits(limits: Limits, profile: RatchetProfile): void {
  for (const name of ["maxSkippedKeys", "maxForwardJump", "maxSkippedChains"] as const) {
    if (limits[name] < LIMIT_FLOORS[name]) throw corrupt(`${name} is below ${LIMIT_FLOORS[name]}`);
    if (limits[name] > profile.limits[name]) {
      throw corrupt(
        `${name} is above the profile's ${profile.limits[name]} (a stored session cannot raise its own limits; ` +
          "a session made with withLimits loads with that profile passed as options.profile)",
      );
    }
  }
}

function readBody(r: ByteReader, options: DeserializeOptions, generation: number): Session {
  const name = new TextDecoder().decode(r.raw(r.u8()));
  const flags = r.u8();
  if (flags > 3) throw corrupt("unknown flags");
  const profile = resolveProfile(name, (flags & 2) !== 0, options.profile);
  const localIdentityKey = r.lp();
  const remoteIdentityKey = r.lp();
  const associatedData = r.lp();
  const baseKey = r.lp();
  const rootKey = r.raw(32);
  const dhsPrivate = r.raw(32);
  const dhsPublic = r.raw(32);
  const dhr = r.opt32();
  const cks = r.opt32();
  const ns = r.u32();
  const pn = r.u32();
  const ckr = r.opt32();
  const nr = r.u32();
  const hks = r.opt32();
  const hkr = r.opt32();
  const nhks = r.opt32();
  const nhkr = r.opt32();
  const limits = { maxSkippedKeys: r.u32(), maxForwardJump: r.u32(), maxSkippedChains: r.u32() };
  const ikLength = profile.x3dh.identityKeyType === "ed25519" ? 32 : 33;
  const keyLength = profile.x3dh.keyEncoding === "raw" ? 32 : 33;
  if (localIdentityKey.length !== ikLength || remoteIdentityKey.length !== ikLength)
    throw corrupt("identity key length");
  if (associatedData.length !== 2 * ikLength || baseKey.length !== keyLength)
    throw corrupt("associated data or base key length");
  checkStoredLimits(limits, profile);
  let pending: PendingKeyExchange | null = null;
  if (r.flag()) {
    const hasOpk = r.flag();
    const opk = r.u32();
    const signedPreKeyId = r.u32();
    const ephemeralKey = r.lp();
    const identityKey = r.lp();
    if (ephemeralKey.length !== keyLength || identityKey.length !== ikLength)
      throw corrupt("pending key exchange key length");
    const hasReg = r.flag();
    const reg = r.u32();
    pending = {
      oneTimePreKeyId: hasOpk ? opk : undefined,
      signedPreKeyId,
      ephemeralKey,
      identityKey,
      registrationId: hasReg ? reg : undefined,
    };
  }
  const chainCount = r.u16();
  if (chainCount > limits.maxSkippedChains) throw corrupt("more skipped chains than its limits allow");
  const skipped: SkippedChain[] = [];
  let keysLeft = limits.maxSkippedKeys;
  for (let c = 0; c < chainCount; c++) {
    const key = r.lp();
    if (key.length !== 32) throw corrupt("skipped chain key length");
    const count = r.u32();
    if (count > keysLeft) throw corrupt("more skipped keys than its limits allow");
    keysLeft -= count;
    const counters: number[] = [];
    const keys: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const n = r.u32();
      if (i > 0 && n <= counters[i - 1]!) throw corrupt("skipped counters are not ascending");
      counters.push(n);
      keys.push(r.raw(32));
    }
    skipped.push({ key, counters, keys });
  }
  for (const expected of profileInfos(profile)) {
    if (!constantTimeEqual(r.raw(r.u8()), expected)) {
      throw new DoubleRatchetError(
        "INVALID_SESSION",
        "the serialized session was made with other KDF infos than this profile's: pass its profile (createSignalProfile with the same application)",
      );
    }
  }
  r.done();
  const state: RatchetState = {
    profile,
    limits,
    role: (flags & 1) !== 0 ? "responder" : "initiator",
    localIdentityKey,
    remoteIdentityKey,
    associatedData,
    baseKey,
    rootKey,
    dhsPrivate,
    dhsPublic,
    dhr,
    cks,
    ns,
    pn,
    ckr,
    nr,
    skipped,
    pending,
    hks,
    hkr,
    nhks,
    nhkr,
  };
  return newSession(state, generation);
}
