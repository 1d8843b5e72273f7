/**
 * The runner's side of the adapter protocol: spawns the adapter command, sends one request at a time and
 * turns every way an adapter can misbehave (a line that is not JSON, a response to another id, silence
 * past the timeout, exiting) into an {@link AdapterFailure}, after which the process is killed and every
 * further call fails at once. The runner never waits on a broken adapter longer than one timeout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { AdapterError, AdapterFailure } from "./errors.js";
import { ERROR_CODES, type ErrorCode, type OpArgs, type OpName, type OpResult } from "./protocol.js";
import type { Implementation } from "./reference.js";

export interface AdapterProcessOptions {
  /** A shell command line, e.g. `python3 my_adapter.py` or `node dist/adapters/parley.js`. */
  readonly command: string;
  /** Milliseconds to wait for each response. */
  readonly timeoutMs: number;
  readonly cwd?: string;
  /** Called with the adapter's stderr (default: kept, and its tail shown when the adapter fails). */
  readonly onStderr?: (chunk: string) => void;
}

interface Pending {
  readonly id: number;
  readonly op: OpName;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const STDERR_TAIL = 2000;
const live = new Set<AdapterProcess>();

/** Kills every adapter process this runner started (on exit, and from the CLI on SIGINT/SIGTERM). */
export function killAllAdapters(): void {
  for (const p of live) p.kill();
}
process.once("exit", killAllAdapters);

function preview(line: string): string {
  return JSON.stringify(line.length > 160 ? `${line.slice(0, 160)}…` : line);
}

export class AdapterProcess implements Implementation {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #timeoutMs: number;
  #nextId = 1;
  #pending: Pending | undefined;
  #failure: string | undefined;
  #closing = false;
  #stderr = "";
  readonly #exited: Promise<void>;

  constructor(options: AdapterProcessOptions) {
    this.name = options.command;
    this.#timeoutMs = options.timeoutMs;
    // Its own process group (detached), so a shell's children die with it when we kill the group.
    this.#child = spawn(options.command, {
      shell: true,
      detached: process.platform !== "win32",
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    live.add(this);
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", (code, signal) => {
        live.delete(this);
        if (!this.#closing) {
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          this.#fail(`the adapter process ${how}${this.#stderrTail()}`, false);
        }
        resolve();
      });
    });
    this.#child.once("error", (e) => {
      this.#fail(`the adapter process could not be started: ${e.message}`);
    });
    this.#child.stdin!.on("error", () => {
      // EPIPE when the adapter died; its exit event reports it.
    });
    this.#child.stderr!.setEncoding("utf8");
    this.#child.stderr!.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL);
      options.onStderr?.(chunk);
    });
    const lines = createInterface({ input: this.#child.stdout!, crlfDelay: Infinity });
    lines.on("line", (line) => {
      this.#onLine(line);
    });
  }

  /** Whether the process still runs and has not broken the protocol. */
  get alive(): boolean {
    return this.#failure === undefined;
  }

  /** Why the adapter is unusable, if it is. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Sends one request; `timeoutMs` overrides the process's timeout for it (the runner gives `hello` the startup time). */
  call<O extends OpName>(op: O, args: OpArgs<O>, timeoutMs = this.#timeoutMs): Promise<OpResult<O>> {
    if (this.#failure !== undefined) {
      return Promise.reject(new AdapterFailure(`the adapter is unusable: ${this.#failure}`));
    }
    if (this.#pending) return Promise.reject(new AdapterFailure("one request at a time (runner bug)"));
    const id = this.#nextId++;
    return new Promise<OpResult<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(`no response to request ${id} (${op}) within ${timeoutMs} ms${this.#stderrTail()}`);
      }, timeoutMs);
      this.#pending = { id, op, resolve: resolve as (value: unknown) => void, reject, timer };
      this.#child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  #stderrTail(): string {
    const tail = this.#stderr.trim();
    return tail === "" ? "" : `; its stderr ends with: ${tail.split("\n").slice(-5).join(" | ")}`;
  }

  #onLine(line: string): void {
    if (this.#failure !== undefined) return;
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.#fail(`the adapter wrote a line that is not JSON on stdout: ${preview(line)} (log to stderr instead)`);
      return;
    }
    const r = parsed as { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    const pending = this.#pending;
    if (typeof r !== "object" || r === null || typeof r.ok !== "boolean") {
      this.#fail(`the adapter wrote a line that is not a response (needs id and ok): ${preview(line)}`);
      return;
    }
    if (!pending) {
      this.#fail(`the adapter sent a response with id ${JSON.stringify(r.id)} when no request was pending`);
      return;
    }
    if (r.id !== pending.id) {
      this.#fail(
        `the adapter answered id ${JSON.stringify(r.id)} but the pending request is id ${pending.id} (${pending.op})`,
      );
      return;
    }
    clearTimeout(pending.timer);
    this.#pending = undefined;
    if (r.ok) {
      if (typeof r.result !== "object" || r.result === null) {
        pending.reject(new AdapterFailure(`the response to ${pending.op} has no result object: ${preview(line)}`));
      } else pending.resolve(r.result);
      return;
    }
    const code = r.error?.code;
    if (typeof code !== "string") {
      pending.reject(new AdapterFailure(`the error response to ${pending.op} has no error.code: ${preview(line)}`));
      return;
    }
    const known = ERROR_CODES.includes(code as ErrorCode) ? "" : " (not a protocol error code)";
    const message = typeof r.error?.message === "string" ? r.error.message : "";
    pending.reject(new AdapterError(code as ErrorCode, `${message}${known}`));
  }

  #fail(reason: string, kill = true): void {
    if (this.#failure !== undefined) return;
    this.#failure = reason;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(new AdapterFailure(reason));
    }
    if (kill) this.kill();
  }

  /** Kills the adapter's process group at once. */
  kill(): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      // The whole group: a shell that exited may leave the adapter it started behind.
      if (process.platform !== "win32") process.kill(-pid, "SIGKILL");
      else this.#child.kill("SIGKILL");
    } catch {
      // ESRCH: nothing left in the group.
    }
  }

  /** Closes stdin (a well-behaved adapter exits), and kills it if it is still there after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    this.#closing = true;
    if (this.#failure === undefined) this.#failure = "closed";
    this.#child.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill();
          resolve();
        }, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.#child.stdout!.destroy();
    this.#child.stderr!.destroy();
  }
}
