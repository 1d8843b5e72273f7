/** What went wrong, as a closed set a caller can switch on. */
export type QueueErrorCode =
  /** A bound in consts.ts (per conversation, in total, bytes in total) would be exceeded; nothing was queued. */
  | "QUEUE_FULL"
  /** An argument has the wrong type, is empty or too long. Nothing changed. */
  | "INVALID_ARGUMENT"
  /** No message with this id is held by the queue. */
  | "NOT_FOUND"
  /** The message is not in a state that allows this (resend of a message that has not failed, cancel of a sent one). */
  | "INVALID_STATE"
  /** The queue was closed. */
  | "CLOSED"
  /** The store failed to load or write; `cause` has its error. Nothing is reported as queued unless it was written. */
  | "STORE_FAILED"
  /** A stored record is unreadable (damaged, not written by this package, or by a newer version). */
  | "CORRUPTED";

/**
 * The one error class of @parley/queue. Messages say what to do; they never contain a message body
 * (user plaintext) or a contact's address.
 */
export class QueueError extends Error {
  override readonly name = "QueueError";
  readonly code: QueueErrorCode;
  constructor(code: QueueErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isQueueError(error: unknown, code?: QueueErrorCode): error is QueueError {
  return error instanceof QueueError && (code === undefined || error.code === code);
}
