// `pnpm bench:browser`: @parley/crypto/webcrypto beside noble in headless Chromium (Debian's
// /usr/bin/chromium driven by Playwright), and where the time goes in X3DH and the Double Ratchet on
// noble there. Bundles bench/browser-entry.ts with esbuild (every @parley/* import mapped to the
// package's src/, so one copy of this package's code), serves it from 127.0.0.1 with COOP/COEP headers
// (a cross-origin-isolated page gets 5 µs timers instead of 100 µs), and runs it in one page.
// Rows go into bench/results.json, merged by scenario name (the Node rows of `pnpm bench` stay):
// ours = the WebCrypto path, peer = noble, ratio = noble ÷ WebCrypto (above 1: WebCrypto is faster).
// The profile goes to bench/browser-profile.json. `--quick` runs shorter rounds (a smoke test).
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright";
import type { BenchResult, BenchRow } from "./browser-entry.js";
import { edgeCases, type EdgeCaseReport } from "./edge-cases.js";

const here = dirname(fileURLToPath(import.meta.url));
const packages = join(here, "..", "..");
const root = join(packages, "..");
const quick = process.argv.includes("--quick");

interface EsbuildPlugin {
  name: string;
  setup(build: {
    onResolve(options: { filter: RegExp }, callback: (args: { path: string }) => { path: string }): void;
  }): void;
}
interface Esbuild {
  version: string;
  build(options: Record<string, unknown>): Promise<{ outputFiles: Array<{ text: string }> }>;
}

/** esbuild comes with tsx (a root devDependency), as in scripts/bundle-size.mjs. */
async function loadEsbuild(): Promise<Esbuild> {
  const viaTsx = createRequire(realpathSync(join(root, "node_modules", "tsx", "package.json")));
  const mod = (await import(pathToFileURL(viaTsx.resolve("esbuild")).href)) as Esbuild & { default?: Esbuild };
  return typeof mod.build === "function" ? mod : mod.default!;
}

/** @parley/<name>[/<subpath>] → packages/<name>/src/<subpath or index>.ts */
const parleySources: EsbuildPlugin = {
  name: "parley-sources",
  setup(build) {
    build.onResolve({ filter: /^@parley\/[^/]+(\/.+)?$/ }, (args) => {
      const [, name, subpath] = /^@parley\/([^/]+)(?:\/(.+))?$/.exec(args.path)!;
      return { path: join(packages, name!, "src", `${subpath ?? "index"}.ts`) };
    });
  },
};

const esbuild = await loadEsbuild();
const bundled = await esbuild.build({
  entryPoints: [join(here, "browser-entry.ts")],
  bundle: true,
  write: false,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["browser", "module"],
  plugins: [parleySources],
  logLevel: "warning",
});
const script = bundled.outputFiles[0]!.text;

const server = createServer((request, response) => {
  const headers = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cache-Control": "no-store",
  };
  if (request.url?.startsWith("/bench.js")) {
    response.writeHead(200, { ...headers, "Content-Type": "text/javascript" });
    response.end(script);
  } else {
    response.writeHead(200, { ...headers, "Content-Type": "text/html" });
    response.end(
      '<!doctype html><meta charset="utf-8"><title>bench</title><script type="module" src="/bench.js"></script>',
    );
  }
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  // As vitest.browser.shared.ts: no sandbox (containers), no GPU, no network beyond 127.0.0.1.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
const version = browser.version();
let result: BenchResult;
try {
  const page = await browser.newPage();
  page.on("console", (message) => {
    console.log(`  [chromium] ${message.text()}`);
  });
  page.on("pageerror", (error) => {
    console.error(`  [chromium] ${error.message}`);
  });
  await page.goto(`http://127.0.0.1:${port}/${quick ? "?quick" : ""}`);
  await page.waitForFunction(() => typeof (globalThis as { runBench?: unknown }).runBench === "function");
  result = await page.evaluate(() => (globalThis as unknown as { runBench: () => Promise<BenchResult> }).runBench());
} finally {
  await browser.close();
  server.close();
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
console.log(
  `\n@parley/crypto in headless Chromium ${version} (${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores), esbuild ${esbuild.version}`,
);
console.log(
  `cross-origin isolated: ${result.crossOriginIsolated}; WebCrypto X25519: ${result.support.x25519}, Ed25519: ${result.support.ed25519}`,
);
console.log("ours = @parley/crypto/webcrypto (crypto.subtle), peer = noble (sync facade); ratio = noble ÷ WebCrypto\n");
const width = Math.max(...result.rows.map((r) => r.scenario.length));
console.log(`${"scenario".padEnd(width)}  ${"webcrypto".padStart(10)}  ${"noble".padStart(10)}  unit      ratio`);
for (const r of result.rows) {
  console.log(
    `${r.scenario.padEnd(width)}  ${fmt(r.ours).padStart(10)}  ${fmt(r.peer).padStart(10)}  ${r.unit.padEnd(8)}  ${r.ratio.toFixed(2).padStart(5)}`,
  );
}
for (const p of result.profiles) {
  console.log(`\nnoble, ${p.scenario}: ${fmt(p.total)} ${p.unit}`);
  for (const g of p.groups) {
    const calls = g.calls ? `${g.calls.toFixed(1)} calls, ` : "";
    console.log(`  ${g.group.padEnd(52)} ${fmt(g.us).padStart(8)} µs  (${calls}${(100 * g.share).toFixed(1)} %)`);
  }
  console.log(`  by method: ${p.methods.map((m) => `${m.method} ${m.calls.toFixed(1)}× ${fmt(m.us)} µs`).join(", ")}`);
}

/** Raw WebCrypto (no facade checks) against the facade: every difference, here and in Chromium. */
function printEdgeCases(platform: string, report: EdgeCaseReport): void {
  console.log(`\n${platform}: raw crypto.subtle differs from the facade on`);
  for (const [what, n] of Object.entries(report.x25519)) console.log(`  X25519, ${n} Wycheproof cases: ${what}`);
  for (const d of report.ed25519) console.log(`  Ed25519 ${d.case}: facade ${d.facade}, platform ${d.platform}`);
  if (Object.keys(report.x25519).length + report.ed25519.length === 0) console.log("  nothing");
}
console.log(`\nkey pair pool: ${result.poolMisses} key pairs made by noble because the pool was empty`);
printEdgeCases(`Chromium ${version}`, result.edgeCases);
const nodeEdgeCases = await edgeCases(globalThis.crypto.subtle);
printEdgeCases(`Node ${process.version}`, nodeEdgeCases);

const round3 = (r: BenchRow): BenchRow => ({
  scenario: r.scenario,
  ours: +r.ours.toFixed(3),
  peer: +r.peer.toFixed(3),
  unit: r.unit,
  ratio: +r.ratio.toFixed(3),
});
if (quick) {
  console.log("\n--quick: results.json and browser-profile.json left unchanged");
} else {
  const resultsFile = join(here, "results.json");
  const previous = JSON.parse(readFileSync(resultsFile, "utf8")) as BenchRow[];
  const fresh = new Map(result.rows.map((r) => [r.scenario, round3(r)]));
  const merged = previous.map((r) => fresh.get(r.scenario) ?? r);
  for (const [scenario, row] of fresh) if (!previous.some((r) => r.scenario === scenario)) merged.push(row);
  writeFileSync(resultsFile, JSON.stringify(merged, null, 2) + "\n");
  writeFileSync(
    join(here, "browser-profile.json"),
    JSON.stringify(
      {
        chromium: version,
        cpu: `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores`,
        date: new Date().toISOString().slice(0, 10),
        crossOriginIsolated: result.crossOriginIsolated,
        edgeCases: { chromium: result.edgeCases, node: { version: process.version, ...nodeEdgeCases } },
        profiles: result.profiles.map((p) => ({
          ...p,
          total: +p.total.toFixed(1),
          groups: p.groups.map((g) => ({ ...g, us: +g.us.toFixed(1), share: +g.share.toFixed(3) })),
          methods: p.methods.map((m) => ({ ...m, us: +m.us.toFixed(1) })),
        })),
      },
      null,
      2,
    ) + "\n",
  );
  console.log(
    `\nwrote ${result.rows.length} rows into bench/results.json and the profile to bench/browser-profile.json`,
  );
}
