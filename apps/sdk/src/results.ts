/**
 * The results of the commands, as parley-chat's ChatClient returns them in a reply's `result`. Typed
 * where the shape is settled; `unknown` where a caller should not rely on more than success.
 */
import type { Command, DefaultEncryption, QueueState } from "./protocol.js";

/** `send` without `namespace`: the message is in the outgoing queue (follow it with `queue` events). */
export interface QueuedSend {
  readonly id: string;
  readonly state: QueueState;
}

/** `send` with `namespace`: sent at once, OMEMO in that namespace; one entry per recipient device. */
export interface DirectSend {
  readonly devices: ReadonlyArray<{ readonly jid: string; readonly deviceId: number; readonly status: string }>;
}

export interface Contact {
  readonly jid: string;
  readonly name?: string;
  /** RFC 6121: "none", "to", "from" or "both" (OMEMO needs "both"). */
  readonly subscription: string;
  readonly online: boolean;
  readonly encryption: DefaultEncryption;
  readonly muted: boolean;
}

/** `fingerprints` without `jid`: our own keys. */
export interface OwnFingerprints {
  readonly jid: string;
  readonly omemo: ReadonlyArray<{
    readonly deviceId: number;
    readonly fingerprint: string;
    readonly formatted: string;
  }>;
  readonly otr: { readonly fingerprint: string; readonly formatted: string };
}

/** `fingerprints` with `jid`: one of the contact's keys and its trust state. */
export interface ContactFingerprint {
  readonly jid: string;
  /** "omemo" or "otr". */
  readonly protocol: string;
  /** OMEMO: the device the key belongs to. */
  readonly deviceId?: number;
  readonly fingerprint: string;
  readonly formatted: string;
  /** The trust store's state: "tofu", "verified", "untrusted" or "compromised" */
  readonly state: string;
}

/** `verify`, `distrust`, and each entry of `scan`. */
export interface TrustResult {
  readonly jid: string;
  readonly protocol: string;
  readonly fingerprint: string;
  readonly state: string;
}

export interface QueueEntry {
  readonly id: string;
  readonly to: string;
  readonly state: QueueState;
  readonly method?: string;
  readonly reason?: string;
}

/** One message of a conversation's history, as parley-chat stores it (encrypted) in its profile. */
export interface HistoryEntry {
  /** Bare JID of the contact (or the room) the conversation is with. */
  readonly peer: string;
  readonly direction: "in" | "out";
  /** Sender's bare JID (ours for "out"). */
  readonly from: string;
  /** The text; a file is `[file <media id>]` (received) or `[file <upload name>]` (sent). */
  readonly body: string;
  /** "omemo2", "legacy", "omemo", "otr" or "none". */
  readonly encryption: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
}

export interface Status {
  readonly version: number;
  readonly jid: string;
  readonly deviceId: number;
  readonly fingerprint: string;
  readonly otrFingerprint: string;
  readonly online: boolean;
  /** Whether OMEMO is on for this device (the `omemo` command); absent from a parley-chat without it. */
  readonly omemo?: "on" | "off";
  /** Messages not yet sent. */
  readonly pending: number;
  readonly remembersPassphrase: boolean;
}

/** `omemo`: whether OMEMO is now on for this device, and the device. */
export interface OmemoSwitchResult {
  readonly omemo: "on" | "off";
  readonly deviceId: number;
}

export interface ContactSettingsResult {
  readonly defaultEncryption: DefaultEncryption;
  readonly muted: boolean;
}

/** Each command's result, by name (`send` and `fingerprints` are refined by {@link ResultOf}). */
export interface CommandResults {
  send: QueuedSend | DirectSend;
  resend: { readonly id: string; readonly state?: QueueState };
  cancel: { readonly id: string };
  queue: readonly QueueEntry[];
  history: readonly HistoryEntry[];
  contacts: readonly Contact[];
  "add-contact": { readonly jid: string };
  approve: { readonly jid: string };
  "remove-contact": { readonly jid: string };
  fingerprints: OwnFingerprints | readonly ContactFingerprint[];
  verify: TrustResult;
  distrust: TrustResult;
  share: { readonly uri: string; readonly qr?: string };
  scan: readonly TrustResult[];
  "set-encryption": ContactSettingsResult;
  mute: ContactSettingsResult;
  omemo: OmemoSwitchResult;
  "otr-start": { readonly peer: string };
  "otr-end": { readonly peer: string };
  smp: { readonly peer: string };
  "smp-answer": { readonly peer: string };
  join: { readonly room: string; readonly created: boolean; readonly nonAnonymous: boolean };
  leave: { readonly room: string };
  invite: { readonly room: string; readonly jid: string };
  "room-send": { readonly room: string; readonly devices: number };
  "send-file": { readonly to: string; readonly size: number; readonly uploadName: string };
  "delete-media": { readonly deleted: true };
  "change-passphrase": { readonly changed: true };
  "remember-passphrase": { readonly remembered: boolean };
  files: ReadonlyArray<{
    readonly mediaId: string;
    readonly name?: string;
    readonly size: number;
    /** Milliseconds since the epoch. */
    readonly at: number;
  }>;
  "save-file": { readonly mediaId: string; readonly path: string; readonly size: number };
  "mark-read": { readonly jid: string; readonly id: string };
  status: Status;
  /** Refused by the WebSocket API (API_REFUSED_COMMANDS). */
  quit: never;
}

/** The result type of one command (what `ParleyClient.request` resolves with). */
export type ResultOf<C extends Command> = C extends { readonly cmd: "send"; readonly namespace: string }
  ? DirectSend
  : C extends { readonly cmd: "send" }
    ? QueuedSend
    : C extends { readonly cmd: "fingerprints"; readonly jid: string }
      ? readonly ContactFingerprint[]
      : C extends { readonly cmd: "fingerprints" }
        ? OwnFingerprints
        : CommandResults[C["cmd"]];
