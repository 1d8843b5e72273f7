import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "./client.js";
import { Router } from "./router.js";

export type Print = (line: string) => void;

export const ALICE = "alice@example.org";
export const BOB = "bob@example.net";

/** The passphrases of the demo's stores: secret, never printed (a test checks the output). */
export const PASSPHRASES = {
  alicePhone: "alice phone: correct horse battery staple",
  aliceLaptop: "alice laptop: tr0ub4dor&3 but longer",
  bobPhone: "bob phone: the blue door at midnight",
  bobPhoneNew: "bob phone: a brand new passphrase 2026",
  bobTablet: "bob tablet: sunflower typewriter lagoon",
} as const;

/** The router, the devices, and the directory their SQLite files live in. */
export class World {
  readonly router = new Router();
  readonly dir = mkdtempSync(join(tmpdir(), "parley-demo-"));
  readonly clients: Client[] = [];

  async add(name: string, fullJid: string, passphrase: string): Promise<Client> {
    const client = await Client.create(this.router, this.dir, name, fullJid, passphrase);
    this.clients.push(client);
    await this.router.idle(); // the new device's lists and bundles are published and announced
    return client;
  }

  /** "Bob's phone" for a device id of an account, as the story prints it. */
  nameOf(jid: string, deviceId: number): string {
    return this.clients.find((c) => c.jid === jid && c.deviceId === deviceId)?.name ?? `${jid} device ${deviceId}`;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
