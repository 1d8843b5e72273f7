/** Checks for suites: each failure says what was compared and where the first difference is. */
import { AdapterError } from "../errors.js";
import type { ErrorCode } from "../protocol.js";

/** A check failed: `expected` and `got` are short, readable renderings of the first difference. */
export class Mismatch extends Error {
  override readonly name = "Mismatch";
  readonly what: string;
  readonly expected: string;
  readonly got: string;
  constructor(what: string, expected: string, got: string) {
    super(`${what}: expected ${expected}, got ${got}`);
    this.what = what;
    this.expected = expected;
    this.got = got;
  }
}

const MAX = 72;
const short = (s: string): string => (s.length > MAX ? `${s.slice(0, MAX)}… (${s.length} chars)` : s);

function render(value: unknown): string {
  if (value === undefined) return "nothing";
  const json = JSON.stringify(value) as string | undefined;
  return short(json ?? typeof value);
}

const isHex = (v: unknown): v is string => typeof v === "string" && /^(?:[0-9a-f]{2})+$/.test(v);

/** The first difference between two JSON values, as [path, expected, got], or undefined when equal. */
export function firstDifference(expected: unknown, got: unknown, path = ""): [string, string, string] | undefined {
  if (isHex(expected) && isHex(got) && expected !== got) {
    const n = Math.min(expected.length, got.length) / 2;
    for (let i = 0; i < n; i++) {
      const e = expected.slice(2 * i, 2 * i + 2);
      const g = got.slice(2 * i, 2 * i + 2);
      if (e !== g) {
        return [
          `${path} byte ${i} of ${expected.length / 2}`,
          `0x${e} (…${short(expected.slice(2 * i, 2 * i + 16))})`,
          `0x${g} (…${short(got.slice(2 * i, 2 * i + 16))})`,
        ];
      }
    }
    return [`${path} length`, `${expected.length / 2} bytes`, `${got.length / 2} bytes`];
  }
  if (Array.isArray(expected) && Array.isArray(got)) {
    for (let i = 0; i < Math.max(expected.length, got.length); i++) {
      const d = firstDifference(expected[i], got[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (
    typeof expected === "object" &&
    expected !== null &&
    typeof got === "object" &&
    got !== null &&
    !Array.isArray(expected) &&
    !Array.isArray(got)
  ) {
    const e = expected as Record<string, unknown>;
    const g = got as Record<string, unknown>;
    for (const key of Object.keys(e)) {
      const d = firstDifference(e[key], g[key], path === "" ? key : `${path}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  if (expected === got) return undefined;
  return [path, render(expected), render(got)];
}

/** Deep equality (only the keys `expected` has); a {@link Mismatch} names the first difference. */
export function same(what: string, expected: unknown, got: unknown): void {
  const d = firstDifference(expected, got);
  if (d) throw new Mismatch(d[0] === "" ? what : `${what}: ${d[0]}`, d[1], d[2]);
}

/**
 * Expects the call to fail with `code` (or one of several codes, where the specifications allow more than
 * one answer); anything else is a {@link Mismatch}. Adapter failures pass through. Resolves to the code.
 */
export async function expectError(
  what: string,
  code: ErrorCode | readonly ErrorCode[],
  call: Promise<unknown>,
): Promise<ErrorCode> {
  const codes: readonly ErrorCode[] = typeof code === "string" ? [code] : code;
  const expected = `error ${codes.join(" or ")}`;
  let result: unknown;
  try {
    result = await call;
  } catch (e) {
    if (e instanceof AdapterError) {
      if (codes.includes(e.code)) return e.code;
      throw new Mismatch(what, expected, `error ${e.code} (${short(e.message)})`);
    }
    throw e;
  }
  throw new Mismatch(what, expected, `success ${render(result)}`);
}

export function check(what: string, condition: boolean, expected: string, got: string): void {
  if (!condition) throw new Mismatch(what, expected, got);
}
