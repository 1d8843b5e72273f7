/**
 * The payload ciphers: what is encrypted once per message, while the Double Ratchet carries its key
 * to every device.
 *
 * Legacy (XEP-0384 v0.3.0 §4.5, docs/libsignal-wire-format.md §5): AES-128-GCM, a 12-byte IV in
 * `<iv>`, the payload without its tag; the ratchet carries key(16) || tag(16).
 * OMEMO 2 (v0.8.3 §4.4): 32 random bytes → HKDF-SHA-256(salt 32 zero bytes, info "OMEMO Payload",
 * 80 bytes) → AES-256-CBC key, HMAC key, IV; HMAC-SHA-256 over the ciphertext truncated to 16 bytes;
 * the ratchet carries key(32) || mac(16).
 */
import { concatBytes, defaultCrypto, isCryptoError, type Crypto } from "@parley/crypto";
import { OmemoError } from "../errors.js";
import {
  GCM_TAG_BYTES,
  LEGACY_IV_BYTES,
  LEGACY_PAYLOAD_KEY_BYTES,
  V2_PAYLOAD_INFO,
  V2_PAYLOAD_KEY_BYTES,
  V2_PAYLOAD_MAC_BYTES,
} from "./consts.js";

const ZERO_SALT = new Uint8Array(32);
const PAYLOAD_INFO = new TextEncoder().encode(V2_PAYLOAD_INFO);

function failed(what: string, cause?: unknown): OmemoError {
  return new OmemoError("DECRYPTION_FAILED", `the payload does not decrypt: ${what}`, cause ? { cause } : undefined);
}

export interface LegacySealed {
  readonly iv: Uint8Array;
  readonly payload: Uint8Array;
  /** key(16) || tag(16): what the ratchet encrypts for each device. */
  readonly keyMaterial: Uint8Array;
}

export function sealLegacy(crypto: Crypto, plaintext: Uint8Array): LegacySealed {
  const key = crypto.randomBytes(LEGACY_PAYLOAD_KEY_BYTES);
  const iv = crypto.randomBytes(LEGACY_IV_BYTES);
  const sealed = crypto.aesGcmEncrypt(key, iv, plaintext);
  const cut = sealed.length - GCM_TAG_BYTES;
  return { iv, payload: sealed.slice(0, cut), keyMaterial: concatBytes(key, sealed.subarray(cut)) };
}

/**
 * Opens a legacy payload. Key material of 32 bytes is key || tag (v0.3.0, python-oldmemo,
 * Conversations); 16 bytes is a key alone with the tag still at the end of the payload, as early
 * Conversations versions sent it.
 */
export function openLegacy(crypto: Crypto, keyMaterial: Uint8Array, iv: Uint8Array, payload: Uint8Array): Uint8Array {
  let key: Uint8Array;
  let sealed: Uint8Array;
  if (keyMaterial.length === LEGACY_PAYLOAD_KEY_BYTES + GCM_TAG_BYTES) {
    key = keyMaterial.subarray(0, LEGACY_PAYLOAD_KEY_BYTES);
    sealed = concatBytes(payload, keyMaterial.subarray(LEGACY_PAYLOAD_KEY_BYTES));
  } else if (keyMaterial.length === LEGACY_PAYLOAD_KEY_BYTES) {
    key = keyMaterial;
    sealed = payload;
  } else {
    throw failed(`legacy key material must be 16 or 32 bytes, got ${keyMaterial.length}`);
  }
  try {
    return crypto.aesGcmDecrypt(key, iv, sealed);
  } catch (cause) {
    if (isCryptoError(cause)) throw failed("the AES-GCM tag is invalid", cause);
    throw cause;
  }
}

export interface V2Sealed {
  readonly payload: Uint8Array;
  /** key(32) || mac(16). */
  readonly keyMaterial: Uint8Array;
}

function payloadKeys(crypto: Crypto, key: Uint8Array): { enc: Uint8Array; auth: Uint8Array; iv: Uint8Array } {
  const out = crypto.hkdfSha256(key, ZERO_SALT, PAYLOAD_INFO, 80);
  return { enc: out.subarray(0, 32), auth: out.subarray(32, 64), iv: out.subarray(64, 80) };
}

export function sealV2(crypto: Crypto, plaintext: Uint8Array): V2Sealed {
  const key = crypto.randomBytes(V2_PAYLOAD_KEY_BYTES);
  const k = payloadKeys(crypto, key);
  const payload = crypto.aesCbcEncrypt(k.enc, k.iv, plaintext);
  const mac = crypto.hmacSha256(k.auth, payload).subarray(0, V2_PAYLOAD_MAC_BYTES);
  return { payload, keyMaterial: concatBytes(key, mac) };
}

/** v0.8.3 §4.5: verify the truncated HMAC first, then decrypt (no padding oracle). */
export function openV2(crypto: Crypto, keyMaterial: Uint8Array, payload: Uint8Array): Uint8Array {
  if (keyMaterial.length !== V2_PAYLOAD_KEY_BYTES + V2_PAYLOAD_MAC_BYTES) {
    throw failed(`OMEMO 2 key material must be 48 bytes, got ${keyMaterial.length}`);
  }
  const k = payloadKeys(crypto, keyMaterial.subarray(0, V2_PAYLOAD_KEY_BYTES));
  const mac = crypto.hmacSha256(k.auth, payload).subarray(0, V2_PAYLOAD_MAC_BYTES);
  if (!crypto.constantTimeEqual(mac, keyMaterial.subarray(V2_PAYLOAD_KEY_BYTES))) throw failed("the HMAC is invalid");
  try {
    return crypto.aesCbcDecrypt(k.enc, k.iv, payload);
  } catch (cause) {
    if (isCryptoError(cause)) throw failed("the AES-CBC padding is invalid", cause);
    throw cause;
  }
}

/** Options of the public payload openers. */
export interface OpenPayloadOptions {
  /** The crypto provider (default: @parley/crypto's default). */
  readonly crypto?: Crypto;
}

/**
 * Opens a legacy OMEMO payload (`<payload>`, with the `<iv>` of the same message) with the key material
 * the Double Ratchet delivered from this device's `<key>`: key(16) ‖ tag(16), or a 16-byte key alone
 * with the tag still at the end of the payload (early Conversations). For tools that hold the ratchet
 * themselves (test vectors, archive importers); the session manager does this inside `decrypt`.
 * Throws DECRYPTION_FAILED when the tag does not verify or the key material has another length.
 */
export function openLegacyPayload(
  keyMaterial: Uint8Array,
  iv: Uint8Array,
  payload: Uint8Array,
  options: OpenPayloadOptions = {},
): Uint8Array {
  return openLegacy(options.crypto ?? defaultCrypto(), keyMaterial, iv, payload);
}

/**
 * Opens an OMEMO 2 payload with the 48 bytes of key material (key(32) ‖ HMAC(16)) the Double Ratchet
 * delivered: the HMAC is checked before anything is decrypted. The result is the XEP-0420 envelope's
 * bytes (decode them with `decodeEnvelope`). Throws DECRYPTION_FAILED on a wrong HMAC, padding or length.
 */
export function openV2Payload(
  keyMaterial: Uint8Array,
  payload: Uint8Array,
  options: OpenPayloadOptions = {},
): Uint8Array {
  return openV2(options.crypto ?? defaultCrypto(), keyMaterial, payload);
}
