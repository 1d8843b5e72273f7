#!/usr/bin/env node
// Bundle budgets and tree-shaking proofs (issue 17, "Bundle budgets"). Run from the repository root
// after `pnpm build`: each package's "typical import" (a small entry file written to a temp dir that
// resolves @parley/* through the workspace, i.e. each package's exports map and built dist/) is
// bundled with esbuild the way a browser app's bundler would (platform browser, ESM, minified,
// tree-shaken, browser/module/import conditions), gzipped at level 9 and compared with its budget
// in scripts/bundle-budgets.json. Then the tree-shaking claims are checked on the bundles:
//   - no Node built-in reaches a browser bundle: built-ins are NOT marked external, so esbuild fails
//     to resolve any `node:*` or bare built-in import, and each such error is reported (a control
//     bundle, @parley/storage/sqlite, must trip the detector, so a silent detector cannot pass);
//   - excluded code is absent: no module of it contributes bytes (esbuild's metafile) and none of its
//     marker strings occurs in the output, while a control bundle that should contain it does.
// Each budget and each claim is one test case. Results go to <package>/.reports/bundle.json in the
// shape of a vitest JSON report, where scripts/summarize.mjs (and so test-all.mjs) counts them.
// Exit status 1 on any failure. `--verbose` also prints, per typical import, the minified bytes each
// package contributes (where to look when a budget fails).
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const started = Date.now();

/**
 * esbuild is not a direct dependency of the root: pnpm installs it for tsx (a root devDependency)
 * and keeps it out of node_modules/esbuild, so a bare `import("esbuild")` only works if someone adds it.
 */
async function loadEsbuild() {
  let mod;
  try {
    mod = await import("esbuild");
  } catch {
    const viaTsx = createRequire(realpathSync(join(root, "node_modules", "tsx", "package.json")));
    mod = await import(pathToFileURL(viaTsx.resolve("esbuild")).href);
  }
  return typeof mod.build === "function" ? mod : mod.default;
}
const esbuild = await loadEsbuild();

// ---------------------------------------------------------------------------------------------
// What is bundled.
// `typical: true` entries are a package's typical import and have a budget; the others exist for
// the checks (a package's whole browser surface, controls that must contain what others must not).

const PACKAGES = ["crypto", "x3dh", "double-ratchet", "omemo", "otr", "trust", "storage", "queue"];

/** Subpaths that are Node-only by design and never meant for a browser bundle. */
const NODE_ONLY = new Set(["@parley/storage/sqlite", "@parley/storage/file-keystore"]);

const ENTRIES = [
  {
    id: "crypto",
    pkg: "crypto",
    typical: true,
    code: `export { createCrypto, isCryptoError } from "@parley/crypto";`,
  },
  {
    id: "crypto/noble",
    pkg: "crypto",
    typical: true,
    code: `export { nobleProvider } from "@parley/crypto/noble";`,
  },
  {
    id: "crypto/webcrypto",
    pkg: "crypto",
    typical: true,
    code: `export { webCryptoAvailable, generateX25519KeyPairs, xeddsaVerifyAsync } from "@parley/crypto/webcrypto";`,
  },
  {
    id: "x3dh",
    pkg: "x3dh",
    typical: true,
    code: `export { generateIdentityKeyPair, generateSignedPreKey, generateOneTimePreKeys, createBundle, initiate, respond, InMemoryPreKeyStore, omemo2X3dh } from "@parley/x3dh";`,
  },
  {
    id: "double-ratchet",
    pkg: "double-ratchet",
    typical: true,
    code: `export { createInitiatorSession, acceptSession, encrypt, decrypt, serializeSession, deserializeSession, omemo2 } from "@parley/double-ratchet";`,
  },
  {
    id: "double-ratchet/legacy",
    pkg: "double-ratchet",
    typical: true,
    code: `export { createInitiatorSession, acceptSession, encrypt, decrypt, legacyOmemo } from "@parley/double-ratchet";`,
  },
  {
    id: "double-ratchet/legacy-profile",
    pkg: "double-ratchet",
    code: `export { legacyOmemo } from "@parley/double-ratchet";`,
  },
  {
    id: "omemo",
    pkg: "omemo",
    typical: true,
    code: `export { SessionManager, MemoryOmemoStore, wrapMessage, isOmemoError } from "@parley/omemo";`,
  },
  {
    id: "omemo/legacy",
    pkg: "omemo",
    typical: true,
    code: `export * from "@parley/omemo/legacy";`,
  },
  {
    id: "omemo/v2",
    pkg: "omemo",
    typical: true,
    code: `export * from "@parley/omemo/v2";`,
  },
  {
    id: "otr",
    pkg: "otr",
    typical: true,
    code: `export { OtrSession, generateDsaKey, DsaPrivateKey } from "@parley/otr";`,
  },
  {
    id: "trust",
    pkg: "trust",
    typical: true,
    code: `export { createTrustStore, memoryTrustStorage, formatFingerprint, parseXmppUri } from "@parley/trust";`,
  },
  {
    id: "storage",
    pkg: "storage",
    typical: true,
    code: `export { EncryptedStore, isStorageError } from "@parley/storage";\nexport { openIndexedDbBackend } from "@parley/storage/indexeddb";`,
  },
  {
    id: "queue",
    pkg: "queue",
    typical: true,
    code: `export { openQueue, memoryQueueStore, realTimers, isQueueError } from "@parley/queue";`,
  },
  {
    id: "queue/storage",
    pkg: "queue",
    typical: true,
    code: `export { encryptedQueueStore } from "@parley/queue/storage";`,
  },
  // Node-only code, bundled for Node: the control that the storage check's markers are real.
  {
    id: "storage/node-only",
    pkg: "storage",
    platform: "node",
    code: `export * from "@parley/storage/sqlite";\nexport * from "@parley/storage/file-keystore";`,
  },
  // The same for a browser: the built-in detector must flag it.
  {
    id: "storage/sqlite-in-browser",
    pkg: "storage",
    code: `export * from "@parley/storage/sqlite";`,
  },
];

/** Each package's whole browser surface: every subpath of its exports map except NODE_ONLY. */
function surfaceEntry(pkg) {
  const manifest = JSON.parse(readFileSync(join(root, "packages", pkg, "package.json"), "utf8"));
  const specifiers = Object.keys(manifest.exports ?? { ".": null })
    .filter((k) => k === "." || (k.startsWith("./") && !k.endsWith(".json")))
    .map((k) => (k === "." ? manifest.name : `${manifest.name}/${k.slice(2)}`))
    .filter((s) => !NODE_ONLY.has(s));
  return {
    id: `${pkg}/surface`,
    pkg,
    specifiers,
    code: specifiers.map((s, i) => `export * as s${i} from "${s}";`).join("\n"),
  };
}
for (const pkg of PACKAGES) ENTRIES.push(surfaceEntry(pkg));

/** OMEMO 2's wire format and ratchet/X3DH constants (double-ratchet wire.ts and profiles.ts, x3dh profiles.ts). */
const OMEMO2_RATCHET_MARKERS = [
  "OMEMO Root Chain",
  "OMEMO Message Key Material",
  "OMEMO X3DH",
  "OMEMOKeyExchange",
  "OMEMOAuthenticatedMessage",
];

/**
 * Tree-shaking claims. `subject` must not contain the excluded code, `control` must, so a marker
 * that stopped matching (renamed string, changed minifier) fails instead of passing silently.
 * `modules`: paths (relative to the repo root) of the excluded code; `markers`: strings only it has.
 */
const SHAKE_CHECKS = [
  {
    pkg: "crypto",
    title: "@parley/crypto/webcrypto does not pull the native (node:crypto) provider",
    subject: "crypto/webcrypto",
    control: "crypto",
    modules: [/^packages\/crypto\/dist\/native\.js$/],
    markers: ["getBuiltinModule"],
  },
  {
    pkg: "omemo",
    title: "@parley/omemo/legacy does not pull OMEMO 2 code (v2 stanzas, SCE)",
    subject: "omemo/legacy",
    control: "omemo/v2",
    modules: [/^packages\/omemo\/dist\/v2\//, /^packages\/omemo\/dist\/sce\.js$/],
    markers: ["urn:xmpp:omemo:2", "labelsig", "opt-out"],
  },
  {
    pkg: "double-ratchet",
    title: "the legacyOmemo profile alone does not pull OMEMO 2 profile constants",
    subject: "double-ratchet/legacy-profile",
    control: "double-ratchet",
    modules: [],
    markers: OMEMO2_RATCHET_MARKERS,
  },
  {
    pkg: "double-ratchet",
    title: "the legacyOmemo profile with the ratchet engine does not pull OMEMO 2 code",
    subject: "double-ratchet/legacy",
    control: "double-ratchet",
    modules: [],
    markers: OMEMO2_RATCHET_MARKERS,
  },
  {
    pkg: "x3dh",
    title: "@parley/x3dh (all of it) does not pull protobufjs",
    subject: "x3dh/surface",
    control: "double-ratchet",
    modules: [/(^|\/)node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?(protobufjs|@protobufjs\/[^/]+|long)\//],
    markers: ["index out of range", "invalid wire type"],
  },
  {
    pkg: "storage",
    title: "@parley/storage's main entry has no SQLite or file-keystore code",
    subject: "storage/surface",
    control: "storage/node-only",
    modules: [/^packages\/storage\/dist\/(sqlite|file-keystore)\.js$/, /(^|\/)node_modules\/.*better-sqlite3\//],
    markers: ["better-sqlite3", "journal_mode"],
  },
];

// ---------------------------------------------------------------------------------------------
// Bundling.

const TARGET = "es2022";

function setupWorkspace() {
  const dir = mkdtempSync(join(tmpdir(), "parley-bundle-"));
  // An app's node_modules/@parley/* pointing at the workspace packages (their exports map and dist/).
  mkdirSync(join(dir, "node_modules", "@parley"), { recursive: true });
  for (const pkg of PACKAGES)
    symlinkSync(join(root, "packages", pkg), join(dir, "node_modules", "@parley", pkg), "dir");
  return dir;
}

/** `Could not resolve "x"` for a Node built-in, or undefined. */
function builtinOf(message) {
  const m = /^Could not resolve "([^"]+)"/.exec(message.text);
  return m && (m[1].startsWith("node:") || isBuiltin(m[1])) ? m[1] : undefined;
}

function where(message) {
  const l = message.location;
  return l ? `${relative(root, join(workDir, l.file)) || l.file}:${l.line}` : "?";
}

async function bundle(entry) {
  const file = join(workDir, `${entry.id.replace(/[^a-z0-9]+/gi, "_")}.mjs`);
  writeFileSync(file, `${entry.code}\n`);
  const options = {
    absWorkingDir: workDir,
    entryPoints: [file],
    bundle: true,
    write: false,
    outfile: join(workDir, "out", `${entry.id.replace(/[^a-z0-9]+/gi, "_")}.js`),
    format: "esm",
    platform: entry.platform ?? "browser",
    target: TARGET,
    minify: true,
    treeShaking: true,
    // What Vite, webpack and esbuild's own browser defaults resolve ("import" and "default" always apply).
    conditions: entry.platform === "node" ? ["node", "module"] : ["browser", "module"],
    mainFields: entry.platform === "node" ? ["module", "main"] : ["browser", "module", "main"],
    define: { "process.env.NODE_ENV": '"production"' },
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
  };
  const result = { entry, builtins: [], errors: [] };
  let built;
  try {
    built = await esbuild.build(options);
  } catch (error) {
    const errors = error.errors ?? [{ text: String(error) }];
    result.builtins = errors.filter(builtinOf).map((e) => ({ module: builtinOf(e), importer: where(e) }));
    result.errors = errors.filter((e) => !builtinOf(e)).map((e) => `${e.text} (${where(e)})`);
    if (result.errors.length > 0 || result.builtins.length === 0) return result;
    // Measure anyway, with the offending built-ins left external, so the table still has a size.
    try {
      built = await esbuild.build({ ...options, external: [...new Set(result.builtins.map((b) => b.module))] });
    } catch (again) {
      result.errors = (again.errors ?? [{ text: String(again) }]).map((e) => `${e.text} (${where(e)})`);
      return result;
    }
  }
  const out = built.outputFiles.find((f) => f.path.endsWith(".js"));
  result.code = out.text;
  result.minBytes = out.contents.byteLength;
  result.gzipBytes = gzipSync(out.contents, { level: 9 }).byteLength;
  const output = Object.values(built.metafile.outputs)[0];
  // Modules that contribute bytes (a module can be reached and still be shaken to nothing).
  result.modules = Object.entries(output.inputs)
    .filter(([, v]) => v.bytesInOutput > 0)
    .map(([path, v]) => ({ path: relative(root, join(workDir, path)), bytes: v.bytesInOutput }));
  result.externals = Object.values(built.metafile.inputs)
    .flatMap((i) => i.imports)
    .filter((i) => i.external)
    .map((i) => i.path);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Checks.

const kb = (n) => `${(n / 1000).toFixed(1)} kB`;
const checks = []; // { pkg, group, title, ok, detail }
const add = (pkg, group, title, ok, detail) => checks.push({ pkg, group, title, ok, detail });

const budgetsFile = join(root, "scripts", "bundle-budgets.json");
const budgets = existsSync(budgetsFile) ? JSON.parse(readFileSync(budgetsFile, "utf8")).budgets : {};

const workDir = setupWorkspace();
const results = new Map();
try {
  for (const entry of ENTRIES) results.set(entry.id, await bundle(entry));
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

// Budgets: one per typical entry, on the gzipped size.
for (const entry of ENTRIES.filter((e) => e.typical)) {
  const r = results.get(entry.id);
  const budget = budgets[entry.id];
  const title = `${entry.id}: gzipped bundle within budget`;
  if (r.gzipBytes === undefined) add(entry.pkg, "bundle size", title, false, `not bundled: ${r.errors.join("; ")}`);
  else if (!budget)
    add(entry.pkg, "bundle size", title, false, `no budget for "${entry.id}" in ${relative(root, budgetsFile)}`);
  else
    add(
      entry.pkg,
      "bundle size",
      title,
      r.gzipBytes <= budget.gzipBytes,
      `${r.gzipBytes} B gzip (${r.minBytes} B min), budget ${budget.gzipBytes} B gzip`,
    );
}
for (const id of Object.keys(budgets).filter((id) => !ENTRIES.some((e) => e.typical && e.id === id))) {
  add(
    id.split("/")[0],
    "bundle size",
    `budget "${id}" belongs to a bundled entry`,
    false,
    "stale budget: no such entry",
  );
}

// No Node built-in in any browser bundle; the control must trip the detector.
// The whole browser surface of each package: esbuild resolves every import of every module it reaches,
// shaken or not, so this covers each typical import (a subset) too.
for (const entry of ENTRIES.filter((e) => e.id.endsWith("/surface"))) {
  const r = results.get(entry.id);
  const found = [...r.builtins.map((b) => `${b.module} (imported by ${b.importer})`), ...r.externals];
  add(
    entry.pkg,
    "node built-ins",
    `no Node built-in in a browser bundle of ${entry.specifiers.join(", ")}`,
    r.errors.length === 0 && found.length === 0,
    r.errors.length > 0 ? `not bundled: ${r.errors.join("; ")}` : found.length ? found.join("; ") : "none",
  );
}
{
  const r = results.get("storage/sqlite-in-browser");
  const modules = [...new Set(r.builtins.map((b) => b.module))];
  add(
    "storage",
    "node built-ins",
    "control: the detector flags @parley/storage/sqlite (Node-only) in a browser bundle",
    modules.includes("node:fs") && modules.includes("node:path"),
    modules.length
      ? `flagged: ${modules.join(", ")}`
      : `nothing flagged${r.errors.length ? `; ${r.errors.join("; ")}` : ""}`,
  );
}

// Excluded code is absent from the subject and present in the control.
for (const c of SHAKE_CHECKS) {
  const subject = results.get(c.subject);
  const control = results.get(c.control);
  const problems = [];
  if (subject.code === undefined) problems.push(`${c.subject} not bundled: ${subject.errors.join("; ")}`);
  if (control.code === undefined) problems.push(`control ${c.control} not bundled: ${control.errors.join("; ")}`);
  if (problems.length === 0) {
    const pulled = subject.modules.filter((m) => c.modules.some((re) => re.test(m.path)));
    const markersIn = c.markers.filter((s) => subject.code.includes(s));
    const controlModules = c.modules.filter((re) => control.modules.some((m) => re.test(m.path)));
    const controlMissing = c.markers.filter((s) => !control.code.includes(s));
    if (pulled.length)
      problems.push(`modules in ${c.subject}: ${pulled.map((m) => `${m.path} (${m.bytes} B)`).join(", ")}`);
    if (markersIn.length)
      problems.push(`markers in ${c.subject}: ${markersIn.map((s) => JSON.stringify(s)).join(", ")}`);
    if (controlMissing.length)
      problems.push(`control ${c.control} lacks markers ${controlMissing.map((s) => JSON.stringify(s)).join(", ")}`);
    if (controlModules.length < c.modules.length) problems.push(`control ${c.control} lacks some excluded modules`);
  }
  add(
    c.pkg,
    "tree-shaking",
    c.title,
    problems.length === 0,
    problems.length ? problems.join("; ") : `absent from ${c.subject}, present in ${c.control}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Output: the table, the checks, and the vitest-shaped reports.

/** Runtime lookups of Node built-ins that stay in browser bundles by design (they find nothing there). */
function runtimeNotes(r) {
  const notes = [];
  const lookups = (r.code.match(/getBuiltinModule/g) ?? []).length;
  if (lookups) notes.push(`${lookups}× process.getBuiltinModule`);
  const native = r.modules.filter((m) => /dist\/(native|gcm-stream|engine)\.js$/.test(m.path));
  for (const m of native) notes.push(`${m.path.replace(/^packages\//, "")} ${kb(m.bytes)}`);
  return notes.join(", ");
}

console.log(`esbuild ${esbuild.version}, platform browser, ${TARGET}, minified, gzip -9\n`);
const header = ["entry", "min", "gzip", "budget", "", "notes"];
const rows = ENTRIES.filter((e) => e.typical).map((e) => {
  const r = results.get(e.id);
  const budget = budgets[e.id]?.gzipBytes;
  const over = r.gzipBytes === undefined || budget === undefined || r.gzipBytes > budget;
  return [
    e.id,
    r.minBytes === undefined ? "-" : kb(r.minBytes),
    r.gzipBytes === undefined ? "-" : kb(r.gzipBytes),
    budget === undefined ? "-" : kb(budget),
    over ? "OVER" : `${((100 * r.gzipBytes) / budget).toFixed(0)} %`,
    r.code === undefined ? "" : runtimeNotes(r),
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) =>
  cells
    .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
    .join("  ")
    .trimEnd();
console.log(line(header));
for (const r of rows) console.log(line(r));
console.log("");
if (process.argv.includes("--verbose")) {
  // Where the bytes come from: minified bytes per package (before gzip), largest first.
  const owner = (path) => {
    const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (dep) return dep[1];
    const own = /^packages\/([^/]+)\//.exec(path);
    return own ? `@parley/${own[1]}` : path;
  };
  for (const e of ENTRIES.filter((x) => x.typical && results.get(x.id).modules)) {
    const by = new Map();
    for (const m of results.get(e.id).modules) by.set(owner(m.path), (by.get(owner(m.path)) ?? 0) + m.bytes);
    const top = [...by].sort((a, b) => b[1] - a[1]).map(([name, bytes]) => `${name} ${kb(bytes)}`);
    console.log(`${e.id}: ${top.join(", ")}`);
  }
  console.log("");
}
for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} [${c.pkg}] ${c.title}: ${c.detail}`);

const finished = Date.now();
for (const pkg of PACKAGES) {
  const own = checks.filter((c) => c.pkg === pkg);
  if (own.length === 0) continue;
  const failed = own.filter((c) => !c.ok).length;
  const report = {
    numTotalTestSuites: 1,
    numPassedTestSuites: failed ? 0 : 1,
    numFailedTestSuites: failed ? 1 : 0,
    numPendingTestSuites: 0,
    numTotalTests: own.length,
    numPassedTests: own.length - failed,
    numFailedTests: failed,
    numPendingTests: 0,
    numTodoTests: 0,
    startTime: started,
    success: failed === 0,
    testResults: [
      {
        name: join(root, "scripts", "bundle-size.mjs"),
        status: failed ? "failed" : "passed",
        startTime: started,
        endTime: finished,
        message: "",
        assertionResults: own.map((c) => ({
          ancestorTitles: [c.group],
          fullName: `${c.group} ${c.title}`,
          title: c.title,
          status: c.ok ? "passed" : "failed",
          failureMessages: c.ok ? [] : [c.detail],
          meta: { detail: c.detail },
        })),
      },
    ],
    bundles: ENTRIES.filter((e) => e.pkg === pkg && e.typical).map((e) => ({
      id: e.id,
      code: e.code,
      minBytes: results.get(e.id).minBytes,
      gzipBytes: results.get(e.id).gzipBytes,
      budgetGzipBytes: budgets[e.id]?.gzipBytes,
    })),
    esbuild: esbuild.version,
  };
  const dir = join(root, "packages", pkg, ".reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "bundle.json"), `${JSON.stringify(report, null, 2)}\n`);
}
const failed = checks.filter((c) => !c.ok).length;
console.log(
  `\nbundle: ${checks.length - failed} passed, ${failed} failed (${((finished - started) / 1000).toFixed(1)} s; reports in packages/*/.reports/bundle.json)`,
);
process.exit(failed === 0 ? 0 : 1);
