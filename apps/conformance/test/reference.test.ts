// The reference implementation and serve() as an adapter author sees them: bad requests get protocol
// error codes, and the process keeps answering.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { AdapterError } from "../src/errors.js";
import type { OpArgs, OpName } from "../src/protocol.js";
import { ParleyImplementation } from "../src/reference.js";
import { serve } from "../src/serve.js";

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return e instanceof AdapterError ? e.code : `not an AdapterError: ${String(e)}`;
  }
  return "no error";
};

describe("ParleyImplementation", () => {
  const parley = new ParleyImplementation();
  const call =
    <O extends OpName>(op: O, args: unknown) =>
    () =>
      parley.handle(op, args as OpArgs<O>);

  it("maps bad requests to protocol codes", () => {
    expect(codeOf(call("x3dh.generateIdentity", { profile: "nope" }))).toBe("UNSUPPORTED_PROFILE");
    expect(codeOf(call("ratchet.encrypt", { session: "s-404", plaintext: "00" }))).toBe("UNKNOWN_HANDLE");
    expect(codeOf(call("x3dh.respond", { party: "nobody", keyExchange: {} }))).toBe("UNKNOWN_HANDLE");
    expect(codeOf(call("nope" as OpName, {}))).toBe("UNSUPPORTED_OP");
    const id = parley.handle("x3dh.generateIdentity", { profile: "signal" });
    const bundle = (extra: object) =>
      call("x3dh.bundle", {
        profile: "signal",
        identityPrivateKey: id.privateKey,
        signedPreKeyId: 1,
        oneTimePreKeys: [],
        ...extra,
      });
    expect(codeOf(bundle({ identityPrivateKey: "ABCD" }))).toBe("INVALID_ARGUMENT"); // not lowercase hex
    expect(codeOf(bundle({ identityPrivateKey: "abcd" }))).toBe("INVALID_ARGUMENT"); // 2 bytes
    expect(codeOf(bundle({ signedPreKeyId: -1 }))).toBe("INVALID_ARGUMENT");
    const made = parley.handle("x3dh.bundle", {
      profile: "signal",
      identityPrivateKey: id.privateKey,
      signedPreKeyId: 1,
      oneTimePreKeys: [],
    });
    const alice = parley.handle("x3dh.generateIdentity", { profile: "signal" });
    const ek = { privateKey: alice.privateKey, publicKey: "00".repeat(32) };
    expect(
      codeOf(
        call("x3dh.initiate", {
          profile: "signal",
          identityPrivateKey: alice.privateKey,
          bundle: made.bundle,
          ephemeralKeyPair: ek,
        }),
      ),
    ).toBe("INVALID_ARGUMENT");
    const lowOrder = { ...made.bundle, signedPreKey: `05${"00".repeat(32)}` };
    expect(
      codeOf(call("x3dh.initiate", { profile: "signal", identityPrivateKey: alice.privateKey, bundle: lowOrder })),
    ).toBe("BAD_SIGNATURE");
    expect(codeOf(call("ratchet.deserialize", { profile: "omemo2", state: "0102" }))).toBe("INVALID_SESSION");
  });
});

describe("serve()", () => {
  it("answers each line in order, with protocol errors for bad requests, and ends with its input", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let written = "";
    output.on("data", (chunk: Buffer) => (written += chunk.toString("utf8")));
    const done = serve(
      (op) => {
        if (op === "hello") return { implementation: "t" };
        throw new Error("boom");
      },
      input,
      output,
    );
    input.end('{"id":1,"op":"hello","args":{}}\nnot json\n\n{"id":2,"op":"x"}\n{"id":3}\n');
    await done;
    expect(
      written
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { id: 1, ok: true, result: { implementation: "t" } },
      { id: null, ok: false, error: { code: "INVALID_ARGUMENT", message: "the request is not JSON" } },
      { id: 2, ok: false, error: { code: "INTERNAL", message: "boom" } },
      { id: 3, ok: false, error: { code: "INVALID_ARGUMENT", message: "request has no op" } },
    ]);
  });

  it("reads CRLF lines, a character split across two chunks, and a last line without a newline", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let written = "";
    output.on("data", (chunk: Buffer) => (written += chunk.toString("utf8")));
    const seen: unknown[] = [];
    const done = serve(
      (_op, args) => {
        seen.push(args);
        return "ok";
      },
      input,
      output,
    );
    const bytes = new TextEncoder().encode('{"id":1,"op":"x","args":{"s":"é"}}\r\n{"id":2,"op":"x","args":{"s":"ü"}}');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of "é"
    input.write(bytes.subarray(0, cut));
    input.end(bytes.subarray(cut));
    await done;
    expect(seen).toEqual([{ s: "é" }, { s: "ü" }]);
    expect(written.trim().split("\n")).toHaveLength(2);
  });
});
