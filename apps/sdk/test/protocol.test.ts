// The protocol's gate for the commands and event fields added within protocol 2 (backward compatible
// additions): `omemo` is checked as strictly as the others, and the `otr` event carries the key's trust.
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  COMMAND_NAMES,
  isProtocolError,
  parseRequest,
  parseRequestText,
  PROTOCOL_VERSION,
  type ChatEvent,
  type Command,
  type ResultOf,
  type TrustState,
} from "../src/index.js";

describe("the omemo command", () => {
  it("turns OMEMO off or on, with or without a request id; an addition, not a new protocol version", () => {
    expect(parseRequestText('{"cmd":"omemo","enabled":false,"id":"r1"}')).toEqual({
      cmd: "omemo",
      enabled: false,
      id: "r1",
    });
    expect(parseRequest({ cmd: "omemo", enabled: true })).toEqual({ cmd: "omemo", enabled: true });
    // Unknown fields are dropped, as for every command.
    expect(parseRequest({ cmd: "omemo", enabled: true, extra: 1 })).toEqual({ cmd: "omemo", enabled: true });
    expect(COMMAND_NAMES).toContain("omemo");
    expect(PROTOCOL_VERSION).toBe(2);
  });

  it.each([
    [{ cmd: "omemo" }, '"enabled" must be true or false'],
    [{ cmd: "omemo", enabled: "off" }, '"enabled" must be true or false'],
    [{ cmd: "omemo", enabled: 0 }, '"enabled" must be true or false'],
    [{ cmd: "omemo", enabled: null }, '"enabled" must be true or false'],
    [{ cmd: "omemo", enabled: true, id: 5 }, '"id"'],
    [{ cmd: "omemo", enabled: true, id: "" }, '"id"'],
  ])("refuses %j with BAD_COMMAND", (value, words) => {
    try {
      parseRequest(value);
      expect.unreachable();
    } catch (e) {
      expect(isProtocolError(e, "BAD_COMMAND")).toBe(true);
      expect((e as Error).message).toContain(words);
    }
  });

  it("never repeats the value it refused", () => {
    expect(() => parseRequestText('{"cmd":"omemo","enabled":"secret-value"}')).toThrow(
      /^"enabled" must be true or false$/,
    );
  });

  it("is typed: a boolean switch, its result the state and the device", () => {
    expectTypeOf<Extract<Command, { cmd: "omemo" }>>().toEqualTypeOf<{
      readonly cmd: "omemo";
      readonly enabled: boolean;
    }>();
    expectTypeOf<ResultOf<{ cmd: "omemo"; enabled: false }>>().toEqualTypeOf<{
      readonly omemo: "on" | "off";
      readonly deviceId: number;
    }>();
  });
});

describe("the otr event", () => {
  it("carries the trust store's state of the key and whether it is trusted, both optional", () => {
    type Otr = Extract<ChatEvent, { event: "otr" }>;
    expectTypeOf<Otr["trust"]>().toEqualTypeOf<TrustState | undefined>();
    expectTypeOf<Otr["trusted"]>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<TrustState>().toEqualTypeOf<"tofu" | "verified" | "untrusted" | "compromised">();
    const plain: Otr = { event: "otr", jid: "ann@example.org/desk", state: "plaintext" };
    const encrypted: Otr = { ...plain, state: "encrypted", fingerprint: "ab", trust: "untrusted", trusted: false };
    expect(encrypted.trust).toBe("untrusted");
  });
});
