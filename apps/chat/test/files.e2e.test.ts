// Files over OMEMO through a real Prosody (Debian's, started by scripts/prosody.mjs): XEP-0363 upload to
// its http_file_share component, XEP-0454 aesgcm:// URLs in OMEMO 2 and legacy OMEMO messages, the
// server's copy is ciphertext, tampering and truncation are typed errors, and a received file goes into
// a @parley/storage EncryptedStore's media until deleteAllMedia().
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { inspect } from "node:util";
import { memoryOmemoStore, NS_LEGACY, NS_V2 } from "@parley/omemo";
import { EncryptedStore, isStorageError } from "@parley/storage";
import { openSqliteBackend } from "@parley/storage/sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";
import { ChatAccount, type IncomingMessage } from "../src/account.js";
import {
  discoverUploadService,
  isFileMessage,
  isFileTransferError,
  parseFileMessage,
  receiveFile,
  sendFile,
  type HttpOptions,
  type SentFile,
} from "../src/files.js";

const KDF = { N: 2 ** 10, r: 8, p: 1, dkLen: 32 };

let server: ProsodyServer;
let alice: ChatAccount;
let bob: ChatAccount;
let http: HttpOptions;
const tmp = mkdtempSync(join(tmpdir(), "parley-files-e2e-"));
const fragments: string[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["alice", "bob"] });
  http = { insecureHttpHosts: [`127.0.0.1:${server.httpPort}`] };
  const login = async (name: string) => {
    const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
    const chat = await ChatAccount.connect({ service: server.service, ...account, store: memoryOmemoStore() });
    await chat.online();
    return chat;
  };
  alice = await login("alice");
  bob = await login("bob");
});
afterAll(async () => {
  await alice?.close().catch(() => undefined);
  await bob?.close().catch(() => undefined);
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The next message `account` reads (rejects on an OMEMO error or after 20 s). */
function nextMessage(account: ChatAccount): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${account.jid} read nothing in 20 s`));
    }, 20_000);
    const offMessage = account.onMessage((m) => {
      clearTimeout(timer);
      offMessage();
      offError();
      resolve(m);
    });
    const offError = account.onError((e) => {
      clearTimeout(timer);
      offMessage();
      offError();
      reject(e instanceof Error ? e : new Error(String(e)));
    });
  });
}

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The server's stored copy of an upload: Prosody keeps it as `<slot id>.bin` (the id is in the GET URL's path). */
function serverCopy(sent: SentFile): string {
  const slotId = new URL(sent.httpsUrl).pathname
    .split("/")
    .filter((s) => s !== "")
    .at(-2)!;
  expect(slotId).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  // Prosody's datamanager escapes every non-alphanumeric character of a file name as %xx.
  const name = slotId.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  const found = filesUnder(join(server.dir, "data")).filter((p) => basename(p) === `${name}.bin`);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** Alice sends `bytes` to Bob; resolves with what she sent and the body Bob read. */
async function aliceSends(
  bytes: Uint8Array,
  namespace: typeof NS_V2 | typeof NS_LEGACY = NS_V2,
): Promise<{ sent: SentFile; body: string }> {
  const atBob = nextMessage(bob);
  const sent = await sendFile(alice, bob.jid, { bytes }, { ...http, name: "notes.bin", namespace });
  const read = await atBob;
  expect(read).toMatchObject({ from: alice.jid, namespace });
  fragments.push(read.body!.slice(read.body!.indexOf("#") + 1));
  return { sent, body: read.body! };
}

function flipKeyDigit(body: string): string {
  const last = body.at(-1)!;
  return body.slice(0, -1) + (last === "0" ? "1" : "0");
}

describe("files over OMEMO and HTTP File Upload on Prosody", () => {
  it("discovers the upload service and its size limit (XEP-0363 §3)", async () => {
    const service = await discoverUploadService(alice.xmpp, server.domain);
    expect(service).toEqual({ jid: "upload.localhost", maxFileSize: 10 * 1024 * 1024 });
  });

  it("OMEMO 2: a 300 KB file from disk arrives bit for bit; the server holds only ciphertext", async () => {
    const plaintext = randomBytes(300 * 1000);
    const path = join(tmp, "holiday.jpg");
    writeFileSync(path, plaintext);
    const atBob = nextMessage(bob);
    const sent = await sendFile(alice, bob.jid, { path }, { ...http, namespace: NS_V2 });
    expect(sent.size).toBe(plaintext.length);
    expect(sent.encryptedSize).toBe(plaintext.length + 16);
    expect(sent.uploadName).toMatch(/^[0-9a-f]{32}\.jpg$/); // the server does not learn the real name
    expect(sent.result.devices.filter((d) => d.jid === bob.jid).map((d) => d.status)).toEqual(["encrypted"]);
    const read = await atBob;
    expect({ from: read.from, namespace: read.namespace }).toEqual({ from: alice.jid, namespace: NS_V2 });
    expect(read.body).toBe(sent.aesgcmUrl); // the body is the URL and nothing else
    expect(read.body).toMatch(/^aesgcm:\/\/127\.0\.0\.1:\d+\/.+#[0-9a-f]{88}$/);
    expect(isFileMessage(read.body)).toBe(true);
    const fragment = read.body!.slice(read.body!.indexOf("#") + 1);
    fragments.push(fragment);
    // The key never shows in how the result prints.
    expect(inspect(sent)).not.toContain(fragment);
    expect(JSON.stringify(sent)).not.toContain(fragment);
    expect((sent as { toString(): string }).toString()).not.toContain(fragment);

    const received = await receiveFile(read.body!, {}, http);
    expect(received.kind).toBe("bytes");
    if (received.kind !== "bytes") return;
    expect(received.size).toBe(plaintext.length);
    expect(Buffer.from(received.bytes).equals(plaintext)).toBe(true);
    expect(received.name).toBe(sent.uploadName);

    const stored = readFileSync(serverCopy(sent));
    expect(stored.length).toBe(plaintext.length + 16);
    expect(stored.equals(plaintext)).toBe(false);
    expect(stored.indexOf(plaintext)).toBe(-1);
    for (let offset = 0; offset + 32 <= plaintext.length; offset += 9973) {
      expect(stored.indexOf(plaintext.subarray(offset, offset + 32))).toBe(-1);
    }
  });

  it("legacy OMEMO: a small file arrives bit for bit", async () => {
    const plaintext = randomBytes(1234);
    const { sent, body } = await aliceSends(plaintext, NS_LEGACY);
    expect(body).toBe(sent.aesgcmUrl);
    const received = await receiveFile(body, {}, http);
    expect(received.kind === "bytes" && Buffer.from(received.bytes).equals(plaintext)).toBe(true);
    expect(readFileSync(serverCopy(sent)).indexOf(plaintext)).toBe(-1);
  });

  it("a byte flipped on the server's copy, a wrong key, a truncated copy and a too small limit are typed errors", async () => {
    const plaintext = randomBytes(70_000);
    const { sent, body } = await aliceSends(plaintext);
    const copy = serverCopy(sent);
    const original = readFileSync(copy);

    // Sanity: as uploaded, it decrypts.
    const ok = await receiveFile(body, {}, http);
    expect(ok.kind === "bytes" && Buffer.from(ok.bytes).equals(plaintext)).toBe(true);

    const errorOf = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isFileTransferError(error)).toBe(true);
      const message = `${String(error)} ${inspect(error)}`;
      for (const f of fragments) expect(message).not.toContain(f);
      return error as { code: string };
    };

    const tampered = Buffer.from(original);
    tampered[40_000]! ^= 0x01;
    writeFileSync(copy, tampered);
    expect((await errorOf(receiveFile(body, {}, http))).code).toBe("DECRYPTION_FAILED");

    writeFileSync(copy, original);
    expect((await errorOf(receiveFile(flipKeyDigit(body), {}, http))).code).toBe("DECRYPTION_FAILED");

    // Prosody still announces the full length, sends what it has and keeps the connection open.
    writeFileSync(copy, original.subarray(0, 50_000));
    expect((await errorOf(receiveFile(body, {}, { ...http, idleTimeoutMs: 1500 }))).code).toBe("TRUNCATED");

    writeFileSync(copy, original);
    expect((await errorOf(receiveFile(body, {}, { ...http, maxBytes: 69_999 }))).code).toBe("FILE_TOO_LARGE");
    expect((await receiveFile(body, {}, { ...http, maxBytes: 70_000 })).size).toBe(70_000);

    // Without the explicit local-http exception, the plain http server is refused.
    // (TLS to its plain http port: Prosody waits for a request line that never comes.)
    expect((await errorOf(receiveFile(body, {}, { idleTimeoutMs: 1500 }))).code).toBe("DOWNLOAD_FAILED");
    await expect(sendFile(alice, bob.jid, { bytes: plaintext })).rejects.toMatchObject({ code: "INSECURE_URL" });
  });

  it("into Bob's EncryptedStore: stored as encrypted media, nothing kept from a tampered file, deleteAllMedia removes it", async () => {
    const path = join(tmp, "bob.db");
    const db = await EncryptedStore.create(await openSqliteBackend(path), { passphrase: "bob's phrase", kdf: KDF });
    try {
      const plaintext = randomBytes(200_000);
      const { sent, body } = await aliceSends(plaintext);
      const received = await receiveFile(body, { store: db }, http);
      expect(received.kind).toBe("stored");
      if (received.kind !== "stored") return;
      expect(received.media).toMatchObject({ size: plaintext.length, name: sent.uploadName });
      expect(Buffer.from(await db.media.readAll(received.media.id)).equals(plaintext)).toBe(true);
      expect((await db.media.list()).map((m) => m.id)).toEqual([received.media.id]);
      // On disk, next to the database, the media item is not the plaintext either.
      const mediaFiles = filesUnder(`${path}.media`);
      expect(mediaFiles.length).toBeGreaterThan(0);
      for (const f of mediaFiles) expect(readFileSync(f).indexOf(plaintext.subarray(0, 64))).toBe(-1);

      // A tampered download leaves no item behind (the store commits only after the tag verified).
      const second = await aliceSends(randomBytes(90_000));
      const copy = serverCopy(second.sent);
      const bytes = readFileSync(copy);
      bytes[bytes.length - 1]! ^= 0x80; // the tag's last byte
      writeFileSync(copy, bytes);
      await expect(receiveFile(second.body, { store: db }, http)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
      expect((await db.media.list()).map((m) => m.id)).toEqual([received.media.id]);
      expect(filesUnder(`${path}.media`)).toHaveLength(mediaFiles.length);

      await db.deleteAllMedia();
      expect(await db.media.list()).toEqual([]);
      await expect(db.media.readAll(received.media.id)).rejects.toSatisfy((e: unknown) =>
        isStorageError(e, "NOT_FOUND"),
      );
      expect(existsSync(`${path}.media`) ? filesUnder(`${path}.media`) : []).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it("into a file: written once authenticated, nothing left of a tampered one", async () => {
    const plaintext = randomBytes(100_000);
    const { sent, body } = await aliceSends(plaintext);
    const target = join(tmp, "received.bin");
    const received = await receiveFile(body, { path: target }, http);
    expect(received).toMatchObject({ kind: "file", size: plaintext.length, path: target });
    expect(readFileSync(target).equals(plaintext)).toBe(true);
    expect(statSync(target).mode & 0o777).toBe(0o600);

    const copy = serverCopy(sent);
    const bytes = readFileSync(copy);
    bytes[0]! ^= 0x01;
    writeFileSync(copy, bytes);
    const other = join(tmp, "tampered.bin");
    await expect(receiveFile(body, { path: other }, http)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect(existsSync(other)).toBe(false);
    expect(existsSync(`${other}.part`)).toBe(false);
  });

  it("the server never saw a key: not in its log, not in its data", () => {
    expect(fragments.length).toBeGreaterThan(3);
    expect(parseFileMessage(`aesgcm://127.0.0.1/x#${fragments[0]!}`)).toBeDefined();
    const log = readFileSync(server.log, "utf8");
    expect(log).toMatch(/file_share/);
    const data = filesUnder(join(server.dir, "data"))
      .map((p) => readFileSync(p, "latin1"))
      .join("\n");
    for (const f of fragments) {
      expect(log.toLowerCase()).not.toContain(f);
      expect(data.toLowerCase()).not.toContain(f);
    }
  });
});
