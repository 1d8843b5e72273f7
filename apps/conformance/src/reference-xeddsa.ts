/**
 * Parley behind the protocol's xeddsa ops (one area of ParleyImplementation), through @parley/crypto's
 * public API: `xeddsaSign`/`xeddsaVerify` (the spec) and `libsignalSign`/`libsignalVerify` (libsignal's
 * variant), `x25519PublicKey` and `x25519PrivateToEdwards`.
 */
import { bytesToHex, isCryptoError, type Crypto } from "@parley/crypto";
import { bytes } from "./args.js";
import { AdapterError } from "./errors.js";
import type { OpName, OpResult } from "./protocol.js";
import { XEDDSA_OP_NAMES, XEDDSA_VARIANTS, type XeddsaVariant } from "./protocol-xeddsa.js";
import type { ReferenceArea } from "./reference.js";

/** `value` as hex of exactly `length` bytes (INVALID_ARGUMENT otherwise). */
function sized(value: unknown, name: string, length: number): Uint8Array {
  const b = bytes(value, name);
  if (b.length !== length)
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be ${length} bytes, not ${b.length}`);
  return b;
}

function variantOf(value: unknown): XeddsaVariant {
  if (typeof value !== "string" || !XEDDSA_VARIANTS.includes(value as XeddsaVariant)) {
    throw new AdapterError("INVALID_ARGUMENT", `variant must be one of ${XEDDSA_VARIANTS.join(", ")}`);
  }
  return value as XeddsaVariant;
}

function strictOf(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new AdapterError("INVALID_ARGUMENT", "strict must be a boolean");
  return value;
}

export class XeddsaReference implements ReferenceArea {
  readonly ops: readonly OpName[] = XEDDSA_OP_NAMES;

  constructor(readonly crypto: Crypto) {}

  handle(op: OpName, args: Record<string, unknown>): unknown {
    try {
      return this.#dispatch(op, args);
    } catch (e) {
      // A private key that is 0 modulo the group order after clamping (INVALID_KEY), or a bad length.
      if (isCryptoError(e)) throw new AdapterError("INVALID_ARGUMENT", e.message);
      throw e;
    }
  }

  #dispatch(op: OpName, a: Record<string, unknown>): unknown {
    const c = this.crypto;
    switch (op) {
      case "xeddsa.sign": {
        const variant = variantOf(a["variant"]);
        const privateKey = sized(a["privateKey"], "privateKey", 32);
        const message = bytes(a["message"], "message");
        const nonce = sized(a["nonce"], "nonce", 64);
        const signature =
          variant === "xeddsa" ? c.xeddsaSign(privateKey, message, nonce) : c.libsignalSign(privateKey, message, nonce);
        return { signature: bytesToHex(signature) } satisfies OpResult<"xeddsa.sign">;
      }
      case "xeddsa.verify": {
        const variant = variantOf(a["variant"]);
        const publicKey = sized(a["publicKey"], "publicKey", 32);
        const message = bytes(a["message"], "message");
        const signature = sized(a["signature"], "signature", 64);
        const strict = strictOf(a["strict"]);
        const valid =
          variant === "xeddsa"
            ? c.xeddsaVerify(publicKey, message, signature, { strict })
            : c.libsignalVerify(publicKey, message, signature, { strict });
        return { valid } satisfies OpResult<"xeddsa.verify">;
      }
      case "xeddsa.toEdwards": {
        const privateKey = sized(a["privateKey"], "privateKey", 32);
        const edwards = c.x25519PrivateToEdwards(privateKey);
        return {
          publicKey: bytesToHex(c.x25519PublicKey(privateKey)),
          edwardsPublicKey: bytesToHex(edwards.publicKey),
          signBit: edwards.signBit,
        } satisfies OpResult<"xeddsa.toEdwards">;
      }
      default:
        throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
    }
  }
}
