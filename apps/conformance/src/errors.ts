import type { ErrorCode } from "./protocol.js";

/** The implementation under test answered `ok: false` with this code (an expected outcome for some cases). */
export class AdapterError extends Error {
  override readonly name = "AdapterError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The adapter broke the protocol: a line that is not JSON, a response to another request, no response in
 * time, or the process exited. The run cannot trust this adapter process any more.
 */
export class AdapterFailure extends Error {
  override readonly name = "AdapterFailure";
}
