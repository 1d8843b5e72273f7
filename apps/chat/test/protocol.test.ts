import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  COMMAND_NAMES,
  isProtocolError,
  MAX_BODY_CHARS,
  MAX_COMMAND_BYTES,
  parseRequest,
  parseRequestText,
  requestIdOf,
} from "@parley/sdk";
import { HELP, parseLine, render, show } from "../src/ui.js";

const noPrompt = () => Promise.resolve(undefined);

describe("protocol: the one gate for commands from --json, the UI and the WebSocket API", () => {
  it("accepts well-formed commands, normalises JIDs and keeps the request id", () => {
    expect(parseRequest({ cmd: "send", to: "Bob@Example.org", body: "hi", id: "r1" })).toEqual({
      cmd: "send",
      to: "bob@example.org",
      body: "hi",
      id: "r1",
    });
    expect(parseRequest({ cmd: "send", to: "bob@example.org", body: "hi", namespace: "legacy" })).toMatchObject({
      namespace: "legacy",
    });
    expect(parseRequest({ cmd: "verify", jid: "bob@example.org", protocol: "otr", fingerprint: "ab" })).toEqual({
      cmd: "verify",
      jid: "bob@example.org",
      protocol: "otr",
      fingerprint: "ab",
    });
    expect(parseRequest({ cmd: "fingerprints" })).toEqual({ cmd: "fingerprints" });
    expect(parseRequest({ cmd: "history", peer: "bob@example.org", limit: 5 })).toEqual({
      cmd: "history",
      peer: "bob@example.org",
      limit: 5,
    });
  });

  it("a command that names a message keeps its id beside the request's (protocol 2)", () => {
    expect(parseRequest({ cmd: "resend", messageId: "m5", id: "r1" })).toEqual({
      cmd: "resend",
      messageId: "m5",
      id: "r1",
    });
    expect(parseRequest({ cmd: "cancel", messageId: "m6", id: "r2" })).toEqual({
      cmd: "cancel",
      messageId: "m6",
      id: "r2",
    });
    expect(parseRequest({ cmd: "mark-read", jid: "Bob@example.org", messageId: "m7", id: "r3" })).toEqual({
      cmd: "mark-read",
      jid: "bob@example.org",
      messageId: "m7",
      id: "r3",
    });
    // Protocol 1's form (the message's id in "id") is refused, not read as the request id alone.
    expect(() => parseRequest({ cmd: "resend", id: "m5" })).toThrow(/messageId/);
  });

  it.each([
    [{ cmd: "send", to: "bob@example.org" }, '"body"'],
    [{ cmd: "send", to: "bob", body: "x" }, "bare JID"],
    [{ cmd: "send", to: "bob@example.org/phone", body: "x" }, "bare JID"],
    [{ cmd: "send", to: "bob@example.org", body: "x", namespace: "omemo3" }, '"namespace"'],
    [{ cmd: "send", to: "bob@example.org", body: "x".repeat(MAX_BODY_CHARS + 1) }, "longer"],
    [{ cmd: "mute", jid: "bob@example.org", muted: "yes" }, '"muted"'],
    [{ cmd: "history", peer: "bob@example.org", limit: 0 }, '"limit"'],
    [{ cmd: "toString" }, "unknown"],
    [{ cmd: "__proto__" }, "unknown"],
    [{ cmd: "quit", id: 7 }, '"id"'],
    [[], "JSON object"],
    [null, "JSON object"],
  ])("refuses %j with BAD_COMMAND naming what is wrong", (value, words) => {
    try {
      parseRequest(value);
      expect.unreachable();
    } catch (e) {
      expect(isProtocolError(e, "BAD_COMMAND")).toBe(true);
      expect((e as Error).message).toContain(words);
    }
  });

  it("an error never repeats the value it refused (a secret stays out of replies and logs)", () => {
    const secret = "correct horse battery staple";
    for (const value of [
      { cmd: "change-passphrase", current: secret, next: 5 },
      { cmd: "send", to: secret, body: secret },
      { cmd: "smp", jid: "bob@example.org", secret: 1, question: secret },
      { cmd: secret },
    ]) {
      try {
        parseRequest(value);
        expect.unreachable();
      } catch (e) {
        expect((e as Error).message).not.toContain(secret);
      }
    }
  });

  it("text frames: not JSON and oversized frames are typed errors; the id of a refused request comes back", () => {
    expect(() => parseRequestText("{")).toThrow(expect.objectContaining({ code: "BAD_COMMAND" }));
    expect(() => parseRequestText(" ".repeat(MAX_COMMAND_BYTES + 1))).toThrow(
      expect.objectContaining({ code: "TOO_LARGE" }),
    );
    // Multi-byte characters count as bytes, not as UTF-16 units.
    expect(() => parseRequestText(`"${"é".repeat(MAX_COMMAND_BYTES / 2)}"`)).toThrow(
      expect.objectContaining({ code: "TOO_LARGE" }),
    );
    expect(requestIdOf('{"id":"r9","cmd":"nope"}')).toBe("r9");
    expect(requestIdOf('{"id":5}')).toBeUndefined();
    expect(requestIdOf("not json")).toBeUndefined();
  });

  it("property: any JSON value is a command of a known name or a ProtocolError, never anything else", () => {
    const field = fc.oneof(fc.string({ maxLength: 40 }), fc.boolean(), fc.integer(), fc.constant(null));
    const candidate = fc.record(
      {
        cmd: fc.oneof(fc.constantFrom(...COMMAND_NAMES), fc.string({ maxLength: 20 })),
        id: fc.oneof(fc.string({ maxLength: 200 }), fc.integer()),
        to: fc.oneof(fc.constant("bob@example.org"), fc.string({ maxLength: 30 })),
        jid: fc.oneof(fc.constant("bob@example.org"), fc.string({ maxLength: 30 })),
        body: field,
        protocol: fc.oneof(fc.constantFrom("omemo", "otr"), field),
        fingerprint: field,
        muted: field,
        remember: field,
      },
      { requiredKeys: ["cmd"] },
    );
    fc.assert(
      fc.property(fc.oneof(candidate, fc.jsonValue()), (value) => {
        try {
          const r = parseRequest(value);
          expect(COMMAND_NAMES).toContain(r.cmd);
          for (const v of Object.values(r)) expect(v).not.toBeUndefined();
        } catch (e) {
          if (!isProtocolError(e)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("ui: /command lines", () => {
  it("maps the readline commands onto protocol commands", async () => {
    expect(await parseLine("/msg bob@example.org hello  there", noPrompt)).toEqual({
      cmd: "send",
      to: "bob@example.org",
      body: "hello there",
    });
    expect(await parseLine("/legacy bob@example.org hi", noPrompt)).toMatchObject({ namespace: "legacy" });
    expect(await parseLine("/verify bob@example.org omemo 05ab cd ef", noPrompt)).toEqual({
      cmd: "verify",
      jid: "bob@example.org",
      protocol: "omemo",
      fingerprint: "05abcdef",
    });
    expect(await parseLine("/otr start bob@example.org", noPrompt)).toEqual({
      cmd: "otr-start",
      jid: "bob@example.org",
    });
    expect(await parseLine("/unmute bob@example.org", noPrompt)).toEqual({
      cmd: "mute",
      jid: "bob@example.org",
      muted: false,
    });
    expect(await parseLine("/qr", noPrompt)).toEqual({ cmd: "share", qr: true });
    expect(await parseLine("/resend m5", noPrompt)).toEqual({ cmd: "resend", messageId: "m5" });
    expect(await parseLine("/read bob@example.org m7", noPrompt)).toEqual({
      cmd: "mark-read",
      jid: "bob@example.org",
      messageId: "m7",
    });
    expect(await parseLine("/omemo off", noPrompt)).toEqual({ cmd: "omemo", enabled: false });
    expect(await parseLine("/omemo on", noPrompt)).toEqual({ cmd: "omemo", enabled: true });
    await expect(parseLine("/omemo", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
  });

  it("/scan names the contact whose code it is (a URI for anyone else then verifies nothing)", async () => {
    const uri = `xmpp:bob@example.org?omemo-sid-123=${"ab".repeat(32)}`;
    expect(await parseLine(`/scan Bob@Example.org ${uri}`, noPrompt)).toEqual({
      cmd: "scan",
      uri,
      expectedContact: "bob@example.org",
    });
    // Without the JID: refused, not a scan that trusts whoever the URI names.
    await expect(parseLine(`/scan ${uri}`, noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
    await expect(parseLine("/scan bob@example.org", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
  });

  it("passphrases are asked (hidden), never taken from the command line", async () => {
    const answers = ["old secret", "new secret"];
    const asked: string[] = [];
    const command = await parseLine("/passphrase change", (prompt) => {
      asked.push(prompt);
      return Promise.resolve(answers.shift());
    });
    expect(command).toEqual({ cmd: "change-passphrase", current: "old secret", next: "new secret" });
    expect(asked).toEqual(["current passphrase (empty if the keystore holds it): ", "new passphrase: "]);
    const kept = await parseLine("/passphrase change", (prompt) =>
      Promise.resolve(prompt.startsWith("current") ? "" : "mine now"),
    );
    expect(kept).toEqual({ cmd: "change-passphrase", next: "mine now" });
    await expect(parseLine("/passphrase remember", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
  });

  it("unknown commands and missing arguments are BAD_COMMAND", async () => {
    await expect(parseLine("/frobnicate", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
    await expect(parseLine("/msg", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
    await expect(parseLine("/otr bob@example.org", noPrompt)).rejects.toMatchObject({ code: "BAD_COMMAND" });
  });

  it("renders messages with their encryption, and a muted contact's not at all", () => {
    const message = {
      event: "message",
      from: "bob@example.org",
      to: "alice@example.org",
      direction: "in",
      body: "hi",
      encryption: "none",
      via: "live",
      at: 0,
      muted: false,
    } as const;
    expect(render(message)).toContain("UNENCRYPTED");
    expect(render({ ...message, encryption: "otr" })).toContain("(OTR)");
    expect(render({ ...message, muted: true })).toBeUndefined();
    expect(
      render({ event: "queue", id: "m1", to: "bob@example.org", state: "failed", reason: "no-trusted-device" }),
    ).toContain("/resend m1");
  });

  it("an OTR conversation says what the trust store thinks of the key, and warns when it is not trusted", () => {
    const otr = {
      event: "otr",
      jid: "bob@example.org/desk",
      state: "encrypted",
      fingerprint: "ab".repeat(20),
    } as const;
    expect(render({ ...otr, trust: "tofu", trusted: true })).toBe(
      "  OTR with bob@example.org/desk: encrypted (key trusted on first use)",
    );
    expect(render({ ...otr, trust: "verified", trusted: true })).toContain("(key verified)");
    const untrusted = render({ ...otr, trust: "untrusted", trusted: false });
    expect(untrusted).toContain("UNTRUSTED");
    expect(untrusted).toContain("/smp bob@example.org <secret>");
    expect(render({ ...otr, trust: "compromised", trusted: false })).toContain("COMPROMISED: nothing is sent to it");
    expect(render({ event: "otr", jid: "bob@example.org/desk", state: "plaintext" })).toBe(
      "  OTR with bob@example.org/desk: plaintext",
    );
  });

  it("shows the history with how each message went (ours: the method the queue sent it with)", () => {
    const entry = { peer: "bob@example.org", from: "alice@example.org", body: "hi", at: 0 };
    const lines = show({ cmd: "history", peer: "bob@example.org" }, [
      { ...entry, direction: "out", encryption: "omemo2" },
      { ...entry, direction: "in", from: "bob@example.org", encryption: "otr" },
      { ...entry, direction: "out", encryption: "none" },
    ])!.split("\n");
    expect(lines).toEqual([
      "1970-01-01T00:00 me: hi   (OMEMO 2)",
      "1970-01-01T00:00 bob@example.org: hi   (OTR)",
      "1970-01-01T00:00 me: hi   (UNENCRYPTED)",
    ]);
  });
});

describe("the README", () => {
  it("shows --help as parley-chat prints it", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(readme).toContain(HELP);
  });
});
