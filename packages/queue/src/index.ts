/**
 * @parley/queue: the durable outgoing message queue of a messenger. Per-conversation FIFO that survives
 * a restart, encryption (OMEMO or OTR) negotiated through interfaces and never skipped, retries with
 * backoff, resend, receipts and receiver-side deduplication. `@parley/queue/storage` stores it in
 * `@parley/storage`.
 * @packageDocumentation
 */
export { Queue, openQueue } from "./queue.js";
export type { MessageInfo, QueueEvent, QueueLimits, QueueOptions } from "./queue.js";
export type {
  Availability,
  ContactPolicy,
  EncryptOutcome,
  EncryptionMethod,
  EncryptionProvider,
  FailureReason,
  MessageState,
  OutgoingMessage,
  OutgoingStanza,
  QueueStore,
  SendMethod,
  StepFailure,
  StepOutcome,
  StoreBatch,
  StoredMessage,
  Timers,
  TransientReason,
  Transport,
  TransportEvent,
} from "./types.js";
export { MemoryQueueStore, memoryQueueStore } from "./memory-store.js";
export { ManualTimers, realTimers } from "./timers.js";
export { DuplicateFilter } from "./dedup.js";
export { QueueError, isQueueError } from "./errors.js";
export type { QueueErrorCode } from "./errors.js";
export type { RandomBytes } from "./ids.js";
export {
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  DEDUP_CAPACITY,
  MAX_ATTEMPTS,
  MAX_AWAITING_RECEIPT,
  MAX_BODY_BYTES,
  MAX_PER_CONVERSATION,
  MAX_TOTAL,
  MAX_TOTAL_BYTES,
  NEGOTIATION_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
} from "./consts.js";
