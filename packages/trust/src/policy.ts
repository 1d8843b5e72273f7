import type { TrustState } from "./types.js";

/** What a policy sees when new keys arrive for one (account, contact, protocol). */
export interface PolicyContext {
  /** The states of the keys already stored. */
  readonly known: readonly TrustState[];
  /**
   * Whether the contact's first batch is still open: nothing was encrypted to the contact yet and the user never
   * acted on one of its keys (see the store's `keysSeen` and its `incoming` option). When absent, a policy takes
   * "no known key" for it.
   */
  readonly firstBatch?: boolean;
  /**
   * Whether the user has ever verified or marked compromised a key of this contact and protocol, even if that key
   * was distrusted or evicted since. Absent counts as false.
   */
  readonly everVerifiedOrCompromised?: boolean;
}

/**
 * A trust policy is two pure functions: the state a new key gets, and whether a state is trusted.
 * Write your own by implementing this interface; the store persists nothing of the policy itself.
 */
export interface TrustPolicy {
  /** Short name, recorded in each record's history (`first-seen` cause). */
  readonly name: string;
  /** The state for every key of a batch of newly seen keys. */
  initialState(context: PolicyContext): "tofu" | "untrusted";
  /** Whether a key in this state may be encrypted to and is shown as trusted. */
  isTrusted(state: TrustState): boolean;
}

const trustsTofuAndVerified = (state: TrustState): boolean => state === "tofu" || state === "verified";

/** Trust on first use (ChatSecure 4, the default): the first batch of keys is trusted, later keys are not until verified. */
export const tofuPolicy: TrustPolicy = {
  name: "tofu",
  initialState: ({ known, firstBatch }) => ((firstBatch ?? known.length === 0) ? "tofu" : "untrusted"),
  isTrusted: trustsTofuAndVerified,
};

/**
 * Blind trust before verification (Conversations): new keys are trusted until the user verifies (or marks
 * compromised) one key of this contact and protocol; from then on, new keys are untrusted, even after that key is
 * distrusted or compromised. Keys trusted blindly before stay as they are.
 */
export const btbvPolicy: TrustPolicy = {
  name: "btbv",
  initialState: ({ known, everVerifiedOrCompromised }) =>
    everVerifiedOrCompromised === true || known.includes("verified") || known.includes("compromised")
      ? "untrusted"
      : "tofu",
  isTrusted: trustsTofuAndVerified,
};

/** Manual: nothing is trusted until the user verifies it. Keys marked `tofu` under another policy are not trusted either. */
export const manualPolicy: TrustPolicy = {
  name: "manual",
  initialState: () => "untrusted",
  isTrusted: (state) => state === "verified",
};

/**
 * Why a key may or may not be used. `superseded`: the key would be trusted, but its device has reported another
 * key since (`TrustRecord.supersededAt`), so it is no longer encrypted to.
 */
export type TrustReason =
  | "verified"
  | "trusted-without-verification"
  | "verification-required"
  | "untrusted"
  | "compromised"
  | "unknown-key"
  | "superseded";

export interface TrustDecision {
  /** Whether the protocol may go ahead (encrypt to the key, or accept a message from it). */
  readonly allowed: boolean;
  /** Whether the key is trusted under the current policy; an accepted message from an untrusted key should be marked so. */
  readonly trusted: boolean;
  /** The stored state, undefined for a key never seen. */
  readonly state: TrustState | undefined;
  readonly reason: TrustReason;
}

function reasonFor(policy: TrustPolicy, state: TrustState | undefined): TrustReason {
  if (state === undefined) return "unknown-key";
  if (state === "compromised") return "compromised";
  if (state === "verified") return "verified";
  if (state === "tofu") return policy.isTrusted(state) ? "trusted-without-verification" : "verification-required";
  return "untrusted";
}

/** May we encrypt to a key in this state? Only to trusted keys. */
export function decideEncrypt(policy: TrustPolicy, state: TrustState | undefined): TrustDecision {
  const trusted = state !== undefined && state !== "compromised" && policy.isTrusted(state);
  return { allowed: trusted, trusted, state, reason: reasonFor(policy, state) };
}

/**
 * May we accept (decrypt and show) a message from a key in this state? XEP-0384 §8 lets clients decrypt
 * from not-yet-trusted keys if they mark the message; `acceptUntrusted: false` refuses them instead.
 * A compromised key is never accepted.
 */
export function decideAccept(
  policy: TrustPolicy,
  state: TrustState | undefined,
  acceptUntrusted: boolean,
): TrustDecision {
  const trusted = state !== undefined && state !== "compromised" && policy.isTrusted(state);
  const allowed = state !== "compromised" && (trusted || acceptUntrusted);
  return { allowed, trusted, state, reason: reasonFor(policy, state) };
}
