import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isProfileError, Profile } from "../src/profile.js";

const KDF = { N: 2 ** 10, r: 8, p: 1, dkLen: 32 };
const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), "parley-profile-"));
  dirs.push(d);
  return join(d, "alice");
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("Profile: the client's encrypted state", () => {
  it("first start: a random passphrase kept in the keystore; the next start opens unattended with the history", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    expect(a.created).toBe(true);
    expect(await a.remembersPassphrase()).toBe(true);
    expect(statSync(join(dir, "keystore.json")).mode & 0o077).toBe(0);
    await a.record({
      peer: "bob@localhost",
      direction: "out",
      from: "alice@localhost",
      body: "hi",
      encryption: "omemo2",
      at: 1,
    });
    await a.record({
      peer: "bob@localhost",
      direction: "in",
      from: "bob@localhost",
      body: "yo",
      encryption: "omemo2",
      at: 2,
    });
    await a.record({
      peer: "carol@localhost",
      direction: "in",
      from: "carol@localhost",
      body: "x",
      encryption: "otr",
      at: 3,
    });
    await a.close();
    const b = await Profile.open({ dir });
    expect(b.created).toBe(false);
    expect((await b.history("bob@localhost")).map((e) => e.body)).toEqual(["hi", "yo"]);
    expect((await b.history("bob@localhost", 1)).map((e) => e.body)).toEqual(["yo"]);
    await b.close();
  });

  it("a forgotten passphrase must be entered; a wrong one is a typed error that changes nothing; it can be changed", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, passphrase: "first", kdf: KDF });
    await a.record({
      peer: "bob@localhost",
      direction: "out",
      from: "alice@localhost",
      body: "kept",
      encryption: "omemo2",
      at: 1,
    });
    await a.forgetPassphrase();
    expect(await a.remembersPassphrase()).toBe(false);
    await a.close();
    await expect(Profile.open({ dir })).rejects.toSatisfy((e) => isProfileError(e, "PASSPHRASE_REQUIRED"));
    const wrong = await Profile.open({ dir, passphrase: "nope" }).catch((e: unknown) => e);
    expect(isProfileError(wrong, "WRONG_PASSPHRASE")).toBe(true);
    expect((wrong as Error).message).not.toContain("nope");
    const b = await Profile.open({ dir, passphrase: "first" });
    await expect(b.changePassphrase("bad", "second")).rejects.toSatisfy((e) => isProfileError(e, "WRONG_PASSPHRASE"));
    await b.changePassphrase("first", "second");
    await b.close();
    await expect(Profile.open({ dir, passphrase: "first" })).rejects.toSatisfy((e) =>
      isProfileError(e, "WRONG_PASSPHRASE"),
    );
    const c = await Profile.open({ dir, passphrase: "second" });
    expect((await c.history("bob@localhost")).map((e) => e.body)).toEqual(["kept"]);
    await c.rememberPassphrase("second");
    await c.close();
    const d = await Profile.open({ dir });
    expect(await d.remembersPassphrase()).toBe(true);
    await d.close();
  });

  it("an outgoing message of the queue: recorded with the method intended, corrected to the one used, across a restart", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const out = { peer: "bob@localhost", direction: "out" as const, from: "alice@localhost" };
    await a.record({ ...out, body: "queued", encryption: "otr", at: 1 }, { messageId: "m1" });
    await a.record({ ...out, body: "also queued", encryption: "omemo", at: 2 }, { messageId: "m2" });
    expect(await a.unsentMessageIds()).toEqual(["m1", "m2"]);
    expect(await a.recordSent("m2", "omemo2")).toBe(true);
    expect(await a.recordSent("m2", "legacy")).toBe(false); // corrected once
    expect(await a.recordSent("nope", "otr")).toBe(false);
    await a.close();
    // Still queued when the client stopped: corrected when the next run sends it.
    const b = await Profile.open({ dir });
    expect(await b.unsentMessageIds()).toEqual(["m1"]);
    expect(await b.recordSent("m1", "omemo2")).toBe(true);
    expect(await b.history("bob@localhost")).toEqual([
      { ...out, body: "queued", encryption: "omemo2", at: 1 },
      { ...out, body: "also queued", encryption: "omemo2", at: 2 },
    ]);
    await b.record({ ...out, body: "cancelled", encryption: "omemo", at: 3 }, { messageId: "m3" });
    await b.forgetUnsent("m3");
    expect(await b.unsentMessageIds()).toEqual([]);
    expect((await b.history("bob@localhost")).at(-1)).toMatchObject({ body: "cancelled", encryption: "omemo" });
    await b.close();
  });

  it("history records written by earlier versions (the same JSON, no message id) read as they were", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    const old = {
      peer: "bob@localhost",
      direction: "out",
      from: "alice@localhost",
      body: "from an old version",
      encryption: "omemo",
      at: 5,
    };
    await a.db
      .namespace("history")
      .put("bob@localhost/000000000000005-000000", new TextEncoder().encode(JSON.stringify(old)));
    await a.close();
    const b = await Profile.open({ dir });
    expect(await b.history("bob@localhost")).toEqual([old]);
    expect(await b.unsentMessageIds()).toEqual([]);
    await b.close();
  });

  it("the user's choice of OMEMO for this device (/omemo off) survives a restart, until /omemo on", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    expect(await a.omemoEnabled()).toBe(true);
    await a.setOmemoEnabled(false);
    await a.close();
    const b = await Profile.open({ dir });
    expect(await b.omemoEnabled()).toBe(false);
    await b.setOmemoEnabled(true);
    await b.setOmemoEnabled(true);
    await b.close();
    const c = await Profile.open({ dir });
    expect(await c.omemoEnabled()).toBe(true);
    await c.close();
  });

  it("the trust store lives in the profile (TOFU across restarts)", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    await a.trust.keySeen("alice@localhost", "bob@localhost", "omemo", { fingerprint: "a".repeat(64), deviceId: 1 });
    await a.close();
    const b = await Profile.open({ dir });
    const later = await b.trust.keySeen("alice@localhost", "bob@localhost", "omemo", {
      fingerprint: "b".repeat(64),
      deviceId: 2,
    });
    expect(later.state).toBe("untrusted");
    await b.close();
  });

  it("a new profile's random passphrase: changed without typing it, never forgotten before the user chose one", async () => {
    const dir = fresh();
    const a = await Profile.open({ dir, kdf: KDF });
    expect(await a.passphraseIsGenerated()).toBe(true);
    await expect(a.forgetPassphrase()).rejects.toSatisfy((e) => isProfileError(e, "INVALID_ARGUMENT"));
    expect(await a.remembersPassphrase()).toBe(true);
    await a.changePassphrase(undefined, "chosen one");
    expect(await a.passphraseIsGenerated()).toBe(false);
    await a.forgetPassphrase();
    await a.close();
    await expect(Profile.open({ dir })).rejects.toSatisfy((e) => isProfileError(e, "PASSPHRASE_REQUIRED"));
    const b = await Profile.open({ dir, passphrase: "chosen one" });
    // Not kept in the keystore any more: the current passphrase must be typed to change it.
    await expect(b.changePassphrase(undefined, "x")).rejects.toSatisfy((e) => isProfileError(e, "PASSPHRASE_REQUIRED"));
    await b.close();
  });
});
