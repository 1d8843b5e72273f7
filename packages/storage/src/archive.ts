/**
 * Export and import of a whole store (records and media) as one encrypted archive, streamed:
 *   "PARLEYAR" · u32 version · u32 header length · header JSON {kdf} · STREAM-sealed body.
 * The body key is scrypt(archive passphrase, salt); every chunk's associated data is the header,
 * so a changed salt or cost is detected. The archive passphrase is independent of the store's.
 */
import { bytesToHex, concatBytes, defaultCrypto, hexToBytes, type Crypto, type ScryptParams } from "@parley/crypto";
import { ARCHIVE_CHUNK_BYTES, DEFAULT_SCRYPT } from "./consts.js";
import { fromUtf8, readU32be, u32be, utf8 } from "./encoding.js";
import { StorageError } from "./errors.js";
import { assertScryptParams, passphraseBytes } from "./header.js";
import { storeInternals, type EncryptedStore } from "./store.js";
import { ByteQueue, openStream, pieces, sealStream, type ByteSource } from "./stream.js";

const MAGIC = utf8("PARLEYAR");
const VERSION = 1;
const END = 0x00;
const RECORD = 0x01;
const MEDIA_START = 0x02;
const MEDIA_DATA = 0x03;
const MEDIA_END = 0x04;
/** Records are imported in transactions of this many (bounded memory, few commits). */
const IMPORT_BATCH = 500;

export interface ArchiveOptions {
  readonly kdf?: ScryptParams;
  readonly crypto?: Crypto;
}

function invalid(why: string): StorageError {
  return new StorageError("TAMPERED", `the archive is invalid or altered (${why})`);
}

function field(bytes: Uint8Array): Uint8Array {
  return concatBytes(u32be(bytes.length), bytes);
}

async function archiveKey(
  crypto: Crypto,
  passphrase: string,
  kdf: { N: number; r: number; p: number; salt: string },
): Promise<Uint8Array> {
  return crypto.scrypt(passphraseBytes(passphrase), hexToBytes(kdf.salt), { N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32 });
}

/** The whole store as an encrypted byte stream (write it to a file, upload it). Memory stays at one chunk plus the record list. */
export async function* exportArchive(
  store: EncryptedStore,
  passphrase: string,
  options: ArchiveOptions = {},
): AsyncIterable<Uint8Array> {
  const crypto = options.crypto ?? defaultCrypto();
  const params = options.kdf ?? DEFAULT_SCRYPT;
  assertScryptParams(params);
  passphraseBytes(passphrase);
  const kdf = { N: params.N, r: params.r, p: params.p, salt: bytesToHex(crypto.randomBytes(16)) };
  const json = utf8(JSON.stringify({ kdf }));
  const header = concatBytes(MAGIC, u32be(VERSION), u32be(json.length), json);
  const key = await archiveKey(crypto, passphrase, kdf);
  yield header;
  async function* body(): AsyncIterable<Uint8Array> {
    for (const r of await storeInternals(store).allRecords())
      yield concatBytes(Uint8Array.of(RECORD), field(utf8(r.ns)), field(utf8(r.key)), field(r.value));
    for (const item of await store.media.list()) {
      const info = {
        ...(item.name !== undefined ? { name: item.name } : {}),
        ...(item.type !== undefined ? { type: item.type } : {}),
      };
      yield concatBytes(Uint8Array.of(MEDIA_START), field(utf8(JSON.stringify(info))));
      for await (const chunk of store.media.read(item.id)) yield concatBytes(Uint8Array.of(MEDIA_DATA), field(chunk));
      yield Uint8Array.of(MEDIA_END);
    }
    yield Uint8Array.of(END);
  }
  try {
    yield* sealStream(crypto, key, header, ARCHIVE_CHUNK_BYTES, body(), { size: 0, chunks: 0 });
  } finally {
    key.fill(0);
  }
}

/** Pulls exact byte counts out of a stream of pieces. */
class Reader {
  readonly #queue = new ByteQueue();
  readonly #source: AsyncIterator<Uint8Array>;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }
  async read(n: number): Promise<Uint8Array> {
    while (this.#queue.length < n) {
      const next = await this.#source.next();
      if (next.done) throw invalid("ends early");
      this.#queue.push(next.value);
    }
    return this.#queue.take(n);
  }
  async field(max: number): Promise<Uint8Array> {
    const length = readU32be(await this.read(4), 0);
    if (length > max) throw invalid("field too long");
    return this.read(length);
  }
  async atEnd(): Promise<boolean> {
    while (this.#queue.length === 0) {
      const next = await this.#source.next();
      if (next.done) return true;
      this.#queue.push(next.value);
    }
    return false;
  }
  async *rest(): AsyncIterable<Uint8Array> {
    if (this.#queue.length > 0) yield this.#queue.take(this.#queue.length);
    for (;;) {
      const next = await this.#source.next();
      if (next.done) return;
      yield next.value;
    }
  }
}

/**
 * Imports an archive into `store` (records overwrite same keys; media are added). TAMPERED for a
 * wrong archive passphrase or altered bytes; records are only written from authenticated chunks,
 * but an archive cut short may have imported a prefix of its records before the error.
 */
export async function importArchive(
  store: EncryptedStore,
  archive: ByteSource,
  passphrase: string,
  options: { crypto?: Crypto } = {},
): Promise<{ records: number; media: number }> {
  const crypto = options.crypto ?? defaultCrypto();
  const outer = new Reader(pieces(archive));
  const head = await outer.read(16);
  if (!crypto.constantTimeEqual(head.subarray(0, 8), MAGIC)) throw invalid("not a Parley archive");
  if (readU32be(head, 8) !== VERSION)
    throw new StorageError("UNSUPPORTED_VERSION", "the archive was written by another version of @parley/storage");
  const jsonLength = readU32be(head, 12);
  if (jsonLength > 4096) throw invalid("header too long");
  const json = await outer.read(jsonLength);
  let kdf: { N: number; r: number; p: number; salt: string };
  try {
    kdf = (JSON.parse(fromUtf8(json)) as { kdf: typeof kdf }).kdf;
    assertScryptParams({ N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32 });
    hexToBytes(kdf.salt);
  } catch {
    throw invalid("bad header");
  }
  const key = await archiveKey(crypto, passphrase, kdf);
  const body = new Reader(
    openStream(
      crypto,
      key,
      concatBytes(head, json),
      ARCHIVE_CHUNK_BYTES,
      outer.rest(),
      "the archive (wrong archive passphrase?)",
    ),
  );
  let records = 0;
  let media = 0;
  let batch: Array<{ ns: string; key: string; value: Uint8Array }> = [];
  const flush = async () => {
    const writes = batch;
    batch = [];
    if (writes.length === 0) return;
    await store.transaction(async (tx) => {
      for (const w of writes) await tx.namespace(w.ns).put(w.key, w.value);
    });
  };
  try {
    for (;;) {
      const [type] = await body.read(1);
      if (type === END) break;
      if (type === RECORD) {
        const ns = fromUtf8(await body.field(1 << 16));
        const k = fromUtf8(await body.field(1 << 16));
        batch.push({ ns, key: k, value: await body.field(1 << 30) });
        records++;
        if (batch.length >= IMPORT_BATCH) await flush();
      } else if (type === MEDIA_START) {
        await flush();
        const info = JSON.parse(fromUtf8(await body.field(1 << 16))) as { name?: string; type?: string };
        async function* data(): AsyncIterable<Uint8Array> {
          for (;;) {
            const [t] = await body.read(1);
            if (t === MEDIA_END) return;
            if (t !== MEDIA_DATA) throw invalid("bad media entry");
            yield await body.field(1 << 30);
          }
        }
        await store.media.put(data(), info);
        media++;
      } else {
        throw invalid("unknown entry");
      }
    }
    await flush();
    if (!(await body.atEnd())) throw invalid("data after the end marker");
  } finally {
    key.fill(0);
  }
  return { records, media };
}
