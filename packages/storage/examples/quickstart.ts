// Run with: pnpm exec tsx examples/quickstart.ts   (test/example.test.ts runs it too, so it stays true)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ScryptParams } from "@parley/crypto";
import { EncryptedStore, isStorageError } from "../src/index.js";
import { FileKeystore } from "../src/file-keystore.js";
import { openSqliteBackend } from "../src/sqlite.js";

export async function main(print: (line: string) => void, options: { dir: string; kdf?: ScryptParams }): Promise<void> {
  const path = join(options.dir, "parley.db");
  const enc = (s: string) => new TextEncoder().encode(s);
  const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "(none)");

  // 1. Create with a passphrase (scrypt N=2^17 r=8 p=2 by default: 128 MiB, about half a second).
  const db = await EncryptedStore.create(await openSqliteBackend(path), {
    passphrase: "correct horse",
    ...(options.kdf ? { kdf: options.kdf } : {}),
  });
  const trust = db.namespace("trust"); // satisfies @parley/trust's TrustStorage
  await trust.put("juliet@example.com/romeo@example.net/omemo/05a364", enc("verified"));
  await db.transaction(async (tx) => {
    // Atomic across namespaces: a prekey consumed and the session it started, or neither.
    await tx.namespace("prekeys").delete("17");
    await tx.namespace("sessions").put("romeo@example.net/1522580533", enc("ratchet state"));
  });
  const photo = await db.media.put(enc("...jpeg bytes..."), { name: "photo.jpg", type: "image/jpeg" });
  await db.close();

  // 2. Reopen: a wrong passphrase is a typed error and changes nothing.
  try {
    await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "wrong" });
  } catch (error) {
    if (isStorageError(error, "WRONG_PASSPHRASE")) print("wrong passphrase refused");
  }
  const again = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: "correct horse" });
  print(
    `trust record: ${dec(await again.namespace("trust").get("juliet@example.com/romeo@example.net/omemo/05a364"))}`,
  );

  // 3. Change the passphrase: rewraps the data key only (O(1), atomic).
  await again.changePassphrase("correct horse", "battery staple");

  // 4. Keystore on: the app can start unattended. (FileKeystore warns once: the file is the secret.)
  const keystore = new FileKeystore(join(options.dir, "keystore.json"), { warn: false });
  await again.storePassphraseInKeystore(keystore, "battery staple");
  await again.close();
  const unattended = await EncryptedStore.open(await openSqliteBackend(path), { keystore });
  print(
    `opened from keystore, sessions: ${(await unattended.namespace("sessions").scan({ prefix: "romeo@example.net/" })).length}`,
  );

  // 5. Keystore off: from now on the passphrase is entered at every start.
  await unattended.removePassphraseFromKeystore(keystore);

  // 6. Delete all files and media (bytes and keys); records stay.
  print(`media before: ${(await unattended.media.list()).map((m) => m.name ?? m.id).join(", ")}`);
  await unattended.deleteAllMedia();
  print(
    `media after: ${(await unattended.media.list()).length}, photo gone: ${await unattended.media.info(photo.id).then(
      () => false,
      () => true,
    )}`,
  );
  await unattended.close();
  try {
    await EncryptedStore.open(await openSqliteBackend(path), { keystore });
  } catch (error) {
    if (isStorageError(error, "KEYSTORE_EMPTY")) print("keystore off: passphrase needed");
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = mkdtempSync(join(tmpdir(), "parley-example-"));
  main(console.log, { dir })
    .finally(() => {
      rmSync(dir, { recursive: true, force: true });
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
