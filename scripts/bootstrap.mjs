#!/usr/bin/env node
// Two-command set-up for a fresh machine that has only Node and npm.
//
//   npm start  -> node scripts/bootstrap.mjs demo
//   npm test   -> node scripts/bootstrap.mjs test-all
//
// It makes the pinned pnpm available (a global one of the right version, or a private copy
// installed with npm into .tools/), installs the workspace from the lockfile, then runs the
// task with that pnpm first on PATH so turbo and every nested script find it.
// Corepack is not used: on this registry `corepack prepare` fails with "No compatible signature found
// in package metadata" (the packuments carry no dist.signatures).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pinned = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.split("@")[1];
const tasks = { demo: "scripts/demo.mjs", "test-all": "scripts/test-all.mjs" };
const task = process.argv[2];
if (!task || !(task in tasks)) {
  console.error(`usage: node scripts/bootstrap.mjs <${Object.keys(tasks).join("|")}>`);
  process.exit(2);
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
function versionOf(cmd, env) {
  const r = spawnSync(cmd, ["--version"], { cwd: root, encoding: "utf8", env });
  return r.status === 0 ? r.stdout.trim() : null;
}

const toolsBin = join(root, ".tools", "node_modules", ".bin");
const env = { ...process.env, PATH: `${toolsBin}${delimiter}${process.env.PATH ?? ""}` };
if (versionOf("pnpm", env) !== pinned) {
  console.log(`[bootstrap] installing pnpm ${pinned} into .tools/ (npm)`);
  const status = run("npm", [
    "install",
    "--prefix",
    join(root, ".tools"),
    "--no-save",
    "--no-package-lock",
    `pnpm@${pinned}`,
  ]);
  if (status !== 0 || versionOf("pnpm", env) !== pinned) {
    console.error(`[bootstrap] could not install pnpm ${pinned} with npm`);
    process.exit(1);
  }
}
// pnpm 10 honours nodedir from ~/.npmrc; pass it explicitly too, for native addons built by node-gyp.
if (!env.npm_config_nodedir && existsSync("/usr/include/node/node.h")) env.npm_config_nodedir = "/usr";

const frozen = existsSync(join(root, "pnpm-lock.yaml")) ? ["--frozen-lockfile"] : [];
console.log(`[bootstrap] pnpm install ${frozen.join(" ")}`);
if (run("pnpm", ["install", ...frozen], env) !== 0) process.exit(1);
process.exit(run(process.execPath, [join(root, tasks[task]), ...process.argv.slice(3)], env));
