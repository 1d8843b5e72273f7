// Two parley-chat processes (dist/cli.js --json, the non-interactive mode) talk through a real Prosody:
// commands as JSON lines on stdin, events as JSON lines on stdout, OMEMO 2 and legacy OMEMO.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProsody, type ProsodyServer } from "../scripts/prosody.mjs";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
let server: ProsodyServer;
const running: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  server = await startProsody({ accounts: ["dora", "emil"] });
});
afterAll(async () => {
  for (const p of running.splice(0)) p.kill();
  await server?.stop();
});

/** A parley-chat process in --json mode, and its events as they come. */
function chat(name: string) {
  const account = server.accounts.find((a) => a.jid.startsWith(`${name}@`))!;
  const child = spawn(process.execPath, [CLI, "--service", server.service, "--jid", account.jid, "--json"], {
    env: { ...process.env, PARLEY_CHAT_PASSWORD: account.password },
  });
  running.push(child);
  const events: Record<string, unknown>[] = [];
  const waiting: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] =
    [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    for (const w of waiting.splice(0)) {
      if (w.match(event)) w.resolve(event);
      else waiting.push(w);
    }
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += String(d)));
  return {
    jid: account.jid,
    events,
    command(cmd: Record<string, unknown>) {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
    },
    next(match: (e: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name}: no ${what} in 20 s; stderr: ${stderr}`));
        }, 20_000);
        waiting.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
  };
}

describe("parley-chat --json", () => {
  it("two clients exchange OMEMO 2 and legacy OMEMO messages through Prosody", async () => {
    const dora = chat("dora");
    const emil = chat("emil");
    const ready = (e: Record<string, unknown>) => e["event"] === "ready";
    const doraReady = await dora.next(ready, "ready");
    expect(doraReady["jid"]).toBe(dora.jid);
    expect(Number.isInteger(doraReady["deviceId"])).toBe(true);
    await emil.next(ready, "ready");
    for (const namespace of ["omemo2", "legacy"]) {
      const body = `hello in ${namespace}`;
      dora.command({ cmd: "send", to: emil.jid, body, namespace });
      const sent = await dora.next((e) => e["event"] === "sent" && e["to"] === emil.jid, "sent");
      expect(sent["devices"]).toEqual([expect.objectContaining({ jid: emil.jid, status: "encrypted" })]);
      const got = await emil.next((e) => e["event"] === "message" && e["body"] === body, `message "${body}"`);
      expect(got).toMatchObject({ from: dora.jid, namespace });
      emil.command({ cmd: "send", to: dora.jid, body: `re: ${body}`, namespace });
      await dora.next((e) => e["event"] === "message" && e["body"] === `re: ${body}`, `reply in ${namespace}`);
    }
    emil.command({ cmd: "nonsense" });
    expect(await emil.next((e) => e["event"] === "error", "error")).toMatchObject({ code: "BAD_COMMAND" });
    dora.command({ cmd: "quit" });
    emil.command({ cmd: "quit" });
  });
});
