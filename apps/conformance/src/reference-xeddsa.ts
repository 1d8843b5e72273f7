/** Parley behind the protocol's xeddsa ops (one area of ParleyImplementation). */
import type { Crypto } from "@parley/crypto";
import { AdapterError } from "./errors.js";
import type { OpName } from "./protocol.js";
import { XEDDSA_OP_NAMES } from "./protocol-xeddsa.js";
import type { ReferenceArea } from "./reference.js";

export class XeddsaReference implements ReferenceArea {
  readonly ops: readonly OpName[] = XEDDSA_OP_NAMES;

  constructor(readonly crypto: Crypto) {}

  handle(op: OpName): unknown {
    throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
  }
}
