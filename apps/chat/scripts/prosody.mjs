#!/usr/bin/env node
/**
 * A throwaway Prosody (Debian's prosody package, 0.12) for end-to-end tests and for trying parley-chat:
 * installed with apt when missing, configured in a temporary directory (VirtualHost "localhost" with PEP
 * and publish-options, carbons, MAM, stream management; a MUC component conference.localhost; HTTP file
 * upload upload.localhost), listening on free loopback ports, run as the unprivileged `prosody` user and
 * stopped by its pid.
 *
 *   node apps/chat/scripts/prosody.mjs start [--accounts alice,bob,carol] [--dir DIR]
 *       prints one JSON line {dir, pid, domain, service, httpPort, accounts: [{jid, password}], log}
 *   node apps/chat/scripts/prosody.mjs stop --dir DIR
 *
 * From code: `const server = await startProsody({ accounts: ["alice", "bob"] }); ...; await server.stop();`
 * Passwords are "<name>-pass" (a test server on loopback, nothing else).
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENSURE_APT = join(HERE, "..", "..", "..", "scripts", "ensure-apt.mjs");
const DOMAIN = "localhost";

/** A free TCP port on loopback (the kernel's choice, released before Prosody binds it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = createConnection({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`Prosody did not listen on 127.0.0.1:${port} in time`));
        else void sleep(100).then(attempt);
      });
    };
    attempt();
  });
}

function ensureProsody() {
  if (spawnSync("sh", ["-c", "command -v prosody && command -v prosodyctl"], { stdio: "ignore" }).status === 0) return;
  const r = spawnSync(process.execPath, [ENSURE_APT, "prosody"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("Prosody is not installed and could not be installed with apt");
}

function prosodyIds() {
  const id = (flag) => Number(spawnSync("id", [flag, "prosody"], { encoding: "utf8" }).stdout.trim());
  return { uid: id("-u"), gid: id("-g") };
}

function config({ dir, c2sPort, httpPort }) {
  return `-- Written by apps/chat/scripts/prosody.mjs: a test server on loopback, thrown away after the run.
pidfile = "${dir}/data/prosody.pid"
data_path = "${dir}/data"
interfaces = { "127.0.0.1" }
c2s_ports = { ${c2sPort} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = { ${httpPort} }
http_interfaces = { "127.0.0.1" }
https_ports = {}
http_default_host = "${DOMAIN}"
modules_enabled = {
  "roster"; "saslauth"; "disco"; "ping"; "pep"; "carbons"; "mam"; "offline"; "smacks"; "blocklist"; "vcard4"; "csi_simple";
}
modules_disabled = { "s2s"; "tls" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
archive_expires_after = "1d"
log = { { levels = { min = "debug" }, to = "file", filename = "${dir}/prosody.log" } }
VirtualHost "${DOMAIN}"
Component "conference.${DOMAIN}" "muc"
  modules_enabled = { "muc_mam" }
Component "upload.${DOMAIN}" "http_file_share"
  http_file_share_size_limit = 10485760
  -- upload.localhost does not resolve outside Prosody: serve (and name in slots) the files as 127.0.0.1
  http_host = "127.0.0.1"
`;
}

/**
 * Starts Prosody with the given accounts (registered before it starts). Resolves once it listens.
 * @param {{ accounts?: string[], dir?: string, startTimeoutMs?: number }} [options]
 */
export async function startProsody(options = {}) {
  ensureProsody();
  const accounts = options.accounts ?? ["alice", "bob", "carol"];
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "parley-prosody-"));
  mkdirSync(join(dir, "data"), { recursive: true });
  chmodSync(dir, 0o755);
  const { uid, gid } = prosodyIds();
  chownSync(join(dir, "data"), uid, gid);
  const c2sPort = await freePort();
  const httpPort = await freePort();
  const cfg = join(dir, "prosody.cfg.lua");
  writeFileSync(cfg, config({ dir, c2sPort, httpPort }));
  writeFileSync(join(dir, "prosody.log"), "");
  chownSync(join(dir, "prosody.log"), uid, gid);
  for (const name of accounts) {
    const r = spawnSync("prosodyctl", ["--config", cfg, "register", name, DOMAIN, `${name}-pass`], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`prosodyctl register ${name} failed: ${r.stderr || r.stdout}`);
  }
  const child = spawn("prosody", ["--config", cfg, "-F"], {
    uid,
    gid,
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += String(d)));
  child.unref();
  try {
    await waitForPort(c2sPort, options.startTimeoutMs ?? 15_000);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${e.message}\n${stderr}\n${readFileSync(join(dir, "prosody.log"), "utf8").slice(-2000)}`);
  }
  // Prosody runs on its own: neither it nor its stderr pipe keeps this process (the `start` command) alive.
  child.stderr.unref();
  const info = {
    dir,
    pid: child.pid,
    domain: DOMAIN,
    service: `xmpp://127.0.0.1:${c2sPort}`,
    httpPort,
    accounts: accounts.map((name) => ({ jid: `${name}@${DOMAIN}`, password: `${name}-pass` })),
    log: join(dir, "prosody.log"),
  };
  writeFileSync(join(dir, "server.json"), `${JSON.stringify(info)}\n`);
  return { ...info, stop: () => stopProsody(dir) };
}

/** Stops the Prosody started in `dir` by its pid (SIGTERM, then SIGKILL after 5 s) and removes `dir`. */
export async function stopProsody(dir, { keep = false } = {}) {
  const file = join(dir, "server.json");
  if (!existsSync(file)) return;
  const { pid } = JSON.parse(readFileSync(file, "utf8"));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (alive()) process.kill(pid, "SIGTERM");
  for (let i = 0; i < 50 && alive(); i++) await sleep(100);
  if (alive()) process.kill(pid, "SIGKILL");
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  const arg = (name) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (command === "start") {
    const accounts = arg("accounts")?.split(",");
    const server = await startProsody({
      ...(accounts ? { accounts } : {}),
      ...(arg("dir") ? { dir: arg("dir") } : {}),
    });
    console.log(JSON.stringify({ ...server, stop: undefined }));
  } else if (command === "stop" && arg("dir")) {
    await stopProsody(arg("dir"));
  } else {
    console.error("usage: prosody.mjs start [--accounts a,b,c] [--dir DIR] | stop --dir DIR");
    process.exit(2);
  }
}
