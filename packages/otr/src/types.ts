import type { OtrError } from "./errors.js";
import type { EngineChoice, RandomSource } from "./engine.js";
import type { DsaPrivateKey } from "./dsa.js";
import type { OtrVersion, Tlv } from "./wire.js";

/** What the session may do; libotr's OTRL_POLICY_* flags as a typed object. */
export interface OtrPolicy {
  /** Speak version 2 (OTRL_POLICY_ALLOW_V2). */
  readonly allowV2: boolean;
  /** Speak version 3 (OTRL_POLICY_ALLOW_V3). */
  readonly allowV3: boolean;
  /** Never send plaintext: `send()` in MSGSTATE_PLAINTEXT queues the message and returns a Query message. */
  readonly requireEncryption: boolean;
  /** Append the whitespace tag to outgoing plaintext until the peer answers (OTRL_POLICY_SEND_WHITESPACE_TAG). */
  readonly sendWhitespaceTag: boolean;
  /** Start the AKE when a whitespace-tagged plaintext arrives (OTRL_POLICY_WHITESPACE_START_AKE). */
  readonly whitespaceStartAke: boolean;
  /** Answer a peer's `?OTR Error:` with a Query message (OTRL_POLICY_ERROR_START_AKE). */
  readonly errorStartAke: boolean;
}

/** libotr's OTRL_POLICY_DEFAULT: v2 and v3, opportunistic, no whitespace tag sent. */
export const DEFAULT_POLICY: OtrPolicy = Object.freeze({
  allowV2: true,
  allowV3: true,
  requireEncryption: false,
  sendWhitespaceTag: false,
  whitespaceStartAke: true,
  errorStartAke: true,
});

export interface OtrSessionOptions {
  /** Our account (e.g. the bare JID). Used in events and for the trust store; not sent. */
  readonly account: string;
  /** The contact (e.g. their bare JID). */
  readonly contact: string;
  /** Our long-term DSA key. */
  readonly privateKey: DsaPrivateKey;
  /** Our instance tag (>= 0x100). Random if absent; persist it per (account, client) and pass it back. */
  readonly instanceTag?: number;
  /** Bind this session to one instance of the contact (>= 0x100). Otherwise learnt from its first v3 AKE message. */
  readonly theirInstanceTag?: number;
  /** Policy; missing fields come from DEFAULT_POLICY. */
  readonly policy?: Partial<OtrPolicy>;
  /** Largest outgoing message in characters; longer encoded messages are fragmented. 0 or absent: never fragment. */
  readonly maxFragmentSize?: number;
  /** "auto" (default: node:crypto in Node, BigInt elsewhere), "native", "bigint", or a custom OtrEngine. */
  readonly engine?: EngineChoice;
  /** Random source of the built-in engines (tests); the platform CSPRNG by default. */
  readonly random?: RandomSource;
  /** Milliseconds without sending after which a received message is answered with a heartbeat (libotr: 60 s). 0 disables. */
  readonly heartbeatIntervalMs?: number;
  /** Clock for heartbeats (tests). */
  readonly now?: () => number;
  /** Account name shown in the `?OTR Error:` and query texts we send; default `account`. */
  readonly displayName?: string;
}

/** OTR message state (spec MSGSTATE_*). */
export type MessageState = "plaintext" | "encrypted" | "finished";
/** OTR authentication state (spec AUTHSTATE_*; v1 is not supported). */
export type AuthState = "none" | "awaiting-dhkey" | "awaiting-revealsig" | "awaiting-sig";
/** SMP outcome. */
export type SmpResult = "verified" | "failed" | "aborted";

/** Something the application should know about, produced by receive() (and sometimes by send()). */
export type OtrEvent =
  /**
   * A message for the user. `encrypted` says whether it came through OTR. `warning` is set for plaintext that
   * arrived while we were encrypted/finished or while the policy requires encryption (show it with a warning).
   */
  | {
      readonly type: "message";
      readonly text: string;
      readonly encrypted: boolean;
      readonly warning?: "unencrypted";
      /** TLVs of an encrypted message other than those the session handles (padding, SMP, disconnect, extra key). */
      readonly tlvs: readonly Tlv[];
    }
  /** An encrypted message with an empty human-readable part: do not display (it rotated keys). */
  | { readonly type: "heartbeat" }
  /** The message state changed. */
  | {
      readonly type: "state";
      readonly state: MessageState;
      readonly previous: MessageState;
      /** Protocol version of the encrypted session. */
      readonly version?: OtrVersion;
      /** Their fingerprint (40 lowercase hex) when the state is "encrypted". */
      readonly fingerprint?: string;
      /** Why: "ake" (AKE completed), "peer-ended" (TLV 1), "local-end" (end()), "refresh" (a new AKE while encrypted). */
      readonly reason: "ake" | "peer-ended" | "local-end" | "refresh";
    }
  /** The peer started SMP; answer with session.smp.respond(secret) or session.smp.abort(). */
  | { readonly type: "smp-request"; readonly question?: string }
  /** SMP advanced (1: we sent message 1 … 4: final message exchanged). */
  | { readonly type: "smp-progress"; readonly step: 1 | 2 | 3 | 4 }
  /** SMP ended. `fingerprint` is their fingerprint (40 hex) the result is about. */
  | {
      readonly type: "smp-result";
      readonly result: SmpResult;
      readonly fingerprint: string;
      readonly initiator: boolean;
    }
  /** The peer sent TLV 8: derive the same key with the `key` given here. */
  | { readonly type: "extra-key"; readonly key: Uint8Array; readonly use: number; readonly data: Uint8Array }
  /** The peer sent an `?OTR Error:` message (its text, as sent; may be attacker-controlled). */
  | { readonly type: "peer-error"; readonly text: string }
  /**
   * An incoming message was rejected (typed error; the session state did not change), or a message for
   * another instance was ignored.
   */
  | { readonly type: "error"; readonly error: OtrError };

/** What receive() returns: events for the app and wire messages to send back to the contact, in order. */
export interface ReceiveResult {
  readonly events: OtrEvent[];
  readonly replies: string[];
}

/** A trust store as OTR needs it: @parley/trust's TrustStore satisfies it structurally. */
export interface OtrTrust {
  verify(
    account: string,
    contact: string,
    protocol: string,
    fingerprint: string | Uint8Array,
    action: { readonly method?: "smp" },
  ): Promise<unknown>;
}
