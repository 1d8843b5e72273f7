/**
 * The Double Ratchet engine (Perrin & Marlinspike, rev. 1, 2016, §3 and §4) for every profile.
 * Each operation claims its Session (state.ts: a spent one is STALE_SESSION), computes on local
 * copies, and returns the successor only after everything succeeded (commit on success); on any
 * error it gives the claimed session back unchanged.
 */
import {
  concatBytes,
  constantTimeEqual,
  defaultCrypto,
  isCryptoError,
  type Crypto,
  type KeyPair,
} from "@parley/crypto";
import { copyX25519KeyPair } from "@parley/crypto/internal";
import {
  decodePublicKey,
  initiate,
  isX3dhError,
  MAX_PRE_KEY_ID,
  respond,
  type Bundle,
  type InitiatorResult,
  type PreKeyStore,
  type ResponderResult,
} from "@parley/x3dh";
import { malformed, truncatedMac, type Header, type KeyExchangeInfo, type ParsedInner } from "./codecs.js";
import { MAX_COUNTER, MAX_MESSAGE_LENGTH, MAX_PLAINTEXT_LENGTH } from "./consts.js";
import { DoubleRatchetError, type DoubleRatchetErrorCode } from "./errors.js";
import type { Limits, RatchetProfile } from "./profiles.js";
import {
  claim,
  findSkipped,
  macOf,
  newSession,
  nextState,
  release,
  Session,
  successor,
  type PendingKeyExchange,
  type RatchetState,
  type SkippedChain,
} from "./state.js";
import { decodeSignalHeader } from "./wire.js";

const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);
const ZERO_SALT = new Uint8Array(32);
const HE_INIT_INFO_SUFFIX = new TextEncoder().encode(" Header Keys");

/** Options every operation accepts. */
export interface OperationOptions {
  /** Primitives (provider, randomness); `defaultCrypto()` when absent. */
  readonly crypto?: Crypto;
}

/** How to read a message: the XML attribute (`prekey="true"`, `kex="true"`) tells; "auto" looks at the bytes. */
export type MessageKind = "auto" | "message" | "keyExchange";

export interface DecryptOptions extends OperationOptions {
  readonly kind?: MessageKind;
  /**
   * The X25519 key pair to take as our next ratchet key if this message starts a DH ratchet step
   * (§3.5), instead of a fresh one; unused otherwise. For reproducible runs only (test vectors,
   * conformance suites): a real conversation must never reuse a ratchet key. Checked (its public key
   * must be its private key's: INVALID_ARGUMENT) and copied.
   */
  readonly nextRatchetKeyPair?: KeyPair;
}

/** A caller's fixed X25519 key pair (the reproducible-run options), copied and checked, or undefined. */
function chosenKeyPair(crypto: Crypto, keyPair: KeyPair | undefined, name: string): KeyPair | undefined {
  if (keyPair === undefined) return undefined;
  const copy = copyX25519KeyPair((k) => crypto.x25519PublicKey(k), keyPair);
  if (copy === undefined) {
    throw new DoubleRatchetError(
      "INVALID_ARGUMENT",
      `options.${name} must be an X25519 KeyPair whose public key matches`,
    );
  }
  return copy;
}

// ------------------------------------------------------------------ KDFs (§3.1, §4.2, §5.2)

/** KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02). */
function kdfCk(crypto: Crypto, ck: Uint8Array): { ck: Uint8Array; mk: Uint8Array } {
  return { mk: crypto.hmacSha256(ck, ONE), ck: crypto.hmacSha256(ck, TWO) };
}

/** KDF_RK (and KDF_RK_HE): HKDF(salt = rk, ikm = dh_out, info) → rk, ck [, nhk]. */
function kdfRk(
  crypto: Crypto,
  profile: RatchetProfile,
  rk: Uint8Array,
  dhOut: Uint8Array,
): { rk: Uint8Array; ck: Uint8Array; nhk: Uint8Array | null } {
  const he = profile.headerEncryption;
  const out = crypto.hkdfSha256(dhOut, rk, profile.rootInfo, he ? 96 : 64);
  dhOut.fill(0);
  // Views into one buffer: fewer ArrayBuffers per session (idle-session memory is a bench target).
  return { rk: out.subarray(0, 32), ck: out.subarray(32, 64), nhk: he ? out.subarray(64, 96) : null };
}

function ratchetDh(crypto: Crypto, privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return crypto.x25519(privateKey, publicKey);
  } catch (cause) {
    if (isCryptoError(cause)) {
      throw new DoubleRatchetError(
        "MALFORMED_MESSAGE",
        "malformed message: the ratchet key is a low-order or invalid point",
        { cause },
      );
    }
    throw cause;
  }
}

/** ENCRYPT's key material: HKDF(mk, zero salt, info, 80) → enc 32 || auth 32 || iv 16 (§5.2). */
function messageKeyMaterial(crypto: Crypto, profile: RatchetProfile, mk: Uint8Array): Uint8Array {
  return crypto.hkdfSha256(mk, ZERO_SALT, profile.messageKeyInfo, 80);
}

// ------------------------------------------------------------------ header encryption (§4)

function hdecrypt(
  crypto: Crypto,
  hk: Uint8Array | null,
  enc: Uint8Array,
): { dh: Uint8Array; pn: number; n: number } | null {
  if (hk === null) return null;
  try {
    return decodeSignalHeader(crypto.xchacha20Poly1305Decrypt(hk, enc.subarray(0, 24), enc.subarray(24)));
  } catch {
    return null;
  }
}

/** Header-encryption initial keys from SK: HKDF(SK, zero salt, rootInfo || " Header Keys", 96) → RK, HKA, NHKB. */
function headerEncryptionInit(
  crypto: Crypto,
  profile: RatchetProfile,
  sk: Uint8Array,
): { rk: Uint8Array; hka: Uint8Array; nhkb: Uint8Array } {
  const out = crypto.hkdfSha256(sk, ZERO_SALT, concatBytes(profile.rootInfo, HE_INIT_INFO_SUFFIX), 96);
  return { rk: out.slice(0, 32), hka: out.slice(32, 64), nhkb: out.slice(64, 96) };
}

// ------------------------------------------------------------------ parsing (hostile input)

export type { KeyExchangeInfo } from "./codecs.js";

interface Envelope {
  readonly keyExchange: KeyExchangeInfo | null;
  readonly inner: Uint8Array;
}

function parseEnvelope(profile: RatchetProfile, bytes: unknown, kind: MessageKind): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new DoubleRatchetError("INVALID_ARGUMENT", "message must be a Uint8Array");
  if (bytes.length === 0) throw malformed("empty");
  if (bytes.length > MAX_MESSAGE_LENGTH) throw malformed(`longer than ${MAX_MESSAGE_LENGTH} bytes`);
  const isKex = kind === "auto" ? profile.codec.isKeyExchange(bytes) : kind === "keyExchange";
  if (!isKex) return { keyExchange: null, inner: bytes };
  return profile.codec.decodeKeyExchange(bytes);
}

function parseInner(profile: RatchetProfile, bytes: Uint8Array): ParsedInner {
  return profile.codec.decodeMessage(profile, bytes);
}

// ------------------------------------------------------------------ sealing

function seal(
  crypto: Crypto,
  s: RatchetState,
  macPrefix: Uint8Array,
  mk: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const p = s.profile;
  const km = messageKeyMaterial(crypto, p, mk);
  // The 80 bytes of key material live only for this message: zeroed however seal ends.
  try {
    const ciphertext = crypto.aesCbcEncrypt(km.subarray(0, 32), km.subarray(64, 80), plaintext);
    return p.codec.encodeMessage(crypto, s, km.subarray(32, 64), macPrefix, ciphertext);
  } finally {
    km.fill(0);
  }
}

function wrapKeyExchange(profile: RatchetProfile, k: PendingKeyExchange, inner: Uint8Array): Uint8Array {
  return profile.codec.encodeKeyExchange(k, inner);
}

// ------------------------------------------------------------------ encrypt (§3.4, §4.5)

/** The result of {@link encrypt}. */
export interface EncryptResult {
  /** The session to use (and persist) from now on: the one passed in is spent (STALE_SESSION). */
  readonly session: Session;
  /** The wire bytes (the content of an OMEMO `<key>` element). */
  readonly message: Uint8Array;
  /** True when the message is a key exchange (set `prekey="true"` / `kex="true"`). */
  readonly isKeyExchange: boolean;
}

/**
 * RatchetEncrypt: encrypts `plaintext` with the next sending key. Until a reply from the peer has
 * been decrypted, the message is wrapped in the key exchange (PreKeySignalMessage / OMEMOKeyExchange).
 */
export function encrypt(session: Session, plaintext: Uint8Array, options: OperationOptions = {}): EncryptResult {
  if (!(session instanceof Session)) throw new DoubleRatchetError("INVALID_ARGUMENT", "session must be a Session");
  if (!(plaintext instanceof Uint8Array))
    throw new DoubleRatchetError("INVALID_ARGUMENT", "plaintext must be a Uint8Array");
  if (plaintext.length > MAX_PLAINTEXT_LENGTH)
    throw new DoubleRatchetError("INVALID_ARGUMENT", `plaintext is longer than ${MAX_PLAINTEXT_LENGTH} bytes`);
  const crypto = options.crypto ?? defaultCrypto();
  const s = claim(session);
  try {
    if (s.cks === null)
      throw new DoubleRatchetError(
        "INVALID_STATE",
        "this session has no sending chain yet: decrypt the peer's first message first",
      );
    // The counter is 32 bits on the wire and in the serialized session: the chain ends before it wraps.
    if (s.ns >= MAX_COUNTER)
      throw new DoubleRatchetError(
        "INVALID_STATE",
        "the sending chain is exhausted (2^32 − 1 messages): start a new session",
      );
    const step = kdfCk(crypto, s.cks);
    const inner = seal(crypto, s, macOf(session).send, step.mk, plaintext);
    const message = s.pending ? wrapKeyExchange(s.profile, s.pending, inner) : inner;
    const next = nextState(s, {
      rootKey: s.rootKey,
      dhsPrivate: s.dhsPrivate,
      dhsPublic: s.dhsPublic,
      dhr: s.dhr,
      cks: step.ck,
      ns: s.ns + 1,
      pn: s.pn,
      ckr: s.ckr,
      nr: s.nr,
      skipped: s.skipped,
      pending: s.pending,
      hks: s.hks,
      hkr: s.hkr,
      nhks: s.nhks,
      nhkr: s.nhkr,
    });
    return { session: successor(session, next), message, isKeyExchange: s.pending !== null };
  } catch (e) {
    release(session);
    throw e;
  }
}

// ------------------------------------------------------------------ decrypt (§3.5, §4.6)

/** The result of {@link decrypt}. */
export interface DecryptResult {
  /** The session to use (and persist) from now on: the one passed in is spent (STALE_SESSION). */
  readonly session: Session;
  readonly plaintext: Uint8Array;
}

interface NewSkippedKey {
  readonly chain: Uint8Array;
  readonly n: number;
  readonly mk: Uint8Array;
}

/** Constant-time comparison of two keys, either of which may be absent. */
function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a !== null && b !== null && constantTimeEqual(a, b);
}

function duplicate(): DoubleRatchetError {
  return new DoubleRatchetError(
    "DUPLICATE_MESSAGE",
    "this message was already decrypted, or its key was discarded (older than the skipped-key limits); it is not decrypted twice",
  );
}

/** New skipped-key list: removes the used key, records the retired chain, appends new keys, applies the limits. */
function commitSkipped(
  old: readonly SkippedChain[],
  hit: { index: number; at: number } | null,
  retired: Uint8Array | null,
  added: readonly NewSkippedKey[],
  limits: Limits,
): readonly SkippedChain[] {
  if (hit === null && retired === null && added.length === 0) return old;
  const chains: SkippedChain[] = old.slice();
  if (hit !== null) {
    const c = chains[hit.index]!;
    const counters = c.counters.slice();
    const keys = c.keys.slice();
    counters.splice(hit.at, 1);
    keys.splice(hit.at, 1);
    chains[hit.index] = { key: c.key, counters, keys };
  }
  const find = (key: Uint8Array) => chains.findIndex((c) => sameBytes(c.key, key));
  // Keep the retired chain's key (even with no keys) so late duplicates are recognised.
  if (retired !== null && find(retired) < 0) chains.push({ key: retired, counters: [], keys: [] });
  let i = 0;
  while (i < added.length) {
    const chainKey = added[i]!.chain;
    const at = find(chainKey);
    const counters = at >= 0 ? chains[at]!.counters.slice() : [];
    const keys = at >= 0 ? chains[at]!.keys.slice() : [];
    while (i < added.length && added[i]!.chain === chainKey) {
      counters.push(added[i]!.n);
      keys.push(added[i]!.mk);
      i++;
    }
    if (at >= 0) chains[at] = { key: chainKey, counters, keys };
    else chains.push({ key: chainKey, counters, keys });
  }
  while (chains.length > limits.maxSkippedChains) chains.shift();
  let total = 0;
  for (const c of chains) total += c.keys.length;
  // FIFO: drop the oldest keys first (XEP-0384 v0.8.3 §4.3 deletion policy).
  for (let c = 0; total > limits.maxSkippedKeys && c < chains.length; c++) {
    const chain = chains[c]!;
    const drop = Math.min(chain.keys.length, total - limits.maxSkippedKeys);
    if (drop === 0) continue;
    chains[c] = { key: chain.key, counters: chain.counters.slice(drop), keys: chain.keys.slice(drop) };
    total -= drop;
  }
  return chains;
}

/** The receiving chain being advanced by a decryption (a working copy; committed on success). */
interface ReceivingChain {
  ck: Uint8Array | null;
  n: number;
}

/** SkipMessageKeys (§3.5): derives the keys up to `until`, keeping the last maxSkippedKeys of them. */
function skipMessageKeys(
  crypto: Crypto,
  limits: Limits,
  recv: ReceivingChain,
  chain: Uint8Array,
  until: number,
  added: NewSkippedKey[],
): void {
  let ck = recv.ck;
  if (ck === null || recv.n >= until) return;
  if (until - recv.n > limits.maxForwardJump) {
    throw new DoubleRatchetError(
      "TOO_MANY_SKIPPED",
      `the message is ${until - recv.n} keys ahead of its chain; the limit is ${limits.maxForwardJump} (MAX_FORWARD_JUMP)`,
    );
  }
  const storeFrom = until - limits.maxSkippedKeys;
  let n = recv.n;
  while (n < until) {
    const step = kdfCk(crypto, ck);
    if (n >= storeFrom) added.push({ chain, n, mk: step.mk });
    ck = step.ck;
    n++;
  }
  recv.ck = ck;
  recv.n = n;
}

/** Decrypts `innerBytes` with the claimed `session` (state `s`); returns its successor, or throws. */
function decryptInner(
  session: Session,
  s: RatchetState,
  innerBytes: Uint8Array,
  crypto: Crypto,
  nextKeyPair: KeyPair | undefined,
): DecryptResult {
  const p = s.profile;
  const limits = s.limits;
  const he = p.headerEncryption;
  const inner = parseInner(p, innerBytes);

  // Working copies: nothing below touches `s` (commit on success).
  let { rootKey, dhsPrivate, dhsPublic, dhr, cks, ns, pn, hks, hkr, nhks, nhkr } = s;
  const recv: ReceivingChain = { ck: s.ckr, n: s.nr };
  const added: NewSkippedKey[] = [];
  let hit: { index: number; at: number } | null = null;
  let retired: Uint8Array | null = null;
  let mk: Uint8Array | null = null;
  let header: Header | null = inner.header;
  let dhRatchet = false;

  // TrySkippedMessageKeys (§3.5 / §4.6).
  for (let index = 0; index < s.skipped.length; index++) {
    const chain = s.skipped[index]!;
    const h = he
      ? hdecrypt(crypto, chain.key, inner.encryptedHeader!)
      : sameBytes(chain.key, header!.dh)
        ? header
        : null;
    if (h === null) continue;
    header = h;
    const at = findSkipped(chain, h.n);
    if (at >= 0) {
      mk = chain.keys[at]!;
      hit = { index, at };
    } else if (!sameBytes(chain.key, he ? hkr : dhr)) {
      throw duplicate();
    }
    break;
  }

  if (mk === null) {
    if (he) {
      // DecryptHeader (§4.6): the current receiving header key, else the next one (a DH ratchet step).
      if (header === null) {
        header = hdecrypt(crypto, hkr, inner.encryptedHeader!);
        if (header === null) {
          header = hdecrypt(crypto, nhkr, inner.encryptedHeader!);
          if (header === null)
            throw new DoubleRatchetError(
              "BAD_MAC",
              "authentication failed: the header does not decrypt under any receiving header key",
            );
          dhRatchet = true;
        }
      } else {
        dhRatchet = false; // decrypted by the current chain's header key in the skipped loop
      }
    } else {
      dhRatchet = dhr === null || !sameBytes(header!.dh, dhr);
    }
    const h = header!;
    // Nr becomes N + 1 below and must stay a 32-bit counter; no sender reaches N = 2^32 − 1 (encrypt).
    if (h.n >= MAX_COUNTER) throw malformed("the message counter is 2^32 − 1");
    if (dhRatchet) {
      // SkipMessageKeys(state, header.pn), then DHRatchet (§3.5). libsignal's PN is the last index.
      const until = p.previousCounter === "lastIndex" ? h.pn + 1 : h.pn;
      skipMessageKeys(crypto, limits, recv, (he ? hkr : dhr)!, until, added);
      retired = he ? hkr : dhr;
      pn = ns;
      ns = 0;
      recv.n = 0;
      if (he) {
        hks = nhks;
        hkr = nhkr;
      }
      dhr = h.dh;
      const received = kdfRk(crypto, p, rootKey, ratchetDh(crypto, dhsPrivate, dhr));
      recv.ck = received.ck;
      if (he) nhkr = received.nhk;
      const next: KeyPair = nextKeyPair ?? crypto.generateX25519KeyPair();
      dhsPrivate = next.privateKey;
      dhsPublic = next.publicKey;
      const send = kdfRk(crypto, p, received.rk, ratchetDh(crypto, dhsPrivate, dhr));
      rootKey = send.rk;
      cks = send.ck;
      if (he) nhks = send.nhk;
    } else if (h.n < recv.n) {
      throw duplicate();
    }
    skipMessageKeys(crypto, limits, recv, (he ? hkr : dhr)!, h.n, added);
    const step = kdfCk(crypto, recv.ck!);
    mk = step.mk;
    recv.ck = step.ck;
    recv.n = h.n + 1;
  }

  // Authenticate, then decrypt (§5.2: HMAC over AD || header-bearing bytes).
  const km = messageKeyMaterial(crypto, p, mk);
  let plaintext: Uint8Array;
  try {
    const expected = truncatedMac(crypto, p, km.subarray(32, 64), macOf(session).receive, inner.authenticated);
    if (!crypto.constantTimeEqual(expected, inner.mac)) {
      throw new DoubleRatchetError(
        "BAD_MAC",
        "authentication failed: the MAC does not match (wrong session, wrong identity keys or a tampered message)",
      );
    }
    try {
      plaintext = crypto.aesCbcDecrypt(km.subarray(0, 32), km.subarray(64, 80), inner.ciphertext);
    } catch (cause) {
      throw new DoubleRatchetError(
        "BAD_MAC",
        "decryption failed after authentication: invalid padding (a broken sender)",
        { cause },
      );
    }
  } finally {
    km.fill(0); // per-message key material, never stored
  }

  const next = nextState(s, {
    rootKey,
    dhsPrivate,
    dhsPublic,
    dhr,
    cks,
    ns,
    pn,
    ckr: recv.ck,
    nr: recv.n,
    hks,
    hkr,
    nhks,
    nhkr,
    skipped: commitSkipped(s.skipped, hit, retired, added, limits),
    // A reply decrypted: the peer has the session, stop repeating the key exchange
    // (docs/libsignal-wire-format.md §2.2).
    pending: null,
  });
  return { session: successor(session, next), plaintext };
}

/**
 * RatchetDecrypt: authenticates and decrypts a message of this session (a key-exchange message is
 * accepted when its base key is this session's). On any error the session passed in is unchanged.
 */
export function decrypt(session: Session, message: Uint8Array, options: DecryptOptions = {}): DecryptResult {
  if (!(session instanceof Session)) throw new DoubleRatchetError("INVALID_ARGUMENT", "session must be a Session");
  const crypto = options.crypto ?? defaultCrypto();
  const nextKeyPair = chosenKeyPair(crypto, options.nextRatchetKeyPair, "nextRatchetKeyPair");
  const s = claim(session);
  try {
    const envelope = parseEnvelope(s.profile, message, options.kind ?? "auto");
    if (envelope.keyExchange !== null && !sameBytes(envelope.keyExchange.ephemeralKey, s.baseKey)) {
      throw new DoubleRatchetError(
        "KEY_EXCHANGE_MISMATCH",
        "this key-exchange message starts a different session (its base key is not this session's): use acceptSession",
      );
    }
    return decryptInner(session, s, envelope.inner, crypto, nextKeyPair);
  } catch (e) {
    release(session);
    throw e;
  }
}

// ------------------------------------------------------------------ session creation (§3.3, §4.4, §5.1)

export interface InitiatorOptions extends OperationOptions {
  /** Pick this one-time prekey from the bundle instead of a random one. */
  readonly oneTimePreKeyId?: number;
  /** libsignal registration id written into PreKeySignalMessage (legacy only; informational). */
  readonly registrationId?: number;
  /**
   * Reproducible runs only (test vectors, conformance suites; a real conversation must never reuse
   * these): X3DH's ephemeral key EK_A ({@link createInitiatorSession}; see @parley/x3dh's
   * `InitiateOptions.ephemeralKeyPair`) and our first ratchet key, instead of fresh ones. Each is
   * checked (INVALID_ARGUMENT unless its public key is its private key's) and copied.
   */
  readonly ephemeralKeyPair?: KeyPair;
  readonly ratchetKeyPair?: KeyPair;
}

/** {@link acceptSession}'s options: `nextRatchetKeyPair` fixes the ratchet key its first message's DH step takes. */
export type AcceptOptions = OperationOptions & Pick<DecryptOptions, "nextRatchetKeyPair">;

/** RatchetInitAlice (§3.3 / §4.4) from an X3DH initiator result. */
export function initiatorSessionFromAgreement(
  profile: RatchetProfile,
  x: InitiatorResult,
  options: InitiatorOptions = {},
): Session {
  const crypto = options.crypto ?? defaultCrypto();
  let spk: Uint8Array;
  try {
    spk = decodePublicKey(profile.x3dh, x.signedPreKey, "signed prekey");
  } catch (cause) {
    throw new DoubleRatchetError("INVALID_ARGUMENT", "the agreement's signedPreKey is not a key of this profile", {
      cause,
    });
  }
  const chosen = chosenKeyPair(crypto, options.ratchetKeyPair, "ratchetKeyPair");
  const he = profile.headerEncryption ? headerEncryptionInit(crypto, profile, x.sharedSecret) : null;
  const dhs = chosen ?? crypto.generateX25519KeyPair();
  const first = kdfRk(crypto, profile, he ? he.rk : x.sharedSecret, ratchetDh(crypto, dhs.privateKey, spk));
  return newSession({
    profile,
    limits: profile.limits,
    role: "initiator",
    localIdentityKey: x.identityKey,
    remoteIdentityKey: x.theirIdentityKey,
    associatedData: x.associatedData,
    baseKey: x.ephemeralKey,
    rootKey: first.rk,
    dhsPrivate: dhs.privateKey,
    dhsPublic: dhs.publicKey,
    dhr: spk,
    cks: first.ck,
    ns: 0,
    pn: 0,
    ckr: null,
    nr: 0,
    skipped: [],
    pending: {
      oneTimePreKeyId: x.oneTimePreKeyId,
      signedPreKeyId: x.signedPreKeyId,
      ephemeralKey: x.ephemeralKey,
      identityKey: x.identityKey,
      registrationId: options.registrationId,
    },
    hks: he ? he.hka : null,
    hkr: null,
    nhks: first.nhk,
    nhkr: he ? he.nhkb : null,
  });
}

/** RatchetInitBob (§3.3 / §4.4) from an X3DH responder result: Bob's signed prekey is his first ratchet key pair. */
export function responderSessionFromAgreement(
  profile: RatchetProfile,
  x: ResponderResult,
  options: OperationOptions = {},
): Session {
  const crypto = options.crypto ?? defaultCrypto();
  const he = profile.headerEncryption ? headerEncryptionInit(crypto, profile, x.sharedSecret) : null;
  return newSession({
    profile,
    limits: profile.limits,
    role: "responder",
    localIdentityKey: x.identityKey,
    remoteIdentityKey: x.theirIdentityKey,
    associatedData: x.associatedData,
    baseKey: x.ephemeralKey,
    rootKey: he ? he.rk : x.sharedSecret,
    dhsPrivate: x.signedPreKey.keyPair.privateKey,
    dhsPublic: x.signedPreKey.keyPair.publicKey,
    dhr: null,
    cks: null,
    ns: 0,
    pn: 0,
    ckr: null,
    nr: 0,
    skipped: [],
    pending: null,
    hks: null,
    hkr: null,
    nhks: he ? he.nhkb : null,
    nhkr: he ? he.hka : null,
  });
}

/**
 * Starts a session with a peer from their bundle: X3DH as initiator (the signed prekey's signature
 * is always verified), then RatchetInitAlice. The first `encrypt` gives the key-exchange message.
 */
export function createInitiatorSession(
  profile: RatchetProfile,
  ourIdentity: KeyPair,
  theirBundle: Bundle,
  options: InitiatorOptions = {},
): Session {
  let x: InitiatorResult;
  try {
    x = initiate(profile.x3dh, ourIdentity, theirBundle, {
      ...(options.crypto ? { crypto: options.crypto } : {}),
      ...(options.oneTimePreKeyId !== undefined ? { oneTimePreKeyId: options.oneTimePreKeyId } : {}),
      ...(options.ephemeralKeyPair !== undefined ? { ephemeralKeyPair: options.ephemeralKeyPair } : {}),
    });
  } catch (cause) {
    rethrowFromX3dh(cause, "bundle");
  }
  return initiatorSessionFromAgreement(profile, x, options);
}

/** The result of {@link acceptSession}. */
export interface AcceptResult extends DecryptResult {
  /** The X3DH fields of the key exchange (the peer's identity key: check trust before using the plaintext). */
  readonly keyExchange: KeyExchangeInfo;
}

/**
 * Builds the responder's session from a key-exchange message: X3DH as responder with our prekeys,
 * RatchetInitBob, then decrypts the message. The one-time prekey is removed from `store` only after
 * the message authenticated (exactly once; a replay then fails with UNKNOWN_PRE_KEY).
 * Throws only DoubleRatchetError (README "Errors" lists the codes); key-agreement failures keep
 * @parley/x3dh's error as `cause`.
 */
export function acceptSession(
  profile: RatchetProfile,
  ourIdentity: KeyPair,
  store: PreKeyStore,
  message: Uint8Array,
  options: AcceptOptions = {},
): AcceptResult {
  const crypto = options.crypto ?? defaultCrypto();
  const nextKeyPair = chosenKeyPair(crypto, options.nextRatchetKeyPair, "nextRatchetKeyPair");
  const envelope = parseEnvelope(profile, message, "keyExchange");
  const k = envelope.keyExchange!;
  // Ids on the wire are 32-bit; ids we publish are at most MAX_PRE_KEY_ID, so a larger one is not ours.
  if (k.signedPreKeyId > MAX_PRE_KEY_ID)
    throw new DoubleRatchetError("UNKNOWN_SIGNED_PRE_KEY", `no signed prekey with id ${k.signedPreKeyId}`);
  if (k.oneTimePreKeyId !== undefined && k.oneTimePreKeyId > MAX_PRE_KEY_ID)
    throw new DoubleRatchetError("UNKNOWN_PRE_KEY", `no one-time prekey with id ${k.oneTimePreKeyId}`);
  let x: ResponderResult;
  try {
    x = respond(
      profile.x3dh,
      ourIdentity,
      store,
      {
        identityKey: k.identityKey,
        ephemeralKey: k.ephemeralKey,
        signedPreKeyId: k.signedPreKeyId,
        oneTimePreKeyId: k.oneTimePreKeyId,
      },
      { crypto, consumeOneTimePreKey: false },
    );
  } catch (cause) {
    rethrowFromX3dh(cause, "keyExchange");
  }
  const fresh = responderSessionFromAgreement(profile, x, options);
  const result = decryptInner(fresh, claim(fresh), envelope.inner, crypto, nextKeyPair);
  if (x.oneTimePreKeyId !== undefined) store.removeOneTimePreKey(x.oneTimePreKeyId);
  return { ...result, keyExchange: k };
}

/**
 * @parley/x3dh's error as this package's, so one `catch` handles every failure of a Double Ratchet
 * call. Codes the two packages share keep their name; a bad key is the bundle's fault when we
 * initiate and the message's when we accept. Anything else (a PreKeyStore's own error) passes through.
 */
function rethrowFromX3dh(cause: unknown, source: "bundle" | "keyExchange"): never {
  if (!isX3dhError(cause)) throw cause;
  let code: DoubleRatchetErrorCode;
  switch (cause.code) {
    case "MALFORMED_KEY":
    case "LOW_ORDER_POINT":
      code = source === "bundle" ? "INVALID_BUNDLE" : "MALFORMED_MESSAGE";
      break;
    default:
      code = cause.code;
  }
  throw new DoubleRatchetError(code, cause.message, { cause });
}

/** A ratchet message's header as sent (unauthenticated until the message is decrypted). */
export interface RatchetHeaderInfo {
  /** The sender's current ratchet public key: 32 bytes of X25519 (without libsignal's 0x05 type byte). */
  readonly ratchetKey: Uint8Array;
  /** Messages in the sender's previous sending chain (libsignal `previousCounter`, OMEMO 2 `pn`). */
  readonly previousCounter: number;
  /** This message's number in its chain (libsignal `counter`, OMEMO 2 `n`). */
  readonly counter: number;
}

/** What a message says about itself before decryption (for routing: new session or existing one). */
export interface MessageInfo {
  readonly isKeyExchange: boolean;
  /** Present for key-exchange messages. */
  readonly keyExchange: KeyExchangeInfo | null;
  /**
   * The authenticated ratchet message: for a key exchange, the one it carries (a PreKeyWhisperMessage's
   * WhisperMessage, an OMEMOKeyExchange's OMEMOAuthenticatedMessage, with its MAC); otherwise the
   * message itself. A copy.
   */
  readonly message: Uint8Array;
  /** Its header, or null when the profile encrypts headers. */
  readonly header: RatchetHeaderInfo | null;
}

/** Parses a message's envelope without decrypting it; throws MALFORMED_MESSAGE. */
export function inspectMessage(profile: RatchetProfile, message: Uint8Array, kind: MessageKind = "auto"): MessageInfo {
  const e = parseEnvelope(profile, message, kind);
  const inner = parseInner(profile, e.inner);
  const h = inner.header;
  return {
    isKeyExchange: e.keyExchange !== null,
    keyExchange: e.keyExchange,
    message: e.inner.slice(),
    header: h === null ? null : { ratchetKey: h.dh.slice(), previousCounter: h.pn, counter: h.n },
  };
}
