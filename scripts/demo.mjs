#!/usr/bin/env node
// Builds what the demo needs (turbo, cached) and runs it.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (args) => spawnSync("pnpm", args, { cwd: root, stdio: "inherit" }).status ?? 1;
if (run(["exec", "turbo", "run", "build", "--filter=@parley/demo...", "--output-logs=errors-only"]) !== 0)
  process.exit(1);
process.exit(run(["--filter", "@parley/demo", "start"]));
