// A small world of accounts and devices for the session manager tests: each device is a
// SessionManager with its own store, connected to one in-memory network that delivers only when told.
import type { Element } from "ltx";
import {
  MemoryOmemoStore,
  MemoryXmppNetwork,
  SessionManager,
  type DecryptResult,
  type DeviceIdentity,
  type MemoryClient,
  type MemoryXmppNetworkOptions,
  type OmemoNamespace,
  type OmemoStoreTransaction,
  type OmemoTransport,
  type PublishOptions,
  type SessionManagerOptions,
  type TrustLevel,
} from "../../src/index.js";

/** A memory store whose transactions fail at commit while `broken` is set (a full disk). */
export class BrokenStore extends MemoryOmemoStore {
  broken = false;
  override transaction<T>(body: (tx: OmemoStoreTransaction) => Promise<T>): Promise<T> {
    return super.transaction(async (tx) => {
      const result = await body(tx);
      if (this.broken) throw new Error("disk full");
      return result;
    });
  }
}

export const ALICE = "alice@example.org";
export const BOB = "bob@example.net";
export const CAROL = "carol@example.com";

/** What a device's message handler saw: decrypted messages and errors, in order. */
export interface Received {
  readonly result?: DecryptResult;
  readonly error?: unknown;
  readonly stanza: Element;
}

export class Device {
  readonly jid: string;
  readonly resource: string;
  store: MemoryOmemoStore;
  manager!: SessionManager;
  readonly client: MemoryClient;
  readonly received: Received[] = [];
  /** Devices this one refuses (trust "untrusted") or has not decided on, by fingerprint. */
  readonly trust = new Map<string, TrustLevel>();
  readonly asked: Array<DeviceIdentity & { purpose: string }> = [];
  options: Partial<SessionManagerOptions>;
  /** Every publication of this device, with its publish-options. */
  readonly published: Array<{ node: string; itemId: string; options: PublishOptions; payload: Element }> = [];
  /** Make the next transport calls of these kinds throw (failure injection). */
  readonly failing = new Set<"publish" | "fetch" | "send" | "retract">();
  readonly transport: OmemoTransport;
  readonly #world: World;

  constructor(world: World, jid: string, resource: string, options: Partial<SessionManagerOptions>) {
    this.#world = world;
    this.jid = jid;
    this.resource = resource;
    this.options = options;
    this.store = new MemoryOmemoStore();
    this.client = world.network.connect(`${jid}/${resource}`, {
      message: async (stanza) => {
        try {
          const result = await this.manager.decrypt(stanza);
          this.received.push({ result, stanza });
          return result;
        } catch (error) {
          this.received.push({ error, stanza });
          throw error;
        }
      },
      pubsub: (from, node, items) => this.manager.handlePubsubEvent(from, node, items),
      retract: (from, node) => this.manager.handlePubsubRetraction(from, node),
    });
    const inner = this.client.transport;
    const check = (kind: "publish" | "fetch" | "send" | "retract"): void => {
      if (this.failing.has(kind)) throw new Error(`${kind} failed (injected)`);
    };
    this.transport = {
      publish: async (node, itemId, payload, options) => {
        check("publish");
        this.published.push({ node, itemId, options, payload });
        await inner.publish(node, itemId, payload, options);
      },
      fetch: async (jid, node, itemId) => {
        check("fetch");
        return inner.fetch(jid, node, itemId);
      },
      send: async (to, message) => {
        check("send");
        await inner.send(to, message);
      },
      retract: async (node, itemId) => {
        check("retract");
        await inner.retract!(node, itemId);
      },
    };
  }

  async start(): Promise<this> {
    this.manager = await SessionManager.create({
      jid: this.jid,
      store: this.store,
      transport: this.transport,
      trust: {
        decide: (device, purpose) => {
          this.asked.push({ ...device, purpose });
          return this.trust.get(device.fingerprint) ?? "trusted";
        },
      },
      now: () => this.#world.clock,
      ...this.options,
    });
    return this;
  }

  /** A restart: a new SessionManager over the same store (optionally an older copy of it). */
  async restart(store: MemoryOmemoStore = this.store): Promise<this> {
    this.store = store;
    return this.start();
  }

  /** Texts decrypted so far, in order. */
  texts(): string[] {
    return this.received.flatMap((r) =>
      r.result?.kind === "message" && r.result.body !== undefined ? [r.result.body] : [],
    );
  }

  errors(): unknown[] {
    return this.received.flatMap((r) => (r.error === undefined ? [] : [r.error]));
  }

  get deviceId(): number {
    return this.manager.deviceId;
  }
}

export class World {
  readonly network: MemoryXmppNetwork;
  readonly devices: Device[] = [];
  clock = Date.UTC(2026, 0, 1);

  constructor(options: MemoryXmppNetworkOptions = {}) {
    this.network = new MemoryXmppNetwork(options);
  }

  async add(jid: string, options: Partial<SessionManagerOptions> = {}): Promise<Device> {
    const device = new Device(this, jid, `r${this.devices.length}`, options);
    this.devices.push(device);
    await device.start();
    // Creation publishes: let every device see the new lists and bundles.
    await this.network.flush();
    return device;
  }

  async send(from: Device, to: string, body: string, namespace?: OmemoNamespace) {
    return from.manager.send(to, { body }, namespace === undefined ? {} : { namespaces: [namespace] });
  }
}
