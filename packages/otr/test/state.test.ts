import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { isOtrError, OtrSession } from "../src/index.js";
import { bytesToHex } from "../src/bytes.js";
import { ALICE_KEY, BOB_KEY, encryptedPair, eventsFor, pump, texts } from "./helpers.js";

function restoreCode(
  state: string,
  opts = { account: "bob@example.net", contact: "alice@example.org", privateKey: BOB_KEY },
): string {
  try {
    OtrSession.restore(state, opts);
    return "ok";
  } catch (e) {
    if (isOtrError(e)) return e.code;
    throw e;
  }
}

describe("state serialisation", () => {
  it("a session restored mid-conversation keeps reading and writing, SMP included", () => {
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.send("one"));
    pump(bob, alice, bob.send("two"));
    pump(alice, bob, alice.smp.start("s", "q"));
    const opts = {
      account: "bob@example.net",
      contact: "alice@example.org",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
    };
    const bob2 = OtrSession.restore(bob.exportState(), opts);
    expect(bob2.messageState).toBe("encrypted");
    expect(bob2.ourInstanceTag).toBe(bob.ourInstanceTag);
    expect(bob2.smpState).toEqual({ expect: 1, awaitingSecret: true, question: "q" });
    expect(texts(eventsFor(pump(alice, bob2, alice.send("three")), bob2))).toEqual(["three"]);
    const d = pump(bob2, alice, bob2.smp.respond("s"));
    expect(eventsFor(d, alice)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "verified" }));
    expect(texts(eventsFor(pump(bob2, alice, bob2.send("four")), alice))).toEqual(["four"]);
    // Round trip is stable.
    expect(OtrSession.restore(bob2.exportState(), opts).exportState()).toBe(bob2.exportState());
  });

  it("the generation grows with every operation and not on a rejected message", () => {
    const { alice, bob } = encryptedPair();
    const g = bob.generation;
    pump(alice, bob, alice.send("x"));
    expect(bob.generation).toBe(g + 1);
    bob.receive("?OTR:AAMD.");
    expect(bob.generation).toBe(g + 1);
  });

  it("restore refuses corrupt, foreign and newer states with typed errors", () => {
    const { bob } = encryptedPair();
    const good = bob.exportState();
    expect(restoreCode(good)).toBe("ok");
    expect(restoreCode("not json")).toBe("CORRUPT_STATE");
    expect(restoreCode("{}")).toBe("CORRUPT_STATE");
    expect(restoreCode(good.replace('"v":1', '"v":99'))).toBe("UNSUPPORTED_STATE_VERSION");
    expect(restoreCode(good.replace('"msgState":"encrypted"', '"msgState":"bogus"'))).toBe("CORRUPT_STATE");
    expect(restoreCode(good.replace(/"\$b":"[0-9a-f]+"/, '"$b":"xyz"'))).toBe("CORRUPT_STATE");
    expect(
      restoreCode(good, {
        account: "b",
        contact: "a",
        privateKey: BOB_KEY,
        instanceTag: bob.ourInstanceTag + 1,
      } as never),
    ).toBe("CORRUPT_STATE");
    expect(restoreCode(good, { account: "b", contact: "a", privateKey: ALICE_KEY })).toBe("CORRUPT_STATE");
  });
});

describe("redaction", () => {
  it("inspect, toString and JSON of sessions and keys show no secret", () => {
    const { alice, bob } = encryptedPair();
    pump(alice, bob, alice.send("the plaintext"));
    const state = JSON.parse(alice.exportState()) as {
      s: { enc: { ourCur: { priv: { $b: string } }; slots: Record<string, { sendAes: { $u: string } }> } };
    };
    const secrets = [
      state.s.enc.ourCur.priv.$b,
      ...Object.values(state.s.enc.slots).map((s) => s.sendAes.$u),
      (JSON.parse(ALICE_KEY.export()) as { x: string }).x,
    ];
    expect(secrets.every((s) => s.length >= 32)).toBe(true);
    const shown = [
      inspect(alice, { depth: 10 }),
      String(alice),
      JSON.stringify(alice),
      JSON.stringify({ alice, key: ALICE_KEY }),
      inspect(ALICE_KEY),
    ];
    for (const text of shown) {
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).not.toContain("the plaintext");
    }
    expect(JSON.stringify(alice)).toContain(bob.ourFingerprint);
    expect(bytesToHex(alice.ssid!.bytes)).toHaveLength(16);
  });

  it("error messages carry no key material or plaintext", () => {
    const { alice, bob } = encryptedPair();
    const [wire] = alice.send("private words");
    bob.receive(wire!);
    const r = bob.receive(wire!);
    const e = r.events[0];
    if (e?.type !== "error") throw new Error("expected an error");
    expect(e.error.message).not.toContain("private words");
    expect(inspect(e.error)).not.toContain(wire!.slice(10, 40));
  });
});

describe("earlier state versions", () => {
  it("states written by format v1 load and the conversation continues (SMP included)", async () => {
    const { readFileSync } = await import("node:fs");
    const v = JSON.parse(readFileSync(new URL("./vectors/state-v1.json", import.meta.url), "utf8")) as {
      alice: string;
      bob: string;
    };
    const alice = OtrSession.restore(v.alice, {
      account: "alice@example.org",
      contact: "bob@example.net",
      privateKey: ALICE_KEY,
      heartbeatIntervalMs: 0,
    });
    const bob = OtrSession.restore(v.bob, {
      account: "bob@example.net",
      contact: "alice@example.org",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
    });
    expect([alice.ourInstanceTag, bob.ourInstanceTag]).toEqual([0x1000001, 0x2000002]);
    expect(bob.smpState).toEqual({ expect: 1, awaitingSecret: true, question: "question?" });
    expect(texts(eventsFor(pump(alice, bob, alice.send("three")), bob))).toEqual(["three"]);
    expect(texts(eventsFor(pump(bob, alice, bob.send("four")), alice))).toEqual(["four"]);
    const d = pump(bob, alice, bob.smp.respond("secret"));
    expect(eventsFor(d, alice)).toContainEqual(expect.objectContaining({ type: "smp-result", result: "verified" }));
  });
});
