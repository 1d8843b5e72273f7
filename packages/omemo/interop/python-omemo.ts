// python-omemo (Debian's python3-omemo 1.0.2 with python3-oldmemo / python3-twomemo 1.0.3) as one OMEMO
// device in its own process: omemo_peer.py, spoken to in JSON lines (schema in README.md). One instance is one
// device of one account; every answer reports what python-omemo published to PEP and sent by itself while
// handling the request, for the test to relay (pep.ts) or deliver.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Debian's python3: the `python3` on PATH may be another one without the Debian packages. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

export const LEGACY_NS = "eu.siacs.conversations.axolotl";
export const OMEMO2_NS = "urn:xmpp:omemo:2";
export type OmemoNamespace = typeof LEGACY_NS | typeof OMEMO2_NS;

/** The PEP nodes python-omemo publishes to (XEP-0384 v0.3 §4, v0.8 §5.3). */
export const DEVICE_LIST_NODE: Readonly<Record<OmemoNamespace, string>> = {
  [LEGACY_NS]: `${LEGACY_NS}.devicelist`,
  [OMEMO2_NS]: `${OMEMO2_NS}:devices`,
};

/** Node and item id of one device's bundle: one node per device in legacy OMEMO, one item per device in OMEMO 2. */
export function bundleAddress(namespace: OmemoNamespace, deviceId: number): { node: string; itemId: string } {
  return namespace === LEGACY_NS
    ? { node: `${LEGACY_NS}.bundles:${deviceId}`, itemId: "current" }
    : { node: `${OMEMO2_NS}:bundles`, itemId: String(deviceId) };
}

/** One PEP item of `jid`'s account; `xml` null means the item was retracted. */
export interface PepItem {
  jid: string;
  node: string;
  itemId: string;
  xml: string | null;
}

/** One `<key>` of an `<encrypted>` element: for whom, and whether it carries a key exchange. */
export interface KeyInfo {
  jid: string;
  deviceId: number;
  kex: boolean;
}

/** A message python-omemo sent by itself (SessionManager._send_message): always an empty OMEMO message. */
export interface SentMessage {
  namespace: OmemoNamespace;
  from: string;
  fromDeviceId: number;
  /** The bare JID it was sent to. */
  to: string;
  empty: boolean;
  keys: KeyInfo[];
  /** The `<encrypted>` element as oldmemo.etree / twomemo.etree serialize it. */
  xml: string;
}

/** Side effects of one request, reported with every answer (also inside a PythonOmemoError). */
export interface Effects {
  published: PepItem[];
  sent: SentMessage[];
  /** python-omemo's log records at WARNING and above, "logger: message". */
  warnings: string[];
}

export interface BundleState {
  signedPreKeyId: number;
  preKeyIds: number[];
  /** Seconds since the signed prekey was generated. */
  signedPreKeyAge: number;
}

export interface OwnState {
  jid: string;
  deviceId: number;
  /** Ed25519 public identity key, base64 (python-omemo's form for both namespaces). */
  identityKey: string;
  /** Curve25519 form in hex, as SessionManager.format_identity_key (without the grouping). */
  fingerprint: string;
  bundles: Partial<Record<OmemoNamespace, BundleState>>;
}

export interface CreateOptions {
  /** Loaded backends in priority order; default both, legacy first (python-omemo's order of `create`). */
  namespaces?: OmemoNamespace[];
  /** "blind" (default) trusts every undecided device on encrypt; "manual" leaves them undecided. */
  trust?: "blind" | "manual";
  /** Feeds all of python-omemo's randomness from this seed (with PYTHONHASHSEED=0, runs repeat). */
  seed?: number;
  label?: string;
  signedPreKeyRotationPeriod?: number;
  /** python-omemo refills to 100 prekeys when at most this many are left (25..99, default 99). */
  preKeyRefillThreshold?: number;
  /** Stay in history-synchronization mode after create (default false: after_history_sync is called). */
  historySync?: boolean;
}

export interface PepPutResult {
  /** Device ids of a device list, as python-omemo's parse_device_list read them. */
  deviceIds?: number[];
  /** The same list in document order, with labels (always null in legacy OMEMO). */
  devices?: Array<{ id: number; label: string | null }>;
  /** For a bundle: what python-omemo's parse_bundle read. */
  preKeyIds?: number[];
  signedPreKeyId?: number;
  identityKey?: string;
}

export interface EncryptError {
  jid: string;
  deviceId: number;
  /** BundleDownloadFailed, BundleNotFound or KeyExchangeFailed: python-omemo skips the device. */
  type: string;
  message: string;
}

export interface EncryptResult {
  /** The `<encrypted>` element; null if there was no device to encrypt for in this namespace. */
  xml: string | null;
  keys: KeyInfo[];
  errors: EncryptError[];
}

export interface DecryptResult {
  /** null for an empty OMEMO message (heartbeat, session completion, key transport); UTF-8 decoded. */
  plaintext: string | null;
  /** The same bytes in base64, for payloads that are not text. */
  plaintextBase64: string | null;
  senderDeviceId: number;
  senderIdentityKey: string;
  /** Whether our `<key>` carried a key exchange (prekey="true" / kex="true"). */
  keyExchange: boolean;
  /** Whether decrypting built (or replaced) the session with the sender. */
  newSession: boolean;
  /** The decrypted key material (key || auth tag), base64. */
  keyMaterial: string;
}

export interface DeviceInfo {
  deviceId: number;
  namespaces: OmemoNamespace[];
  active: Partial<Record<OmemoNamespace, boolean>>;
  identityKey: string;
  fingerprint: string;
  trust: string;
  label: string | null;
}

export interface SessionInfo {
  initiation: "active" | "passive";
  confirmed: boolean;
  sendingChainLength: number;
  receivingChainLength: number | null;
  preKeyId: number;
  signedPreKeyId: number;
}

export type TrustLevel = "trusted" | "distrusted" | "undecided";

export interface PythonErrorCause {
  type: string;
  message: string;
}

/** python-omemo refused a request: `type` is the python exception class (DecryptionFailed, NoSession, ...). */
export class PythonOmemoError extends Error {
  override readonly name = "PythonOmemoError";
  readonly command: string;
  readonly type: string;
  readonly pythonMessage: string;
  readonly causes: readonly PythonErrorCause[];
  readonly traceback: string;
  readonly effects: Effects;

  constructor(
    command: string,
    error: { type: string; message: string; causes: PythonErrorCause[]; traceback: string },
    effects: Effects,
  ) {
    super(`python-omemo ${command} failed: ${error.type}: ${error.message}\n${error.traceback}`);
    this.command = command;
    this.type = error.type;
    this.pythonMessage = error.message;
    this.causes = error.causes;
    this.traceback = error.traceback;
    this.effects = effects;
  }
}

type Answer<T> = T & Effects;

const peerScript = fileURLToPath(new URL("./omemo_peer.py", import.meta.url));

/** Installs the Debian packages the peer needs when they are missing (python3-xmlschema: oldmemo.etree /
 * twomemo.etree import it, but the backends' packages do not depend on it). */
export function ensurePythonOmemo(): void {
  const script = fileURLToPath(new URL("../../../scripts/ensure-apt.mjs", import.meta.url));
  const packages = ["python3-omemo", "python3-oldmemo", "python3-twomemo", "python3-xmlschema"];
  const r = spawnSync(process.execPath, [script, ...packages], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`ensure-apt ${packages.join(" ")} failed`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class PythonOmemoPeer {
  readonly jid: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #exit: Promise<void>;
  #pending: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  /** Requests run one after the other: each waits for the previous answer. */
  #queue: Promise<unknown> = Promise.resolve();
  #nextId = 1;
  #stderr = "";
  #exited = false;

  private constructor(jid: string) {
    this.jid = jid;
    // PYTHONHASHSEED fixes set iteration order (prekey ids, element order), so seeded runs repeat.
    this.#child = spawn(DEBIAN_PYTHON, [peerScript], {
      env: { ...process.env, PYTHONHASHSEED: "0" },
      stdio: "pipe",
    });
    this.#child.stderr.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-8000);
    });
    this.#exit = new Promise((resolve) => {
      this.#child.on("exit", (code, signal) => {
        this.#exited = true;
        this.#pending?.reject(new Error(`python-omemo peer exited (${code ?? signal ?? "?"}): ${this.#stderr}`));
        this.#pending = undefined;
        resolve();
      });
    });
    this.#child.on("error", (e) => {
      this.#pending?.reject(new Error(`python-omemo peer could not run: ${e.message}`));
      this.#pending = undefined;
    });
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending) pending.resolve(line);
    });
  }

  /** Starts the process for one device of `jid` (bare JID); nothing exists until `create`. */
  static spawn(jid: string): PythonOmemoPeer {
    return new PythonOmemoPeer(jid);
  }

  /** SessionManager.create: device id, identity, 100 prekeys per backend, bundles and device lists published. */
  create(options: CreateOptions = {}): Promise<Answer<OwnState>> {
    return this.#call("create", { jid: this.jid, ...options });
  }

  info(): Promise<Answer<OwnState>> {
    return this.#call("info", {});
  }

  /** Versions of the installed python-omemo, python-oldmemo and python-twomemo. */
  versions(): Promise<Answer<{ omemo: string; oldmemo: string; twomemo: string }>> {
    return this.#call("versions", {});
  }

  /** Feeds an item of someone's PEP service into this device's view; device lists are handled as a PEP
   * notification (SessionManager.update_device_list), bundles are test-parsed unless `validate` is false. */
  pepPut(item: PepItem, options: { validate?: boolean } = {}): Promise<Answer<PepPutResult>> {
    return this.#call("pep.put", { ...item, ...options });
  }

  /** SessionManager.encrypt to every trusted device of `to` and our other devices; text is sent as UTF-8. */
  encrypt(
    to: readonly string[],
    plaintext: string | Uint8Array,
    namespace: OmemoNamespace,
  ): Promise<Answer<EncryptResult>> {
    const body =
      typeof plaintext === "string" ? { plaintext } : { plaintextBase64: Buffer.from(plaintext).toString("base64") };
    return this.#call("encrypt", { to, namespace, ...body });
  }

  decrypt(xml: string, from: string, namespace: OmemoNamespace): Promise<Answer<DecryptResult>> {
    return this.#call("decrypt", { xml, from, namespace });
  }

  /** SessionManager.set_trust for an Ed25519 identity key (base64). */
  trust(jid: string, identityKey: string, level: TrustLevel): Promise<Answer<object>> {
    return this.#call("trust", { jid, identityKey, level });
  }

  devices(jid: string): Promise<Answer<{ devices: DeviceInfo[] }>> {
    return this.#call("devices", { jid });
  }

  session(jid: string, deviceId: number, namespace: OmemoNamespace): Promise<Answer<{ session: SessionInfo | null }>> {
    return this.#call("session", { jid, deviceId, namespace });
  }

  /** Deletes this device's session state with one device (all namespaces unless one is given). */
  forget(jid: string, deviceId: number, namespace?: OmemoNamespace): Promise<Answer<{ removedKeys: number }>> {
    return this.#call("forget", namespace === undefined ? { jid, deviceId } : { jid, deviceId, namespace });
  }

  /** python-omemo's whole storage (key -> JSON text), e.g. to restore it later. */
  dump(): Promise<Answer<{ storage: Record<string, string> }>> {
    return this.#call("dump", {});
  }

  /** A restart: SessionManager.create again from this device's storage, or from an earlier dump. */
  restore(storage?: Record<string, string>): Promise<Answer<OwnState>> {
    return this.#call("restore", storage === undefined ? {} : { storage });
  }

  /** The body of python-omemo's signed-prekey rotation loop: rotate, keep the old one, republish the bundle. */
  rotateSignedPreKey(namespace?: OmemoNamespace): Promise<Answer<OwnState>> {
    return this.#call("rotateSignedPreKey", namespace === undefined ? {} : { namespace });
  }

  /** before_history_sync (true) / after_history_sync (false). */
  historySync(active: boolean): Promise<Answer<object>> {
    return this.#call("historySync", { active });
  }

  /** SessionManager.replace_sessions: new key exchanges with one device, announced in empty messages (`sent`). */
  replaceSessions(jid: string, deviceId: number): Promise<Answer<{ failures: Record<string, string> }>> {
    return this.#call("replaceSessions", { jid, deviceId });
  }

  /** The empty message python-omemo sends for session completion and against staleness, on demand. */
  sendEmpty(jid: string, deviceId: number, namespace: OmemoNamespace): Promise<Answer<object>> {
    return this.#call("sendEmpty", { jid, deviceId, namespace });
  }

  refreshDeviceList(jid: string, namespace: OmemoNamespace): Promise<Answer<object>> {
    return this.#call("refreshDeviceList", { jid, namespace });
  }

  /** Ends the process (EOF, then SIGKILL if it does not go) and waits for it. */
  async close(): Promise<void> {
    if (!this.#exited) {
      this.#child.stdin.end();
      const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
      await this.#exit;
      clearTimeout(timer);
    }
  }

  #call<T>(command: string, args: Record<string, unknown>): Promise<Answer<T>> {
    const run = this.#queue.then(() => this.#roundTrip<T>(command, args));
    // The queue only orders requests; a failed one must not stop the next.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #roundTrip<T>(command: string, args: Record<string, unknown>): Promise<Answer<T>> {
    if (this.#exited) throw new Error(`python-omemo peer already exited: ${this.#stderr}`);
    const id = this.#nextId++;
    const line = await new Promise<string>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#child.stdin.write(JSON.stringify({ id, cmd: command, ...args }) + "\n");
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`python-omemo peer wrote a non-JSON line: ${line.slice(0, 300)}\n${this.#stderr}`);
    }
    if (
      !isRecord(parsed) ||
      parsed["id"] !== id ||
      typeof parsed["ok"] !== "boolean" ||
      !Array.isArray(parsed["published"]) ||
      !Array.isArray(parsed["sent"]) ||
      !Array.isArray(parsed["warnings"])
    ) {
      throw new Error(`python-omemo peer answered ${command} out of protocol: ${line.slice(0, 300)}`);
    }
    const effects: Effects = {
      published: parsed["published"] as PepItem[],
      sent: parsed["sent"] as SentMessage[],
      warnings: parsed["warnings"] as string[],
    };
    if (!parsed["ok"]) {
      const error = parsed["error"];
      if (!isRecord(error) || typeof error["type"] !== "string" || typeof error["message"] !== "string") {
        throw new Error(`python-omemo peer answered ${command} with a malformed error: ${line.slice(0, 300)}`);
      }
      throw new PythonOmemoError(
        command,
        {
          type: error["type"],
          message: error["message"],
          causes: Array.isArray(error["causes"]) ? (error["causes"] as PythonErrorCause[]) : [],
          traceback: typeof error["traceback"] === "string" ? error["traceback"] : "",
        },
        effects,
      );
    }
    return parsed as Answer<T>;
  }
}
