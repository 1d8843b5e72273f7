// The session manager's state in a real @parley/storage EncryptedStore (memory and SQLite backends):
// the opened store is passed as `store` with no adapter, two accounts talk in each namespace, restart
// from the reopened store and go on, and a duplicate changes no byte of the encrypted store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScryptParams } from "@parley/crypto";
import { EncryptedStore, memoryBackend, type StorageBackend } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import type { Element } from "ltx";
import { afterEach, describe, expect, it } from "vitest";
import {
  isOmemoError,
  MemoryXmppNetwork,
  NS_LEGACY,
  NS_V2,
  SessionManager,
  type DecryptResult,
  type MemoryClient,
  type OmemoNamespace,
  type OmemoStore,
} from "../../src/index.js";

/** Tiny scrypt cost, as @parley/storage's own tests use: the default costs half a second per open. */
const FAST_KDF: ScryptParams = { N: 16, r: 1, p: 1, dkLen: 32 };
const ALICE = "alice@example.org";
const BOB = "bob@example.net";

/** A location that can be opened again after the store on it was closed. */
interface Location {
  open(): Promise<StorageBackend>;
}

interface BackendKind {
  readonly name: string;
  fresh(label: string): Location;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const BACKENDS: BackendKind[] = [
  {
    name: "memory",
    fresh() {
      const backend = memoryBackend(); // close() keeps the rows, so the same object reopens
      return { open: () => Promise.resolve(backend) };
    },
  },
  {
    name: "sqlite",
    fresh(label) {
      const dir = mkdtempSync(join(tmpdir(), "parley-omemo-storage-"));
      cleanups.push(() => {
        rmSync(dir, { recursive: true, force: true });
      });
      return { open: () => openSqliteBackend(join(dir, `${label}.db`)) };
    },
  },
];

/** Every sealed row and the sealed integrity state, as the backend holds them. */
async function rawRows(backend: StorageBackend): Promise<Array<[string, string]>> {
  const rows = (await backend.scanPrefix("")).map((e): [string, string] => [
    e.key,
    Buffer.from(e.value).toString("hex"),
  ]);
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const state = await backend.getMeta("state");
  rows.push(["<state>", state === undefined ? "" : Buffer.from(state).toString("hex")]);
  return rows;
}

class Account {
  readonly jid: string;
  readonly namespace: OmemoNamespace;
  readonly location: Location;
  readonly client: MemoryClient;
  readonly network: MemoryXmppNetwork;
  readonly received: DecryptResult[] = [];
  readonly errors: unknown[] = [];
  /** Every `<message>` delivered to this account, in order. */
  readonly delivered: Element[] = [];
  db!: EncryptedStore;
  backend!: StorageBackend;
  manager!: SessionManager;

  constructor(network: MemoryXmppNetwork, kind: BackendKind, jid: string, namespace: OmemoNamespace) {
    this.network = network;
    this.jid = jid;
    this.namespace = namespace;
    this.location = kind.fresh(jid.split("@")[0] ?? "account");
    this.client = network.connect(`${jid}/phone`);
  }

  async start(first: boolean): Promise<void> {
    this.backend = await this.location.open();
    this.db = first
      ? await EncryptedStore.create(this.backend, { passphrase: `${this.jid} passphrase`, kdf: FAST_KDF })
      : await EncryptedStore.open(this.backend, { passphrase: `${this.jid} passphrase` });
    // The point of this file: the opened EncryptedStore is an OmemoStore as it is, no adapter.
    const store: OmemoStore = this.db;
    this.manager = await SessionManager.create({
      jid: this.jid,
      store,
      transport: this.client.transport,
      trust: { decide: () => "trusted" },
      namespaces: [this.namespace],
    });
    this.network.setHandlers(this.client, {
      message: async (stanza) => {
        this.delivered.push(stanza);
        try {
          this.received.push(await this.manager.decrypt(stanza));
        } catch (error) {
          this.errors.push(error);
        }
      },
      pubsub: (from, node, items) => this.manager.handlePubsubEvent(from, node, items),
    });
  }

  /** A restart: the store is closed (keys wiped) and reopened from its backend location. */
  async restart(): Promise<void> {
    await this.db.close();
    await this.start(false);
  }

  async preKeyIds(): Promise<number[]> {
    return (await this.manager.ownBundle(this.namespace)).preKeys.map((p) => p.id);
  }

  /** The readable messages received so far. */
  bodies(): string[] {
    return this.received.filter((r) => r.kind === "message").map((r) => r.body ?? "");
  }
}

describe.each(BACKENDS)("session manager on @parley/storage ($name backend)", (kind) => {
  describe.each([NS_V2, NS_LEGACY] as const)("%s", (namespace) => {
    it("key exchange, replies, prekey replaced, restart and go on, duplicates change nothing", async () => {
      const network = new MemoryXmppNetwork();
      const alice = new Account(network, kind, ALICE, namespace);
      const bob = new Account(network, kind, BOB, namespace);
      await alice.start(true);
      await bob.start(true);
      await network.flush();
      const publicationsAfterSetup = network.publications.length;
      const bobPreKeysBefore = await bob.preKeyIds();
      expect(bobPreKeysBefore).toHaveLength(100);

      // 1. Alice's first message: a key exchange that consumes one of Bob's one-time prekeys.
      const first = await alice.manager.send(BOB, { body: "Hi Bob!" });
      expect(first.devices).toEqual([
        expect.objectContaining({ jid: BOB, deviceId: bob.manager.deviceId, status: "encrypted", keyExchange: true }),
      ]);
      await network.flush();
      expect(bob.errors).toEqual([]);
      expect(bob.bodies()).toEqual(["Hi Bob!"]);
      expect(bob.received[0]).toMatchObject({ from: ALICE, keyExchange: true, newSession: true, namespace });
      const keyExchangeStanza = bob.delivered[0];
      if (keyExchangeStanza === undefined) throw new Error("Bob got no stanza");

      // The prekey is gone, replaced by one with a fresh, larger id, and the bundle republished.
      const bobPreKeysAfter = await bob.preKeyIds();
      expect(bobPreKeysAfter).toHaveLength(100);
      const removed = bobPreKeysBefore.filter((id) => !bobPreKeysAfter.includes(id));
      const added = bobPreKeysAfter.filter((id) => !bobPreKeysBefore.includes(id));
      expect(removed).toHaveLength(1);
      expect(added).toHaveLength(1);
      expect(added[0]).toBeGreaterThan(Math.max(...bobPreKeysBefore));
      expect(network.publications.length).toBeGreaterThan(publicationsAfterSetup);
      // Bob's automatic empty message completed the session at Alice.
      expect(alice.received.map((r) => r.kind)).toEqual(["empty"]);
      expect((await alice.manager.sessionInfo(BOB, bob.manager.deviceId, namespace))?.keyExchangePending).toBe(false);

      // 2. Replies both ways, no more key exchanges.
      await bob.manager.send(ALICE, { body: "Hi Alice!" });
      await network.flush();
      await alice.manager.send(BOB, { body: "How are you?" });
      await network.flush();
      expect(alice.bodies()).toEqual(["Hi Alice!"]);
      expect(bob.bodies()).toEqual(["Hi Bob!", "How are you?"]);
      expect(bob.received[1]?.keyExchange).toBe(false);

      // 3. Both restart from their reopened encrypted stores: same device, nothing republished.
      const ids = [alice.manager.deviceId, bob.manager.deviceId];
      const fingerprints = [alice.manager.fingerprint, bob.manager.fingerprint];
      const publicationsBeforeRestart = network.publications.length;
      await alice.restart();
      await bob.restart();
      expect([alice.manager.deviceId, bob.manager.deviceId]).toEqual(ids);
      expect([alice.manager.fingerprint, bob.manager.fingerprint]).toEqual(fingerprints);
      expect(network.publications).toHaveLength(publicationsBeforeRestart);
      expect(await bob.preKeyIds()).toEqual(bobPreKeysAfter);

      // 4. The conversation goes on in the stored sessions.
      await bob.manager.send(ALICE, { body: "Fine, after a restart." });
      await network.flush();
      const goOn = await alice.manager.send(BOB, { body: "Me too." });
      expect(goOn.devices.map((d) => d.keyExchange)).toEqual([false]);
      await network.flush();
      expect(alice.bodies()).toEqual(["Hi Alice!", "Fine, after a restart."]);
      expect(bob.bodies()).toEqual(["Hi Bob!", "How are you?", "Me too."]);
      expect(alice.errors).toEqual([]);
      expect(bob.errors).toEqual([]);

      // 5. Duplicates (a MAM replay of the key exchange, a repeated normal message) are refused and
      //    leave every sealed row of Bob's encrypted store, and its commit counter, as they were.
      const lastStanza = bob.delivered.at(-1);
      if (lastStanza === undefined) throw new Error("Bob got no stanza");
      const rowsBefore = await rawRows(bob.backend);
      const commitsBefore = bob.db.commitCounter;
      for (const duplicate of [keyExchangeStanza, lastStanza]) {
        const error: unknown = await bob.manager.decrypt(duplicate).then(
          () => "decrypted",
          (e: unknown) => e,
        );
        expect(isOmemoError(error, "DUPLICATE_MESSAGE")).toBe(true);
      }
      expect(bob.db.commitCounter).toBe(commitsBefore);
      expect(await rawRows(bob.backend)).toEqual(rowsBefore);
      expect(await bob.preKeyIds()).toEqual(bobPreKeysAfter);
      expect(network.queue).toHaveLength(0); // no automatic reply to a duplicate

      // ...and the store still opens (integrity digest verified) after all this.
      await bob.restart();
      await alice.manager.send(BOB, { body: "Still there?" });
      await network.flush();
      expect(bob.bodies().at(-1)).toBe("Still there?");
      await alice.db.close();
      await bob.db.close();
    });
  });
});
