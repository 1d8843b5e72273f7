/**
 * A real PostgreSQL server for the tests and the bench: Debian's `postgresql` (installed with
 * scripts/ensure-apt.mjs when initdb is missing), a fresh cluster in a temporary directory, run by an
 * unprivileged user (PostgreSQL refuses root; as root a system user `parley-postgres` is created),
 * listening on a free loopback port with a random scram-sha-256 password, stopped by its pid
 * (SIGINT: fast shutdown, then SIGKILL).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PostgresServer {
  /** postgres://… for the cluster's `postgres` database as its superuser. */
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const PG_ROOT = "/usr/lib/postgresql";
const ENSURE_APT = fileURLToPath(new URL("../../../scripts/ensure-apt.mjs", import.meta.url));
const SERVICE_USER = "parley-postgres";

/** The newest installed server's bin directory, installing Debian's postgresql when none is. */
export function postgresBin(): string {
  const find = () =>
    existsSync(PG_ROOT)
      ? readdirSync(PG_ROOT)
          .filter((v) => /^\d+$/.test(v) && existsSync(join(PG_ROOT, v, "bin", "initdb")))
          .sort((a, b) => Number(b) - Number(a))
      : [];
  let versions = find();
  if (versions.length === 0) {
    const r = spawnSync(process.execPath, [ENSURE_APT, "postgresql"], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("could not install Debian's postgresql (see above)");
    versions = find();
    if (versions.length === 0) throw new Error(`postgresql installed, but no ${PG_ROOT}/<version>/bin/initdb`);
  }
  return join(PG_ROOT, versions[0]!, "bin");
}

/** uid/gid to run the server as: ourselves, or (as root) a dedicated system user without a shell. */
function serviceUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const lookup = () => {
    const r = spawnSync("id", ["-u", SERVICE_USER], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    const g = spawnSync("id", ["-g", SERVICE_USER], { encoding: "utf8" });
    return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  let user = lookup();
  if (!user) {
    spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER], {
      stdio: "inherit",
    });
    user = lookup();
  }
  if (!user) throw new Error(`could not create the system user ${SERVICE_USER} to run PostgreSQL as`);
  return user;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Initialises a cluster in a new temporary directory and starts it; resolves once it accepts connections. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  const user = serviceUser();
  const dir = mkdtempSync(join(tmpdir(), "parley-postgres-"));
  const data = join(dir, "data");
  const sockets = join(dir, "sockets");
  mkdirSync(sockets);
  const password = randomBytes(18).toString("base64url");
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  for (const path of [dir, sockets, pwfile]) if (user) chownSync(path, user.uid, user.gid);
  const env = { ...process.env, HOME: dir, LC_ALL: "C", LANG: "C" };
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const init = spawnSync(
    join(bin, "initdb"),
    ["-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C"],
    { ...as, env, encoding: "utf8" },
  );
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr}`);
  }
  rmSync(pwfile);
  const port = await freePort();
  const server = spawn(
    join(bin, "postgres"),
    [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      sockets,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200",
      "-c",
      "shared_buffers=64MB",
    ],
    { ...as, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  server.stderr.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  const pid = server.pid!;
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (!(await exited(server, 0))) {
      process.kill(pid, "SIGINT"); // fast shutdown: roll back clients, checkpoint, exit
      if (!(await exited(server, 15_000))) {
        process.kill(pid, "SIGKILL");
        await exited(server, 5_000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const { default: pg } = await import("pg");
  for (let attempt = 0; ; attempt++) {
    if (server.exitCode !== null) {
      await stop();
      throw new Error(`postgres exited while starting: ${log}`);
    }
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (attempt >= 300) {
        await stop();
        throw new Error(`postgres did not accept connections: ${String(error)}\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { url, pid, stop };
}
