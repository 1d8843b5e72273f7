// A bot's worker on PostgreSQL. Run with: PARLEY_PG=postgres://user:pass@host/db pnpm exec tsx examples/postgres.ts
// (test/example.postgres.test.ts runs it against the test server, so it stays true).
import type { ScryptParams } from "@parley/crypto";
import { EncryptedStore } from "../src/index.js";
import { openPostgresBackend } from "../src/postgres.js";

export async function main(
  print: (line: string) => void,
  options: { connection: string; table?: string; kdf?: ScryptParams },
): Promise<void> {
  const enc = (s: string) => new TextEncoder().encode(s);
  const dec = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);
  const backend = () => openPostgresBackend({ connection: options.connection, table: options.table ?? "bot_alice" });

  // Once, at deployment: create the store (one per account; `table` keeps several in one database).
  const first = await backend();
  if (await EncryptedStore.exists(first)) {
    await first.close();
  } else {
    const created = await EncryptedStore.create(first, {
      passphrase: "bot secret",
      ...(options.kdf ? { kdf: options.kdf } : {}),
    });
    await created.close();
  }

  // In every worker process: open (the integrity check then runs in the background, over one snapshot, while others write).
  const db = await EncryptedStore.open(await backend(), { passphrase: "bot secret" });

  // Work on one conversation under its lock: workers naming the same lock take turns, others run in
  // parallel; the counter and the log entry commit together or not at all.
  const seq = await db.transaction(
    async (tx) => {
      const state = tx.namespace("conversations");
      const n = Number(dec(await state.get("romeo@example.net/next")) ?? "0");
      await tx.namespace("outbox").put(`romeo@example.net/${String(n).padStart(8, "0")}`, enc("hello"));
      await state.put("romeo@example.net/next", enc(String(n + 1)));
      return n;
    },
    { lock: ["conversation/romeo@example.net"] },
  );
  print(`queued message ${seq}`);
  print(`outbox: ${(await db.namespace("outbox").scan({ prefix: "romeo@example.net/" })).length}`);
  await db.close();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const connection = process.env.PARLEY_PG;
  if (!connection) {
    console.error("set PARLEY_PG to a postgres:// URL");
    process.exitCode = 1;
  } else {
    main(console.log, { connection }).catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  }
}
