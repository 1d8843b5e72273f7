#!/usr/bin/env node
// Installs Debian packages that a test needs (real peers, servers, Chromium) when they are missing.
// Usage: node scripts/ensure-apt.mjs python3-xeddsa [more packages...]
// Needs root (CI and these machines are root). Without root it says what to install and fails.
import { spawnSync } from "node:child_process";

const wanted = process.argv.slice(2);
const missing = wanted.filter((pkg) => {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status !== 0 || !r.stdout.includes("install ok installed");
});
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (!isRoot) {
  console.error(
    `[ensure-apt] missing Debian packages: ${missing.join(" ")}. Install them: sudo apt-get install -y ${missing.join(" ")}`,
  );
  process.exit(1);
}
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
const opts = { stdio: ["ignore", "ignore", "inherit"], env };
console.log(`[ensure-apt] installing ${missing.join(" ")}`);
// Another apt (a parallel test run, unattended upgrades) may hold the dpkg lock: wait for it, up to 10 minutes.
const wait = ["-o", "DPkg::Lock::Timeout=600"];
let r = spawnSync("apt-get", [...wait, "install", "-y", "--no-install-recommends", ...missing], opts);
if (r.status !== 0) {
  // A fresh machine has no package lists yet.
  spawnSync("apt-get", [...wait, "update"], opts);
  r = spawnSync("apt-get", [...wait, "install", "-y", "--no-install-recommends", ...missing], opts);
}
if (r.status !== 0) {
  console.error(`[ensure-apt] apt-get install ${missing.join(" ")} failed`);
  process.exit(1);
}
