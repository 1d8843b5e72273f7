// Shared setup for the runner's tests (not a test file itself).
import { fileURLToPath } from "node:url";
import type { CaseResult, RunReport } from "../src/runner.js";

/** apps/conformance: adapters are started from here. */
export const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

const node = JSON.stringify(process.execPath);
/** A TypeScript file run as a real process through tsx. */
export const tsxCommand = (file: string, ...args: string[]) => `${node} --import tsx ${file} ${args.join(" ")}`.trim();

/** Our reference adapter, as a process. */
export const PARLEY_ADAPTER = tsxCommand("src/adapters/parley.ts");

/** The reference adapter with one defect (test/fixtures/broken-adapter.ts). */
export const brokenAdapter = (mode: string) => tsxCommand("test/fixtures/broken-adapter.ts", mode);

export function find(report: RunReport, fragment: string): CaseResult {
  const found = report.results.find((r) => r.name.includes(fragment));
  if (!found) throw new Error(`no case matching ${fragment}`);
  return found;
}

export const failed = (report: RunReport) => report.results.filter((r) => r.status === "failed");
