// Adapters that break the protocol: each is a clear failure with its reason, never a hang of the runner.
import { describe, expect, it } from "vitest";
import { runConformance } from "../src/runner.js";
import { brokenAdapter, failed, find, PACKAGE_DIR } from "./helpers.js";

describe("malformed adapter output", () => {
  it("a line that is not JSON fails that case, showing the line; the cases before it pass", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("non-json"),
      cwd: PACKAGE_DIR,
      suites: ["ratchet"],
      profiles: ["legacyOmemo"],
      grep: "vector",
    });
    expect(failed(report).map((r) => r.name)).toEqual([
      "legacyOmemo, vector legacyOmemo-conversation: inspect reads key exchanges, inner messages and headers",
    ]);
    expect(find(report, "inspect reads").detail).toBe(
      'adapter failure: IUT ratchet.inspect: the adapter wrote a line that is not JSON on stdout: "inspecting a message..." (log to stderr instead)',
    );
    expect(report.adapter.restarts).toBe(0); // the inspect case is the last one run against this adapter
  });

  it("a response with another id fails the case and the next case gets a fresh adapter", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("wrong-id"),
      cwd: PACKAGE_DIR,
      suites: ["x3dh"],
      profiles: ["omemo2"],
      grep: "IUT",
    });
    const respond = find(report, "omemo2: IUT publishes, Parley initiates, IUT responds");
    expect(respond.status).toBe("failed");
    expect(respond.detail).toMatch(
      /^adapter failure: IUT x3dh\.respond: the adapter answered id (\d+) but the pending request is id \d+ \(x3dh\.respond\)$/,
    );
    expect(find(report, "omemo2: Parley publishes, IUT initiates").status).toBe("passed"); // after a restart
    expect(report.adapter.restarts).toBeGreaterThan(0);
  });

  it("a crash fails the case with the exit code; after the allowed restarts the remaining cases fail at once", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("crash"),
      cwd: PACKAGE_DIR,
      suites: ["x3dh"],
      profiles: ["signal"],
      maxRestarts: 1,
    });
    expect(find(report, "signal: identity keys").status).toBe("passed");
    const first = failed(report)[0]!;
    expect(first.name).toBe("signal: Parley publishes, IUT initiates, Parley responds: same SK and AD");
    expect(first.detail).toBe("adapter failure: IUT x3dh.initiate: the adapter process exited with code 3");
    expect(report.adapter.restarts).toBe(1);
    expect(report.results.at(-1)?.detail).toBe("adapter failure: the adapter failed 2 times; giving up");
  });

  it("a hang is a timeout failure, and the runner moves on", async () => {
    const t0 = Date.now();
    const report = await runConformance({
      adapter: brokenAdapter("hang"),
      cwd: PACKAGE_DIR,
      suites: ["ratchet"],
      profiles: ["signal"],
      grep: "IUT as initiator",
      timeoutMs: 1500,
    });
    const reload = find(report, "signal, IUT as initiator: reloads");
    expect(reload.status).toBe("failed");
    expect(reload.detail).toMatch(
      /^adapter failure: IUT ratchet\.serialize: no response to request \d+ \(ratchet\.serialize\) within 1500 ms$/,
    );
    expect(failed(report)).toHaveLength(1); // the reload case; the cases before it passed
    expect(report.summary.passed).toBe(6);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it("an adapter that dies at once fails every case with the reason, quickly", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("dead"),
      cwd: PACKAGE_DIR,
      suites: ["x3dh"],
      profiles: ["legacyOmemo"],
    });
    expect(report.summary.failed).toBe(report.summary.total);
    expect(report.summary.total).toBe(11);
    expect(report.results[0]!.detail).toBe("adapter failure: hello failed: the adapter process exited with code 1");
    expect(report.adapter.hello).toBeNull();
  });

  it("a command that does not exist fails every case", async () => {
    const report = await runConformance({
      adapter: "/nonexistent/adapter --flag",
      cwd: PACKAGE_DIR,
      suites: ["x3dh"],
      profiles: ["omemo2"],
    });
    expect(report.summary.failed).toBe(report.summary.total);
    expect(report.results[0]!.detail).toMatch(
      /^adapter failure: hello failed: the adapter process exited with code 127; its stderr ends with: .*nonexistent/,
    );
  });
});
