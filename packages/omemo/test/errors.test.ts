import { describe, expect, it } from "vitest";
import { OmemoError, decodeEnvelope, encodeBase64, isOmemoError } from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import { counting } from "./helpers.js";

function thrown(fn: () => unknown): OmemoError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OmemoError) return error;
    throw error;
  }
  throw new Error("expected an OmemoError");
}

describe("OmemoError", () => {
  it("carries a code and is recognised by isOmemoError, with or without a code", () => {
    const error = new OmemoError("MALFORMED_STANZA", "x");
    expect(error.name).toBe("OmemoError");
    expect(isOmemoError(error)).toBe(true);
    expect(isOmemoError(error, "MALFORMED_STANZA")).toBe(true);
    expect(isOmemoError(error, "INVALID_BASE64")).toBe(false);
    expect(isOmemoError(new Error("x"))).toBe(false);
  });

  it("names the element, never echoes key material or stanza text", () => {
    const key = encodeBase64(counting(32, 77));
    const bundle =
      "<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>" +
      `${key}</signedPreKeyPublic></bundle>`;
    const error = thrown(() => legacy.decodeBundle(bundle));
    expect(error.code).toBe("MALFORMED_STANZA");
    expect(error.message).toContain("<signedPreKeyPublic>");
    expect(error.message).not.toContain(key);
    expect(String(error)).not.toContain(key);

    const envelope =
      "<envelope xmlns='urn:xmpp:sce:1'><content><body xmlns='jabber:client'>meet at nine</body></content>" +
      "<from jid='mallory@evil.example'/></envelope>";
    const wrong = thrown(() => decodeEnvelope(envelope, { to: "bob@example.net", from: "alice@example.org" }));
    expect(wrong.code).toBe("SCE_WRONG_SENDER");
    expect(wrong.message).not.toContain("meet at nine");
    expect(wrong.message).not.toContain("mallory");
  });
});
