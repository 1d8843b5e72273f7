// Starting the Double Ratchet interop peers: the python-oldmemo / python-twomemo driver and the
// libsignal-protocol-c harness (compiled on first use into .interop/, which git ignores).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEBIAN_PYTHON, ensureApt, PeerProcess } from "../../x3dh/interop/peer-process.js";

export { DEBIAN_PYTHON, ensureApt, PeerProcess };
export type { PeerAnswer } from "../../x3dh/interop/peer-process.js";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** python-oldmemo ("legacy") or python-twomemo ("omemo2") as one OMEMO device; `seed` makes it repeatable. */
export function pythonOmemoPeer(profile: "legacy" | "omemo2", seed: number): PeerProcess {
  return new PeerProcess(DEBIAN_PYTHON, [here("./omemo_peer.py"), profile, String(seed)]);
}

/** Compiles interop/libsignal_peer.c against libsignal-protocol-c and OpenSSL when the binary is missing or stale. */
export function buildLibsignalPeer(): string {
  ensureApt("libsignal-protocol-c-dev", "libssl-dev", "pkg-config", "gcc", "libc6-dev");
  const source = here("./libsignal_peer.c");
  const outDir = here("../.interop");
  const binary = `${outDir}/libsignal_peer`;
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  mkdirSync(outDir, { recursive: true });
  const flags = execFileSync("pkg-config", ["--cflags", "--libs", "libsignal-protocol-c"], { encoding: "utf8" })
    .trim()
    .split(/\s+/);
  execFileSync("cc", ["-O2", "-Wall", "-Wno-deprecated-declarations", "-o", binary, source, ...flags, "-lcrypto"], {
    stdio: "inherit",
  });
  return binary;
}

/** One libsignal-protocol-c device; `seed` feeds its deterministic random source. */
export function libsignalPeer(binary: string, seed: string): PeerProcess {
  return new PeerProcess(binary, [seed]);
}
