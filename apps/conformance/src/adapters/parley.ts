#!/usr/bin/env node
/**
 * The reference adapter: Parley (@parley/x3dh, @parley/double-ratchet, @parley/crypto) over the adapter
 * protocol. Run it as `node dist/adapters/parley.js` (or `tsx src/adapters/parley.ts`).
 */
import { ParleyImplementation } from "../reference.js";
import { serve } from "../serve.js";

const parley = new ParleyImplementation();
await serve((op, args) => parley.handle(op, args as never));
