/**
 * The integrity check after opening (README "Threat model" and "Design: when tampering is detected"):
 * open is O(1) beyond the KDF, the check over every row runs in the background in slices, and what it
 * exists for (a record deleted, added, or replayed from an older copy) is TAMPERED from
 * `db.verification`, after which the store refuses every operation. Writes made while it runs must
 * neither hide tampering nor look like tampering. Runs on every backend (PostgreSQL in its own suite).
 */
import { describe, expect, it } from "vitest";
import { EncryptedStore, isStorageError, type StorageBackend, type VerifyProgress } from "../src/index.js";
import { storeInternals } from "../src/store.js";
import { BACKENDS, bytes, FAST_KDF, text } from "./helpers.js";

const PASS = "verification test";
/** Enough rows for three slices of the check (1024 rows each). */
const ROWS = 2500;
const keyOf = (i: number) => `contact${i % 40}/${String(i).padStart(6, "0")}`;

async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "ok";
  } catch (error) {
    return isStorageError(error) ? error.code : `foreign error: ${String(error)}`;
  }
}

for (const kind of BACKENDS) {
  describe(`the background integrity check (${kind.name})`, () => {
    /** A closed store of ROWS records, and each key's row key (MACed, so computed while it was open). */
    async function filled() {
      const loc = kind.fresh();
      const db = await EncryptedStore.create(await loc.open(), { passphrase: PASS, kdf: FAST_KDF });
      await db.transaction(async (tx) => {
        const log = tx.namespace("log");
        for (let i = 0; i < ROWS; i++) await log.put(keyOf(i), bytes(`message ${i}`));
      });
      const internals = storeInternals(db);
      const rowKeys = new Map<string, string>();
      for (let i = 0; i < ROWS + 100; i++) rowKeys.set(keyOf(i), internals.rawKey("log", keyOf(i)));
      await db.close();
      return { loc, rowKeys };
    }

    /** Edits the closed store's rows through its backend, as someone with the files (or the server) can. */
    async function edit(open: () => Promise<StorageBackend>, change: (b: StorageBackend) => Promise<void>) {
      const backend = await open();
      try {
        await change(backend);
      } finally {
        await backend.close();
      }
    }

    it("open returns before the check; the check then covers every row, reporting its progress", async () => {
      const { loc } = await filled();
      const reports: VerifyProgress[] = [];
      const db = await EncryptedStore.open(await loc.open(), {
        passphrase: PASS,
        onVerifyProgress: (p) => reports.push(p),
      });
      try {
        expect(db.verificationStatus).toBe("running");
        await db.verification;
        expect(db.verificationStatus).toBe("verified");
        expect(reports.length).toBeGreaterThanOrEqual(3);
        expect(reports.at(-1)).toEqual({ checked: ROWS, total: ROWS });
        for (let i = 1; i < reports.length; i++)
          expect(reports[i]!.checked).toBeGreaterThanOrEqual(reports[i - 1]!.checked);
        expect(text(await db.namespace("log").get(keyOf(7)))).toBe("message 7");
      } finally {
        await db.close();
      }
    });

    const tamperings: Array<[string, (rows: Map<string, string>) => (b: StorageBackend) => Promise<void>]> = [
      ["a record deleted", (rows) => (b) => b.commit({ puts: [], deletes: [rows.get(keyOf(1234))!], meta: [] })],
      [
        "a record added (another row's ciphertext copied onto a new row key)",
        (rows) => async (b) => {
          const value = (await b.get(rows.get(keyOf(5))!))!;
          await b.commit({ puts: [{ key: rows.get(keyOf(ROWS + 3))!, value }], deletes: [], meta: [] });
        },
      ],
    ];
    for (const [what, tamper] of tamperings) {
      it(`${what}: open succeeds, db.verification rejects with TAMPERED, then every operation is refused`, async () => {
        const { loc, rowKeys } = await filled();
        await edit(loc.open, tamper(rowKeys));
        const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS });
        try {
          expect(await outcome(() => db.verification)).toBe("TAMPERED");
          expect(db.verificationStatus).toBe("tampered");
          const log = db.namespace("log");
          expect(await outcome(() => log.get(keyOf(7)))).toBe("TAMPERED");
          expect(await outcome(() => log.scan({ prefix: "contact3/" }))).toBe("TAMPERED");
          expect(await outcome(() => log.put("new", bytes("x")))).toBe("TAMPERED");
          expect(await outcome(() => log.delete(keyOf(7)))).toBe("TAMPERED");
          expect(await outcome(() => db.transaction(() => undefined))).toBe("TAMPERED");
          expect(await outcome(() => db.media.put(bytes("photo")))).toBe("TAMPERED");
          expect(await outcome(() => db.changePassphrase(PASS, "next", { kdf: FAST_KDF }))).toBe("TAMPERED");
        } finally {
          await db.close();
        }
        // Waiting for the check at open says the same, earlier.
        expect(
          await outcome(async () =>
            (await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: "full" })).close(),
          ),
        ).toBe("TAMPERED");
      });
    }

    it("a record replayed from an older copy: TAMPERED from db.verification (it reads as valid before)", async () => {
      const { loc, rowKeys } = await filled();
      const row = rowKeys.get(keyOf(42))!;
      let older: Uint8Array | undefined;
      await edit(loc.open, async (b) => {
        older = await b.get(row);
      });
      const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: "full" });
      await db.namespace("log").put(keyOf(42), bytes("newer ratchet state"));
      await db.close();
      await edit(loc.open, (b) => b.commit({ puts: [{ key: row, value: older! }], deletes: [], meta: [] }));
      const replayed = await EncryptedStore.open(await loc.open(), { passphrase: PASS });
      try {
        expect(await outcome(() => replayed.verification)).toBe("TAMPERED");
        expect(await outcome(() => replayed.namespace("log").get(keyOf(42)))).toBe("TAMPERED");
      } finally {
        await replayed.close();
      }
    });

    /**
     * Transactions started from the progress callback run before the check's next slice (on a local
     * backend; on PostgreSQL beside its snapshot): they rewrite, add and delete rows on both sides of
     * the row the check has reached, which it must account for.
     */
    function writeDuringCheck(db: EncryptedStore, writes: Array<Promise<unknown>>, seen: number[]) {
      let round = 0;
      return (p: VerifyProgress) => {
        if (p.checked >= p.total || round >= 2) return;
        seen.push(p.checked);
        const r = round++;
        writes.push(
          db.transaction(async (tx) => {
            const log = tx.namespace("log");
            for (let i = r; i < ROWS; i += 37) await log.put(keyOf(i), bytes(`rewritten ${i} in round ${r}`));
            for (let i = 0; i < 20; i++) await log.put(keyOf(ROWS + 20 * r + i), bytes(`new ${i}`));
            for (let i = 11 + r; i < ROWS; i += 101) await log.delete(keyOf(i));
          }),
        );
      };
    }

    it("writes while the check runs, on rows it has passed and rows ahead of it: verified, and a full reopen agrees", async () => {
      const { loc, rowKeys } = await filled();
      const writes: Array<Promise<unknown>> = [];
      const seen: number[] = [];
      // The store is there before the first report: the check starts after open has returned.
      const opened: { db?: EncryptedStore } = {};
      let callback: ((p: VerifyProgress) => void) | undefined;
      const db = await EncryptedStore.open(await loc.open(), {
        passphrase: PASS,
        onVerifyProgress: (p) => {
          (callback ??= writeDuringCheck(opened.db!, writes, seen))(p);
        },
      });
      opened.db = db;
      try {
        await db.verification;
        await Promise.all(writes);
        expect(db.verificationStatus).toBe("verified");
        expect(writes.length).toBe(2);
        // The rewritten rows lie on both sides of where the check stood (row keys are MACed, so check).
        const sorted = [...rowKeys.values()].slice(0, ROWS).sort();
        const boundary = sorted[seen[0]! - 1]!;
        const touched = Array.from({ length: Math.ceil(ROWS / 37) }, (_, k) => rowKeys.get(keyOf(37 * k))!);
        expect(touched.some((raw) => raw <= boundary)).toBe(true);
        expect(touched.some((raw) => raw > boundary)).toBe(true);
        expect(text(await db.namespace("log").get(keyOf(37)))).toBe("rewritten 37 in round 0");
      } finally {
        await db.close();
      }
      const again = await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: "full" });
      expect(text(await again.namespace("log").get(keyOf(38)))).toBe("rewritten 38 in round 1");
      await again.close();
    });

    it("writes while the check runs do not hide a deleted record", async () => {
      const { loc, rowKeys } = await filled();
      await edit(loc.open, (b) => b.commit({ puts: [], deletes: [rowKeys.get(keyOf(2222))!], meta: [] }));
      const writes: Array<Promise<unknown>> = [];
      const opened: { db?: EncryptedStore } = {};
      let callback: ((p: VerifyProgress) => void) | undefined;
      const db = await EncryptedStore.open(await loc.open(), {
        passphrase: PASS,
        onVerifyProgress: (p) => {
          (callback ??= writeDuringCheck(opened.db!, writes, []))(p);
        },
      });
      opened.db = db;
      try {
        expect(await outcome(() => db.verification)).toBe("TAMPERED");
        await Promise.allSettled(writes);
        expect(writes.length).toBeGreaterThan(0);
      } finally {
        await db.close();
      }
      // The commits kept the mismatch: the next open finds it too.
      expect(
        await outcome(async () =>
          (await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: "full" })).close(),
        ),
      ).toBe("TAMPERED");
    });

    it("closing during the check stops it: db.verification rejects with CLOSED", async () => {
      const { loc } = await filled();
      const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS });
      const verification = db.verification;
      await db.close();
      expect(await outcome(() => verification)).toBe("CLOSED");
      expect(db.verificationStatus).toBe("stopped");
    });

    it('verify: false skips the check ("off"); verify: "full" and true finish it inside open', async () => {
      const { loc } = await filled();
      for (const [verify, status] of [
        [false, "off"],
        ["full", "verified"],
        [true, "verified"],
      ] as const) {
        const db = await EncryptedStore.open(await loc.open(), { passphrase: PASS, verify });
        expect(db.verificationStatus).toBe(status);
        await db.verification;
        await db.close();
      }
      expect(
        await outcome(async () => EncryptedStore.open(await loc.open(), { passphrase: PASS, verify: "yes" as never })),
      ).toBe("INVALID_ARGUMENT");
    });
  });
}
