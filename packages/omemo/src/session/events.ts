import type { OmemoError } from "../errors.js";
import type { DeviceIdentity, OmemoNamespace } from "./io.js";

/** Why the manager sent a message by itself. */
export type AutomaticMessageReason =
  /** After decrypting a key exchange (XEP-0384 v0.8.3 §6 SHOULD; python-omemo does it after every one). */
  | "key-exchange-completion"
  /** The receiving chain grew past 53 messages without a reply (v0.8.3 §6 MUST). */
  | "heartbeat"
  /** A normal message came from a device we have no session with: a new one, announced (v0.8.3 §6 SHOULD). */
  | "session-healing"
  /** The app asked for a new session (`replaceSession`; v0.8.3 §6 MUST offer it). */
  | "session-replacement"
  /**
   * Legacy OMEMO, at the end of a catch-up: a key exchange read during it consumed a one-time prekey
   * whose deletion was postponed, so a new session of ours replaces it with a key transport message
   * carrying our own key exchange before anything else is sent to that device (XEP-0384 v0.3.0 §5 MUST).
   */
  | "catch-up-rekey";

/** What the manager reports while it works. Listeners run synchronously; an exception in one is reported as `error`. */
export interface SessionManagerEvents {
  /** A device's identity key was seen for the first time (from its bundle or its key exchange). */
  device: DeviceIdentity;
  /** A device id we knew came with another identity key (reinstall, or an attack: ask the user). */
  identityChanged: DeviceIdentity & { readonly previousFingerprint: string };
  /** A device list was applied: `added` / `removed` compare active ids with the cached list. */
  deviceList: {
    readonly jid: string;
    readonly namespace: OmemoNamespace;
    readonly active: readonly number[];
    readonly added: readonly number[];
    readonly removed: readonly number[];
  };
  /** Something was published to our PEP service. */
  published: { readonly node: string; readonly itemId: string };
  /** The manager sent an empty OMEMO message by itself. */
  sent: {
    readonly to: string;
    readonly deviceId: number;
    readonly namespace: OmemoNamespace;
    readonly reason: AutomaticMessageReason;
  };
  /** A failure in work that does not fail the call that caused it (a republish or an automatic message). */
  error: OmemoError;
}

type Listener<K extends keyof SessionManagerEvents> = (event: SessionManagerEvents[K]) => void;

export class Emitter {
  readonly #listeners = new Map<keyof SessionManagerEvents, Set<(event: never) => void>>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof SessionManagerEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const entry = listener as (event: never) => void;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof SessionManagerEvents>(event: K, value: SessionManagerEvents[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<K>)(value);
      } catch (error) {
        // A listener's bug must not break the manager's own work (or loop through "error").
        if (event !== "error") this.#onListenerError(error);
      }
    }
  }
}
