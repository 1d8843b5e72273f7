import { Buffer } from "node:buffer";
import { beforeAll, describe, expect, it } from "vitest";
import { runCryptoDemo } from "../src/crypto-demo.js";
import { runRatchetDemo } from "../src/ratchet-demo.js";
import { runStory, type StoryResult } from "../src/story.js";

describe("the story: outcomes, from what each section returns", () => {
  let story: StoryResult;
  const printed: string[] = [];
  beforeAll(async () => {
    story = await runStory((line) => printed.push(line));
  }, 60_000);

  it("(a) OMEMO 2 and legacy OMEMO both ways; Alice's laptop reads her phone's messages in both namespaces", () => {
    const { exchanges, devices, wireMessage } = story.omemo;
    expect(devices.map((d) => d.name)).toEqual(["Alice's phone", "Alice's laptop", "Bob's phone"]);
    expect(devices.every((d) => /^[0-9a-f]{64}$/.test(d.fingerprint))).toBe(true);
    expect(exchanges.map((e) => [e.from, e.namespace])).toEqual([
      ["Bob's phone", "OMEMO 2"],
      ["Alice's phone", "OMEMO 2"],
      ["Alice's phone", "legacy OMEMO"],
      ["Bob's phone", "legacy OMEMO"],
    ]);
    const readers = exchanges.map((e) => e.readBy.map((r) => r.device).sort());
    expect(readers).toEqual([
      ["Alice's laptop", "Alice's phone"],
      ["Alice's laptop", "Bob's phone"],
      ["Alice's laptop", "Bob's phone"],
      ["Alice's laptop", "Alice's phone"],
    ]);
    for (const e of exchanges) {
      expect(e.keys.every((k) => k.status === "encrypted")).toBe(true);
      expect(e.unreadable).toEqual([]);
      expect(e.readBy.every((r) => r.trust === "trusted")).toBe(true);
    }
    expect(wireMessage).toMatch(/^<message [^>]*type="chat"/);
    expect(wireMessage).toContain('<encrypted xmlns="urn:xmpp:omemo:2">');
  });

  it("(b) the new device is skipped as untrusted, verified by fingerprint, then reached", () => {
    const { before, after, trustBefore, trustAfter, warned } = story.newDevice;
    expect(warned).toBe(true);
    expect(before.keys.find((k) => k.device === "Bob's tablet")?.status).toBe("untrusted");
    expect(before.readBy.map((r) => r.device)).not.toContain("Bob's tablet");
    expect(before.unreadable).toEqual([{ device: "Bob's tablet", error: "NO_KEY_FOR_US" }]);
    expect(trustBefore).toEqual({ "Bob's phone": "tofu", "Bob's tablet": "untrusted" });
    expect(trustAfter).toEqual({ "Bob's phone": "tofu", "Bob's tablet": "verified" });
    expect(after.keys.every((k) => k.status === "encrypted")).toBe(true);
    expect(after.readBy.map((r) => r.device)).toContain("Bob's tablet");
  });

  it("(c) OTR: AKE to v3, messages both ways, SMP with a question verified on both sides and recorded", () => {
    const { afterAke, read, smp, trust, bobAfterEnd, fingerprints } = story.otr;
    expect(afterAke).toEqual({ alice: "encrypted", bob: "encrypted", version: 3 });
    expect(read.bob).toEqual(["Off the record: the meeting moved to Thursday."]);
    expect(read.alice).toEqual(["Thursday it is. Deniably yours."]);
    expect(smp).toEqual({ question: "Where did we first meet?", alice: "verified", bob: "verified" });
    expect(trust).toEqual({ before: "tofu", after: "verified", method: "smp" });
    expect(bobAfterEnd).toBe("finished");
    expect(fingerprints.alice).toMatch(/^[0-9a-f]{40}$/);
  });

  it("(d) queue: held offline then delivered; a failed message resent and delivered", () => {
    const { states, heldOffline, failure, bobRead } = story.queue;
    expect(states.offline).toEqual(["queued", "negotiating", "sending", "sent", "delivered"]);
    expect(heldOffline).toBe(1);
    expect(failure).toEqual({ reason: "retries-exhausted", lastError: "ack-timeout", attempts: 2 });
    expect(states.failed.slice(states.failed.indexOf("failed"))).toEqual([
      "failed",
      "queued",
      "negotiating",
      "sending",
      "sent",
      "delivered",
    ]);
    expect(bobRead).toEqual(["Call me when you land.", "Bring the map."]);
  });

  it("(e) storage: nothing readable on disk, wrong passphrases refused, same device and session after the change", () => {
    const s = story.storage;
    expect(s.leaks).toEqual({ jid: false, text: false });
    expect(s.wrongPassphrase).toBe("WRONG_PASSPHRASE");
    expect(s.oldPassphraseAfterChange).toBe("WRONG_PASSPHRASE");
    expect(s.reopened).toEqual({ sameDevice: true, sameFingerprint: true });
    expect(s.otrTrust).toBe("verified");
    const bob = s.after.readBy.find((r) => r.device === "Bob's phone");
    expect(bob).toEqual({ device: "Bob's phone", trust: "trusted", newSession: false });
  });

  it("prints a headed section for each step and no secret: no private key (hex or base64), no passphrase", () => {
    const out = printed.join("\n");
    for (const title of ["(a) OMEMO", "(b) Bob's new device", "(c) OTR", "(d) The outgoing queue", "(e) Storage"]) {
      expect(out).toContain(`== ${title}`);
    }
    expect(story.secrets.length).toBeGreaterThan(4 * 200); // 4 devices: seed + 2 × (signed + 100 one-time prekeys)
    expect(leakedSecrets(out, story.secrets)).toEqual([]);
    // The check itself finds a leak: a seed (stored as base64) printed as hex, and a passphrase.
    const seed = story.secrets.find((x) => /^[A-Za-z0-9+/]{43}=$/.test(x))!;
    expect(leakedSecrets(`${out}\nkey ${Buffer.from(seed, "base64").toString("hex")}`, story.secrets)).toEqual([seed]);
    expect(leakedSecrets(`${out}\n${story.secrets[0]!}`, story.secrets)).toEqual([story.secrets[0]]);
  });
});

/**
 * The secrets (private keys as stored, base64 or hex; passphrases) any 16-character piece of which, in
 * hex or base64, appears in `out` (case-insensitively). The wire sample shows 12 characters of base64 at most.
 */
function leakedSecrets(out: string, secrets: readonly string[]): string[] {
  const text = out.toLowerCase();
  return secrets.filter((secret) => {
    const forms = [secret];
    if (/^[0-9a-f]+$/i.test(secret)) {
      forms.push(Buffer.from(secret.length % 2 === 0 ? secret : `0${secret}`, "hex").toString("base64"));
    } else if (/^[A-Za-z0-9+/]+=*$/.test(secret)) {
      forms.push(Buffer.from(secret, "base64").toString("hex"));
    }
    return forms.some((form) => {
      for (let i = 0; i + 16 <= form.length; i += 2)
        if (text.includes(form.slice(i, i + 16).toLowerCase())) return true;
      return false;
    });
  });
}

describe("under the hood", () => {
  it("crypto: agreement, signatures, AEAD and redaction all succeed", () => {
    const lines = runCryptoDemo().join("\n");
    expect(lines).toContain("same secret");
    expect(lines).toContain("XEdDSA signature over a signed prekey: valid");
    expect(lines).toMatch(/libsignal variant \(sign bit [01] in byte 63\): valid/);
    expect(lines).toContain("rejected with DECRYPT_FAILED");
    expect(lines).toContain("private [redacted]");
    expect(lines).not.toMatch(/MISMATCH|INVALID|ACCEPTED/);
  });

  it("ratchet: both OMEMO profiles survive loss, reordering, duplicates and tampering", () => {
    const lines = runRatchetDemo().join("\n");
    expect(lines).toContain("from a key exchange (first byte 0x33)");
    expect(lines.match(/delivered out of order, one lost: four, one, three/g)).toHaveLength(2);
    expect(lines.match(/a duplicate: refused with DUPLICATE_MESSAGE/g)).toHaveLength(2);
    expect(lines.match(/a tampered message: refused with BAD_MAC; session unchanged/g)).toHaveLength(2);
    expect(lines.match(/the lost message arrives late: "two"/g)).toHaveLength(2);
    expect(lines).not.toMatch(/ACCEPTED|CHANGED/);
  });
});
