/**
 * The adapter protocol's otr ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 * @packageDocumentation
 */

/** Error codes only the otr ops use (the shared ones are in protocol.ts). */
export type OtrErrorCode = never;
export const OTR_ERROR_CODES: readonly OtrErrorCode[] = [];

/** The otr ops: arguments and results. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled as the area grows
export interface OtrOps {}

export const OTR_OP_NAMES: readonly (keyof OtrOps)[] = [];
