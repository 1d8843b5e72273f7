import { readFileSync } from "node:fs";
import { createCrypto, hexToBytes, type Crypto } from "../src/index.js";

/** Both providers, so every known-answer test runs against each. */
export const providers: Array<[string, Crypto]> = [
  ["noble", createCrypto({ provider: "noble" })],
  ["native", createCrypto({ provider: "native" })],
];

export function loadVectors<T>(name: string): T[] {
  const file = JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8")) as { vectors: T[] };
  return file.vectors;
}

export const hex = hexToBytes;

/** The error code a call throws, or "ok". */
export function outcome<T>(f: () => T): { ok: T } | { code: string } {
  try {
    return { ok: f() };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? String(e) };
  }
}
