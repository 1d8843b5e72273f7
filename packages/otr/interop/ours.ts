// Our implementation (@parley/otr, imported from ../src) as a `Party` of the interop scenarios: one
// OtrConversation per contact (all instances of the contact), its events translated into the peers' event names
// (libotr's callbacks) so that the same scenario code checks libotr, potr and us.
import { formatFingerprint } from "@parley/trust";
import {
  OtrConversation,
  OtrSession,
  importLibotrPrivateKeys,
  isOtrError,
  type DsaPrivateKey,
  type OtrEvent,
  type OtrPolicy,
  type RandomSource,
} from "../src/index.js";
import type { Effects, Instance, Outgoing, PeerEvent, Tlv } from "./peers.js";
import type { Party } from "./scenarios.js";
import type { TestKey } from "./peers.js";

export interface OursOptions {
  account: string;
  key: TestKey;
  policy?: Partial<OtrPolicy>;
  instanceTag?: number;
  maxFragmentSize?: number;
  engine?: "native" | "bigint";
  /** Random source of the built-in engines (the libotr-bin test records it to find our D-H private keys). */
  random?: RandomSource;
}

export interface OursReceiveResult extends Effects {
  delivered: string | null;
  /** Their instance tag of the session that handled the message (0: master). */
  instance: number;
  /** Our events as the implementation reported them. */
  raw: OtrEvent[];
  tlvs: Tlv[];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** The key of a test key file, read with our libotr private key file import. */
export function ourKey(key: TestKey): DsaPrivateKey {
  const entries = importLibotrPrivateKeys(key.privkeyFile);
  if (entries.length !== 1) throw new Error(`expected one key in ${key.name}'s file`);
  return entries[0]!.key;
}

export class OursPeer implements Party {
  readonly account: string;
  readonly fingerprintHuman: string;
  readonly key: DsaPrivateKey;
  /** Our instance tag, the same for every contact (one client). */
  readonly instag: number;
  readonly #options: OursOptions;
  /** Our sessions' clock (ms), moved only by `clock()`, like the peers' clocks. */
  #nowMs = 1_700_000_000_000;
  readonly #conversations = new Map<string, OtrConversation>();
  /** Every event our sessions produced, in order (for assertions beyond the translated ones). */
  readonly rawLog: OtrEvent[] = [];

  constructor(options: OursOptions) {
    this.#options = options;
    this.account = options.account;
    this.key = ourKey(options.key);
    this.fingerprintHuman = formatFingerprint(this.key.fingerprintHex(), "otr");
    this.instag = options.instanceTag ?? OtrSession.randomInstanceTag();
  }

  conversation(contact: string): OtrConversation {
    let c = this.#conversations.get(contact);
    if (!c) {
      c = new OtrConversation({
        account: this.account,
        contact,
        privateKey: this.key,
        ...(this.#options.policy ? { policy: this.#options.policy } : {}),
        instanceTag: this.instag,
        ...(this.#options.maxFragmentSize === undefined ? {} : { maxFragmentSize: this.#options.maxFragmentSize }),
        ...(this.#options.engine === undefined ? {} : { engine: this.#options.engine }),
        ...(this.#options.random === undefined ? {} : { random: this.#options.random }),
        now: () => this.#nowMs,
      });
      this.#conversations.set(contact, c);
    }
    return c;
  }

  /** The session the app would use with `contact`: a given instance, else the current one. */
  session(contact: string, instance?: Instance): OtrSession {
    const c = this.conversation(contact);
    if (typeof instance === "number") {
      const s = c.session(instance);
      if (!s) throw new Error(`no session with instance ${instance.toString(16)} of ${contact}`);
      return s;
    }
    return c.current;
  }

  #out(to: string, messages: readonly string[]): Outgoing[] {
    return messages.map((message) => ({ to, message }));
  }

  #translate(contact: string, events: readonly OtrEvent[], instance?: number): PeerEvent[] {
    this.rawLog.push(...events);
    const out: PeerEvent[] = [];
    const base = { username: contact, ...(instance === undefined ? {} : { instance }) };
    for (const e of events) {
      switch (e.type) {
        case "state":
          if (e.state === "encrypted") {
            out.push({
              type: e.reason === "refresh" ? "still_secure" : "gone_secure",
              ...base,
              protocolVersion: e.version ?? 0,
            });
          } else if (e.previous === "encrypted") {
            out.push({ type: "gone_insecure", ...base, protocolVersion: 0, finished: e.state === "finished" });
          }
          break;
        case "smp-request":
          out.push({
            type: "smp",
            event: e.question === undefined ? "ask_for_secret" : "ask_for_answer",
            progress: 25,
            question: e.question ?? null,
            ...base,
          });
          break;
        case "smp-progress":
          out.push({ type: "smp", event: "in_progress", progress: e.step * 25, question: null, ...base });
          break;
        case "smp-result":
          out.push({
            type: "smp",
            event: e.result === "verified" ? "success" : e.result === "failed" ? "failure" : "abort",
            progress: e.result === "aborted" ? 0 : 100,
            question: null,
            ...base,
          });
          break;
        case "heartbeat":
          out.push({ type: "msg_event", event: "log_heartbeat_rcvd", ...base });
          break;
        case "extra-key":
          out.push({ type: "received_symkey", use: e.use, usedata: hex(e.data), key: hex(e.key), ...base });
          break;
        case "peer-error":
          out.push({ type: "msg_event", event: "rcvdmsg_general_err", message: e.text, ...base });
          break;
        case "error":
          out.push({
            type: "msg_event",
            event: e.error.code === "WRONG_INSTANCE" ? "rcvdmsg_for_other_instance" : `error:${e.error.code}`,
            message: e.error.message,
            ...base,
          });
          break;
        case "message":
          if (e.warning) out.push({ type: "msg_event", event: "rcvdmsg_unencrypted", message: e.text, ...base });
          break;
      }
    }
    return out;
  }

  send(to: string, message: string, options: { instance?: Instance } = {}): Promise<Effects> {
    const c = this.conversation(to);
    const session = typeof options.instance === "number" ? c.session(options.instance) : c.current;
    try {
      const wire = typeof options.instance === "number" ? c.send(message, options.instance) : c.send(message);
      return Promise.resolve({ outgoing: this.#out(to, wire), events: [] });
    } catch (e) {
      // FINISHED: we refuse to send, as libotr does (its "connection ended" event).
      if (isOtrError(e) && e.code === "INVALID_STATE" && session?.messageState === "finished") {
        return Promise.resolve({
          outgoing: [],
          events: [{ type: "msg_event", event: "connection_ended", username: to }],
        });
      }
      throw e;
    }
  }

  receive(from: string, message: string): Promise<OursReceiveResult> {
    const r = this.conversation(from).receive(message);
    const texts = r.events.filter((e) => e.type === "message");
    return Promise.resolve({
      outgoing: this.#out(from, r.replies),
      events: this.#translate(from, r.events, r.instanceTag),
      delivered: texts.length > 0 ? texts.map((e) => e.text).join("\n") : null,
      instance: r.instanceTag,
      raw: r.events,
      tlvs: texts.flatMap((e) => e.tlvs.map((t) => ({ type: t.type, data: hex(t.value) }))),
    });
  }

  startAke(to: string): Promise<Effects> {
    return Promise.resolve({ outgoing: this.#out(to, this.conversation(to).startAke()), events: [] });
  }

  smpStart(to: string, secret: string, question?: string): Promise<Effects> {
    return Promise.resolve({ outgoing: this.#out(to, this.session(to).smp.start(secret, question)), events: [] });
  }

  smpRespond(to: string, secret: string): Promise<Effects> {
    return Promise.resolve({ outgoing: this.#out(to, this.session(to).smp.respond(secret)), events: [] });
  }

  smpAbort(to: string): Promise<Effects> {
    return Promise.resolve({ outgoing: this.#out(to, this.session(to).smp.abort()), events: [] });
  }

  end(to: string, instance?: Instance): Promise<Effects> {
    const s = this.session(to, instance);
    const before = s.messageState;
    const wire = s.end();
    const events: PeerEvent[] =
      before === "encrypted" ? [{ type: "gone_insecure", username: to, protocolVersion: 0, finished: false }] : [];
    return Promise.resolve({ outgoing: this.#out(to, wire), events });
  }

  /** Forgets everything about `contact` (as after a restart without saved sessions). */
  forget(contact: string): void {
    this.#conversations.delete(contact);
  }

  /** Moves our sessions' clock (heartbeats are sent when nothing was sent for 60 s). */
  clock(advanceSeconds: number): Promise<{ now: number }> {
    this.#nowMs += advanceSeconds * 1000;
    return Promise.resolve({ now: this.#nowMs / 1000 });
  }

  state(to: string, instance?: Instance) {
    const s = this.session(to, instance);
    const fp = s.theirFingerprint;
    return Promise.resolve({
      msgstate: s.messageState,
      protocolVersion: s.version ?? 0,
      sessionId: s.ssid ? hex(s.ssid.bytes) : null,
      sessionIdHalf: s.ssid?.boldHalf ?? "first",
      peerFingerprint: fp === undefined ? null : formatFingerprint(fp, "otr"),
      ourInstance: s.ourInstanceTag,
      theirInstance: s.theirInstanceTag,
    });
  }
}
