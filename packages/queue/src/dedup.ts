import { DEDUP_CAPACITY, MAX_CONVERSATION_BYTES, MAX_ORIGIN_ID_LENGTH } from "./consts.js";
import { utf8Length } from "./codec.js";
import { QueueError } from "./errors.js";

/**
 * Receiver side of exactly-once: remembers the origin-ids (XEP-0359) seen per sender, so a message resent
 * after a crash between send and acknowledgement is shown once. Bounded: beyond `capacity` the id seen
 * longest ago is forgotten (a resend arrives within minutes; see DEDUP_CAPACITY).
 *
 * Call it after the message authenticated (decrypted), with the sender's bare JID, and with the
 * origin-id carried inside the encryption when the protocol carries it (XEP-0420), so nobody but the
 * sender can make its messages look like duplicates.
 */
export class DuplicateFilter {
  readonly capacity: number;
  readonly #seen = new Map<string, true>();

  constructor(options: { capacity?: number; seen?: Iterable<readonly [string, string]> } = {}) {
    const capacity = options.capacity ?? DEDUP_CAPACITY;
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > DEDUP_CAPACITY * 100)
      throw new QueueError("INVALID_ARGUMENT", `capacity must be an integer in [1, ${DEDUP_CAPACITY * 100}]`);
    this.capacity = capacity;
    for (const [sender, id] of options.seen ?? []) this.isDuplicate(sender, id);
  }

  /** True if this (sender, origin-id) was seen before (and remembers it now); false for a new message. */
  isDuplicate(sender: string, originId: string): boolean {
    if (typeof sender !== "string" || sender === "" || utf8Length(sender) > MAX_CONVERSATION_BYTES)
      throw new QueueError("INVALID_ARGUMENT", "sender must be a non-empty JID of at most 3071 bytes");
    if (typeof originId !== "string" || originId === "" || originId.length > MAX_ORIGIN_ID_LENGTH)
      throw new QueueError(
        "INVALID_ARGUMENT",
        `originId must be a non-empty string of at most ${MAX_ORIGIN_ID_LENGTH} characters`,
      );
    const key = `${sender}\u0000${originId}`;
    if (this.#seen.has(key)) {
      // Refresh: a message still being resent stays remembered.
      this.#seen.delete(key);
      this.#seen.set(key, true);
      return true;
    }
    this.#seen.set(key, true);
    if (this.#seen.size > this.capacity) this.#seen.delete(this.#seen.keys().next().value!);
    return false;
  }

  /** How many ids are remembered (at most `capacity`). */
  get size(): number {
    return this.#seen.size;
  }

  /** The remembered (sender, origin-id) pairs, oldest first: persist them and pass as `seen` after a restart. */
  entries(): Array<[string, string]> {
    return [...this.#seen.keys()].map((k) => {
      const cut = k.indexOf("\u0000");
      return [k.slice(0, cut), k.slice(cut + 1)];
    });
  }
}
