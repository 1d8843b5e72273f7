/** Types of prosody.mjs (a plain script, so a newcomer can run it with node alone). */
export interface ProsodyServer {
  readonly dir: string;
  readonly pid: number;
  readonly domain: string;
  /** e.g. "xmpp://127.0.0.1:40123" */
  readonly service: string;
  readonly httpPort: number;
  readonly accounts: ReadonlyArray<{ readonly jid: string; readonly password: string }>;
  /** Prosody's log file (debug level). */
  readonly log: string;
  stop(): Promise<void>;
}
export function startProsody(options?: {
  accounts?: string[];
  dir?: string;
  startTimeoutMs?: number;
}): Promise<ProsodyServer>;
export function stopProsody(dir: string, options?: { keep?: boolean }): Promise<void>;
