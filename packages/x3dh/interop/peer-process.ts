// A long-running interop peer (python-x3dh / python-oldmemo / python-twomemo drivers, the
// libsignal-protocol-c harness) spoken to in JSON lines over stdio: one request line, one answer line.
// Shared by the interop tests of @parley/x3dh and @parley/double-ratchet.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

/** Debian's python3 (the `python3` on PATH may be a pyenv one without the Debian peers). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

export interface PeerAnswer {
  ok: boolean;
  error?: string;
  type?: string;
  [key: string]: unknown;
}

export class PeerProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: Array<{ resolve: (a: PeerAnswer) => void; reject: (e: Error) => void }> = [];
  #stderr = "";
  #exited = false;

  constructor(command: string, args: readonly string[]) {
    // PYTHONHASHSEED fixes set iteration order (prekey ids in python-omemo), so seeded runs repeat.
    this.#child = spawn(command, args, { env: { ...process.env, PYTHONHASHSEED: "0" }, stdio: "pipe" });
    this.#child.stderr.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    this.#child.on("exit", (code) => {
      this.#exited = true;
      for (const w of this.#waiting.splice(0)) w.reject(new Error(`${command} exited (${code}): ${this.#stderr}`));
    });
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      const w = this.#waiting.shift();
      if (!w) return;
      try {
        w.resolve(JSON.parse(line) as PeerAnswer);
      } catch {
        w.reject(new Error(`peer wrote a non-JSON line: ${line.slice(0, 200)}`));
      }
    });
  }

  /** Sends one request; resolves with the answer, whether ok or not. */
  request(cmd: string, args: Record<string, unknown> = {}): Promise<PeerAnswer> {
    if (this.#exited) return Promise.reject(new Error(`peer already exited: ${this.#stderr}`));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(JSON.stringify({ cmd, ...args }) + "\n");
    });
  }

  /** Like request, but a failed answer throws with the peer's error text. */
  async call(cmd: string, args: Record<string, unknown> = {}): Promise<PeerAnswer> {
    const a = await this.request(cmd, args);
    if (!a.ok) throw new Error(`peer ${cmd} failed: ${a.type ?? ""} ${a.error ?? ""}`);
    return a;
  }

  close(): void {
    this.#child.stdin.end();
    if (!this.#exited) this.#child.kill();
  }
}

/**
 * Makes sure Debian packages the peers need are there (the package scripts' ensure-apt list does
 * not yet name python3-xmlschema, which oldmemo.etree / twomemo.etree import, nor libssl-dev).
 */
export function ensureApt(...packages: string[]): void {
  const script = new URL("../../../scripts/ensure-apt.mjs", import.meta.url);
  const r = spawnSync(process.execPath, [script.pathname, ...packages], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`ensure-apt ${packages.join(" ")} failed`);
}
