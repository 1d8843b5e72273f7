/**
 * All sessions with one contact: one OtrSession per instance of the contact (v3 instance tags), plus a
 * "master" session for v2, plaintext and Query messages (libotr's master and child contexts). An
 * incoming v3 message from an instance we have no session for goes to a fresh session; the new
 * session is kept if the message bound it to that instance (at most MAX_INSTANCES: the least recently
 * used session that is not encrypted makes room). A D-H Key answering the D-H Commit the master sent
 * (to every instance) takes over the master's AKE state only (libotr's otrl_auth_copy_on_key), never
 * its session keys, counters or queued texts: texts queued while no instance was encrypted go out
 * once, through the first instance that becomes encrypted. When both sides start at once, the AKEs
 * cross and the spec's hash comparison picks one (OtrSession #dhKeyAke); a Query or whitespace tag
 * that makes the master send a new D-H Commit abandons the instances' AKEs in progress.
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
  /** When each instance's session was last used (a counter), for evicting the least recently used. */
  readonly #lastUsed = new Map<number, number>();
  #clock = 0;

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
    this.#touch(theirInstanceTag);
    return s.send(text);
  }

  receive(message: string): ConversationReceiveResult {
    let tag = 0;
    let asksForAke = false;
    const master = this.#master;
    try {
      const c = classify(message);
      asksForAke = c.kind === "query" || c.kind === "tagged";
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
      // The contact asked for a new AKE and the master sent a new D-H Commit to every instance: the AKEs our
      // instances' sessions were in are stale (the contact restarted), and one of them would otherwise wait for
      // a Reveal Signature that never comes while the contact answers the new D-H Commit (a stuck pair).
      if (asksForAke && master.authState === "awaiting-dhkey" && isV3(result.replies[0]))
        for (const child of this.#children.values()) child.abandonAke();
      return this.#track(0, master, result);
    }
    const existing = this.#children.get(tag);
    if (existing) {
      this.#touch(tag);
      // A D-H Key (whole or reassembled) answering the master's D-H Commit (sent to every instance) carries the
      // master's AKE over, committed only if the D-H Key is accepted.
      return this.#track(tag, existing, existing.receiveForInstance(message, master));
    }
    // When the table is full, the least recently used session that is neither encrypted nor finished makes room.
    const full = this.#children.size >= MAX_INSTANCES;
    const victim = full ? this.#leastRecentlyUsedUnencrypted() : undefined;
    if (full && victim === undefined) {
      return {
        events: [
          {
            type: "error",
            error: new OtrError("WRONG_INSTANCE", `too many encrypted instances of this contact (${MAX_INSTANCES})`),
          },
        ],
        replies: [],
        instanceTag: tag,
      };
    }
    // A fresh session, never a copy of the master: a copy would share the master's live keys and counters
    // (keystream reuse) and its queued texts.
    const fork = new OtrSession(this.#options);
    const result = fork.receiveForInstance(message, master);
    // Keep the session if the message bound it to that instance, or if it holds the first fragments of one.
    if (fork.theirInstanceTag === tag || fork.reassembling) {
      if (victim !== undefined) this.#forget(victim);
      this.#children.set(tag, fork);
      this.#touch(tag);
    }
    return this.#track(tag, fork, result);
  }

  /** Marks an instance's session as used now (for the least-recently-used eviction). */
  #touch(tag: number): void {
    this.#lastUsed.set(tag, ++this.#clock);
  }

  /**
   * The instance whose session goes when the table is full: the least recently used one that is neither
   * encrypted nor finished (it holds only fragments, an AKE in progress, or nothing). Anyone can start an AKE or
   * send fragments under a made-up instance tag, so such sessions must not lock real instances out; an encrypted
   * or finished session was authenticated and is never dropped for them. Undefined when every session is.
   */
  #leastRecentlyUsedUnencrypted(): number | undefined {
    let victim: number | undefined;
    let oldest = Infinity;
    for (const [t, s] of this.#children) {
      if (s.messageState !== "plaintext") continue;
      const used = this.#lastUsed.get(t) ?? 0;
      if (used < oldest) {
        oldest = used;
        victim = t;
      }
    }
    return victim;
  }

  #forget(tag: number): void {
    this.#children.delete(tag);
    this.#lastUsed.delete(tag);
    this.#order = this.#order.filter((t) => t !== tag);
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

/** Whether a line we send is a v3 OTR message (whole or a fragment), e.g. the master's new D-H Commit. */
function isV3(line: string | undefined): boolean {
  if (line === undefined) return false;
  const c = classify(line);
  if (c.kind === "fragment") return c.fragment.version === 3;
  return c.kind === "encoded" && parseBinary(c.bytes).version === 3;
}
