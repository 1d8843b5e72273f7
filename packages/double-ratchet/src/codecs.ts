/**
 * One wire codec per profile (`profile.codec`): how a profile's messages and key exchanges are
 * written and read. ratchet.ts calls through the profile and imports no codec itself, so a bundle
 * that imports only `legacyOmemo` carries only the libsignal codec (issue 17, tree-shaking).
 */
import { concatBytes, type Crypto } from "@parley/crypto";
import { decodePublicKey, encodePublicKey } from "@parley/x3dh";
import { DoubleRatchetError } from "./errors.js";
import type { RatchetProfile } from "./profiles.js";
import type { PendingKeyExchange, RatchetState } from "./state.js";
import {
  SIGNAL_ENCRYPTED_HEADER_LENGTH,
  SIGNAL_HEADER_LENGTH,
  SIGNAL_TYPE_KEY_EXCHANGE,
  SIGNAL_TYPE_MESSAGE,
  decodeOmemoAuthenticatedMessage,
  decodeOmemoKeyExchange,
  decodeOmemoMessage,
  decodePreKeySignalMessage,
  decodeSignalHeader,
  decodeSignalKeyExchange,
  decodeSignalMessage,
  encodeOmemoAuthenticatedWith,
  encodeOmemoKeyExchange,
  encodePreKeySignalMessage,
  encodeSignalHeader,
  encodeSignalKeyExchange,
  signalMessageLength,
  writeSignalMessage,
} from "./wire.js";

/** The X3DH part of a key-exchange message, profile-encoded keys. */
export interface KeyExchangeInfo {
  readonly identityKey: Uint8Array;
  readonly ephemeralKey: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId: number | undefined;
  readonly registrationId: number | undefined;
}

/** @internal A ratchet header as read from a message. */
export interface Header {
  readonly dh: Uint8Array;
  readonly pn: number;
  readonly n: number;
}

/** @internal A parsed (not yet authenticated) message. */
export interface ParsedInner {
  /** Null with header encryption until decrypted. */
  readonly header: Header | null;
  readonly encryptedHeader: Uint8Array | null;
  readonly ciphertext: Uint8Array;
  readonly mac: Uint8Array;
  /** The bytes the MAC covers after the identity prefix. */
  readonly authenticated: Uint8Array;
}

/**
 * A profile's wire format (`RatchetProfile.codec`). Its members are internal to this package: a
 * profile gets its codec from the built-in profiles (`withLimits` and `createSignalProfile` keep it).
 */
export interface WireCodec {
  /** @internal Whether a non-empty message is a key exchange (`kind: "auto"`). */
  readonly isKeyExchange: (bytes: Uint8Array) => boolean;
  /** @internal Reads a key exchange: its X3DH part and the inner message. */
  readonly decodeKeyExchange: (bytes: Uint8Array) => { keyExchange: KeyExchangeInfo; inner: Uint8Array };
  /** @internal Wraps an inner message in the key exchange. */
  readonly encodeKeyExchange: (k: PendingKeyExchange, inner: Uint8Array) => Uint8Array;
  /** @internal Reads a message (hostile input). */
  readonly decodeMessage: (profile: RatchetProfile, bytes: Uint8Array) => ParsedInner;
  /** @internal Writes a message: header, ciphertext and the MAC over macPrefix || body. */
  readonly encodeMessage: (
    crypto: Crypto,
    s: RatchetState,
    macKey: Uint8Array,
    macPrefix: Uint8Array,
    ciphertext: Uint8Array,
  ) => Uint8Array;
}

// ------------------------------------------------------------------ helpers shared with ratchet.ts

/** @internal */
export function malformed(what: string): DoubleRatchetError {
  return new DoubleRatchetError("MALFORMED_MESSAGE", `malformed message: ${what}`);
}

/** @internal The MAC over prefix || body (identity keys, version byte, message), truncated as the profile says. */
export function truncatedMac(
  crypto: Crypto,
  profile: RatchetProfile,
  macKey: Uint8Array,
  prefix: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  const full = crypto.hmacSha256(macKey, [prefix, body]);
  return profile.macLength === 32 ? full : full.subarray(0, profile.macLength);
}

function ratchetKeyFromWire(profile: RatchetProfile, encoded: Uint8Array): Uint8Array {
  try {
    return decodePublicKey(profile.x3dh, encoded, "ratchet key");
  } catch {
    throw malformed(
      `the ratchet key is not a ${profile.x3dh.keyEncoding === "raw" ? "32-byte" : "33-byte 0x05-prefixed"} key`,
    );
  }
}

function checkCiphertext(ciphertext: Uint8Array): void {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0)
    throw malformed("the ciphertext is not a positive multiple of 16 bytes");
}

function hencrypt(crypto: Crypto, hk: Uint8Array, header: Uint8Array): Uint8Array {
  // XChaCha20-Poly1305 with a random 192-bit nonce: §4.2 asks for >= 128 random bits when hk repeats.
  const nonce = crypto.randomBytes(24);
  return concatBytes(nonce, crypto.xchacha20Poly1305Encrypt(hk, nonce, header));
}

// ------------------------------------------------------------------ libsignal v3 (legacy OMEMO)

/** @internal 0x33 || SignalMessage || mac8, PreKeySignalMessage (docs/libsignal-wire-format.md §2). */
export const libsignalCodec: WireCodec = /* @__PURE__ */ Object.freeze({
  // SignalMessage's first field is ratchetKey (tag 0x0A); PreKeySignalMessage starts with 0x08 or 0x12.
  isKeyExchange: (bytes: Uint8Array) => bytes.length > 1 && bytes[1] !== 0x0a,
  decodeKeyExchange(bytes: Uint8Array) {
    const m = decodePreKeySignalMessage(bytes);
    return {
      keyExchange: {
        identityKey: m.identityKey,
        ephemeralKey: m.baseKey,
        signedPreKeyId: m.signedPreKeyId,
        oneTimePreKeyId: m.preKeyId,
        registrationId: m.registrationId,
      },
      inner: m.message,
    };
  },
  encodeKeyExchange: (k: PendingKeyExchange, inner: Uint8Array) =>
    encodePreKeySignalMessage({
      preKeyId: k.oneTimePreKeyId,
      baseKey: k.ephemeralKey,
      identityKey: k.identityKey,
      message: inner,
      registrationId: k.registrationId,
      signedPreKeyId: k.signedPreKeyId,
    }),
  decodeMessage(profile: RatchetProfile, bytes: Uint8Array): ParsedInner {
    const { fields, authenticated, mac } = decodeSignalMessage(bytes, profile.macLength);
    checkCiphertext(fields.ciphertext);
    return {
      header: { dh: ratchetKeyFromWire(profile, fields.ratchetKey), pn: fields.previousCounter, n: fields.counter },
      encryptedHeader: null,
      ciphertext: fields.ciphertext,
      mac,
      authenticated,
    };
  },
  encodeMessage(crypto: Crypto, s: RatchetState, macKey: Uint8Array, macPrefix: Uint8Array, ciphertext: Uint8Array) {
    const p = s.profile;
    // The body is written once, straight into the output, and the MAC appended behind it.
    const fields = {
      ratchetKey: encodePublicKey(p.x3dh, s.dhsPublic),
      counter: s.ns,
      previousCounter: s.pn,
      ciphertext,
    };
    const length = signalMessageLength(fields);
    const out = new Uint8Array(length + p.macLength);
    writeSignalMessage(fields, out, 0);
    out.set(truncatedMac(crypto, p, macKey, macPrefix, out.subarray(0, length)), length);
    return out;
  },
});

// ------------------------------------------------------------------ OMEMO 2

/** @internal OMEMOAuthenticatedMessage and OMEMOKeyExchange (XEP-0384 v0.8.3 §4.3, proto/OMEMO2.proto). */
export const omemo2Codec: WireCodec = /* @__PURE__ */ Object.freeze({
  // OMEMOAuthenticatedMessage starts with mac (0x0A); OMEMOKeyExchange with pk_id (0x08).
  isKeyExchange: (bytes: Uint8Array) => bytes.length > 0 && bytes[0] !== 0x0a,
  decodeKeyExchange(bytes: Uint8Array) {
    const m = decodeOmemoKeyExchange(bytes);
    return {
      keyExchange: {
        identityKey: m.ik,
        ephemeralKey: m.ek,
        signedPreKeyId: m.spkId,
        oneTimePreKeyId: m.pkId,
        registrationId: undefined,
      },
      inner: m.message,
    };
  },
  encodeKeyExchange: (k: PendingKeyExchange, inner: Uint8Array) =>
    encodeOmemoKeyExchange({
      pkId: k.oneTimePreKeyId!,
      spkId: k.signedPreKeyId,
      ik: k.identityKey,
      ek: k.ephemeralKey,
      message: inner,
    }),
  decodeMessage(profile: RatchetProfile, bytes: Uint8Array): ParsedInner {
    const outer = decodeOmemoAuthenticatedMessage(bytes);
    if (outer.mac.length !== profile.macLength) throw malformed(`the MAC must be ${profile.macLength} bytes`);
    const m = decodeOmemoMessage(outer.message);
    checkCiphertext(m.ciphertext);
    return {
      header: { dh: ratchetKeyFromWire(profile, m.dhPub), pn: m.pn, n: m.n },
      encryptedHeader: null,
      ciphertext: m.ciphertext,
      mac: outer.mac,
      authenticated: outer.message,
    };
  },
  encodeMessage(crypto: Crypto, s: RatchetState, macKey: Uint8Array, macPrefix: Uint8Array, ciphertext: Uint8Array) {
    // One buffer: the OMEMOMessage written in place, its MAC in front of it.
    return encodeOmemoAuthenticatedWith(
      { n: s.ns, pn: s.pn, dhPub: s.dhsPublic, ciphertext },
      s.profile.macLength,
      (body) => truncatedMac(crypto, s.profile, macKey, macPrefix, body),
    );
  },
});

// ------------------------------------------------------------------ signal profile (Parley's own layout)

/** @internal Parley's binary layout (README "Wire format of the signal profile"), optional header encryption. */
export const signalCodec: WireCodec = /* @__PURE__ */ Object.freeze({
  isKeyExchange: (bytes: Uint8Array) => bytes[0] === SIGNAL_TYPE_KEY_EXCHANGE,
  decodeKeyExchange(bytes: Uint8Array) {
    const m = decodeSignalKeyExchange(bytes);
    return {
      keyExchange: {
        identityKey: m.identityKey,
        ephemeralKey: m.ephemeralKey,
        signedPreKeyId: m.signedPreKeyId,
        oneTimePreKeyId: m.oneTimePreKeyId,
        registrationId: undefined,
      },
      inner: m.message,
    };
  },
  encodeKeyExchange: (k: PendingKeyExchange, inner: Uint8Array) =>
    encodeSignalKeyExchange({
      identityKey: k.identityKey,
      ephemeralKey: k.ephemeralKey,
      signedPreKeyId: k.signedPreKeyId,
      oneTimePreKeyId: k.oneTimePreKeyId,
      message: inner,
    }),
  decodeMessage(profile: RatchetProfile, bytes: Uint8Array): ParsedInner {
    const headerLength = profile.headerEncryption ? SIGNAL_ENCRYPTED_HEADER_LENGTH : SIGNAL_HEADER_LENGTH;
    if (bytes[0] !== SIGNAL_TYPE_MESSAGE) throw malformed("unknown message type byte");
    if (bytes.length < 1 + headerLength + 16 + profile.macLength) throw malformed("too short");
    const macStart = bytes.length - profile.macLength;
    const headerBytes = bytes.subarray(1, 1 + headerLength);
    const ciphertext = bytes.subarray(1 + headerLength, macStart);
    checkCiphertext(ciphertext);
    return {
      header: profile.headerEncryption ? null : decodeSignalHeader(headerBytes),
      encryptedHeader: profile.headerEncryption ? headerBytes : null,
      ciphertext,
      mac: bytes.subarray(macStart),
      authenticated: bytes.subarray(0, macStart),
    };
  },
  encodeMessage(crypto: Crypto, s: RatchetState, macKey: Uint8Array, macPrefix: Uint8Array, ciphertext: Uint8Array) {
    const p = s.profile;
    const header = encodeSignalHeader(s.dhsPublic, s.pn, s.ns);
    const body = concatBytes(
      Uint8Array.of(SIGNAL_TYPE_MESSAGE),
      p.headerEncryption ? hencrypt(crypto, s.hks!, header) : header,
      ciphertext,
    );
    return concatBytes(body, truncatedMac(crypto, p, macKey, macPrefix, body));
  },
});
