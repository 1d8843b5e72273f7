/**
 * All sessions with one contact: one OtrSession per instance of the contact (v3 instance tags), plus a
 * "master" session for v2, plaintext and Query messages (libotr's master and child contexts). An
 * incoming v3 message from an instance we have no session for goes to a copy of the master (which
 * carries the AKE state: a D-H Commit we sent may be answered by several instances); the copy is kept
 * if the message bound it to that instance.
 */
import { MAX_INSTANCES } from "./consts.js";
import { OtrError } from "./errors.js";
import { OtrSession } from "./session.js";
import type { OtrSessionOptions, ReceiveResult } from "./types.js";
import { classify, MSG_DH_KEY, parseBinary } from "./wire.js";

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
    let isDhKey = false;
    try {
      const c = classify(message);
      if (c.kind === "fragment" && c.fragment.version === 3) tag = c.fragment.senderTag;
      else if (c.kind === "encoded") {
        const m = parseBinary(c.bytes);
        if (m.version === 3) tag = m.senderTag;
        isDhKey = m.type === MSG_DH_KEY;
      }
    } catch {
      tag = 0; // let the master report the error
    }
    if (tag === 0) return { ...this.#master.receive(message), instanceTag: 0 };
    const existing = this.#children.get(tag);
    if (existing) {
      // A D-H Key answering the master's D-H Commit (sent to every instance) carries the master's AKE over.
      if (isDhKey && existing.authState === "none") existing.adoptAkeFrom(this.#master);
      return this.#track(tag, existing.receive(message));
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
    const fork = OtrSession.restore(this.#master.exportState(), this.#options);
    const result = fork.receive(message);
    // Keep the copy if the message bound it to that instance, or if it holds the first fragments of one.
    if (fork.theirInstanceTag === tag || fork.reassembling) this.#children.set(tag, fork);
    return this.#track(tag, result);
  }

  #track(tag: number, result: ReceiveResult): ConversationReceiveResult {
    if (result.events.some((e) => e.type === "state" && e.state === "encrypted")) {
      this.#order = this.#order.filter((t) => t !== tag);
      this.#order.push(tag);
    }
    return { ...result, instanceTag: tag };
  }

  toJSON(): unknown {
    return { type: "OtrConversation", ourInstanceTag: this.ourInstanceTag, instances: this.instances };
  }
}
