/**
 * Child process for the crash test: writes in a loop and reports each commit on stdout after it
 * resolved; the parent kills it with SIGKILL at a random moment.
 *   writes <path>:      transaction i puts a/i and b/i, deletes a/(i-3), sets meta "last" = i
 *   passphrase <path>:  change i rewraps from p(i) to p(i+1), i = 0, 1, 2, ...
 */
import { EncryptedStore } from "../src/index.js";
import { openSqliteBackend } from "../src/sqlite.js";
import { FAST_KDF } from "./helpers.js";

const [mode, path] = process.argv.slice(2) as [string, string];
const enc = (s: string) => new TextEncoder().encode(s);
const say = (line: string) =>
  new Promise<void>((resolve) =>
    process.stdout.write(`${line}\n`, () => {
      resolve();
    }),
  );

const db = await EncryptedStore.open(await openSqliteBackend(path), { passphrase: mode === "writes" ? "p" : "p0" });
await say("ready");
if (mode === "writes") {
  for (let i = 1; ; i++) {
    await db.transaction(async (tx) => {
      const a = tx.namespace("a");
      await a.put(String(i), enc(`a${i}`));
      if (i > 3) await a.delete(String(i - 3));
      await tx.namespace("b").put(String(i), enc(`b${i}`.repeat(i % 7)));
      await tx.namespace("meta").put("last", enc(String(i)));
    });
    await say(`committed ${i}`);
  }
} else {
  for (let i = 0; ; i++) {
    await db.changePassphrase(`p${i}`, `p${i + 1}`, { kdf: FAST_KDF });
    await say(`changed ${i + 1}`);
  }
}
