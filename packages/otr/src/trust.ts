import type { OtrEvent, OtrTrust } from "./types.js";

/**
 * Records a verified SMP result in a trust store (method "smp"). Returns whether it recorded anything:
 * only a "verified" result marks the fingerprint verified; "failed" and "aborted" change nothing.
 * `@parley/trust`'s TrustStore satisfies OtrTrust structurally.
 */
export async function recordSmpResult(
  trust: OtrTrust,
  session: { readonly account: string; readonly contact: string },
  event: OtrEvent,
  protocol = "otr",
): Promise<boolean> {
  if (event.type !== "smp-result" || event.result !== "verified") return false;
  await trust.verify(session.account, session.contact, protocol, event.fingerprint, { method: "smp" });
  return true;
}
