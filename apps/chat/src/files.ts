/**
 * Files over OMEMO: XEP-0363 HTTP File Upload carrying XEP-0454 (OMEMO media sharing) ciphertext.
 *
 * Sending: find the upload service (XEP-0363 §3: disco#items on our domain, disco#info on each item for
 * `urn:xmpp:http:upload:0` and its `max-file-size`), ask it for a slot of the *encrypted* size (XEP-0454
 * §6), PUT the file encrypted on the fly with a fresh AES-256-GCM key (the tag appended), and send
 * `aesgcm://host/path#<iv><key>` as the body of an OMEMO message. Nothing else goes into the stanza: an
 * `<x xmlns='jabber:x:oob'>` would sit outside the encryption (legacy OMEMO encrypts only the body) and
 * hand the key to every server on the way, so XEP-0454 clients send the URL in the body alone.
 *
 * Receiving: a decrypted body that is exactly one aesgcm:// URL (surrounding whitespace aside) is a file.
 * It is downloaded from the https:// URL without the fragment (the key never reaches the HTTP server),
 * decrypted as it streams (memory bounded by one 64 KiB slice), checked against a size limit, and only
 * handed over once GCM's tag verified: into a @parley/storage `EncryptedStore`'s media, into a file, or
 * as bytes. The low-level {@link downloadFile} streams into a sink and leaves discarding to the caller.
 *
 * Secrets: the aesgcm URL's fragment is the key. No error message, log line or `inspect`/`JSON` output
 * of this module contains it; error messages contain no URL at all.
 *
 * Transport security: XEP-0363 says the HTTP host MUST provide TLS, and XEP-0454 §3 that non-https URLs
 * MUST NOT be converted to aesgcm://. Both hold here by default. `insecureHttpHosts` is an explicit
 * escape hatch for tests and servers on loopback (our Prosody harness speaks plain http on 127.0.0.1).
 */
import { createReadStream } from "node:fs";
import { open, rename, stat, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, extname } from "node:path";
import { xml, type Client } from "@xmpp/client";
import { isOmemoError, media, type Element, type EncryptResult, type OmemoNamespace } from "@parley/omemo";
import type { EncryptedStore, MediaInfo } from "@parley/storage";

export const NS_HTTP_UPLOAD = "urn:xmpp:http:upload:0";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
const NS_DATA = "jabber:x:data";

/** Plaintext size limit of a received file unless the caller sets `maxBytes`: 100 MiB. */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024;
/** How long one HTTP transfer (PUT or GET, headers and body) may take unless `timeoutMs` says otherwise. */
export const DEFAULT_HTTP_TIMEOUT_MS = 30 * 60_000;
/** How long a transfer may go without progress (no byte sent or received) unless `idleTimeoutMs` says otherwise. */
export const DEFAULT_HTTP_IDLE_TIMEOUT_MS = 30_000;
/** XEP-0363 v1.1 §4: the only slot headers a client passes on to the PUT; any other is ignored. */
export const ALLOWED_SLOT_HEADERS: readonly string[] = ["authorization", "cookie", "expires"];

export type FileTransferErrorCode =
  /** An argument has the wrong type or range (the message names it). */
  | "INVALID_ARGUMENT"
  /** No entity on the domain (or the domain itself) announces `urn:xmpp:http:upload:0`. */
  | "NO_UPLOAD_SERVICE"
  /** Sending: larger than the service's max-file-size. Receiving: larger than `maxBytes`. */
  | "FILE_TOO_LARGE"
  /** The upload service answered the slot request with an error (`condition` says which). */
  | "SLOT_REFUSED"
  /** A slot or download URL is not https (and its host is not in `insecureHttpHosts`), or is not a URL. */
  | "INSECURE_URL"
  /** The PUT failed: network error, timeout or a status other than 2xx (`status`). */
  | "UPLOAD_FAILED"
  /** The GET failed: network error, timeout or a status other than 200 (`status`). */
  | "DOWNLOAD_FAILED"
  /** The download ended before the length the server announced, or is shorter than the GCM tag. */
  | "TRUNCATED"
  /** The file does not authenticate: wrong key or IV, modified bytes (or truncated where the length was unknown). */
  | "DECRYPTION_FAILED"
  /** The body is not exactly one aesgcm:// URL. */
  | "NOT_A_FILE_MESSAGE"
  /** Reading the local file, writing the target file, or the media store failed (`cause`). */
  | "IO_FAILED";

/** The one error class of this module. Messages never contain a URL, a key or file contents. */
export class FileTransferError extends Error {
  override readonly name = "FileTransferError";
  readonly code: FileTransferErrorCode;
  /** The HTTP status, for UPLOAD_FAILED and DOWNLOAD_FAILED when the server answered. */
  readonly status: number | undefined;
  /** The XMPP error condition, for SLOT_REFUSED and NO_UPLOAD_SERVICE. */
  readonly condition: string | undefined;
  constructor(
    code: FileTransferErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; condition?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.condition = options.condition;
  }
}

export function isFileTransferError(error: unknown, code?: FileTransferErrorCode): error is FileTransferError {
  return error instanceof FileTransferError && (code === undefined || error.code === code);
}

// ---------------------------------------------------------------------------------------------------
// Redaction

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** Makes `value` print as `label { …visible, aesgcmUrl: [redacted] }` in inspect, String() and JSON. */
function redacted<T extends object>(value: T, label: string, visible: Record<string, unknown>): T {
  const text = () =>
    `${label} { ${[...Object.entries(visible).map(([k, v]) => `${k}: ${String(v)}`), "aesgcmUrl: [redacted]"].join(", ")} }`;
  Object.defineProperties(value, {
    [INSPECT]: { value: text, enumerable: false },
    toString: { value: text, enumerable: false },
    toJSON: { value: () => ({ ...visible, aesgcmUrl: "[redacted]" }), enumerable: false },
  });
  return value;
}

/** `url` without its fragment (for display: the fragment of an aesgcm:// URL is the key). */
export function redactUrl(url: string): string {
  const hash = url.indexOf("#");
  return hash < 0 ? url : `${url.slice(0, hash)}#[redacted]`;
}

// ---------------------------------------------------------------------------------------------------
// URLs

export interface HttpOptions {
  /**
   * FOR TESTS AND LOCAL SERVERS ONLY. Hosts (`host:port` as in `new URL(u).host`) whose upload service
   * speaks plain http. A slot URL `http://<host>/…` is accepted (and its GET URL announced as
   * `aesgcm://<host>/…`), and an aesgcm URL of such a host is downloaded over `http://`. Default: none,
   * every URL must be https (XEP-0363: the host MUST provide TLS; XEP-0454 §3: never convert http).
   */
  readonly insecureHttpHosts?: readonly string[];
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** Time limit of one transfer, headers and body (default {@link DEFAULT_HTTP_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /**
   * Time a transfer may make no progress: no response headers, no body bytes read or sent (default
   * {@link DEFAULT_HTTP_IDLE_TIMEOUT_MS}). A server that stops sending before the announced length is
   * TRUNCATED after this long.
   */
  readonly idleTimeoutMs?: number;
  /** Aborts the transfer (the promise rejects with UPLOAD_FAILED or DOWNLOAD_FAILED). */
  readonly signal?: AbortSignal;
}

function parseHttpUrl(url: string): URL | undefined {
  if (typeof url !== "string" || /[\s\\]/.test(url) || url.includes("#")) return undefined;
  try {
    const parsed = new URL(url);
    if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.hostname === "") return undefined;
    if (parsed.username !== "" || parsed.password !== "") return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

/** A slot URL (PUT or GET) as the https URL it stands for; throws INSECURE_URL for http outside `insecureHttpHosts`. */
export function slotUrlAsHttps(url: string, options: Pick<HttpOptions, "insecureHttpHosts"> = {}): string {
  const parsed = parseHttpUrl(url);
  if (parsed === undefined)
    throw new FileTransferError("INSECURE_URL", "the upload slot's URL is not a valid http(s) URL");
  if (parsed.protocol === "https:") return url;
  if (options.insecureHttpHosts?.includes(parsed.host)) return `https${url.slice("http".length)}`;
  throw new FileTransferError(
    "INSECURE_URL",
    "the upload slot's URL is not https (XEP-0363 requires TLS); list the host in insecureHttpHosts only for a local test server",
  );
}

/** The URL to fetch for an https URL: itself, or its http:// form when its host is in `insecureHttpHosts`. */
export function fetchableUrl(httpsUrl: string, options: Pick<HttpOptions, "insecureHttpHosts"> = {}): string {
  const parsed = parseHttpUrl(httpsUrl);
  if (parsed === undefined || parsed.protocol !== "https:") {
    throw new FileTransferError("INSECURE_URL", "not an absolute https URL");
  }
  if (options.insecureHttpHosts?.includes(parsed.host)) return `http${httpsUrl.slice("https".length)}`;
  return httpsUrl;
}

/**
 * The aesgcm:// URL of a message body that is exactly one such URL (leading and trailing whitespace
 * aside), parsed strictly (XEP-0454 §5); undefined for any other body. Never linkify it (§7).
 */
export function parseFileMessage(body: string | undefined): media.AesgcmUrl | undefined {
  if (typeof body !== "string") return undefined;
  const trimmed = body.trim();
  if (!/^aesgcm:\/\//i.test(trimmed)) return undefined;
  try {
    return media.parseAesgcmUrl(trimmed);
  } catch (e) {
    if (isOmemoError(e, "MEDIA_INVALID_URL")) return undefined;
    throw e;
  }
}

/** True when `body` is exactly one aesgcm:// URL: show it as a file, not as text. */
export function isFileMessage(body: string | undefined): boolean {
  return parseFileMessage(body) !== undefined;
}

/**
 * A file name for a received file: the last path segment of its URL, decoded, without directory parts,
 * control characters or a leading dot; "file" when nothing is left. The sender chose it: treat it as a
 * hint, never as a path.
 */
export function suggestedFileName(url: string): string {
  const path = url.replace(/[#?].*$/s, "");
  let segment = path.slice(path.lastIndexOf("/") + 1);
  try {
    segment = decodeURIComponent(segment);
  } catch {
    // keep the encoded form
  }
  const cleaned = segment
    .replace(/[\u0000-\u001f\u007f/\\]/g, "") // eslint-disable-line no-control-regex
    .replace(/^\.+/, "")
    .slice(0, 200);
  return cleaned === "" ? "file" : cleaned;
}

// ---------------------------------------------------------------------------------------------------
// XEP-0363: discovery and slots

export interface UploadService {
  /** The upload component's JID, e.g. upload.example.org. */
  readonly jid: string;
  /** The service's max-file-size in bytes, if it announced one. */
  readonly maxFileSize: number | undefined;
}

type IqClient = Pick<Client, "iqCaller">;

/** The `urn:xmpp:http:upload:0` feature and the max-file-size of a disco#info result, or undefined. */
export function parseUploadInfo(query: Element | undefined): { maxFileSize: number | undefined } | undefined {
  if (query === undefined) return undefined;
  const features = query.getChildren("feature").map((f) => f.attrs["var"] as unknown);
  if (!features.includes(NS_HTTP_UPLOAD)) return undefined;
  let maxFileSize: number | undefined;
  for (const form of query.getChildren("x", NS_DATA)) {
    const fields = form.getChildren("field");
    const formType = fields.find((f) => f.attrs["var"] === "FORM_TYPE")?.getChildText("value");
    if (formType?.trim() !== NS_HTTP_UPLOAD) continue;
    const value = fields
      .find((f) => f.attrs["var"] === "max-file-size")
      ?.getChildText("value")
      ?.trim();
    if (value !== undefined && /^\d{1,15}$/.test(value)) maxFileSize = Number(value);
  }
  return { maxFileSize };
}

function conditionOf(error: unknown): string | undefined {
  const condition = (error as { condition?: unknown } | null)?.condition;
  return typeof condition === "string" ? condition : undefined;
}

/**
 * XEP-0363 §3: disco#items on `domain`, then disco#info on each item (in order) until one announces
 * `urn:xmpp:http:upload:0`; the domain itself is asked last. NO_UPLOAD_SERVICE when none does.
 */
export async function discoverUploadService(
  xmpp: IqClient,
  domain: string,
  options: { timeoutMs?: number } = {},
): Promise<UploadService> {
  const timeout = options.timeoutMs ?? 30_000;
  const info = async (jid: string) => {
    const iq = xml("iq", { type: "get", to: jid }, xml("query", { xmlns: NS_DISCO_INFO }));
    try {
      return parseUploadInfo((await xmpp.iqCaller.request(iq, timeout)).getChild("query", NS_DISCO_INFO));
    } catch (e) {
      if (conditionOf(e) !== undefined) return undefined; // that item does not answer disco: not it
      throw e;
    }
  };
  let items: string[] = [];
  try {
    const reply = await xmpp.iqCaller.request(
      xml("iq", { type: "get", to: domain }, xml("query", { xmlns: NS_DISCO_ITEMS })),
      timeout,
    );
    items = (reply.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? [])
      .map((i) => i.attrs["jid"] as unknown)
      .filter((j): j is string => typeof j === "string" && j !== "");
  } catch (e) {
    if (conditionOf(e) === undefined) throw e;
  }
  for (const jid of [...new Set(items), domain]) {
    const found = await info(jid);
    if (found !== undefined) return { jid, maxFileSize: found.maxFileSize };
  }
  throw new FileTransferError(
    "NO_UPLOAD_SERVICE",
    "no HTTP File Upload service (urn:xmpp:http:upload:0) on the server",
  );
}

export interface UploadSlot {
  /** Where to PUT the file. */
  readonly putUrl: string;
  /** Where the file will be served (becomes the aesgcm:// URL). */
  readonly getUrl: string;
  /** The slot's headers to send with the PUT: Authorization, Cookie and Expires only, newlines stripped. */
  readonly headers: Readonly<Record<string, string>>;
}

/** The slot of a slot-request result (`<slot><put url><header name/>…</put><get url/></slot>`). */
export function parseSlot(slot: Element | undefined): UploadSlot {
  const put = slot?.getChild("put");
  const get = slot?.getChild("get");
  const putUrl = put?.attrs["url"] as unknown;
  const getUrl = get?.attrs["url"] as unknown;
  if (typeof putUrl !== "string" || typeof getUrl !== "string") {
    throw new FileTransferError("SLOT_REFUSED", "the upload service's slot has no put or get URL");
  }
  const headers: Record<string, string> = {};
  for (const header of put!.getChildren("header")) {
    // XEP-0363 §8: strip newlines from names and values; §4 (v1.1): only these three, others ignored.
    const name = String(header.attrs["name"] ?? "").replace(/[\r\n]/g, "");
    const value = header.getText().replace(/[\r\n]/g, "");
    if (!ALLOWED_SLOT_HEADERS.includes(name.toLowerCase())) continue;
    headers[name] = value;
  }
  return { putUrl, getUrl, headers };
}

/** XEP-0363 §4: asks `service` for a slot of `size` bytes. SLOT_REFUSED or FILE_TOO_LARGE on an error reply. */
export async function requestSlot(
  xmpp: IqClient,
  service: string,
  request: { filename: string; size: number; contentType?: string },
  options: { timeoutMs?: number } = {},
): Promise<UploadSlot> {
  const iq = xml(
    "iq",
    { type: "get", to: service },
    xml("request", {
      xmlns: NS_HTTP_UPLOAD,
      filename: request.filename,
      size: String(request.size),
      ...(request.contentType !== undefined ? { "content-type": request.contentType } : {}),
    }),
  );
  let reply: Element;
  try {
    reply = await xmpp.iqCaller.request(iq, options.timeoutMs ?? 30_000);
  } catch (e) {
    const condition = conditionOf(e);
    if (condition === undefined) throw e;
    const tooLarge = (e as { element?: Element }).element?.getChild("file-too-large", NS_HTTP_UPLOAD) !== undefined;
    throw new FileTransferError(
      tooLarge ? "FILE_TOO_LARGE" : "SLOT_REFUSED",
      tooLarge ? "the upload service says the file is too large" : `the upload service refused the slot (${condition})`,
      { condition },
    );
  }
  return parseSlot(reply.getChild("slot", NS_HTTP_UPLOAD));
}

// ---------------------------------------------------------------------------------------------------
// Sending

/** A file to send: a path on disk, bytes in memory, or a stream of exactly `size` bytes. */
export type FileSource =
  | { readonly path: string }
  | { readonly bytes: Uint8Array }
  | { readonly stream: AsyncIterable<Uint8Array>; readonly size: number };

/** The part of a ChatAccount that sending needs. */
export interface FileAccount {
  readonly jid: string;
  readonly xmpp: Pick<Client, "iqCaller">;
  send(to: string, body: string, options?: { namespace?: OmemoNamespace }): Promise<EncryptResult>;
}

export interface SendFileOptions extends HttpOptions {
  /** The file's name, for its extension (default: the path's base name; "file" for bytes and streams). */
  readonly name?: string;
  /**
   * The file name the upload service sees and puts into the URL. Default: 32 random hex digits and the
   * extension of `name` (receivers guess the type from it), so the server learns no real file name.
   */
  readonly uploadName?: string;
  /** The Content-Type announced to the service (default application/octet-stream: the type is not leaked). */
  readonly contentType?: string;
  /** OMEMO namespace of the message (default: the session manager's choice). */
  readonly namespace?: OmemoNamespace;
  /** Skip discovery (e.g. cached from an earlier {@link discoverUploadService}). */
  readonly service?: UploadService;
  /** Time limit of each XMPP request (default 30 s). */
  readonly iqTimeoutMs?: number;
}

export interface SentFile {
  /** The name the upload service saw. */
  readonly uploadName: string;
  /** Plaintext bytes. */
  readonly size: number;
  /** Bytes uploaded: the plaintext plus the 16-byte tag. */
  readonly encryptedSize: number;
  /** The https GET URL (no key). */
  readonly httpsUrl: string;
  /** The aesgcm:// URL that was sent: SECRET (its fragment is the key); prints as [redacted]. */
  readonly aesgcmUrl: string;
  /** The OMEMO send result (devices it was encrypted for). */
  readonly result: EncryptResult;
}

function uploadNameFor(name: string): string {
  const ext = extname(name);
  return `${randomBytes(16).toString("hex")}${/^\.[A-Za-z0-9]{1,10}$/.test(ext) ? ext.toLowerCase() : ""}`;
}

/**
 * The abort signal of one transfer: the caller's signal, the total `timeoutMs`, and an idle timer that
 * `progress()` restarts. `stop()` clears the idle timer (call it when the transfer is over).
 */
function transferControl(options: HttpOptions): { signal: AbortSignal; progress(): void; stop(): void } {
  const idleMs = options.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS;
  const idle = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const progress = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle.abort(new DOMException(`no progress for ${idleMs} ms`, "TimeoutError"));
    }, idleMs);
    timer.unref();
  };
  progress();
  const signals = [idle.signal, AbortSignal.timeout(options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS)];
  if (options.signal !== undefined) signals.push(options.signal);
  return {
    signal: AbortSignal.any(signals),
    progress,
    stop: () => {
      clearTimeout(timer);
    },
  };
}

/** Reads `path` lazily: nothing is opened until the first chunk is pulled, and the file is closed when iteration stops. */
async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path);
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } finally {
    stream.destroy();
  }
}

async function openSource(source: FileSource): Promise<{ chunks: media.MediaSource; size: number; name: string }> {
  if ("bytes" in source) {
    if (!(source.bytes instanceof Uint8Array)) {
      throw new FileTransferError("INVALID_ARGUMENT", "bytes must be a Uint8Array");
    }
    return { chunks: source.bytes, size: source.bytes.length, name: "file" };
  }
  if ("stream" in source) {
    if (!Number.isSafeInteger(source.size) || source.size < 0) {
      throw new FileTransferError("INVALID_ARGUMENT", "size must be a non-negative integer");
    }
    return { chunks: source.stream, size: source.size, name: "file" };
  }
  let size: number;
  try {
    const info = await stat(source.path);
    if (!info.isFile()) throw new Error("not a regular file");
    size = info.size;
  } catch (e) {
    throw new FileTransferError("IO_FAILED", "cannot read the file to send", { cause: e });
  }
  return { chunks: fileChunks(source.path), size, name: basename(source.path) };
}

/**
 * Uploads the file encrypted (XEP-0454) through the account's HTTP File Upload service (XEP-0363) and
 * sends its aesgcm:// URL to `to` as an OMEMO message. The file is read, encrypted and uploaded as a
 * stream (memory bounded by one slice), with Content-Length set to the encrypted size.
 */
export async function sendFile(
  account: FileAccount,
  to: string,
  source: FileSource,
  options: SendFileOptions = {},
): Promise<SentFile> {
  const file = await openSource(source);
  const encryptedSize = media.encryptedSize(file.size);
  const domain = account.jid.slice(account.jid.indexOf("@") + 1).replace(/\/.*$/s, "");
  const iqOptions = options.iqTimeoutMs === undefined ? {} : { timeoutMs: options.iqTimeoutMs };
  const service = options.service ?? (await discoverUploadService(account.xmpp, domain, iqOptions));
  if (service.maxFileSize !== undefined && encryptedSize > service.maxFileSize) {
    throw new FileTransferError(
      "FILE_TOO_LARGE",
      `the file (${encryptedSize} bytes encrypted) exceeds the upload service's limit of ${service.maxFileSize} bytes`,
    );
  }
  const uploadName = options.uploadName ?? uploadNameFor(options.name ?? file.name);
  const contentType = options.contentType ?? "application/octet-stream";
  const slot = await requestSlot(
    account.xmpp,
    service.jid,
    { filename: uploadName, size: encryptedSize, contentType },
    iqOptions,
  );
  slotUrlAsHttps(slot.putUrl, options); // PUT over TLS only (or an explicitly allowed local host)
  const httpsUrl = slotUrlAsHttps(slot.getUrl, options);

  const encrypted = media.encryptFile(file.chunks);
  const iterator = encrypted.ciphertext[Symbol.asyncIterator]();
  const control = transferControl(options);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const step = await iterator.next();
      control.progress();
      if (step.done === true) controller.close();
      else controller.enqueue(step.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(slot.putUrl, {
      method: "PUT",
      body,
      duplex: "half",
      redirect: "error",
      headers: { ...slot.headers, "Content-Length": String(encryptedSize), "Content-Type": contentType },
      signal: control.signal,
    } as RequestInit);
  } catch (e) {
    control.stop();
    await iterator.return?.().catch(() => undefined);
    throw new FileTransferError(
      "UPLOAD_FAILED",
      "the upload failed: network error, timeout, the file could not be read or changed size while it was read",
      { cause: e },
    );
  }
  control.stop();
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) {
    throw new FileTransferError("UPLOAD_FAILED", `the upload service answered the PUT with HTTP ${response.status}`, {
      status: response.status,
    });
  }
  const aesgcmUrl = media.aesgcmUrl(httpsUrl, encrypted.key, encrypted.iv);
  const result = await account.send(to, aesgcmUrl, options.namespace ? { namespace: options.namespace } : {});
  const sent: SentFile = { uploadName, size: file.size, encryptedSize, httpsUrl, aesgcmUrl, result };
  return redacted(sent, "SentFile", { uploadName, size: file.size, encryptedSize, httpsUrl });
}

// ---------------------------------------------------------------------------------------------------
// Receiving

export interface DownloadOptions extends HttpOptions {
  /** Largest plaintext accepted, in bytes (default {@link DEFAULT_MAX_DOWNLOAD_BYTES}); larger is FILE_TOO_LARGE. */
  readonly maxBytes?: number;
}

function fileError(e: unknown): FileTransferError | undefined {
  if (e instanceof FileTransferError) return e;
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause instanceof FileTransferError ? cause : undefined;
}

/**
 * Downloads the file of an aesgcm:// URL (or a body that is exactly one) and decrypts it into `sink`
 * as it arrives. Resolves with the plaintext size once the GCM tag verified. THE SINK RECEIVES
 * UNAUTHENTICATED PLAINTEXT: on rejection, discard everything it got (the higher-level
 * {@link receiveFile} does). Rejects with FileTransferError: NOT_A_FILE_MESSAGE, INSECURE_URL,
 * DOWNLOAD_FAILED (status), FILE_TOO_LARGE (announced or counted), TRUNCATED, DECRYPTION_FAILED,
 * IO_FAILED (the sink failed).
 */
export async function downloadFile(
  aesgcmUrl: string,
  sink: media.MediaSink,
  options: DownloadOptions = {},
): Promise<{ readonly size: number }> {
  const parsed = parseFileMessage(aesgcmUrl);
  if (parsed === undefined) throw new FileTransferError("NOT_A_FILE_MESSAGE", "not exactly one aesgcm:// URL");
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new FileTransferError("INVALID_ARGUMENT", "maxBytes must be a non-negative integer");
  }
  const maxEncrypted = media.encryptedSize(maxBytes);
  const url = fetchableUrl(parsed.httpsUrl, options);
  const doFetch = options.fetch ?? fetch;
  const control = transferControl(options);
  let response: Response;
  try {
    response = await doFetch(url, { method: "GET", redirect: "follow", signal: control.signal });
  } catch (e) {
    control.stop();
    throw new FileTransferError("DOWNLOAD_FAILED", "the download failed (network error or timeout)", { cause: e });
  }
  control.progress();
  const body = response.body;
  const fail = async (error: FileTransferError): Promise<never> => {
    control.stop();
    await body?.cancel().catch(() => undefined);
    throw error;
  };
  if (response.status !== 200) {
    return fail(
      new FileTransferError("DOWNLOAD_FAILED", `the file server answered HTTP ${response.status}`, {
        status: response.status,
      }),
    );
  }
  // A redirect must not leave https (or the explicitly allowed local host).
  if (response.url !== "" && response.url !== url) {
    const final = parseHttpUrl(response.url);
    if (final === undefined || (final.protocol !== "https:" && !options.insecureHttpHosts?.includes(final.host))) {
      return fail(new FileTransferError("INSECURE_URL", "the download was redirected to a non-https URL"));
    }
  }
  const lengthHeader = response.headers.get("content-length");
  const declared = lengthHeader !== null && /^\d{1,15}$/.test(lengthHeader.trim()) ? Number(lengthHeader) : undefined;
  if (declared !== undefined && declared > maxEncrypted) {
    return fail(
      new FileTransferError("FILE_TOO_LARGE", `the file is ${declared} bytes, over the limit of ${maxEncrypted}`),
    );
  }
  if (body === null) return fail(new FileTransferError("TRUNCATED", "the download has no body"));

  let received = 0;
  const reader = body.getReader();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        let step: ReadableStreamReadResult<Uint8Array>;
        try {
          step = await reader.read();
        } catch (e) {
          if (declared !== undefined && received < declared) {
            throw new FileTransferError("TRUNCATED", `the download broke off after ${received} of ${declared} bytes`, {
              cause: e,
            });
          }
          throw new FileTransferError("DOWNLOAD_FAILED", "the download failed while reading the body", { cause: e });
        }
        if (step.done) break;
        control.progress();
        received += step.value.length;
        if (received > maxEncrypted) {
          throw new FileTransferError("FILE_TOO_LARGE", `the download exceeds the limit of ${maxEncrypted} bytes`);
        }
        yield step.value;
      }
      if (declared !== undefined && received < declared) {
        throw new FileTransferError("TRUNCATED", `the download ended after ${received} of ${declared} bytes`);
      }
      if (received < media.MEDIA_TAG_BYTES) {
        throw new FileTransferError("TRUNCATED", "the download is shorter than the 16-byte authentication tag");
      }
    } finally {
      control.stop();
      await reader.cancel().catch(() => undefined);
    }
  }
  try {
    return await media.decryptFile(chunks(), parsed.key, parsed.iv, sink);
  } catch (e) {
    const ours = fileError(e);
    if (ours !== undefined) throw ours;
    if (isOmemoError(e, "DECRYPTION_FAILED")) {
      throw new FileTransferError(
        "DECRYPTION_FAILED",
        "the file does not authenticate: wrong key or IV, or modified or truncated data",
      );
    }
    if (isOmemoError(e, "IO_FAILED")) {
      throw new FileTransferError("IO_FAILED", "writing the received file failed", { cause: e.cause });
    }
    throw e;
  } finally {
    control.stop();
    await reader.cancel().catch(() => undefined);
  }
}

/** Where a received file goes. */
export type ReceiveTarget =
  /** Into the store's encrypted media (`db.media.put`); the item is committed only once the file authenticated. */
  | { readonly store: Pick<EncryptedStore, "media"> }
  /** Into a file (written as `<path>.part`, mode 0600, renamed over `path` once authenticated; removed on failure). */
  | { readonly path: string }
  /** Into memory (at most `maxBytes`). */
  | Record<string, never>;

export interface ReceiveFileOptions extends DownloadOptions {
  /** Stored name (default {@link suggestedFileName} of the URL). */
  readonly name?: string;
  /** Stored MIME type (default none: the sender's type is not known). */
  readonly type?: string;
}

export type ReceivedFile =
  | { readonly kind: "stored"; readonly size: number; readonly name: string; readonly media: MediaInfo }
  | { readonly kind: "file"; readonly size: number; readonly name: string; readonly path: string }
  | { readonly kind: "bytes"; readonly size: number; readonly name: string; readonly bytes: Uint8Array };

/** A one-slot channel from decryptFile's push sink to the pull source db.media.put reads, with backpressure. */
class Channel {
  #items: Uint8Array[] = [];
  #done = false;
  #error: unknown;
  #failed = false;
  #cancelled: unknown;
  #isCancelled = false;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  async push(chunk: Uint8Array): Promise<void> {
    if (this.#isCancelled) throw this.#cancelled;
    this.#items.push(chunk);
    this.#wakeConsumer?.();
    while (this.#items.length > 0 && !this.#isCancelled) {
      await new Promise<void>((resolve) => (this.#wakeProducer = resolve));
    }
    if (this.#isCancelled) throw this.#cancelled;
  }
  end(): void {
    this.#done = true;
    this.#wakeConsumer?.();
  }
  fail(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    this.#wakeConsumer?.();
  }
  /** The consumer gave up: pending and later pushes reject with `reason`. */
  cancel(reason: unknown): void {
    this.#isCancelled = true;
    this.#cancelled = reason;
    this.#wakeProducer?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        this.#wakeProducer?.();
        yield item;
        continue;
      }
      if (this.#failed) throw this.#error;
      if (this.#done) return;
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
    }
  }
}

/**
 * Downloads, decrypts and keeps the file of a message body that is exactly one aesgcm:// URL, handing
 * it over only once it authenticated: into `target.store`'s media, into `target.path`, or as bytes.
 * Nothing unauthenticated survives a failure. Errors: as {@link downloadFile}; IO_FAILED when the
 * store or the file system fails.
 */
export async function receiveFile(
  body: string,
  target: ReceiveTarget = {},
  options: ReceiveFileOptions = {},
): Promise<ReceivedFile> {
  const parsed = parseFileMessage(body);
  if (parsed === undefined) throw new FileTransferError("NOT_A_FILE_MESSAGE", "not exactly one aesgcm:// URL");
  const name = options.name ?? suggestedFileName(parsed.httpsUrl);

  if ("store" in target && target.store !== undefined) {
    const channel = new Channel();
    const putting = target.store.media
      .put(channel, { name, ...(options.type !== undefined ? { type: options.type } : {}) })
      .catch((e: unknown) => {
        channel.cancel(e);
        throw e;
      });
    const downloading = downloadFile(body, (chunk) => channel.push(chunk), options).then(
      (r) => {
        channel.end();
        return r;
      },
      (e: unknown) => {
        channel.fail(e);
        throw e;
      },
    );
    const [put, download] = await Promise.allSettled([putting, downloading]);
    if (download.status === "rejected") {
      // The store saw the failure as its source's error and kept nothing (no record, bytes removed);
      // if it had already committed an item (it cannot: the source ends only after the tag), drop it.
      if (put.status === "fulfilled") await target.store.media.delete(put.value.id).catch(() => undefined);
      const e = download.reason as unknown;
      if (e instanceof FileTransferError && e.code === "IO_FAILED" && put.status === "rejected") {
        throw new FileTransferError("IO_FAILED", "storing the received file failed", { cause: put.reason });
      }
      throw e;
    }
    if (put.status === "rejected") {
      throw new FileTransferError("IO_FAILED", "storing the received file failed", { cause: put.reason });
    }
    return { kind: "stored", size: download.value.size, name, media: put.value };
  }

  if ("path" in target && typeof target.path === "string") {
    const part = `${target.path}.part`;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(part, "w", 0o600);
    } catch (e) {
      throw new FileTransferError("IO_FAILED", "cannot create the file to receive into", { cause: e });
    }
    let result: { size: number };
    try {
      result = await downloadFile(
        body,
        async (chunk) => {
          for (let offset = 0; offset < chunk.length;) {
            offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
          }
        },
        options,
      );
      await handle.sync();
      await handle.close();
      await rename(part, target.path);
    } catch (e) {
      await handle.close().catch(() => undefined);
      await unlink(part).catch(() => undefined);
      if (e instanceof FileTransferError) throw e;
      throw new FileTransferError("IO_FAILED", "writing the received file failed", { cause: e });
    }
    return { kind: "file", size: result.size, name, path: target.path };
  }

  const parts: Uint8Array[] = [];
  const result = await downloadFile(
    body,
    (chunk) => {
      parts.push(chunk);
    },
    options,
  );
  const bytes = new Uint8Array(result.size);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.length;
  }
  return { kind: "bytes", size: result.size, name, bytes };
}
