// The parts of files.ts that need no XMPP server: aesgcm message recognition, URL rules, XEP-0363 disco
// and slot parsing, and upload/download against a fake fetch (and one real loopback HTTP server for a
// connection that breaks off), with a memory @parley/storage store.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { inspect } from "node:util";
import { xml } from "@xmpp/client";
import { media, parseXml, type Element, type EncryptResult } from "@parley/omemo";
import { EncryptedStore, memoryBackend } from "@parley/storage";
import { describe, expect, it } from "vitest";
import {
  discoverUploadService,
  downloadFile,
  fetchableUrl,
  isFileMessage,
  isFileTransferError,
  parseFileMessage,
  parseSlot,
  parseUploadInfo,
  receiveFile,
  redactUrl,
  requestSlot,
  sendFile,
  slotUrlAsHttps,
  suggestedFileName,
  type FileAccount,
} from "../src/files.js";

const KDF = { N: 2 ** 10, r: 8, p: 1, dkLen: 32 };
const FRAGMENT = `${"ab".repeat(12)}${"cd".repeat(32)}`;
const URL_OK = `aesgcm://files.example.org/slot/photo.jpg#${FRAGMENT}`;

/** Encrypts `plaintext` as a sender would; returns the aesgcm URL for `httpsUrl` and the uploaded bytes. */
async function encrypted(plaintext: Uint8Array, httpsUrl = "https://files.example.org/slot/photo.jpg") {
  const file = media.encryptFile(plaintext);
  const parts: Uint8Array[] = [];
  for await (const c of file.ciphertext) parts.push(c);
  return { url: media.aesgcmUrl(httpsUrl, file.key, file.iv), ciphertext: Buffer.concat(parts) };
}

/** A fetch that serves `bytes` (in 1000-byte chunks) and records requests and how many chunks were pulled. */
function serve(
  bytes: Uint8Array,
  options: { status?: number; contentLength?: boolean; url?: string } = {},
): { fetch: typeof fetch; requests: string[]; pulled: () => number } {
  const requests: string[] = [];
  let pulled = 0;
  const fakeFetch = (input: string) => {
    requests.push(input);
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        pulled++;
        controller.enqueue(bytes.slice(offset, offset + 1000));
        offset += 1000;
      },
    });
    const headers: Record<string, string> =
      options.contentLength === false ? {} : { "content-length": String(bytes.length) };
    const response = new Response(body, { status: options.status ?? 200, headers });
    if (options.url !== undefined) Object.defineProperty(response, "url", { value: options.url });
    return Promise.resolve(response);
  };
  return { fetch: fakeFetch as unknown as typeof fetch, requests, pulled: () => pulled };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFileTransferError(error)).toBe(true);
  const text = `${String(error)} ${inspect(error)}`;
  expect(text).not.toContain(FRAGMENT);
  return (error as { code: string }).code;
}

describe("recognising a file message", () => {
  it("is exactly one aesgcm URL, whitespace around it aside", () => {
    expect(isFileMessage(URL_OK)).toBe(true);
    expect(isFileMessage(` ${URL_OK}\n`)).toBe(true);
    expect(parseFileMessage(URL_OK)?.httpsUrl).toBe("https://files.example.org/slot/photo.jpg");
    expect(isFileMessage(`look: ${URL_OK}`)).toBe(false);
    expect(isFileMessage(`${URL_OK}\n${URL_OK}`)).toBe(false);
    expect(isFileMessage(`${URL_OK} thanks`)).toBe(false);
    expect(isFileMessage(URL_OK.replace("aesgcm:", "https:"))).toBe(false);
    expect(isFileMessage(URL_OK.slice(0, -2))).toBe(false); // 86 hex digits
    expect(isFileMessage(undefined)).toBe(false);
    expect(isFileMessage("hello")).toBe(false);
  });

  it("never prints the key", () => {
    expect(inspect(parseFileMessage(URL_OK))).not.toContain(FRAGMENT.slice(24));
    expect(redactUrl(URL_OK)).toBe("aesgcm://files.example.org/slot/photo.jpg#[redacted]");
  });

  it("suggests a harmless file name", () => {
    expect(suggestedFileName("https://h/slot/photo%20one.jpg")).toBe("photo one.jpg");
    expect(suggestedFileName("https://h/slot/..%2F..%2Fetc%2Fpasswd")).toBe("etcpasswd");
    expect(suggestedFileName("https://h/slot/.bashrc")).toBe("bashrc");
    expect(suggestedFileName("https://h/slot/a%0Ab%00c")).toBe("abc");
    expect(suggestedFileName("https://h/slot/")).toBe("file");
    expect(suggestedFileName(`https://h/slot/x.png#${FRAGMENT}`)).toBe("x.png");
  });
});

describe("URLs: https only, unless a local host is listed explicitly", () => {
  it("slot URLs", () => {
    expect(slotUrlAsHttps("https://up.example.org/a/b.jpg")).toBe("https://up.example.org/a/b.jpg");
    expect(() => slotUrlAsHttps("http://up.example.org/a")).toThrow(expect.objectContaining({ code: "INSECURE_URL" }));
    expect(() => slotUrlAsHttps("ftp://up.example.org/a")).toThrow(expect.objectContaining({ code: "INSECURE_URL" }));
    expect(() => slotUrlAsHttps("https://user@up.example.org/a")).toThrow(
      expect.objectContaining({ code: "INSECURE_URL" }),
    );
    const local = { insecureHttpHosts: ["127.0.0.1:5280"] };
    expect(slotUrlAsHttps("http://127.0.0.1:5280/f/x", local)).toBe("https://127.0.0.1:5280/f/x");
    expect(() => slotUrlAsHttps("http://127.0.0.1:5281/f/x", local)).toThrow(
      expect.objectContaining({ code: "INSECURE_URL" }),
    );
  });

  it("download URLs", () => {
    expect(fetchableUrl("https://127.0.0.1:5280/f/x")).toBe("https://127.0.0.1:5280/f/x");
    expect(fetchableUrl("https://127.0.0.1:5280/f/x", { insecureHttpHosts: ["127.0.0.1:5280"] })).toBe(
      "http://127.0.0.1:5280/f/x",
    );
    expect(() => fetchableUrl("http://127.0.0.1:5280/f/x")).toThrow(expect.objectContaining({ code: "INSECURE_URL" }));
  });
});

describe("XEP-0363 stanzas", () => {
  it("reads the feature and max-file-size of a disco#info result", () => {
    const info = parseXml(
      `<query xmlns='http://jabber.org/protocol/disco#info'><identity category='store' type='file'/>` +
        `<feature var='urn:xmpp:http:upload:0'/>` +
        `<x type='result' xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:example:other</value></field>` +
        `<field var='max-file-size'><value>1</value></field></x>` +
        `<x type='result' xmlns='jabber:x:data'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>` +
        `<field var='max-file-size'><value>5242880</value></field></x></query>`,
    );
    expect(parseUploadInfo(info)).toEqual({ maxFileSize: 5242880 });
    const noLimit = parseXml(
      `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:http:upload:0'/></query>`,
    );
    expect(parseUploadInfo(noLimit)).toEqual({ maxFileSize: undefined });
    const other = parseXml(
      `<query xmlns='http://jabber.org/protocol/disco#info'><feature var='http://jabber.org/protocol/muc'/></query>`,
    );
    expect(parseUploadInfo(other)).toBeUndefined();
  });

  it("keeps only Authorization, Cookie and Expires of a slot, newlines stripped", () => {
    const slot = parseXml(
      `<slot xmlns='urn:xmpp:http:upload:0'><put url='https://up.example.org/x'>` +
        `<header name='Authorization'>Basic abc\r\nX-Injected: 1</header><header name='Host'>evil.example</header>` +
        `<header name='Cookie'>c=1</header><header name='Expires'>Fri, 01 Jan 2027 00:00:00 GMT</header>` +
        `<header name='X-Other'>1</header></put><get url='https://dl.example.org/x'/></slot>`,
    );
    expect(parseSlot(slot)).toEqual({
      putUrl: "https://up.example.org/x",
      getUrl: "https://dl.example.org/x",
      headers: {
        Authorization: "Basic abcX-Injected: 1",
        Cookie: "c=1",
        Expires: "Fri, 01 Jan 2027 00:00:00 GMT",
      },
    });
    expect(() => parseSlot(parseXml(`<slot xmlns='urn:xmpp:http:upload:0'><get url='https://x/'/></slot>`))).toThrow(
      expect.objectContaining({ code: "SLOT_REFUSED" }),
    );
  });
});

interface FakeServer {
  requests: Element[];
  xmpp: FileAccount["xmpp"];
}

/** An iq caller playing a server with `conference.example.org` and `upload.example.org`. */
function fakeXmpp(options: { maxFileSize?: number; slotError?: string; tooLarge?: boolean; noUpload?: boolean } = {}) {
  const server: FakeServer = {
    requests: [],
    xmpp: {
      iqCaller: {
        request(iq: Element) {
          server.requests.push(iq);
          const to = iq.attrs["to"] as string;
          const child = iq.children[0] as Element;
          const reply = (...children: Element[]) =>
            Promise.resolve(xml("iq", { type: "result", from: to }, ...children));
          if (child.name === "query" && child.attrs["xmlns"] === "http://jabber.org/protocol/disco#items") {
            return reply(
              xml(
                "query",
                { xmlns: "http://jabber.org/protocol/disco#items" },
                xml("item", { jid: "conference.example.org" }),
                xml("item", { jid: "broken.example.org" }),
                xml("item", { jid: "upload.example.org" }),
              ),
            );
          }
          if (child.name === "query") {
            if (to === "broken.example.org") {
              return Promise.reject(Object.assign(new Error("item-not-found"), { condition: "item-not-found" }));
            }
            const upload = to === "upload.example.org" && options.noUpload !== true;
            return reply(
              xml(
                "query",
                { xmlns: "http://jabber.org/protocol/disco#info" },
                xml("feature", { var: upload ? "urn:xmpp:http:upload:0" : "http://jabber.org/protocol/muc" }),
                ...(upload && options.maxFileSize !== undefined
                  ? [
                      xml(
                        "x",
                        { xmlns: "jabber:x:data", type: "result" },
                        xml("field", { var: "FORM_TYPE" }, xml("value", {}, "urn:xmpp:http:upload:0")),
                        xml("field", { var: "max-file-size" }, xml("value", {}, String(options.maxFileSize))),
                      ),
                    ]
                  : []),
              ),
            );
          }
          if (options.slotError !== undefined) {
            const element = xml(
              "error",
              { type: "modify" },
              xml(options.slotError, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" }),
              ...(options.tooLarge === true ? [xml("file-too-large", { xmlns: "urn:xmpp:http:upload:0" })] : []),
            );
            return Promise.reject(
              Object.assign(new Error(options.slotError), { condition: options.slotError, element }),
            );
          }
          const name = child.attrs["filename"] as string;
          return reply(
            xml(
              "slot",
              { xmlns: "urn:xmpp:http:upload:0" },
              xml(
                "put",
                { url: `https://up.example.org/put/${name}` },
                xml("header", { name: "Authorization" }, "Bearer token"),
                xml("header", { name: "Host" }, "evil.example"),
              ),
              xml("get", { url: `https://dl.example.org/get/${name}` }),
            ),
          );
        },
      },
    },
  };
  return server;
}

function fakeAccount(server: FakeServer): FileAccount & { sent: { to: string; body: string }[] } {
  const sent: { to: string; body: string }[] = [];
  return {
    jid: "alice@example.org",
    xmpp: server.xmpp,
    sent,
    send(to: string, body: string) {
      sent.push({ to, body });
      return Promise.resolve({ devices: [] } as unknown as EncryptResult);
    },
  };
}

/** A fetch that accepts a PUT (status `status`) and keeps what it received. */
function putSink(status = 201) {
  const puts: { url: string; headers: Headers; body: Buffer }[] = [];
  const fakeFetch = async (input: string, init: RequestInit) => {
    const chunks: Uint8Array[] = [];
    const reader = (init.body as ReadableStream<Uint8Array>).getReader();
    for (let step = await reader.read(); !step.done; step = await reader.read()) chunks.push(step.value);
    puts.push({ url: input, headers: new Headers(init.headers), body: Buffer.concat(chunks) });
    return new Response(null, { status });
  };
  return { fetch: fakeFetch as unknown as typeof fetch, puts };
}

describe("discovery and slots against a fake server", () => {
  it("finds the upload service among the items, skipping ones that fail", async () => {
    const server = fakeXmpp({ maxFileSize: 1000 });
    expect(await discoverUploadService(server.xmpp, "example.org")).toEqual({
      jid: "upload.example.org",
      maxFileSize: 1000,
    });
    await expect(discoverUploadService(fakeXmpp({ noUpload: true }).xmpp, "example.org")).rejects.toMatchObject({
      code: "NO_UPLOAD_SERVICE",
    });
  });

  it("maps slot errors", async () => {
    const req = { filename: "a.bin", size: 10 };
    await expect(
      requestSlot(fakeXmpp({ slotError: "not-acceptable", tooLarge: true }).xmpp, "upload.example.org", req),
    ).rejects.toMatchObject({ code: "FILE_TOO_LARGE", condition: "not-acceptable" });
    await expect(
      requestSlot(fakeXmpp({ slotError: "not-allowed" }).xmpp, "upload.example.org", req),
    ).rejects.toMatchObject({ code: "SLOT_REFUSED", condition: "not-allowed" });
  });
});

describe("sendFile against a fake server", () => {
  it("requests a slot for the encrypted size, PUTs ciphertext with the allowed headers, sends the aesgcm URL", async () => {
    const server = fakeXmpp({ maxFileSize: 10_000 });
    const account = fakeAccount(server);
    const http = putSink();
    const plaintext = randomBytes(5000);
    const sent = await sendFile(
      account,
      "bob@example.org",
      { bytes: plaintext },
      { fetch: http.fetch, name: "Cat.JPG" },
    );

    const request = server.requests.at(-1)!.getChild("request", "urn:xmpp:http:upload:0")!;
    expect(request.attrs["size"]).toBe("5016");
    expect(request.attrs["filename"]).toMatch(/^[0-9a-f]{32}\.jpg$/);
    expect(request.attrs["content-type"]).toBe("application/octet-stream");

    expect(http.puts).toHaveLength(1);
    const put = http.puts[0]!;
    expect(put.url).toBe(`https://up.example.org/put/${sent.uploadName}`);
    expect(put.headers.get("authorization")).toBe("Bearer token");
    expect(put.headers.get("host")).toBeNull();
    expect(put.headers.get("content-length")).toBe("5016");
    expect(put.body.length).toBe(5016);
    expect(put.body.indexOf(plaintext.subarray(0, 32))).toBe(-1);

    expect(account.sent).toEqual([{ to: "bob@example.org", body: sent.aesgcmUrl }]);
    const parsed = parseFileMessage(account.sent[0]!.body)!;
    expect(parsed.httpsUrl).toBe(`https://dl.example.org/get/${sent.uploadName}`);
    const out: Uint8Array[] = [];
    await media.decryptFile(put.body, parsed.key, parsed.iv, (c) => {
      out.push(c.slice());
    });
    expect(Buffer.concat(out).equals(plaintext)).toBe(true);

    const fragment = sent.aesgcmUrl.slice(sent.aesgcmUrl.indexOf("#") + 1);
    expect(inspect(sent)).not.toContain(fragment);
    expect(JSON.stringify(sent)).not.toContain(fragment);
  });

  it("refuses a file over max-file-size before asking for a slot", async () => {
    const server = fakeXmpp({ maxFileSize: 1000 });
    const http = putSink();
    const account = fakeAccount(server);
    const error = sendFile(account, "bob@example.org", { bytes: new Uint8Array(985) }, { fetch: http.fetch });
    expect(await codeOf(error)).toBe("FILE_TOO_LARGE"); // 985 + 16 > 1000
    expect(server.requests.some((r) => r.getChild("request", "urn:xmpp:http:upload:0"))).toBe(false);
    expect(http.puts).toHaveLength(0);
    // 984 + 16 = 1000 fits.
    await sendFile(account, "bob@example.org", { bytes: new Uint8Array(984) }, { fetch: http.fetch });
    expect(http.puts).toHaveLength(1);
  });

  it("sends no message when the PUT fails", async () => {
    const account = fakeAccount(fakeXmpp());
    const error = sendFile(account, "bob@example.org", { bytes: new Uint8Array(10) }, { fetch: putSink(413).fetch });
    await expect(error).rejects.toMatchObject({ code: "UPLOAD_FAILED", status: 413 });
    expect(account.sent).toEqual([]);
  });

  it("uploads a stream of the announced size", async () => {
    const account = fakeAccount(fakeXmpp());
    async function* chunks() {
      await Promise.resolve();
      yield new Uint8Array(100);
      yield new Uint8Array(50);
    }
    const http = putSink();
    await sendFile(account, "bob@example.org", { stream: chunks(), size: 150 }, { fetch: http.fetch });
    expect(http.puts[0]!.body.length).toBe(166);
    expect(http.puts[0]!.headers.get("content-length")).toBe("166");
  });
});

describe("downloadFile and receiveFile against a fake fetch", () => {
  it("decrypts a download; the fragment never reaches the HTTP side", async () => {
    const plaintext = randomBytes(20_000);
    const { url, ciphertext } = await encrypted(plaintext);
    const server = serve(ciphertext);
    const received = await receiveFile(url, {}, { fetch: server.fetch });
    expect(received.kind === "bytes" && Buffer.from(received.bytes).equals(plaintext)).toBe(true);
    expect(received.name).toBe("photo.jpg");
    expect(server.requests).toEqual(["https://files.example.org/slot/photo.jpg"]);
  });

  it("typed errors: wrong key, modified byte, too large (announced or counted), too short, HTTP errors, not a URL", async () => {
    const plaintext = randomBytes(5000);
    const { url, ciphertext } = await encrypted(plaintext);
    const wrongKey = url.slice(0, -1) + (url.endsWith("0") ? "1" : "0");
    expect(await codeOf(receiveFile(wrongKey, {}, { fetch: serve(ciphertext).fetch }))).toBe("DECRYPTION_FAILED");
    const modified = Buffer.from(ciphertext);
    modified[100]! ^= 4;
    expect(await codeOf(receiveFile(url, {}, { fetch: serve(modified).fetch }))).toBe("DECRYPTION_FAILED");
    // Without a Content-Length, a file cut short is indistinguishable from a modified one.
    const cut = ciphertext.subarray(0, 3000);
    expect(await codeOf(receiveFile(url, {}, { fetch: serve(cut, { contentLength: false }).fetch }))).toBe(
      "DECRYPTION_FAILED",
    );
    expect(await codeOf(receiveFile(url, {}, { fetch: serve(ciphertext.subarray(0, 10)).fetch }))).toBe("TRUNCATED");

    const announced = serve(ciphertext);
    expect(await codeOf(receiveFile(url, {}, { fetch: announced.fetch, maxBytes: 4999 }))).toBe("FILE_TOO_LARGE");
    expect(announced.pulled()).toBeLessThanOrEqual(1); // refused on the header, not after reading
    const counted = serve(ciphertext, { contentLength: false });
    expect(await codeOf(receiveFile(url, {}, { fetch: counted.fetch, maxBytes: 2000 }))).toBe("FILE_TOO_LARGE");
    expect(counted.pulled()).toBeLessThanOrEqual(4);
    expect((await receiveFile(url, {}, { fetch: serve(ciphertext).fetch, maxBytes: 5000 })).size).toBe(5000);

    const missing = downloadFile(url, () => undefined, { fetch: serve(ciphertext, { status: 404 }).fetch });
    await expect(missing).rejects.toMatchObject({ code: "DOWNLOAD_FAILED", status: 404 });
    const redirected = serve(ciphertext, { url: "http://elsewhere.example/x" });
    expect(await codeOf(receiveFile(url, {}, { fetch: redirected.fetch }))).toBe("INSECURE_URL");
    expect(await codeOf(receiveFile("https://files.example.org/x", {}, { fetch: serve(ciphertext).fetch }))).toBe(
      "NOT_A_FILE_MESSAGE",
    );
    const broken = (() => Promise.reject(new TypeError("fetch failed"))) as typeof fetch;
    expect(await codeOf(receiveFile(url, {}, { fetch: broken }))).toBe("DOWNLOAD_FAILED");
  });

  it("a connection that breaks off before the announced length is TRUNCATED (real loopback server)", async () => {
    const { url, ciphertext } = await encrypted(randomBytes(50_000), "https://127.0.0.1:1/slot/x.bin");
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-length": String(ciphertext.length) });
      res.write(ciphertext.subarray(0, 20_000), () => {
        res.socket?.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const local = url.replace("127.0.0.1:1", `127.0.0.1:${port}`);
      const options = { insecureHttpHosts: [`127.0.0.1:${port}`], idleTimeoutMs: 10_000 };
      const started = Date.now();
      expect(await codeOf(receiveFile(local, {}, options))).toBe("TRUNCATED");
      expect(Date.now() - started).toBeLessThan(5000); // seen at once, not by the idle timer
    } finally {
      server.close();
    }
  });

  it("into a store: committed only once authenticated; a failing store is IO_FAILED and stops the download", async () => {
    const backend = memoryBackend();
    const db = await EncryptedStore.create(backend, { passphrase: "pw", kdf: KDF });
    const plaintext = randomBytes(150_000);
    const { url, ciphertext } = await encrypted(plaintext);

    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    expect(await codeOf(receiveFile(url, { store: db }, { fetch: serve(tampered).fetch }))).toBe("DECRYPTION_FAILED");
    expect(await db.media.list()).toEqual([]);
    expect(backend.media.items.size).toBe(0);

    const received = await receiveFile(url, { store: db }, { fetch: serve(ciphertext).fetch, type: "image/jpeg" });
    expect(received.kind).toBe("stored");
    if (received.kind !== "stored") return;
    expect(received.media).toMatchObject({ size: plaintext.length, name: "photo.jpg", type: "image/jpeg" });
    expect(Buffer.from(await db.media.readAll(received.media.id)).equals(plaintext)).toBe(true);
    await db.deleteAllMedia();
    expect(await db.media.list()).toEqual([]);

    const failing = {
      media: {
        async put(source: AsyncIterable<Uint8Array>) {
          await source[Symbol.asyncIterator]().next(); // takes one chunk, then fails
          throw new Error("disk full");
        },
      },
    } as unknown as Pick<EncryptedStore, "media">;
    const server = serve(ciphertext);
    expect(await codeOf(receiveFile(url, { store: failing }, { fetch: server.fetch }))).toBe("IO_FAILED");
    expect(server.pulled()).toBeLessThan(ciphertext.length / 1000 / 2);
    await db.close();
  });
});
