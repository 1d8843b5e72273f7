// Shared setup for the tests (not a test file itself).
import { bytesToHex, createCrypto, type Crypto, type KeyPair } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import { expect } from "vitest";
import {
  acceptSession,
  createInitiatorSession,
  deserializeSession,
  encrypt,
  inspectMessage,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  signal,
  signalHeaderEncrypted,
  type DoubleRatchetError,
  type DoubleRatchetErrorCode,
  type RatchetProfile,
  type Session,
} from "../src/index.js";
import type { RatchetState } from "../src/state.js";
import {
  decodeOmemoAuthenticatedMessage,
  decodeOmemoKeyExchange,
  decodeOmemoMessage,
  decodePreKeySignalMessage,
  decodeSignalHeader,
  decodeSignalKeyExchange,
  decodeSignalMessage,
  SIGNAL_ENCRYPTED_HEADER_LENGTH,
  SIGNAL_HEADER_LENGTH,
} from "../src/wire.js";

export const ALL_PROFILES: readonly RatchetProfile[] = [legacyOmemo, omemo2, signal, signalHeaderEncrypted];
export const profileLabel = (p: RatchetProfile) => (p.headerEncryption ? `${p.name}+header-encryption` : p.name);

export interface Party {
  readonly identity: KeyPair;
  readonly store: InMemoryPreKeyStore;
  readonly bundle: ReturnType<typeof createBundle>;
}

export function makeParty(profile: RatchetProfile, crypto: Crypto, preKeys = 5, firstId = 1): Party {
  const identity = generateIdentityKeyPair(profile.x3dh, crypto);
  const spk = generateSignedPreKey(profile.x3dh, identity, 1, { crypto, now: 0 });
  const opks = generateOneTimePreKeys(firstId, preKeys, crypto);
  return {
    identity,
    store: new InMemoryPreKeyStore([spk], opks),
    bundle: createBundle(profile.x3dh, identity, spk, opks),
  };
}

/** Alice starts, Bob accepts her first message: both sessions ready (Alice still wraps until Bob replies). */
export function establish(
  profile: RatchetProfile,
  seed = "dr",
  crypto: Crypto = createCrypto({ random: deterministicRandom(seed) }),
) {
  const alice = makeParty(profile, crypto);
  const bob = makeParty(profile, crypto);
  let a = createInitiatorSession(profile, alice.identity, bob.bundle, { crypto });
  const first = encrypt(a, new TextEncoder().encode("first"), { crypto });
  a = first.session;
  const accepted = acceptSession(profile, bob.identity, bob.store, first.message, { crypto });
  return { crypto, alice, bob, a, b: accepted.session, first };
}

/**
 * An independent copy of a live session, through serialization: what a second task gets when it
 * loads the same stored record. (A Session is single-use; tests that need one state twice fork it.)
 */
export function fork(session: Session, profile?: RatchetProfile): Session {
  return deserializeSession(serializeSession(session), profile ? { profile } : {});
}

/** Runs `fn` and checks it throws a DoubleRatchetError with `code`; returns the error. */
export function expectCode(fn: () => unknown, code: DoubleRatchetErrorCode): DoubleRatchetError {
  try {
    fn();
  } catch (e) {
    expect(isDoubleRatchetError(e, code), String(e)).toBe(true);
    return e as DoubleRatchetError;
  }
  throw new Error(`expected DoubleRatchetError ${code}, but the call succeeded`);
}

/** Byte offsets of the fields tests rewrite in a serialized session (format version 2, src/serialize.ts). */
export interface SessionLayout {
  readonly generation: number;
  readonly ns: number;
  readonly pn: number;
  readonly nr: number;
  /** maxSkippedKeys, maxForwardJump, maxSkippedChains: three u32 from here. */
  readonly limits: number;
}

export function sessionLayout(bytes: Uint8Array): SessionLayout {
  if (bytes[3] !== 2) throw new Error("sessionLayout reads format version 2");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opt32 = (at: number) => at + 1 + (bytes[at] === 1 ? 32 : 0);
  const generation = 4;
  let at = generation + 8;
  at += 1 + bytes[at]!; // profile name
  at += 1; // flags
  for (let i = 0; i < 4; i++) at += 2 + view.getUint16(at); // local IK, remote IK, AD, base key
  at += 96; // RK, DHs private, DHs public
  at = opt32(opt32(at)); // DHr, CKs
  const ns = at;
  const pn = ns + 4;
  at = opt32(pn + 4); // CKr
  const nr = at;
  at = nr + 4;
  for (let i = 0; i < 4; i++) at = opt32(at); // HKs, HKr, NHKs, NHKr
  return { generation, ns, pn, nr, limits: at };
}

/** A live session serialized with some fields rewritten (crafted states for the limit checks). */
export function rewriteSession(session: Session, edit: (view: DataView, layout: SessionLayout) => void): Uint8Array {
  const bytes = serializeSession(session);
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), sessionLayout(bytes));
  return bytes;
}

/**
 * (ratchet public key, counter) of a message as it leaves `sender` (the session value it was
 * encrypted with): read from the wire, or, with header encryption, from the header decrypted with
 * the sender's header key. Unwraps the key exchange.
 */
export function sentHeader(profile: RatchetProfile, sender: RatchetState, message: Uint8Array): string {
  const inner = sender.pending !== null ? unwrap(profile, message) : message;
  let dh: Uint8Array;
  let n: number;
  if (profile.wire === "libsignal") {
    const f = decodeSignalMessage(inner, profile.macLength).fields;
    dh = f.ratchetKey;
    n = f.counter;
  } else if (profile.wire === "omemo2") {
    const m = decodeOmemoMessage(decodeOmemoAuthenticatedMessage(inner).message);
    dh = m.dhPub;
    n = m.n;
  } else {
    const headerBytes = profile.headerEncryption
      ? createCrypto().xchacha20Poly1305Decrypt(
          sender.hks!,
          inner.subarray(1, 25),
          inner.subarray(25, 1 + SIGNAL_ENCRYPTED_HEADER_LENGTH),
        )
      : inner.subarray(1, 1 + SIGNAL_HEADER_LENGTH);
    const h = decodeSignalHeader(headerBytes);
    dh = h.dh;
    n = h.n;
  }
  return `${bytesToHex(dh)}/${n}`;
}

/** A Crypto that records every AES-CBC (key, IV) it encrypts with, to prove no message key is used twice. */
export function recordingCrypto(seed: string): { crypto: Crypto; encryptions: string[] } {
  const inner = createCrypto({ random: deterministicRandom(seed) });
  const encryptions: string[] = [];
  const crypto: Crypto = {
    ...inner,
    aesCbcEncrypt(key, iv, plaintext) {
      encryptions.push(bytesToHex(key) + bytesToHex(iv));
      return inner.aesCbcEncrypt(key, iv, plaintext);
    },
  };
  return { crypto, encryptions };
}

/**
 * [from, to): the bytes of `message` its MAC covers. All of a plain message (the MAC bytes count:
 * changing them must fail too); of a key exchange, the message inside it, found by its bytes.
 */
export function coveredRange(profile: RatchetProfile, message: Uint8Array): [number, number] {
  let inner: Uint8Array;
  try {
    inner = inspectMessage(profile, message).isKeyExchange ? unwrap(profile, message) : message;
  } catch {
    return [0, message.length];
  }
  if (inner === message) return [0, message.length];
  for (let i = 0; i + inner.length <= message.length; i++) {
    if (inner.every((v, j) => message[i + j] === v)) return [i, i + inner.length];
  }
  throw new Error("the inner message is not inside its key exchange");
}

/** The message inside a key exchange, read with the wire decoders directly (not through inspectMessage). */
export function unwrap(profile: RatchetProfile, message: Uint8Array): Uint8Array {
  return profile.wire === "libsignal"
    ? decodePreKeySignalMessage(message).message
    : profile.wire === "omemo2"
      ? decodeOmemoKeyExchange(message).message
      : decodeSignalKeyExchange(message).message;
}
