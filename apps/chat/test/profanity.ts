/**
 * A test harness for Debian's profanity (0.13, libstrophe; legacy OMEMO through libsignal-protocol-c,
 * OTR v2 through libotr) driven under tmux: a detached tmux server of our own (its socket in a temporary
 * directory, no user config), one session of a fixed size running profanity with its own HOME,
 * XDG_CONFIG_HOME and XDG_DATA_HOME, an account preset in its accounts file (plaintext stream to a
 * loopback Prosody, `tls.policy=disable`) and auto-connected with `-a`.
 *
 * Input: `tmux send-keys -l` (literal text), then Enter. Output: the visible screen (`capture-pane -p`),
 * profanity's debug log (`-l DEBUG`, every stanza sent and received) and its per-contact chat logs.
 * Every wait takes a regex and a timeout and fails with what it waited for and the last screen.
 *
 *   const prof = await Profanity.start({ jid, password, host: "127.0.0.1", port });
 *   prof.send("/omemo gen");
 *   await prof.waitForScreen(/Your Device ID is (\d+)/);
 *   ...
 *   await prof.stop();
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** The repository's apt helper: a test calls it in `beforeAll` so a fresh CI machine installs profanity. */
export const ENSURE_APT = fileURLToPath(new URL("../../../scripts/ensure-apt.mjs", import.meta.url));

/** The Debian packages this harness needs. */
export const PROFANITY_PACKAGES = ["profanity", "tmux"] as const;

/** Installs profanity and tmux with the repository's apt helper when they are missing. */
export function ensureProfanity(): void {
  const r = spawnSync(process.execPath, [ENSURE_APT, ...PROFANITY_PACKAGES], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`could not install ${PROFANITY_PACKAGES.join(" ")} with ${ENSURE_APT}`);
}

/** `profanity --version`'s first line, e.g. "Profanity, version 0.13.1", and whether it was built with OMEMO and OTR. */
export function profanityVersion(): { version: string; omemo: boolean; otr: boolean } {
  const r = spawnSync("profanity", ["--version"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`profanity --version failed: ${r.stderr}`);
  return {
    version: r.stdout.split("\n")[0] ?? "",
    omemo: /OMEMO support: Enabled/.test(r.stdout),
    otr: /OTR support: Enabled/.test(r.stdout),
  };
}

export interface ProfanityOptions {
  /** Bare JID of the account, e.g. "alice@localhost". */
  readonly jid: string;
  readonly password: string;
  /** Where the XMPP server listens (no SRV lookup): e.g. "127.0.0.1". */
  readonly host: string;
  readonly port: number;
  /** Default "profanity". */
  readonly resource?: string;
  /** Terminal size; default 160 x 50. */
  readonly columns?: number;
  readonly rows?: number;
  /** Default true: connect at startup (`-a`) and wait until logged in. */
  readonly connect?: boolean;
  /** How long `start` waits for the login; default 20 s. */
  readonly loginTimeoutMs?: number;
}

export interface WaitOptions {
  /** Default 15 s. */
  readonly timeoutMs?: number;
  /** Said in the error on timeout. */
  readonly what?: string;
  /** Log waits only: look at what was logged after this mark ({@link Profanity.logMark}). */
  readonly since?: number;
}

/** `a_at_b` as profanity names an account's or a contact's directories. */
function fileName(jid: string): string {
  return jid.replace("@", "_at_");
}

/** The legacy OMEMO fingerprint as profanity shows it: 64 hex digits in groups of 8 joined by "-". */
export function profanityOmemoFingerprint(hex: string): string {
  const clean = hex.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  if (clean.length !== 64) throw new Error(`an OMEMO fingerprint has 64 hex digits, got ${clean.length}`);
  return clean.match(/.{8}/g)!.join("-");
}

export class Profanity {
  readonly jid: string;
  /** The temporary directory: HOME, config, data, the tmux socket. */
  readonly dir: string;
  /** $XDG_DATA_HOME/profanity: accounts, logs, chatlogs, omemo, otr. */
  readonly dataDir: string;
  /** profanity's debug log (every stanza). */
  readonly logFile: string;
  readonly #socket: string;
  readonly #target = "prof:0.0";
  #stopped = false;

  private constructor(jid: string, dir: string) {
    this.jid = jid;
    this.dir = dir;
    this.dataDir = join(dir, "data", "profanity");
    this.logFile = join(this.dataDir, "logs", "profanity.log");
    this.#socket = join(dir, "tmux.sock");
  }

  /** Writes profanity's config in a temporary directory and starts it under tmux (see the file's comment). */
  static async start(options: ProfanityOptions): Promise<Profanity> {
    const dir = mkdtempSync(join(tmpdir(), "parley-profanity-"));
    const prof = new Profanity(options.jid, dir);
    const config = join(dir, "config", "profanity");
    mkdirSync(config, { recursive: true });
    mkdirSync(prof.dataDir, { recursive: true });
    mkdirSync(join(dir, "home"), { recursive: true });
    // The account, preset (GKeyFile, read by profanity at start): no TLS to the loopback port.
    writeFileSync(
      join(prof.dataDir, "accounts"),
      [
        `[${options.jid}]`,
        "enabled=true",
        `jid=${options.jid}`,
        `server=${options.host}`,
        `port=${options.port}`,
        `resource=${options.resource ?? "profanity"}`,
        `password=${options.password}`,
        "tls.policy=disable",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    // Quiet and predictable: no splash or roster panel, no desktop notifications or chat states;
    // chat logs kept with the plaintext of OMEMO and OTR messages (the test reads them).
    writeFileSync(
      join(config, "profrc"),
      [
        "[ui]",
        "splash=false",
        "roster=false",
        "[notifications]",
        "message=false",
        "room=false",
        "typing=false",
        "invite=false",
        "sub=false",
        "[chatstates]",
        "enabled=false",
        "[logging]",
        "chlog=true",
        "[omemo]",
        "log=on",
        "[otr]",
        "log=on",
        "",
      ].join("\n"),
    );
    // Our own tmux server: no user config, no status line, and a dead pane stays readable.
    const tmuxConf = join(dir, "tmux.conf");
    writeFileSync(tmuxConf, "set -g status off\nset -g remain-on-exit on\nset -g history-limit 5000\n");
    const columns = options.columns ?? 160;
    const rows = options.rows ?? 50;
    const args = ["-f", tmuxConf, "new-session", "-d", "-s", "prof", "-x", String(columns), "-y", String(rows)];
    for (const [k, v] of Object.entries({
      HOME: join(dir, "home"),
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "data"),
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
    })) {
      args.push("-e", `${k}=${v}`);
    }
    args.push("profanity", "-l", "DEBUG");
    if (options.connect !== false) args.push("-a", options.jid);
    prof.#tmux(args);
    if (options.connect !== false) {
      try {
        await prof.waitForScreen(/logged in successfully/, {
          timeoutMs: options.loginTimeoutMs ?? 20_000,
          what: `${options.jid} logged in`,
        });
      } catch (e) {
        await prof.stop();
        throw e;
      }
    }
    return prof;
  }

  /** Runs tmux on our socket; throws with its stderr on failure. */
  #tmux(args: readonly string[]): string {
    const env = { ...process.env };
    delete env["TMUX"]; // a test run from inside tmux: still our own server
    const r = spawnSync("tmux", ["-S", this.#socket, ...args], { encoding: "utf8", env });
    if (r.status !== 0) throw new Error(`tmux ${args[0] ?? ""} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Types `text` literally and presses Enter (a command, or a message in the current chat window). */
  send(text: string): void {
    this.#tmux(["send-keys", "-t", this.#target, "-l", text]);
    this.#tmux(["send-keys", "-t", this.#target, "Enter"]);
  }

  /** The visible screen (wrapped lines joined). */
  screen(): string {
    return this.#tmux(["capture-pane", "-p", "-J", "-t", this.#target]);
  }

  /** Whether profanity exited (the pane stays, dead, for its last screen). */
  exited(): boolean {
    try {
      return this.#tmux(["display-message", "-p", "-t", this.#target, "#{pane_dead}"]).trim() === "1";
    } catch {
      return true;
    }
  }

  /** profanity's debug log so far. */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  /**
   * Every chat log line with `contact` so far: "<ISO time> - <who>: <text>". A bare JID reads the chat
   * window of the bare JID (where profanity shows OMEMO and OTR sessions), a full JID the separate
   * window profanity opens for `/msg contact/resource` (its own subdirectory).
   */
  chatLog(contact: string): string {
    const dir = join(this.dataDir, "chatlogs", fileName(this.jid), ...fileName(contact).split("/"));
    if (!existsSync(dir)) return "";
    return readdirSync(dir, { withFileTypes: true })
      .filter((f) => f.isFile())
      .map((f) => f.name)
      .sort()
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("");
  }

  /** Polls `read` until `pattern` matches; the error shows the last screen. */
  async #waitFor(read: () => string, pattern: RegExp, where: string, options: WaitOptions): Promise<RegExpMatchArray> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      const m = read().match(pattern);
      if (m) return m;
      if (Date.now() > deadline || this.exited()) break;
      await sleep(100);
    }
    throw new Error(
      `profanity ${this.jid}: no ${options.what ?? String(pattern)} in ${where} after ${options.timeoutMs ?? 15_000} ms; ${this.lastScreen()}`,
    );
  }

  /** For error messages: "last screen:" and the screen without blank lines (or why there is none). */
  lastScreen(): string {
    let screen: string;
    try {
      screen = this.screen()
        .replace(/\s+$/gm, "")
        .replace(/\n{2,}/g, "\n");
    } catch (e) {
      screen = `(no screen: ${String(e)})`;
    }
    return `${this.exited() ? "profanity exited; " : ""}last screen:\n${screen}`;
  }

  /** Waits until the visible screen matches `pattern`. */
  waitForScreen(pattern: RegExp, options: WaitOptions = {}): Promise<RegExpMatchArray> {
    return this.#waitFor(() => this.screen(), pattern, "the screen", options);
  }

  /** Waits until the debug log matches `pattern`. */
  waitForLog(pattern: RegExp, options: WaitOptions = {}): Promise<RegExpMatchArray> {
    const since = options.since ?? 0;
    return this.#waitFor(() => this.log().slice(since), pattern, "the debug log", options);
  }

  /** The debug log's length now: pass it as `since` to wait only for what comes after. */
  logMark(): number {
    return this.log().length;
  }

  /** Waits until the chat log with `contact` matches `pattern`. */
  waitForChatLog(contact: string, pattern: RegExp, options: WaitOptions = {}): Promise<RegExpMatchArray> {
    return this.#waitFor(() => this.chatLog(contact), pattern, `the chat log with ${contact}`, options);
  }

  /** Types a command and waits for its answer on the screen. */
  async command(text: string, answer: RegExp, options: WaitOptions = {}): Promise<RegExpMatchArray> {
    this.send(text);
    return this.waitForScreen(answer, { what: `the answer to ${text.split(" ")[0] ?? text}`, ...options });
  }

  /** The console (window 1), where command answers that belong to no chat go. */
  async console(): Promise<void> {
    await this.command("/win 1", /Profanity\. Type \/help for help information\./, { what: "the console window" });
  }

  /** Opens (and focuses) the chat window with `contact`. */
  async chat(contact: string): Promise<void> {
    await this.command(`/msg ${contact}`, new RegExp(`^ ${escape(contact)} `, "m"), {
      what: `the chat window with ${contact}`,
    });
  }

  // --- OMEMO (legacy, eu.siacs.conversations.axolotl) ---

  /** `/omemo gen` (when connected): our device id. */
  async omemoGen(): Promise<number> {
    const m = await this.command("/omemo gen", /Your Device ID is (\d+)/, { timeoutMs: 30_000 });
    return Number(m[1]);
  }

  /**
   * `/omemo clear_device_list`: publishes a device list of only our device. profanity 0.13 publishes its
   * device at login only when fetching its own list fails with a legacy `code='404'` error, which Prosody
   * 0.12's `item-not-found` lacks; this bootstraps the list instead.
   */
  async omemoClearDeviceList(deviceId: number): Promise<void> {
    this.send("/omemo clear_device_list");
    await this.waitForLog(
      new RegExp(
        `SENT: <iq[^>]*type="set"><pubsub[^>]*><publish node="eu\\.siacs\\.conversations\\.axolotl\\.devicelist"><item[^>]*><list[^>]*><device id="${deviceId}"/>`,
      ),
      { what: "our device list published" },
    );
  }

  /** Our own OMEMO fingerprint (64 hex digits, lower case), from `/omemo fingerprint` in the console. */
  async omemoOwnFingerprint(): Promise<string> {
    await this.console();
    const m = await this.command("/omemo fingerprint", /Your OMEMO fingerprint: ([0-9a-f-]{71})/);
    return m[1]!.replaceAll("-", "");
  }

  /**
   * Waits until profanity has received a device list of `contact` naming `deviceId` (a PEP notification
   * or a fetch result, in its debug log): `/omemo start` before that finds no device to build sessions with.
   */
  async omemoWaitForDeviceList(contact: string, deviceId: number, options: WaitOptions = {}): Promise<void> {
    await this.waitForLog(
      new RegExp(
        `^.*RECV: .*(?:from="${escape(contact)}".*eu\\.siacs\\.conversations\\.axolotl\\.devicelist|eu\\.siacs\\.conversations\\.axolotl\\.devicelist.*from="${escape(contact)}").*<device id="${deviceId}"/>`,
        "m",
      ),
      { what: `${contact}'s device list with ${deviceId}`, ...options },
    );
  }

  /**
   * `/omemo fingerprint <contact>`, repeated until `fingerprint` (hex) is among the fingerprints shown
   * (profanity knows a contact's keys once it fetched the bundles, after `/omemo start`).
   */
  async omemoWaitForFingerprint(contact: string, fingerprint: string, options: WaitOptions = {}): Promise<void> {
    const shown = profanityOmemoFingerprint(fingerprint);
    const pattern = new RegExp(`${escape(contact)}'s OMEMO fingerprint: ${shown}`);
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      this.send(`/omemo fingerprint ${contact}`);
      try {
        await this.waitForScreen(pattern, { timeoutMs: 1_000 });
        return;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new Error(`${contact}'s fingerprint ${shown} never shown: ${(e as Error).message}`);
        }
      }
    }
  }

  /**
   * `/omemo trust <contact> <fingerprint>` (hex, shown as profanity shows it). profanity then fetches the
   * device's bundle again and builds the session asynchronously; a message typed before that is sent
   * to nobody ("This message cannot be decrypted for any recipient"). Unless `session: false` (a session
   * exists already), this waits until the debug log says the session was created.
   */
  async omemoTrust(contact: string, fingerprint: string, options: { session?: boolean } = {}): Promise<void> {
    const shown = profanityOmemoFingerprint(fingerprint);
    const mark = this.logMark();
    await this.command(
      `/omemo trust ${contact} ${shown}`,
      new RegExp(`${escape(contact)}'s OMEMO fingerprint: ${shown} \\(trusted\\)`),
    );
    if (options.session !== false) {
      await this.waitForLog(new RegExp(`\\[OMEMO\\] create session with ${escape(contact)} device \\d+`), {
        since: mark,
        what: `an OMEMO session with ${contact} built`,
      });
    }
  }

  /** In the chat window with `contact`: `/omemo start`, then waits for the window's `[OMEMO]` mark. */
  async omemoStart(contact: string): Promise<void> {
    await this.chat(contact);
    await this.command("/omemo start", new RegExp(`^ ${escape(contact)} .*\\[OMEMO\\]`, "m"), {
      what: "the chat window marked [OMEMO]",
    });
  }

  // --- OTR (v2, libotr) ---

  /** `/otr gen` (when connected): generates the account's DSA key; waits until it is done. */
  async otrGen(options: WaitOptions = {}): Promise<void> {
    await this.console();
    await this.command("/otr gen", /Private key generation complete\.|You already have a private key/, {
      timeoutMs: 60_000,
      ...options,
    });
  }

  /** `/otr myfp`: our OTR fingerprint (40 hex digits, upper case, no spaces). */
  async otrMyFingerprint(): Promise<string> {
    const m = await this.command("/otr myfp", /Your OTR fingerprint: ((?:[0-9A-F]{8} ){4}[0-9A-F]{8})/);
    return m[1]!.replaceAll(" ", "");
  }

  /**
   * `/otr start` in the chat window with `contact`: profanity 0.13 (libotr 4.1.1, OTR v2 only) sends the
   * query `?OTR?v2?` with an explanation and no-copy/no-store hints. Waits until the query is sent, not
   * for the AKE ({@link otrWaitForEncrypted}).
   *
   * Pass the bare JID: profanity keeps OTR sessions per bare JID and sends every AKE and data message to
   * the bare JID (Prosody hands them to the contact's resource). `/msg contact/resource` opens another
   * window, whose query goes to the full JID but whose messages stay plaintext even once the AKE (run
   * over the bare JID) completed.
   */
  async otrStart(contact: string): Promise<void> {
    await this.chat(contact);
    const mark = this.logMark();
    this.send("/otr start");
    await this.waitForLog(new RegExp(`SENT: <message[^>]*to="${escape(contact)}"[^>]*><body>\\?OTR\\?v2\\?`), {
      since: mark,
      what: `an OTR query sent to ${contact}`,
    });
  }

  /**
   * Waits until the chat window with `contact` (bare JID, focused) is marked `[OTR]` (and shows "OTR
   * session started"), either side having started it. Resolves whether profanity trusts the peer's key.
   */
  async otrWaitForEncrypted(contact: string, options: WaitOptions = {}): Promise<{ trusted: boolean }> {
    const m = await this.waitForScreen(new RegExp(`^ ${escape(contact)} .*\\[OTR\\] \\[(trusted|untrusted)\\]`, "m"), {
      what: `the chat window with ${contact} marked [OTR]`,
      ...options,
    });
    return { trusted: m[1] === "trusted" };
  }

  /** Quits profanity and kills our tmux server; removes the directory unless `keep`. */
  async stop(options: { keep?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      if (!this.exited()) {
        this.send("/quit");
        for (let i = 0; i < 30 && !this.exited(); i++) await sleep(100);
      }
    } catch {
      // already gone
    }
    try {
      this.#tmux(["kill-server"]);
    } catch {
      // already gone
    }
    if (!options.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
