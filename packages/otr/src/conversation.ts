/**
 * All sessions with one contact: one OtrSession per instance of the contact (v3 instance tags), plus a
 * "master" session for v2, plaintext and Query messages (libotr's master and child contexts). An
 * incoming v3 message from an instance we have no session for goes to a fresh session; the new
 * session is kept if the message bound it to that instance. A D-H Key answering the D-H Commit the
 * master sent (to every instance) takes over the master's AKE state only (libotr's
 * otrl_auth_copy_on_key), never its session keys, counters or queued texts: texts queued while no
 * instance was encrypted go out once, through the first instance that becomes encrypted.
 */
import { MAX_INSTANCES } from "./consts.js";
import { OtrError } from "./errors.js";
import { OtrSession } from "./session.js";
import type { OtrSessionOptions, ReceiveResult } from "./types.js";
import { classify, parseBinary } from "./wire.js";

export interface ConversationReceiveResult extends ReceiveResult {
  /** Their instance tag of the session that handled the message (0: the master session). */
  readonly instanceTag: number;
}

export class OtrConversation {
  readonly #options: OtrSessionOptions;
  #master: OtrSession;
  readonly #children = new Map<number, OtrSession>();
  /** Instance tags in the order their sessions last became encrypted (newest last). */
  #order: number[] = [];

  constructor(options: Omit<OtrSessionOptions, "theirInstanceTag">) {
    this.#master = new OtrSession(options);
    this.#options = { ...options, instanceTag: this.#master.ourInstanceTag };
  }

  get ourInstanceTag(): number {
    return this.#master.ourInstanceTag;
  }
  /** The session for v2, plaintext and Query messages. */
  get master(): OtrSession {
    return this.#master;
  }
  /** The session of one instance of the contact. */
  session(theirInstanceTag: number): OtrSession | undefined {
    return this.#children.get(theirInstanceTag);
  }
  /** Their instance tags we have sessions for. */
  get instances(): number[] {
    return [...this.#children.keys()];
  }
  /**
   * The session send() uses by default (libotr's OTRL_INSTAG_BEST): the instance that most recently became
   * encrypted; else one the contact ended (FINISHED, so sending fails instead of going out in the clear);
   * else the master.
   */
  get current(): OtrSession {
    for (const state of ["encrypted", "finished"] as const) {
      for (let i = this.#order.length - 1; i >= 0; i--) {
        const s = this.#children.get(this.#order[i]!);
        if (s?.messageState === state) return s;
      }
    }
    return this.#master;
  }

  startAke(): string[] {
    return this.#master.startAke();
  }

  send(text: string, theirInstanceTag?: number): string[] {
    if (theirInstanceTag === undefined) return this.current.send(text);
    const s = this.#children.get(theirInstanceTag);
    if (!s) throw new OtrError("INVALID_ARGUMENT", "no session for that instance");
    return s.send(text);
  }

  receive(message: string): ConversationReceiveResult {
    let tag = 0;
    const master = this.#master;
    try {
      const c = classify(message);
      if (c.kind === "fragment" && c.fragment.version === 3) tag = c.fragment.senderTag;
      else if (c.kind === "encoded") {
        const m = parseBinary(c.bytes);
        if (m.version === 3) tag = m.senderTag;
      }
    } catch {
      tag = 0; // let the master report the error
    }
    if (tag === 0) {
      // Plaintext is judged on the instance the user is talking to (libotr's best context), not on the
      // master: plaintext arriving while that instance is encrypted carries the "unencrypted" warning, and a
      // whitespace tag starts no AKE then.
      const result = master.receiveForConversation(message, this.current.messageState);
      return this.#track(0, master, result);
    }
    const existing = this.#children.get(tag);
    if (existing) {
      // A D-H Key (whole or reassembled) answering the master's D-H Commit (sent to every instance) carries the
      // master's AKE over, committed only if the D-H Key is accepted.
      return this.#track(tag, existing, existing.receiveForInstance(message, master));
    }
    if (this.#children.size >= MAX_INSTANCES) {
      // Make room by dropping a copy that only holds fragments (never bound to its instance): a peer sending
      // fragments under made-up instance tags must not lock out real instances.
      for (const [t, s] of this.#children) {
        if (s.theirInstanceTag === 0) {
          this.#children.delete(t);
          break;
        }
      }
    }
    if (this.#children.size >= MAX_INSTANCES) {
      return {
        events: [{ type: "error", error: new OtrError("WRONG_INSTANCE", "too many instances of this contact") }],
        replies: [],
        instanceTag: tag,
      };
    }
    // A fresh session, never a copy of the master: a copy would share the master's live keys and counters
    // (keystream reuse) and its queued texts.
    const fork = new OtrSession(this.#options);
    const result = fork.receiveForInstance(message, master);
    // Keep the session if the message bound it to that instance, or if it holds the first fragments of one.
    if (fork.theirInstanceTag === tag || fork.reassembling) this.#children.set(tag, fork);
    return this.#track(tag, fork, result);
  }

  #track(tag: number, session: OtrSession, result: ReceiveResult): ConversationReceiveResult {
    if (!result.events.some((e) => e.type === "state" && e.state === "encrypted"))
      return { ...result, instanceTag: tag };
    if (tag !== 0) {
      this.#order = this.#order.filter((t) => t !== tag);
      this.#order.push(tag);
    }
    // Texts the master queued for encryption (requireEncryption) are moved, not copied: they go out once,
    // through the first session that becomes encrypted (the master flushes its own queue itself).
    const replies = [...result.replies];
    if (session !== this.#master && session.messageState === "encrypted") {
      for (const text of this.#master.takeQueuedTexts()) replies.push(...session.send(text));
    }
    return { ...result, replies, instanceTag: tag };
  }

  toJSON(): unknown {
    return { type: "OtrConversation", ourInstanceTag: this.ourInstanceTag, instances: this.instances };
  }
}
