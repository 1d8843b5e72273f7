import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, createCrypto } from "@parley/crypto";
import { EncryptedStore, isStorageError } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { createTrustStore, type TrustStorage } from "@parley/trust";

/**
 * The app's wiring: @parley/trust persisted in @parley/storage's encrypted SQLite file. A namespace
 * handle satisfies TrustStorage structurally; adding `transaction` makes a batch of first keys atomic.
 */
function trustStorageIn(db: EncryptedStore): TrustStorage {
  const ns = db.namespace("trust");
  return {
    get: (key) => ns.get(key),
    put: (key, value) => ns.put(key, value),
    delete: (key) => ns.delete(key),
    scan: (options) => ns.scan(options),
    transaction: (fn) => db.transaction((tx) => fn(tx.namespace("trust"))),
  };
}

export async function runStorageDemo(): Promise<string[]> {
  const out: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "parley-demo-"));
  const path = join(dir, "parley.db");
  const me = "juliet@capulet.example";
  const romeo = "romeo@montague.example";
  const key = bytesToHex(createCrypto().generateX25519KeyPair().publicKey);
  try {
    let started = performance.now();
    const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "correct horse" });
    out.push(
      `created an encrypted SQLite store (scrypt key derivation took ${Math.round(performance.now() - started)} ms)`,
    );
    const trust = createTrustStore({ storage: trustStorageIn(db) });
    const tablet = bytesToHex(createCrypto().generateX25519KeyPair().publicKey);
    await trust.keysSeen(me, romeo, "omemo", [
      { fingerprint: key, deviceId: 1001 },
      { fingerprint: tablet, deviceId: 1002 },
    ]);
    const media = await db.media.put(new TextEncoder().encode("a photo Romeo sent"), { name: "balcony.jpg" });
    await db.close();

    const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => join(dir, f));
    const fileBytes = Buffer.concat(files.filter((f) => statSync(f).isFile()).map((f) => readFileSync(f)));
    out.push(
      `${files.length} files on disk; do they mention "romeo": ${fileBytes.includes("romeo") ? "YES (leak)" : "no"}; his key: ${fileBytes.includes(key) ? "YES (leak)" : "no"}`,
    );

    try {
      await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "wrong horse" });
      out.push("wrong passphrase: ACCEPTED (bug)");
    } catch (error) {
      out.push(`wrong passphrase: refused with ${isStorageError(error) ? error.code : String(error)}`);
    }
    started = performance.now();
    const again = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "correct horse" });
    out.push(`reopened with the right passphrase in ${Math.round(performance.now() - started)} ms`);
    const reloaded = createTrustStore({ storage: trustStorageIn(again) });
    const decision = await reloaded.shouldEncryptTo(me, romeo, "omemo", key);
    out.push(`Romeo's key after the restart: ${decision.state}, encrypt to it? ${decision.allowed ? "yes" : "no"}`);
    const both = await reloaded.listRecords(me, romeo, "omemo");
    out.push(`his first batch (2 devices, written in one transaction): ${both.map((r) => r.state).join(", ")}`);

    await again.changePassphrase("correct horse", "battery staple");
    out.push("passphrase changed (only the wrapped data key was rewritten)");
    out.push(`media stored: ${(await again.media.list()).map((m) => m.name ?? m.id).join(", ")}`);
    await again.deleteAllMedia();
    const gone = await again.media.info(media.id).then(
      () => false,
      () => true,
    );
    out.push(`deleteAllMedia(): ${(await again.media.list()).length} items left, photo gone: ${gone ? "yes" : "no"}`);
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
