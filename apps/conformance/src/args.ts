/** Argument checks shared by Parley's reference areas: arguments are untrusted input (a runner bug or a hand-written request gets INVALID_ARGUMENT). */
import { hexToBytes } from "@parley/crypto";
import { AdapterError } from "./errors.js";

export function bytes(value: unknown, name: string): Uint8Array {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value)) {
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be a lowercase hex string`);
  }
  return hexToBytes(value);
}

export function integer(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be a non-negative integer`);
  }
  return value;
}
