/**
 * What providers, the transport and the clock hand the queue, checked where it enters: the queue stores
 * reasons and times, and its decoder accepts only the closed sets and safe integers, so nothing foreign
 * reaches a record unchecked (one such record would make the whole store unreadable at open).
 */
import { FAILURE_REASONS, TRANSIENT_REASONS } from "./codec.js";
import type { EncryptOutcome, FailureReason, StepFailure, StepOutcome, TransientReason } from "./types.js";

/** A malformed outcome, or a step that threw: the transient `error` (the foreign value is not inspected further). */
export const STEP_ERROR: StepFailure = { ok: false, transient: true, reason: "error" };
const OK: StepOutcome = { ok: true };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * A failure as `{ transient, reason }` says: a transient reason with `transient: true`, or a permanent one
 * with `transient: false`. Anything else (a missing or unknown reason, a reason of the other kind, a
 * `transient` that is not a boolean) is the transient `error`: retried, and at the cap `retries-exhausted`.
 */
function failureOf(value: Record<string, unknown>): StepFailure {
  const { transient, reason } = value;
  if (transient === true && (TRANSIENT_REASONS as readonly unknown[]).includes(reason))
    return { ok: false, transient: true, reason: reason as TransientReason };
  if (transient === false && (FAILURE_REASONS as readonly unknown[]).includes(reason))
    return { ok: false, transient: false, reason: reason as FailureReason };
  return STEP_ERROR;
}

/** `negotiate` and `transport.send`: `{ ok: true }` or a typed failure; anything else is the transient `error`. */
export function toStepOutcome(value: unknown): StepOutcome {
  if (!isObject(value)) return STEP_ERROR;
  if (value["ok"] === true) return OK;
  if (value["ok"] === false) return failureOf(value);
  return STEP_ERROR;
}

/** `encrypt`: `{ ok: true, payload }` (the payload is the protocol's, passed on as is) or a typed failure. */
export function toEncryptOutcome(value: unknown): EncryptOutcome {
  if (!isObject(value)) return STEP_ERROR;
  if (value["ok"] === true) return { ok: true, payload: value["payload"] };
  if (value["ok"] === false) return failureOf(value);
  return STEP_ERROR;
}

/** `availability`, as a step outcome: `{ available: true }`, or unavailable with a typed reason. */
export function toAvailability(value: unknown): StepOutcome {
  if (!isObject(value)) return STEP_ERROR;
  if (value["available"] === true) return OK;
  if (value["available"] === false) return failureOf(value);
  return STEP_ERROR;
}

/** The extremes a stored time may take (the decoder's range). */
const MAX_TIME = Number.MAX_SAFE_INTEGER;

/** A time as the store keeps it: an integer within ±MAX_SAFE_INTEGER (sums of times and delays included). */
export function storedTime(ms: number): number {
  return Math.min(MAX_TIME, Math.max(-MAX_TIME, Math.floor(ms)));
}

/**
 * Reads an injected clock: a fractional value is floored, one out of range clamped; a value that is not a
 * number, NaN, or a clock that throws gives `previous` (the last good reading).
 */
export function readClock(now: () => number, previous: number): number {
  let t: unknown;
  try {
    t = now();
  } catch {
    return previous;
  }
  return typeof t === "number" && !Number.isNaN(t) ? storedTime(t) : previous;
}
