/**
 * Parley as an implementation of the adapter protocol, through the public APIs of @parley/x3dh,
 * @parley/double-ratchet and @parley/crypto only. The suites use it in-process as the reference peer;
 * `adapters/parley.ts` serves it over stdin/stdout as the reference adapter.
 */
import { bytesToHex, defaultCrypto, isCryptoError, type Crypto, type KeyPair } from "@parley/crypto";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  deserializeSession,
  encrypt,
  inspectMessage,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  signal,
  signalHeaderEncrypted,
  type RatchetProfile,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle,
  encodeIdentityKey,
  generateSignedPreKey,
  generateIdentityKeyPair,
  initiate,
  InMemoryPreKeyStore,
  isX3dhError,
  respond,
  type Bundle,
  type OneTimePreKey,
  type SignedPreKey,
  type X3dhProfile,
} from "@parley/x3dh";
import { bytes, integer } from "./args.js";
import { AdapterError } from "./errors.js";
import { OmemoReference } from "./reference-omemo.js";
import { OtrReference } from "./reference-otr.js";
import { XeddsaReference } from "./reference-xeddsa.js";
import {
  OP_NAMES,
  PROFILES,
  PROTOCOL_VERSION,
  type BundleHex,
  type ErrorCode,
  type KeyExchangeHex,
  type KeyPairHex,
  type OpArgs,
  type OpName,
  type OpResult,
  type ProfileName,
} from "./protocol.js";

/**
 * One area of the protocol (XEdDSA, OMEMO stanzas, OTR) answered by Parley, with its own state. Its
 * errors are AdapterErrors with a protocol code (anything else becomes INTERNAL).
 */
export interface ReferenceArea {
  readonly ops: readonly OpName[];
  /** Answers one of `ops`, synchronously or with a promise. */
  handle(op: OpName, args: Record<string, unknown>): unknown;
}

/** Something that answers protocol ops: an adapter process through its client, or an in-process one. */
export interface Implementation {
  readonly name: string;
  call<O extends OpName>(op: O, args: OpArgs<O>): Promise<OpResult<O>>;
}

const RATCHET_PROFILES: Record<ProfileName, RatchetProfile> = {
  legacyOmemo,
  omemo2,
  signal,
  signalHeaderEncrypted,
};

interface Party {
  readonly profile: ProfileName;
  readonly identity: KeyPair;
  readonly store: InMemoryPreKeyStore;
}

interface SessionEntry {
  readonly profile: ProfileName;
  session: Session;
}

function profileOf(value: unknown): ProfileName {
  if (typeof value !== "string" || !PROFILES.includes(value as ProfileName)) {
    throw new AdapterError("UNSUPPORTED_PROFILE", `unknown profile ${JSON.stringify(value)}`);
  }
  return value as ProfileName;
}

const hex = bytesToHex;

function toBundle(b: BundleHex): Bundle {
  if (typeof b !== "object" || b === null || !Array.isArray(b.oneTimePreKeys)) {
    throw new AdapterError("INVALID_ARGUMENT", "bundle must be an object with oneTimePreKeys");
  }
  return {
    identityKey: bytes(b.identityKey, "bundle.identityKey"),
    signedPreKey: {
      id: integer(b.signedPreKeyId, "bundle.signedPreKeyId"),
      publicKey: bytes(b.signedPreKey, "bundle.signedPreKey"),
    },
    signedPreKeySignature: bytes(b.signedPreKeySignature, "bundle.signedPreKeySignature"),
    oneTimePreKeys: b.oneTimePreKeys.map((k, i) => ({
      id: integer(k.id, `bundle.oneTimePreKeys[${i}].id`),
      publicKey: bytes(k.publicKey, `bundle.oneTimePreKeys[${i}].publicKey`),
    })),
  };
}

function fromBundle(b: Bundle): BundleHex {
  return {
    identityKey: hex(b.identityKey),
    signedPreKeyId: b.signedPreKey.id,
    signedPreKey: hex(b.signedPreKey.publicKey),
    signedPreKeySignature: hex(b.signedPreKeySignature),
    oneTimePreKeys: b.oneTimePreKeys.map((k) => ({ id: k.id, publicKey: hex(k.publicKey) })),
  };
}

/** Maps an error of our packages to a protocol code (`context` decides where a bad key is the bundle's fault). */
export function errorCodeOf(e: unknown, context: "bundle" | "message"): ErrorCode {
  if (e instanceof AdapterError) return e.code;
  if (isDoubleRatchetError(e)) {
    // STALE_SESSION cannot happen here (the adapter always keeps the newest session): a bug if it does.
    return e.code === "STALE_SESSION" ? "INTERNAL" : e.code;
  }
  if (isX3dhError(e)) {
    switch (e.code) {
      case "MALFORMED_KEY":
      case "LOW_ORDER_POINT":
        return context === "bundle" ? "INVALID_BUNDLE" : "MALFORMED_MESSAGE";
      default:
        return e.code;
    }
  }
  if (isCryptoError(e)) return "INVALID_ARGUMENT";
  return "INTERNAL";
}

/** Parley behind the protocol. Synchronous inside; `call` wraps it for the {@link Implementation} interface. */
export class ParleyImplementation implements Implementation {
  readonly name = "parley";
  readonly #crypto: Crypto;
  readonly #parties = new Map<string, Party>();
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #areas: readonly ReferenceArea[];
  #nextHandle = 1;

  /**
   * @param crypto - every key, nonce and IV comes from its random source (a deterministic one makes runs reproducible)
   * @param options.now - the clock of the OMEMO devices (their envelopes' `<time>`); fixed for reproducible runs
   */
  constructor(crypto: Crypto = defaultCrypto(), options: { now?: () => number } = {}) {
    this.#crypto = crypto;
    this.#areas = [new XeddsaReference(crypto), new OmemoReference(crypto, options.now), new OtrReference(crypto)];
  }

  call<O extends OpName>(op: O, args: OpArgs<O>): Promise<OpResult<O>> {
    try {
      return Promise.resolve(this.handle(op, args));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Answers one request; throws {@link AdapterError} with a protocol code. */
  handle<O extends OpName>(op: O, args: OpArgs<O>): OpResult<O> {
    if (typeof args !== "object" || args === null) throw new AdapterError("INVALID_ARGUMENT", "args must be an object");
    const area = this.#areas.find((a) => a.ops.includes(op));
    if (area) return this.#areaCall(area, op, args as unknown as Record<string, unknown>) as OpResult<O>;
    const context = op === "x3dh.initiate" || op === "ratchet.initiate" ? "bundle" : "message";
    try {
      return this.#dispatch(op, args as unknown as Record<string, unknown>) as OpResult<O>;
    } catch (e) {
      if (e instanceof AdapterError) throw e;
      const message = e instanceof Error ? e.message : String(e);
      throw new AdapterError(errorCodeOf(e, context), message);
    }
  }

  /** An area's answer; its errors (thrown or rejected) become AdapterErrors (INTERNAL unless they are one). */
  #areaCall(area: ReferenceArea, op: OpName, args: Record<string, unknown>): unknown {
    const toAdapterError = (e: unknown): AdapterError =>
      e instanceof AdapterError ? e : new AdapterError("INTERNAL", e instanceof Error ? e.message : String(e));
    try {
      const result = area.handle(op, args);
      return result instanceof Promise ? result.catch((e: unknown) => Promise.reject(toAdapterError(e))) : result;
    } catch (e) {
      throw toAdapterError(e);
    }
  }

  #handle(prefix: string): string {
    return `${prefix}${this.#nextHandle++}`;
  }

  #x25519(pair: KeyPairHex | undefined, name: string): KeyPair | undefined {
    if (pair === undefined) return undefined;
    const kp = this.#crypto.x25519KeyPair(bytes(pair.privateKey, `${name}.privateKey`));
    if (hex(kp.publicKey) !== pair.publicKey) {
      throw new AdapterError("INVALID_ARGUMENT", `${name}.publicKey is not its private key's`);
    }
    return kp;
  }

  #identity(profile: X3dhProfile, privateKey: unknown): KeyPair {
    const priv = bytes(privateKey, "identityPrivateKey");
    return profile.identityKeyType === "ed25519" ? this.#crypto.ed25519KeyPair(priv) : this.#crypto.x25519KeyPair(priv);
  }

  /** A signed prekey with a fixed key pair (@parley/x3dh signs it with the profile's scheme). */
  #signedPreKey(profile: X3dhProfile, identity: KeyPair, id: number, keyPair: KeyPair): SignedPreKey {
    return generateSignedPreKey(profile, identity, id, { crypto: this.#crypto, keyPair });
  }

  #session(handle: unknown): SessionEntry {
    const entry = typeof handle === "string" ? this.#sessions.get(handle) : undefined;
    if (!entry) throw new AdapterError("UNKNOWN_HANDLE", `no session ${JSON.stringify(handle)}`);
    return entry;
  }

  #party(handle: unknown): Party {
    const party = typeof handle === "string" ? this.#parties.get(handle) : undefined;
    if (!party) throw new AdapterError("UNKNOWN_HANDLE", `no party ${JSON.stringify(handle)}`);
    return party;
  }

  #dispatch(op: OpName, a: Record<string, unknown>): unknown {
    switch (op) {
      case "hello":
        return {
          implementation: "parley",
          version: "0.0.0",
          protocol: PROTOCOL_VERSION,
          profiles: [...PROFILES],
          ops: [...OP_NAMES],
          otrVersions: [2, 3],
        } satisfies OpResult<"hello">;

      case "x3dh.generateIdentity": {
        const profile = RATCHET_PROFILES[profileOf(a["profile"])].x3dh;
        const identity = generateIdentityKeyPair(profile, this.#crypto);
        return {
          privateKey: hex(identity.privateKey),
          identityKey: hex(encodeIdentityKey(profile, identity)),
        } satisfies OpResult<"x3dh.generateIdentity">;
      }

      case "x3dh.bundle": {
        const args = a as unknown as OpArgs<"x3dh.bundle">;
        const name = profileOf(args.profile);
        const profile = RATCHET_PROFILES[name].x3dh;
        const identity = this.#identity(profile, args.identityPrivateKey);
        const spkPair =
          args.signedPreKeyPrivateKey === undefined
            ? this.#crypto.generateX25519KeyPair()
            : this.#crypto.x25519KeyPair(bytes(args.signedPreKeyPrivateKey, "signedPreKeyPrivateKey"));
        const spk = this.#signedPreKey(profile, identity, integer(args.signedPreKeyId, "signedPreKeyId"), spkPair);
        if (!Array.isArray(args.oneTimePreKeys))
          throw new AdapterError("INVALID_ARGUMENT", "oneTimePreKeys must be an array");
        const opks: OneTimePreKey[] = args.oneTimePreKeys.map((k, i) => ({
          id: integer(k.id, `oneTimePreKeys[${i}].id`),
          keyPair:
            k.privateKey === undefined
              ? this.#crypto.generateX25519KeyPair()
              : this.#crypto.x25519KeyPair(bytes(k.privateKey, `oneTimePreKeys[${i}].privateKey`)),
        }));
        const party = this.#handle("party-");
        this.#parties.set(party, { profile: name, identity, store: new InMemoryPreKeyStore([spk], opks) });
        return {
          party,
          bundle: fromBundle(createBundle(profile, identity, spk, opks)),
        } satisfies OpResult<"x3dh.bundle">;
      }

      case "x3dh.initiate": {
        const args = a as unknown as OpArgs<"x3dh.initiate">;
        const profile = RATCHET_PROFILES[profileOf(args.profile)].x3dh;
        const identity = this.#identity(profile, args.identityPrivateKey);
        const ek = this.#x25519(args.ephemeralKeyPair, "ephemeralKeyPair");
        const r = initiate(profile, identity, toBundle(args.bundle), {
          crypto: this.#crypto,
          ...(args.oneTimePreKeyId !== undefined
            ? { oneTimePreKeyId: integer(args.oneTimePreKeyId, "oneTimePreKeyId") }
            : {}),
          ...(ek ? { ephemeralKeyPair: ek } : {}),
        });
        return {
          sharedSecret: hex(r.sharedSecret),
          associatedData: hex(r.associatedData),
          keyExchange: {
            identityKey: hex(r.identityKey),
            ephemeralKey: hex(r.ephemeralKey),
            signedPreKeyId: r.signedPreKeyId,
            oneTimePreKeyId: r.oneTimePreKeyId ?? null,
          },
        } satisfies OpResult<"x3dh.initiate">;
      }

      case "x3dh.respond": {
        const args = a as unknown as OpArgs<"x3dh.respond">;
        const party = this.#party(args.party);
        const k = args.keyExchange;
        if (typeof k !== "object" || k === null) throw new AdapterError("INVALID_ARGUMENT", "keyExchange is missing");
        const r = respond(
          RATCHET_PROFILES[party.profile].x3dh,
          party.identity,
          party.store,
          {
            identityKey: bytes(k.identityKey, "keyExchange.identityKey"),
            ephemeralKey: bytes(k.ephemeralKey, "keyExchange.ephemeralKey"),
            signedPreKeyId: integer(k.signedPreKeyId, "keyExchange.signedPreKeyId"),
            oneTimePreKeyId:
              k.oneTimePreKeyId === null ? undefined : integer(k.oneTimePreKeyId, "keyExchange.oneTimePreKeyId"),
          },
          { crypto: this.#crypto },
        );
        return {
          sharedSecret: hex(r.sharedSecret),
          associatedData: hex(r.associatedData),
        } satisfies OpResult<"x3dh.respond">;
      }

      case "ratchet.initiate": {
        const args = a as unknown as OpArgs<"ratchet.initiate">;
        const name = profileOf(args.profile);
        const profile = RATCHET_PROFILES[name];
        const identity = this.#identity(profile.x3dh, args.identityPrivateKey);
        const ek = this.#x25519(args.ephemeralKeyPair, "ephemeralKeyPair");
        const rk = this.#x25519(args.ratchetKeyPair, "ratchetKeyPair");
        const session = createInitiatorSession(profile, identity, toBundle(args.bundle), {
          crypto: this.#crypto,
          ...(args.oneTimePreKeyId !== undefined
            ? { oneTimePreKeyId: integer(args.oneTimePreKeyId, "oneTimePreKeyId") }
            : {}),
          ...(ek ? { ephemeralKeyPair: ek } : {}),
          ...(rk ? { ratchetKeyPair: rk } : {}),
        });
        const handle = this.#handle("session-");
        this.#sessions.set(handle, { profile: name, session });
        return { session: handle } satisfies OpResult<"ratchet.initiate">;
      }

      case "ratchet.accept": {
        const args = a as unknown as OpArgs<"ratchet.accept">;
        const party = this.#party(args.party);
        const next = this.#x25519(args.nextRatchetKeyPair, "nextRatchetKeyPair");
        const r = acceptSession(
          RATCHET_PROFILES[party.profile],
          party.identity,
          party.store,
          bytes(args.message, "message"),
          { crypto: this.#crypto, ...(next ? { nextRatchetKeyPair: next } : {}) },
        );
        const handle = this.#handle("session-");
        this.#sessions.set(handle, { profile: party.profile, session: r.session });
        return {
          session: handle,
          plaintext: hex(r.plaintext),
          identityKey: hex(r.keyExchange.identityKey),
        } satisfies OpResult<"ratchet.accept">;
      }

      case "ratchet.encrypt": {
        const args = a as unknown as OpArgs<"ratchet.encrypt">;
        const entry = this.#session(args.session);
        const r = encrypt(entry.session, bytes(args.plaintext, "plaintext"), { crypto: this.#crypto });
        entry.session = r.session;
        return { message: hex(r.message), isKeyExchange: r.isKeyExchange } satisfies OpResult<"ratchet.encrypt">;
      }

      case "ratchet.decrypt": {
        const args = a as unknown as OpArgs<"ratchet.decrypt">;
        const entry = this.#session(args.session);
        const next = this.#x25519(args.nextRatchetKeyPair, "nextRatchetKeyPair");
        const r = decrypt(entry.session, bytes(args.message, "message"), {
          crypto: this.#crypto,
          kind: args.isKeyExchange ? "keyExchange" : "message",
          ...(next ? { nextRatchetKeyPair: next } : {}),
        });
        entry.session = r.session;
        return { plaintext: hex(r.plaintext) } satisfies OpResult<"ratchet.decrypt">;
      }

      case "ratchet.inspect": {
        const args = a as unknown as OpArgs<"ratchet.inspect">;
        const info = inspectMessage(
          RATCHET_PROFILES[profileOf(args.profile)],
          bytes(args.message, "message"),
          args.isKeyExchange ? "keyExchange" : "message",
        );
        const k = info.keyExchange;
        const keyExchange: KeyExchangeHex | null = k
          ? {
              identityKey: hex(k.identityKey),
              ephemeralKey: hex(k.ephemeralKey),
              signedPreKeyId: k.signedPreKeyId,
              oneTimePreKeyId: k.oneTimePreKeyId ?? null,
            }
          : null;
        return {
          isKeyExchange: info.isKeyExchange,
          keyExchange,
          message: hex(info.message),
          header: info.header
            ? {
                ratchetKey: hex(info.header.ratchetKey),
                previousCounter: info.header.previousCounter,
                counter: info.header.counter,
              }
            : null,
        } satisfies OpResult<"ratchet.inspect">;
      }

      case "ratchet.serialize": {
        const args = a as unknown as OpArgs<"ratchet.serialize">;
        return {
          state: hex(serializeSession(this.#session(args.session).session)),
        } satisfies OpResult<"ratchet.serialize">;
      }

      case "ratchet.deserialize": {
        const args = a as unknown as OpArgs<"ratchet.deserialize">;
        const name = profileOf(args.profile);
        const session = deserializeSession(bytes(args.state, "state"), { profile: RATCHET_PROFILES[name] });
        const handle = this.#handle("session-");
        this.#sessions.set(handle, { profile: name, session });
        return { session: handle } satisfies OpResult<"ratchet.deserialize">;
      }

      default:
        throw new AdapterError("UNSUPPORTED_OP", `unknown op ${JSON.stringify(op)}`);
    }
  }
}
