/**
 * The adapter protocol's xeddsa ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 * @packageDocumentation
 */

/** Error codes only the xeddsa ops use (the shared ones are in protocol.ts). */
export type XeddsaErrorCode = never;
export const XEDDSA_ERROR_CODES: readonly XeddsaErrorCode[] = [];

/** The xeddsa ops: arguments and results. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled as the area grows
export interface XeddsaOps {}

export const XEDDSA_OP_NAMES: readonly (keyof XeddsaOps)[] = [];
