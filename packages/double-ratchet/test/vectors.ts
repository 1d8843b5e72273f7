// Shared helpers for the known-answer tests (not a test file itself).
import { hexToBytes, type RandomSource } from "@parley/crypto";
import { readFileSync } from "node:fs";

/** A random source that replays recorded draws in order and fails loudly on any mismatch. */
export function replayRandom(draws: readonly string[]): RandomSource & { readonly remaining: () => number } {
  let next = 0;
  const source = (length: number) => {
    const hex = draws[next++];
    if (hex === undefined) throw new Error(`replayRandom: no recorded draw left (wanted ${length} bytes)`);
    const bytes = hexToBytes(hex);
    if (bytes.length !== length)
      throw new Error(`replayRandom: draw ${next - 1} has ${bytes.length} bytes, ${length} wanted`);
    return bytes;
  };
  return Object.assign(source, { remaining: () => draws.length - next });
}

/** Parses a vectors/*.json file; the caller names the shape it expects. */
export function loadVectors(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8"));
}
