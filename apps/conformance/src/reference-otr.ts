/**
 * Parley behind the protocol's OTR ops (one area of ParleyImplementation), through @parley/otr's public
 * API only: one `OtrSession` per `otr.session`, keys from `generateDsaKey` or libotr's private key file
 * (`importLibotrPrivateKeys`). Randomness (DSA keys, instance tags, DH keys, SMP) comes from the Crypto
 * the implementation was made with, so a deterministic Crypto makes the whole area deterministic.
 */
import { bytesToHex, type Crypto } from "@parley/crypto";
import {
  deriveSessionKeys,
  generateDsaKey,
  importLibotrPrivateKeys,
  isOtrError,
  OtrSession,
  type DsaPrivateKey,
  type OtrEvent,
  type OtrErrorCode as ParleyOtrErrorCode,
} from "@parley/otr";
import { bytes, integer } from "./args.js";
import { AdapterError } from "./errors.js";
import type { OpArgs, OpName, OpResult } from "./protocol.js";
import { OTR_OP_NAMES, type OtrEventJson, type OtrPolicyJson } from "./protocol-otr.js";
import type { ReferenceArea } from "./reference.js";

interface Account {
  readonly name: string;
  readonly key: DsaPrivateKey;
  readonly instanceTag: number;
}

/** Largest instance tag; tags below 0x100 are reserved (OTR v3). */
const MAX_INSTANCE_TAG = 0xffffffff;

function text(value: unknown, name: string, options: { empty?: boolean } = {}): string {
  if (typeof value !== "string" || (!options.empty && value === "")) {
    throw new AdapterError("INVALID_ARGUMENT", `${name} must be a${options.empty ? "" : " non-empty"} string`);
  }
  return value;
}

function policyOf(value: unknown): OtrPolicyJson {
  const p = value as Partial<OtrPolicyJson> | null;
  if (typeof p !== "object" || p === null || typeof p.v2 !== "boolean" || typeof p.v3 !== "boolean") {
    throw new AdapterError("INVALID_ARGUMENT", "policy must be an object with booleans v2 and v3");
  }
  if (!p.v2 && !p.v3) throw new AdapterError("UNSUPPORTED_VERSION", "the policy allows no protocol version");
  return { v2: p.v2, v3: p.v3 };
}

/** Which kind of `error` event a rejected message is (libotr's message events, roughly). */
function errorKind(code: ParleyOtrErrorCode): NonNullable<OtrEventJson["kind"]> {
  switch (code) {
    case "BAD_MAC":
    case "REPLAY":
    case "UNKNOWN_KEY":
      return "unreadable";
    case "MALFORMED_MESSAGE":
    case "TOO_LARGE":
    case "UNSUPPORTED_VERSION":
    case "INVALID_GROUP_ELEMENT":
      return "malformed";
    case "NOT_ENCRYPTED":
      return "notEncrypted";
    case "WRONG_INSTANCE":
      return "otherInstance";
    default:
      return "other";
  }
}

/** Our events in the protocol's terms; events the protocol does not name (progress, extra keys) are left out. */
function eventOf(e: OtrEvent): OtrEventJson | undefined {
  switch (e.type) {
    case "state":
      if (e.state === "encrypted") {
        return { type: "secure", version: e.version ?? 3, peerFingerprint: e.fingerprint ?? "" };
      }
      return e.state === "finished" && e.reason === "peer-ended" ? { type: "finished" } : undefined;
    case "smp-request":
      return { type: "smpRequest", question: e.question ?? null };
    case "smp-result":
      return { type: "smpResult", result: e.result };
    case "error":
      return { type: "error", kind: errorKind(e.error.code) };
    case "peer-error":
      return { type: "peerError", text: e.text };
    default:
      return undefined;
  }
}

/**
 * The otr ops answered by Parley: accounts (a DSA key and an instance tag) and sessions (one `OtrSession`
 * with a contact each) live in this object under string handles (`otr-account-<n>`, `otr-session-<n>`), so
 * the runner and the vector scripts can drive it exactly as they drive an adapter. `@parley/otr`'s errors
 * become `AdapterError`s with protocol codes; its events become the protocol's `OtrEventJson`s.
 */
export class OtrReference implements ReferenceArea {
  readonly ops: readonly OpName[] = OTR_OP_NAMES;
  readonly #accounts = new Map<string, Account>();
  readonly #sessions = new Map<string, OtrSession>();
  #next = 1;

  constructor(readonly crypto: Crypto) {}

  handle(op: OpName, args: Record<string, unknown>): unknown {
    try {
      return this.#dispatch(op, args);
    } catch (e) {
      if (isOtrError(e)) {
        const code = e.code === "INVALID_STATE" || e.code === "NOT_ENCRYPTED" ? "INVALID_STATE" : "INVALID_ARGUMENT";
        throw new AdapterError(code, e.message);
      }
      throw e;
    }
  }

  #random = (length: number): Uint8Array => this.crypto.randomBytes(length);

  #session(handle: unknown): OtrSession {
    const s = typeof handle === "string" ? this.#sessions.get(handle) : undefined;
    if (!s) throw new AdapterError("UNKNOWN_HANDLE", `no OTR session ${JSON.stringify(handle)}`);
    return s;
  }

  #dispatch(op: OpName, a: Record<string, unknown>): unknown {
    switch (op) {
      case "otr.createAccount": {
        const args = a as unknown as OpArgs<"otr.createAccount">;
        const name = text(args.account, "account");
        const protocol = text(args.protocol, "protocol");
        let key: DsaPrivateKey;
        if (args.privateKey === undefined) key = generateDsaKey({ random: this.#random });
        else {
          const file = text(args.privateKey, "privateKey");
          let entries;
          try {
            entries = importLibotrPrivateKeys(file);
          } catch (e) {
            throw new AdapterError("INVALID_ARGUMENT", `privateKey: ${e instanceof Error ? e.message : String(e)}`);
          }
          const entry = entries.find((k) => k.account === name && k.protocol === protocol);
          if (!entry) throw new AdapterError("INVALID_ARGUMENT", `privateKey has no key for ${name}/${protocol}`);
          key = entry.key;
        }
        let instanceTag: number;
        if (args.instanceTag === undefined) {
          const b = this.crypto.randomBytes(4);
          instanceTag = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]! | 0x100) >>> 0;
        } else {
          instanceTag = integer(args.instanceTag, "instanceTag");
          if (instanceTag < 0x100 || instanceTag > MAX_INSTANCE_TAG) {
            throw new AdapterError("INVALID_ARGUMENT", "instanceTag must be in 0x100..0xffffffff");
          }
        }
        const handle = `otr-account-${this.#next++}`;
        this.#accounts.set(handle, { name, key, instanceTag });
        return {
          account: handle,
          fingerprint: key.fingerprintHex(),
          instanceTag,
        } satisfies OpResult<"otr.createAccount">;
      }

      case "otr.session": {
        const args = a as unknown as OpArgs<"otr.session">;
        const account = typeof args.account === "string" ? this.#accounts.get(args.account) : undefined;
        if (!account) throw new AdapterError("UNKNOWN_HANDLE", `no OTR account ${JSON.stringify(args.account)}`);
        const peer = text(args.peer, "peer");
        const policy = policyOf(args.policy);
        const maxFragmentSize = integer(args.maxFragmentSize, "maxFragmentSize");
        const session = new OtrSession({
          account: account.name,
          contact: peer,
          privateKey: account.key,
          instanceTag: account.instanceTag,
          policy: {
            allowV2: policy.v2,
            allowV3: policy.v3,
            requireEncryption: false,
            sendWhitespaceTag: false,
            whitespaceStartAke: false,
            errorStartAke: false,
          },
          maxFragmentSize,
          random: this.#random,
          heartbeatIntervalMs: 0,
        });
        const handle = `otr-session-${this.#next++}`;
        this.#sessions.set(handle, session);
        return { session: handle } satisfies OpResult<"otr.session">;
      }

      case "otr.startAke":
        return { messages: this.#session(a["session"]).startAke() } satisfies OpResult<"otr.startAke">;

      case "otr.send": {
        const session = this.#session(a["session"]);
        const plaintext = text(a["plaintext"], "plaintext", { empty: true });
        return { messages: session.send(plaintext) } satisfies OpResult<"otr.send">;
      }

      case "otr.receive": {
        const session = this.#session(a["session"]);
        const message = text(a["message"], "message", { empty: true });
        const r = session.receive(message);
        let plaintext: string | null = null;
        let encrypted = false;
        const events: OtrEventJson[] = [];
        for (const e of r.events) {
          if (e.type === "message") {
            plaintext = plaintext === null ? e.text : plaintext + e.text;
            encrypted = e.encrypted;
          }
          const mapped = eventOf(e);
          if (mapped) events.push(mapped);
        }
        return {
          plaintext,
          encrypted,
          replies: r.replies,
          events,
          state: session.messageState,
        } satisfies OpResult<"otr.receive">;
      }

      case "otr.smpStart": {
        const session = this.#session(a["session"]);
        const secret = text(a["secret"], "secret", { empty: true });
        const question = a["question"] === undefined ? undefined : text(a["question"], "question");
        return { messages: session.smp.start(secret, question) } satisfies OpResult<"otr.smpStart">;
      }

      case "otr.smpRespond": {
        const session = this.#session(a["session"]);
        return {
          messages: session.smp.respond(text(a["secret"], "secret", { empty: true })),
        } satisfies OpResult<"otr.smpRespond">;
      }

      case "otr.end":
        return { messages: this.#session(a["session"]).end() } satisfies OpResult<"otr.end">;

      case "otr.status": {
        const s = this.#session(a["session"]);
        return {
          state: s.messageState,
          version: s.messageState === "plaintext" ? null : (s.version ?? null),
          peerFingerprint: s.theirFingerprint ?? null,
          ourInstanceTag: s.ourInstanceTag,
          theirInstanceTag: s.theirInstanceTag,
        } satisfies OpResult<"otr.status">;
      }

      case "otr.sessionKeys": {
        const x = bytes(a["ourPrivateKey"], "ourPrivateKey");
        const gy = bytes(a["theirPublicKey"], "theirPublicKey");
        // OtrErrors (x out of range, g^y outside 2..p-2: INVALID_GROUP_ELEMENT) become INVALID_ARGUMENT in handle.
        const k = deriveSessionKeys(x, gy);
        let ourPublicKey = k.ourPublic.toString(16);
        if (ourPublicKey.length % 2) ourPublicKey = `0${ourPublicKey}`;
        return {
          ourPublicKey,
          high: k.high,
          sendingAesKey: bytesToHex(k.sendingAesKey),
          sendingMacKey: bytesToHex(k.sendingMacKey),
          receivingAesKey: bytesToHex(k.receivingAesKey),
          receivingMacKey: bytesToHex(k.receivingMacKey),
        } satisfies OpResult<"otr.sessionKeys">;
      }

      default:
        throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
    }
  }
}
