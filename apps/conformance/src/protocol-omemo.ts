/**
 * The adapter protocol's omemo ops (part of {@link Ops} in protocol.ts; the README's schema tables are
 * generated from protocol.ts and the protocol-*.ts files).
 * @packageDocumentation
 */

/** Error codes only the omemo ops use (the shared ones are in protocol.ts). */
export type OmemoErrorCode = never;
export const OMEMO_ERROR_CODES: readonly OmemoErrorCode[] = [];

/** The omemo ops: arguments and results. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled as the area grows
export interface OmemoOps {}

export const OMEMO_OP_NAMES: readonly (keyof OmemoOps)[] = [];
