/**
 * Serves an implementation over the adapter protocol on stdin/stdout: one JSON request per line in,
 * one JSON response per line out, in order. For adapters written in TypeScript (ours is one).
 */
import { AdapterError } from "./errors.js";
import type { OpName, Response } from "./protocol.js";

/** Answers one op; throw {@link AdapterError} for a protocol error code, anything else becomes INTERNAL. */
export type OpHandler = (op: OpName, args: unknown) => unknown;

/**
 * Where {@link serve} reads requests: a Node.js `Readable` such as `process.stdin` (the default).
 * Declared by the events it uses, so that these types need no `@types/node` in the user's project.
 */
export interface ServeInput {
  on(event: "data", listener: (chunk: string | Uint8Array) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
}

/** Where {@link serve} writes responses: a Node.js `Writable` such as `process.stdout` (the default). */
export interface ServeOutput {
  write(chunk: string): unknown;
}

export function serve(
  handler: OpHandler,
  input: ServeInput = process.stdin,
  output: ServeOutput = process.stdout,
): Promise<void> {
  let queue = Promise.resolve();
  const answer = (raw: string): void => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
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
  };
  // Lines split by hand (a multi-byte character may straddle two chunks: the decoder streams).
  const decoder = new TextDecoder();
  let pending = "";
  input.on("data", (chunk) => {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      answer(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
  return new Promise((resolve) => {
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      answer(pending + decoder.decode());
      pending = "";
      void queue.then(resolve);
    };
    input.on("end", finish);
    input.on("close", finish);
  });
}
