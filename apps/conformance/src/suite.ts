/** What a suite is: named cases, each needing some ops and run against the implementation under test. */
import { AdapterError, AdapterFailure } from "./errors.js";
import type { HelloResult, OpArgs, OpName, OpResult, ProfileName } from "./protocol.js";
import type { Implementation } from "./reference.js";

export interface CaseContext {
  /** The implementation under test (the adapter process). */
  readonly iut: Implementation;
  /** Parley, in-process, fresh for every case. */
  readonly ref: Implementation;
}

export interface TestCase {
  readonly suite: string;
  /** Unique within the suite; shown in the table and in JUnit. */
  readonly name: string;
  /** The profile the case exercises (skipped when the adapter does not list it), if any. */
  readonly profile?: ProfileName;
  /** Ops the implementation under test must support (skipped otherwise). */
  readonly ops: readonly OpName[];
  /** A reason to skip the case whatever the adapter supports. */
  readonly skip?: string;
  /**
   * What else the case needs of the adapter, judged from its `hello` (after its ops and profile): a reason
   * to skip the case, or undefined to run it (e.g. an OTR protocol version the adapter does not speak).
   */
  readonly requires?: (hello: HelloResult) => string | undefined;
  run(ctx: CaseContext): Promise<void>;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  cases(): TestCase[];
}

/**
 * An Implementation whose errors say which side and which op failed: an AdapterError keeps its code
 * (cases compare codes), with "<label> <op>: " in front of its message.
 */
export function traced(impl: Implementation, label: string): Implementation {
  return {
    name: impl.name,
    async call<O extends OpName>(op: O, args: OpArgs<O>): Promise<OpResult<O>> {
      try {
        return await impl.call(op, args);
      } catch (e) {
        if (e instanceof AdapterError) throw new AdapterError(e.code, `${label} ${op}: ${e.message}`);
        if (e instanceof AdapterFailure) throw new AdapterFailure(`${label} ${op}: ${e.message}`);
        throw e;
      }
    },
  };
}
