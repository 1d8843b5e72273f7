// Deliberately broken implementations are caught, with the right first difference.
import { describe, expect, it } from "vitest";
import { runConformance } from "../src/runner.js";
import { brokenAdapter, failed, find, PACKAGE_DIR } from "./helpers.js";

describe("a broken implementation", () => {
  it("one flipped byte in every encrypted message: the vector shows the byte, live conversations fail with Parley's BAD_MAC", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("flip-encrypt"),
      cwd: PACKAGE_DIR,
      suites: ["ratchet"],
      profiles: ["legacyOmemo"],
    });
    const reproduce = find(report, "legacyOmemo-conversation: as initiator, with the fixed keys, reproduces");
    expect(reproduce.status).toBe("failed");
    expect(reproduce.difference?.what).toMatch(/^message 0 \(alice's\): message byte (\d+) of (\d+)$/);
    const [, at, of] = /byte (\d+) of (\d+)/.exec(reproduce.difference!.what)!;
    expect(Number(at)).toBe(Number(of) - 1); // the last byte, where the defect is
    expect(reproduce.difference!.expected).not.toBe(reproduce.difference!.got);
    expect(find(report, "as responder, with the fixed keys, reproduces").difference?.what).toMatch(
      /^message 2 \(bob's\): message byte/,
    );
    // Decrypting the recorded messages does not depend on what it sends: those cases pass.
    expect(find(report, "as initiator, decrypts the recorded messages").status).toBe("passed");
    expect(find(report, "as responder, decrypts the recorded messages").status).toBe("passed");
    const live = find(report, "IUT as initiator: a conversation with DH steps");
    expect(live.status).toBe("failed");
    // In legacyOmemo the last byte of a PreKeySignalMessage is its signedPreKeyId field, outside the MAC.
    expect(live.detail).toBe(
      "unexpected error UNKNOWN_SIGNED_PRE_KEY: Parley (reference) ratchet.accept: no signed prekey with id 0",
    );
    const afterReply = find(report, "IUT as responder: a conversation with DH steps");
    expect(afterReply.detail).toMatch(/^unexpected error BAD_MAC: Parley \(reference\) ratchet\.decrypt: /);
    expect(report.adapter.restarts).toBe(0);
  });

  it("a wrong error code (BAD_MAC for a duplicate) is reported as expected vs got", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("wrong-code"),
      cwd: PACKAGE_DIR,
      suites: ["ratchet"],
      profiles: ["omemo2"],
    });
    const names = failed(report).map((r) => r.name);
    expect(names).toEqual([
      "omemo2, IUT as initiator: a duplicate is DUPLICATE_MESSAGE and the session stays usable",
      "omemo2, IUT as initiator: reloads (serialize, deserialize) mid-conversation keep pending key exchanges, skipped keys and duplicate detection",
      "omemo2, IUT as responder: a duplicate is DUPLICATE_MESSAGE and the session stays usable",
      "omemo2, IUT as responder: reloads (serialize, deserialize) mid-conversation keep pending key exchanges, skipped keys and duplicate detection",
    ]);
    const dup = find(report, "IUT as initiator: a duplicate");
    expect(dup.difference).toMatchObject({
      what: "IUT decrypts a message a second time",
      expected: "error DUPLICATE_MESSAGE",
    });
    expect(dup.difference?.got).toMatch(/^error BAD_MAC \(IUT ratchet\.decrypt: /);
    expect(find(report, "IUT as responder: a duplicate").difference?.what).toBe(
      "IUT decrypts the accepted key exchange again",
    );
  });

  it("an adapter that lists no ratchet ops has its ratchet cases skipped, not failed", async () => {
    const report = await runConformance({
      adapter: brokenAdapter("no-ratchet"),
      cwd: PACKAGE_DIR,
      suites: ["ratchet"],
      profiles: ["signal"],
    });
    expect(report.summary.failed).toBe(0);
    expect(report.summary.passed).toBe(0);
    expect(find(report, "signal, IUT as initiator: a conversation").detail).toBe(
      "the adapter does not support ratchet.initiate, ratchet.encrypt, ratchet.decrypt",
    );
  });
});
