/**
 * @parley/conformance: a conformance kit for XEdDSA, X3DH, Double Ratchet, OMEMO and OTR implementations:
 * the adapter protocol, the suites, the runner and Parley's reference adapter.
 * @packageDocumentation
 */
export * from "./protocol.js";
export * from "./protocol-xeddsa.js";
export * from "./protocol-omemo.js";
export * from "./protocol-otr.js";
export { AdapterError, AdapterFailure } from "./errors.js";
export { AdapterProcess, killAllAdapters } from "./client.js";
export type { AdapterProcessOptions } from "./client.js";
export { ParleyImplementation, errorCodeOf } from "./reference.js";
export type { Implementation } from "./reference.js";
export { serve } from "./serve.js";
export type { OpHandler, ServeInput, ServeOutput } from "./serve.js";
export { runConformance, selectCases, SUITES } from "./runner.js";
export type { CaseResult, CaseStatus, RunOptions, RunReport } from "./runner.js";
export { formatTable, toJUnit, toJson } from "./report.js";
export type { CaseContext, Suite, TestCase } from "./suite.js";
export { Mismatch, same, expectError, firstDifference } from "./suites/assert.js";
export type * from "./vectors.js";
