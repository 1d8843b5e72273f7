/**
 * The keys OTR derives from one D-H pair, as a pure function (test vectors, transcript tools, the
 * conformance kit): what libotr's toolkit prints with `otr_sesskeys` / `otr_mackey`, plus the v3 extra
 * symmetric key and the AKE's session id of the same secret.
 */
import { bytesToBigint, concat, mpi } from "./bytes.js";
import { createEngine, type EngineChoice } from "./engine.js";
import { OtrError } from "./errors.js";
import { isValidGroupElement, MODP_G, MODP_P } from "./group.js";
import { deriveDataKeys } from "./session.js";

/** Largest D-H value or exponent in bytes: the 1536-bit modulus. */
const MAX_BYTES = 192;

/** What `deriveSessionKeys` derives from our D-H private key x and their public key g^y. */
export interface OtrSessionKeys {
  /** Our D-H public key g^x mod p. */
  readonly ourPublic: bigint;
  /** Whether our public key is the numerically larger one (spec: the "high" end sends with 0x01, receives with 0x02). */
  readonly high: boolean;
  /** Sending AES key: the first 16 bytes of SHA-1(sendbyte ‖ MPI(s)), s = g^xy mod p. */
  readonly sendingAesKey: Uint8Array;
  /** Sending MAC key: SHA-1 of the sending AES key (20 bytes). */
  readonly sendingMacKey: Uint8Array;
  /** Receiving AES key: the first 16 bytes of SHA-1(rcvbyte ‖ MPI(s)). */
  readonly receivingAesKey: Uint8Array;
  /** Receiving MAC key: SHA-1 of the receiving AES key (20 bytes); revealed once the key pair is retired. */
  readonly receivingMacKey: Uint8Array;
  /** The v3 extra symmetric key: SHA-256(0xff ‖ MPI(s)) (32 bytes, the same on both ends). */
  readonly extraSymmetricKey: Uint8Array;
  /**
   * The secure session id: the first 8 bytes of SHA-256(0x00 ‖ MPI(s)) (spec "Computing AKE keys"); the
   * session's id when x and g^y are the AKE's D-H keys (the data keys of key ids 1 and 1 use the same pair).
   */
  readonly ssid: Uint8Array;
}

export interface DeriveSessionKeysOptions {
  /** "auto" (default: node:crypto in Node, BigInt elsewhere), "native", "bigint", or a custom OtrEngine. */
  readonly engine?: EngineChoice;
}

/** A non-negative integer from a bigint or unsigned big-endian bytes (1 to 192 of them). */
function integer(value: Uint8Array | bigint, name: string): bigint {
  if (typeof value === "bigint") return value;
  if (!(value instanceof Uint8Array))
    throw new OtrError("INVALID_ARGUMENT", `${name} must be a bigint or a Uint8Array`);
  if (value.length === 0 || value.length > MAX_BYTES)
    throw new OtrError("INVALID_ARGUMENT", `${name} must be 1 to ${MAX_BYTES} big-endian bytes, got ${value.length}`);
  return bytesToBigint(value);
}

/**
 * The data-message keys of one (our key, their key) pair (spec "Computing AES keys, MAC keys, and the
 * extra symmetric key"), and the SSID of the same secret (spec "Computing AKE keys"), from our D-H private
 * key x and their D-H public key g^y. Both given as bigints or as unsigned big-endian bytes (not MPIs: no
 * length prefix). libotr's `otr_sesskeys x g^y` prints the same public key, "high end", AES and MAC keys.
 *
 * Throws OtrError `INVALID_ARGUMENT` when x is not in 1..p-1, is not a bigint or 1..192 bytes, or gives a
 * public key outside 2..p-2 (x a multiple of the group's order), and `INVALID_GROUP_ELEMENT` when g^y is
 * outside 2..p-2 (the check every received D-H key gets). Messages never carry the keys.
 */
export function deriveSessionKeys(
  ourPrivate: Uint8Array | bigint,
  theirPublic: Uint8Array | bigint,
  options: DeriveSessionKeysOptions = {},
): OtrSessionKeys {
  const x = integer(ourPrivate, "ourPrivate");
  const gy = integer(theirPublic, "theirPublic");
  if (x < 1n || x >= MODP_P) throw new OtrError("INVALID_ARGUMENT", "ourPrivate must be in 1..p-1");
  if (!isValidGroupElement(gy)) throw new OtrError("INVALID_GROUP_ELEMENT", "theirPublic is outside 2..p-2");
  const engine = createEngine(options.engine ?? "auto");
  const gx = engine.modPow(MODP_G, x, MODP_P);
  if (!isValidGroupElement(gx)) throw new OtrError("INVALID_ARGUMENT", "ourPrivate gives a public key outside 2..p-2");
  const k = deriveDataKeys(engine, x, gx, gy);
  const sec = mpi(engine.modPow(gy, x, MODP_P));
  return {
    ourPublic: gx,
    high: k.high,
    sendingAesKey: k.sendAes,
    sendingMacKey: k.sendMac,
    receivingAesKey: k.recvAes,
    receivingMacKey: k.recvMac,
    extraSymmetricKey: k.extra,
    ssid: engine.sha256(concat(Uint8Array.of(0x00), sec)).slice(0, 8),
  };
}
