// TypeDoc options for one package, used by each packages/*/typedoc.config.mjs (the root typedoc.json
// converts every package on its own, entryPointStrategy "packages"). The entry points are the package's
// subpath exports: each "types" target "./dist/X.d.ts" is documented from its source "src/X.ts", so the
// API reference covers exactly what package.json exports, and a new subpath is documented (and checked
// for warnings) without touching this file.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** @param {string} configUrl the package's typedoc.config.mjs (import.meta.url) */
export function packageOptions(configUrl) {
  const dir = fileURLToPath(new URL(".", configUrl));
  const pkg = JSON.parse(readFileSync(new URL("package.json", configUrl), "utf8"));
  const entryPoints = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === "string") continue; // "./package.json"
    const types = target.types;
    if (typeof types !== "string" || !/^\.\/dist\/.+\.d\.ts$/.test(types))
      throw new Error(`${pkg.name} exports "${subpath}" without a ./dist/*.d.ts "types" condition`);
    entryPoints.push(dir + types.replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$/, ".ts"));
  }
  return { entryPoints, tsconfig: `${dir}tsconfig.build.json` };
}
