import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { EncryptedStore, isStorageError } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import type { TrustState } from "@parley/trust";
import type { Client } from "./client.js";
import { exchange, type Exchange } from "./exchange.js";
import { ALICE, BOB, PASSPHRASES, type Print, type World } from "./world.js";

export interface StorageStoryResult {
  /** Whether Bob's closed store files mention Alice's JID or a message text (they must not). */
  readonly leaks: { readonly jid: boolean; readonly text: boolean };
  /** The StorageError code of a wrong passphrase, before and after the change (the old one is then wrong). */
  readonly wrongPassphrase: string | undefined;
  readonly oldPassphraseAfterChange: string | undefined;
  /** The reopened store is the same OMEMO device with the same identity. */
  readonly reopened: { readonly sameDevice: boolean; readonly sameFingerprint: boolean };
  /** Bob's trust in Alice's OTR key (verified by SMP) after the restarts. */
  readonly otrTrust: TrustState | undefined;
  /** Alice's message after the restarts: read in the session that existed before (no new session). */
  readonly after: Exchange;
}

async function refused(path: string, passphrase: string): Promise<string | undefined> {
  try {
    await (await EncryptedStore.open(await openSqliteBackend(path), { passphrase })).close();
    return undefined;
  } catch (error) {
    return isStorageError(error) ? error.code : String(error);
  }
}

/** (e) Bob's phone restarts: the encrypted store reopened with the passphrase, the passphrase changed. */
export async function storageStory(
  world: World,
  print: Print,
  clients: { alicePhone: Client; bobPhone: Client },
  aliceOtrFingerprint: string,
): Promise<StorageStoryResult> {
  const { alicePhone, bobPhone } = clients;
  const deviceId = bobPhone.omemo.deviceId;
  const fingerprint = bobPhone.omemo.fingerprint;
  await bobPhone.shutdown();
  print("Bob's phone app quits: the store is closed and its keys wiped from memory.");

  const files = readdirSync(dirname(bobPhone.path)).filter((f) => f.startsWith(basename(bobPhone.path)));
  const bytes = Buffer.concat(files.map((f) => readFileSync(join(dirname(bobPhone.path), f))));
  const leaks = { jid: bytes.includes(ALICE), text: bytes.includes("Thursday") || bytes.includes("Bring the map") };
  print(
    `${files.length} file${files.length === 1 ? "" : "s"} on disk (${Math.round(bytes.length / 1024)} KiB); mention Alice's JID: ${leaks.jid ? "YES (leak)" : "no"}; any message text: ${leaks.text ? "YES (leak)" : "no"}`,
  );

  const wrongPassphrase = await refused(bobPhone.path, "bob phone: the red door");
  print(`Bob mistypes his passphrase: refused with ${wrongPassphrase ?? "nothing (bug)"}`);
  let started = performance.now();
  const db = await EncryptedStore.open(await openSqliteBackend(bobPhone.path), { passphrase: PASSPHRASES.bobPhone });
  print(
    `The right passphrase opens it (${Math.round(performance.now() - started)} ms, integrity of every record checked).`,
  );
  await db.changePassphrase(PASSPHRASES.bobPhone, PASSPHRASES.bobPhoneNew);
  print("Bob changes his passphrase: only the wrapped data key is rewritten, not the records.");
  await db.close();

  const oldPassphraseAfterChange = await refused(bobPhone.path, PASSPHRASES.bobPhone);
  print(`The old passphrase now: refused with ${oldPassphraseAfterChange ?? "nothing (bug)"}`);
  started = performance.now();
  await bobPhone.attach(
    await EncryptedStore.open(await openSqliteBackend(bobPhone.path), { passphrase: PASSPHRASES.bobPhoneNew }),
  );
  await world.router.idle();
  const reopened = {
    sameDevice: bobPhone.omemo.deviceId === deviceId,
    sameFingerprint: bobPhone.omemo.fingerprint === fingerprint,
  };
  print(
    `The new one opens it; the app starts on it in ${Math.round(performance.now() - started)} ms: device ${bobPhone.omemo.deviceId} (${reopened.sameDevice && reopened.sameFingerprint ? "same device, same identity" : "a DIFFERENT device"}).`,
  );
  const otrTrust = (await bobPhone.trust.getRecord(BOB, ALICE, "otr", aliceOtrFingerprint))?.state;
  print(`Bob's trust in Alice's OTR key after the restarts: ${otrTrust ?? "unknown"}`);
  const after = await exchange(world, print, alicePhone, BOB, "Welcome back, same session as before.");
  const bobs = after.readBy.find((r) => r.device === bobPhone.name);
  print(
    `Bob's phone read it in its existing session: ${bobs === undefined ? "NOT READ" : bobs.newSession ? "no, a new one (bug)" : "yes"}`,
  );
  return { leaks, wrongPassphrase, oldPassphraseAfterChange, reopened, otrTrust, after };
}
