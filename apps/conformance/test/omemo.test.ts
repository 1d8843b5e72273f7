// The omemo suite: Parley's reference adapter passes it whole, as a process and in-process, and each of
// eight defects an OMEMO implementation could have (built as wrappers around the reference, in-process)
// fails the case written for it. Bad arguments to the omemo ops get protocol codes.
import { describe, expect, it } from "vitest";
import { AdapterError } from "../src/errors.js";
import type { OpArgs, OpName, OpResult } from "../src/protocol.js";
import { ParleyImplementation, type Implementation } from "../src/reference.js";
import { runConformance, selectCases } from "../src/runner.js";
import { Mismatch } from "../src/suites/assert.js";
import { PACKAGE_DIR, PARLEY_ADAPTER, failed } from "./helpers.js";

/** The reference with `patch` deciding what some ops answer (it may call the real op through `real`). */
function defective(
  patch: (
    op: OpName,
    args: Record<string, unknown>,
    real: () => Promise<Record<string, unknown>>,
  ) => Promise<Record<string, unknown>> | undefined,
): Implementation {
  const parley = new ParleyImplementation();
  return {
    name: "defective",
    async call<O extends OpName>(op: O, args: OpArgs<O>): Promise<OpResult<O>> {
      const real = () => parley.call(op, args) as unknown as Promise<Record<string, unknown>>;
      const patched = patch(op, args as unknown as Record<string, unknown>, real);
      return (await (patched ?? real())) as unknown as OpResult<O>;
    },
  };
}

/** Runs the omemo cases whose name contains `fragment` with `iut`; returns the errors they threw. */
async function run(iut: Implementation, fragment: string): Promise<unknown[]> {
  const cases = selectCases(["omemo"], undefined, fragment);
  expect(cases.length).toBeGreaterThan(0);
  const errors: unknown[] = [];
  for (const c of cases) {
    try {
      await c.run({ iut, ref: new ParleyImplementation() });
    } catch (e) {
      errors.push(e);
    }
  }
  return errors;
}

describe("omemo suite", () => {
  it("Parley's reference adapter passes every case of both profiles", async () => {
    const report = await runConformance({ adapter: PARLEY_ADAPTER, cwd: PACKAGE_DIR, suites: ["omemo"] });
    expect(failed(report)).toEqual([]);
    expect(report.summary).toEqual({ passed: 30, failed: 0, skipped: 0, total: 30 });
    expect(new Set(report.results.map((r) => r.profile))).toEqual(new Set(["legacyOmemo", "omemo2"]));
  }, 120_000);

  it("the reference passes every case in-process too, so the defects below are the only difference", async () => {
    expect(
      await run(
        defective(() => undefined),
        "",
      ),
    ).toEqual([]);
  }, 60_000);

  it("an implementation that shows a repeated stanza again fails the duplicate case", async () => {
    const seen = new Map<string, Record<string, unknown>>();
    const iut = defective((op, args, real) => {
      if (op !== "omemo.decrypt") return undefined;
      const stanza = args["stanza"] as string;
      const earlier = seen.get(stanza);
      if (earlier) return Promise.resolve({ ...earlier, published: [], sent: [] });
      return real().then((r) => (seen.set(stanza, r), r));
    });
    const errors = await run(iut, "a repeated stanza is refused");
    expect(errors).toHaveLength(2); // both profiles
    for (const e of errors) expect((e as Mismatch).message).toMatch(/expected error DUPLICATE_MESSAGE, got success/);
  });

  it("an implementation that never republishes its bundle fails the prekey case", async () => {
    const iut = defective((op, _args, real) =>
      op === "omemo.decrypt" ? real().then((r) => ({ ...r, published: [] })) : undefined,
    );
    const errors = await run(iut, "a used one-time prekey is replaced");
    expect(errors).toHaveLength(1); // OMEMO 2 only: a MUST there, a SHOULD in legacy OMEMO
    for (const e of errors) expect(e).toBeInstanceOf(Mismatch);
    expect((errors[0] as Mismatch).what).toBe("the republished bundle lacks the used prekey");
  });

  it("an implementation that does not encrypt to its own other devices fails the two-device case", async () => {
    const iut = defective((op, _args, real) =>
      op === "omemo.encrypt"
        ? real().then((r) => ({
            ...r,
            keys: (r["keys"] as { jid: string }[]).filter((k) => k.jid !== "iut@conformance.example"),
          }))
        : undefined,
    );
    const errors = await run(iut, "two devices per account");
    expect(errors).toHaveLength(2);
    for (const e of errors) expect((e as Mismatch).what).toMatch(/its own other device/);
  });

  it("an implementation that takes a malformed stanza for a message not for it fails the malformed case", async () => {
    const iut = defective((op, _args, real) =>
      op === "omemo.decrypt"
        ? real().catch((e: unknown) => {
            if (e instanceof AdapterError && e.code === "MALFORMED_STANZA") {
              throw new AdapterError("NO_KEY_FOR_US", "lenient parser");
            }
            throw e;
          })
        : undefined,
    );
    const errors = await run(iut, "malformed stanzas");
    expect(errors).toHaveLength(2);
    for (const e of errors)
      expect((e as Mismatch).message).toMatch(/expected error MALFORMED_STANZA, got error NO_KEY_FOR_US/);
  });

  /** The reference, except that `code` from omemo.decrypt becomes a message with body "?" (shown to the user). */
  const showsInsteadOf = (code: string) =>
    defective((op, _args, real) =>
      op === "omemo.decrypt"
        ? real().catch((e: unknown) => {
            if (e instanceof AdapterError && e.code === code) {
              return {
                body: "?",
                from: "parley@reference.example",
                senderDeviceId: 1,
                keyExchange: false,
                published: [],
                sent: [],
              };
            }
            throw e;
          })
        : undefined,
    );

  it("an implementation that accepts any envelope fails the OMEMO 2 envelope case", async () => {
    const iut = showsInsteadOf("ENVELOPE_MISMATCH");
    const errors = await run(iut, "envelope whose <to>");
    expect(errors).toHaveLength(1);
    expect((errors[0] as Mismatch).message).toMatch(/expected error ENVELOPE_MISMATCH, got success/);
  });

  it("an implementation that shows a tampered known-answer payload fails the vector case", async () => {
    const iut = defective((op, args, real) =>
      op === "omemo.decryptWithKeys"
        ? real().catch((e: unknown) => {
            if (e instanceof AdapterError && e.code === "BAD_MAC") {
              const n = (args["stanzas"] as string[]).length;
              return {
                messages: Array.from({ length: n }, () => ({ body: "?", senderDeviceId: 1, keyExchange: true })),
              };
            }
            throw e;
          })
        : undefined,
    );
    const errors = await run(iut, "known answers");
    expect(errors).toHaveLength(2);
    for (const e of errors)
      expect((e as Mismatch).message).toMatch(/flipped bit .*expected error BAD_MAC, got success/);
  });

  it("an implementation that shows tampered messages fails both tampering cases", async () => {
    const errors = await run(showsInsteadOf("BAD_MAC"), "a flipped bit in the");
    expect(errors).toHaveLength(4); // <key> and <payload>, both profiles
    for (const e of errors) expect((e as Mismatch).message).toMatch(/expected error BAD_MAC, got success/);
  });

  it("an implementation that shows a message not encrypted for it fails the NO_KEY_FOR_US case", async () => {
    const errors = await run(showsInsteadOf("NO_KEY_FOR_US"), "no <key> for the IUT");
    expect(errors).toHaveLength(2);
    for (const e of errors) expect((e as Mismatch).message).toMatch(/expected error NO_KEY_FOR_US, got success/);
  });

  it("bad arguments to the omemo ops get protocol codes", async () => {
    const parley = new ParleyImplementation();
    const code = async (op: OpName, args: unknown) => {
      try {
        await parley.call(op, args as never);
        return "no error";
      } catch (e) {
        return e instanceof AdapterError ? e.code : String(e);
      }
    };
    expect(await code("omemo.createDevice", { jid: "a@example.org", profiles: ["signal"] })).toBe(
      "UNSUPPORTED_PROFILE",
    );
    expect(await code("omemo.createDevice", { jid: "a@example.org", profiles: [] })).toBe("INVALID_ARGUMENT");
    expect(await code("omemo.createDevice", { jid: 7, profiles: ["omemo2"] })).toBe("INVALID_ARGUMENT");
    expect(
      await code("omemo.encrypt", { device: "device-404", profile: "omemo2", to: "b@example.org", body: "x" }),
    ).toBe("UNKNOWN_HANDLE");
    const made = (await parley.call("omemo.createDevice", { jid: "a@example.org", profiles: ["omemo2"] })) as {
      device: string;
    };
    expect(await code("omemo.decrypt", { device: made.device, stanza: "<message" })).toBe("MALFORMED_STANZA");
    expect(await code("omemo.encrypt", { device: made.device, profile: "omemo2", to: "b@example.org", body: 5 })).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      await code("omemo.pepPut", {
        device: made.device,
        item: { jid: "b@example.org", node: "n", itemId: "1", xml: 3 },
      }),
    ).toBe("INVALID_ARGUMENT");
  });
});
