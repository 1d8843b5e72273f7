// Compiles interop/libotr_peer.c against libotr (gcc, `pkg-config libotr libgcrypt`) into interop/.build/
// (git-ignored), named by the source's hash, so that a changed source gets a new binary and every user of the
// harness shares one build: interop/peers.ts (@parley/otr's interop tests) and apps/conformance's
// adapters/libotr.mjs. Plain JavaScript so that the adapter, run by node without a TypeScript loader, can use it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SOURCE = fileURLToPath(new URL("./libotr_peer.c", import.meta.url));
const BUILD_DIR = fileURLToPath(new URL("./.build", import.meta.url));

/**
 * The path of the harness binary for the current source, compiled first when it does not exist.
 * `beforeBuild` runs only when a build is needed (peers.ts installs the Debian packages there). Compiler
 * output goes to stderr (the adapter's stdout is its protocol).
 * @param {{ beforeBuild?: () => void }} [options]
 * @returns {string}
 */
export function buildLibotrPeer(options = {}) {
  const hash = createHash("sha256").update(readFileSync(SOURCE)).digest("hex").slice(0, 16);
  const binary = `${BUILD_DIR}/libotr_peer-${hash}`;
  if (existsSync(binary)) return binary;
  options.beforeBuild?.();
  mkdirSync(BUILD_DIR, { recursive: true });
  const flags = execFileSync("pkg-config", ["--cflags", "--libs", "libotr", "libgcrypt"], { encoding: "utf8" })
    .trim()
    .split(/\s+/)
    .filter((f) => f !== "");
  // -rdynamic: the harness's time() must interpose on the libc symbol libotr calls.
  const tmp = `${binary}.${process.pid}.tmp`;
  execFileSync("gcc", ["-O2", "-Wall", "-Wextra", "-rdynamic", "-o", tmp, SOURCE, ...flags], {
    stdio: ["ignore", 2, 2],
  });
  renameSync(tmp, binary);
  // Binaries of earlier versions of the source are of no further use.
  for (const f of readdirSync(BUILD_DIR)) {
    if (f.startsWith("libotr_peer-") && f !== `libotr_peer-${hash}` && !f.endsWith(".tmp")) rmSync(`${BUILD_DIR}/${f}`);
  }
  return binary;
}
