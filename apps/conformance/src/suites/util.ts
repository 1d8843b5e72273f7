import { readFileSync } from "node:fs";
import type { Hex } from "../protocol.js";

const te = new TextEncoder();

/** UTF-8 text as hex. */
export const text = (s: string): Hex => Buffer.from(te.encode(s)).toString("hex");

/** `hex` with bit `bit` of byte `index` flipped (negative index counts from the end). */
export function flipBit(hex: Hex, index: number, bit = 0): Hex {
  const bytes = Buffer.from(hex, "hex");
  const i = index < 0 ? bytes.length + index : index;
  if (i < 0 || i >= bytes.length) throw new Error(`flipBit: byte ${index} is outside ${bytes.length} bytes`);
  bytes[i]! ^= 1 << bit;
  return bytes.toString("hex");
}

/** Loads a vector file from apps/conformance/vectors (the same relative path from src/ and dist/); callers cast. */
export function loadVectors(file: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../vectors/${file}`, import.meta.url), "utf8"));
}
