/** Parley behind the protocol's otr ops (one area of ParleyImplementation). */
import type { Crypto } from "@parley/crypto";
import { AdapterError } from "./errors.js";
import type { OpName } from "./protocol.js";
import { OTR_OP_NAMES } from "./protocol-otr.js";
import type { ReferenceArea } from "./reference.js";

export class OtrReference implements ReferenceArea {
  readonly ops: readonly OpName[] = OTR_OP_NAMES;

  constructor(readonly crypto: Crypto) {}

  handle(op: OpName): unknown {
    throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
  }
}
