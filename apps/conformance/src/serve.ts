/**
 * Serves an implementation over the adapter protocol on stdin/stdout: one JSON request per line in,
 * one JSON response per line out, in order. For adapters written in TypeScript (ours is one).
 */
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { AdapterError } from "./errors.js";
import type { OpName, Response } from "./protocol.js";

/** Answers one op; throw {@link AdapterError} for a protocol error code, anything else becomes INTERNAL. */
export type OpHandler = (op: OpName, args: unknown) => unknown;

export function serve(
  handler: OpHandler,
  input: Readable = process.stdin,
  output: Writable = process.stdout,
): Promise<void> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let queue = Promise.resolve();
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    queue = queue.then(async () => {
      let id: unknown = null;
      let response: Response;
      try {
        let request: { id?: unknown; op?: unknown; args?: unknown };
        try {
          request = JSON.parse(line) as typeof request;
        } catch {
          throw new AdapterError("INVALID_ARGUMENT", "the request is not JSON");
        }
        id = request.id;
        if (typeof request.op !== "string") throw new AdapterError("INVALID_ARGUMENT", "request has no op");
        const result = await handler(request.op as OpName, request.args ?? {});
        response = { id: id as number, ok: true, result: result as never };
      } catch (e) {
        const code = e instanceof AdapterError ? e.code : "INTERNAL";
        const message = e instanceof Error ? e.message : String(e);
        response = { id: id as number, ok: false, error: { code, message } };
      }
      output.write(`${JSON.stringify(response)}\n`);
    });
  });
  return new Promise((resolve) => {
    lines.on("close", () => {
      void queue.then(resolve);
    });
  });
}
