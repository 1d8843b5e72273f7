/** Parley behind the protocol's omemo ops (one area of ParleyImplementation). */
import type { Crypto } from "@parley/crypto";
import { AdapterError } from "./errors.js";
import type { OpName } from "./protocol.js";
import { OMEMO_OP_NAMES } from "./protocol-omemo.js";
import type { ReferenceArea } from "./reference.js";

export class OmemoReference implements ReferenceArea {
  readonly ops: readonly OpName[] = OMEMO_OP_NAMES;

  constructor(readonly crypto: Crypto) {}

  handle(op: OpName): unknown {
    throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
  }
}
