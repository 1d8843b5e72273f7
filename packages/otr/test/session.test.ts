import { describe, expect, it } from "vitest";
import { isOtrError, OtrError, OtrSession } from "../src/index.js";
import { ALICE_KEY, BOB_KEY, encryptedPair, errors, eventsFor, pair, pump, texts } from "./helpers.js";

describe("AKE", () => {
  it("v3: a query message leads both sides to ENCRYPTED with each other's fingerprint and one ssid", () => {
    const { alice, bob } = pair();
    expect(alice.startAke()).toEqual(["?OTRv23?"]);
    const d = pump(alice, bob, alice.startAke());
    expect(alice.messageState).toBe("encrypted");
    expect(bob.messageState).toBe("encrypted");
    expect(alice.version).toBe(3);
    expect(alice.theirFingerprint).toBe(BOB_KEY.fingerprintHex());
    expect(bob.theirFingerprint).toBe(ALICE_KEY.fingerprintHex());
    expect(alice.ssid!.bytes).toEqual(bob.ssid!.bytes);
    expect(alice.ssid!.boldHalf).not.toBe(bob.ssid!.boldHalf);
    expect(alice.theirInstanceTag).toBe(bob.ourInstanceTag);
    expect(bob.theirInstanceTag).toBe(alice.ourInstanceTag);
    const stateEvents = eventsFor(d, alice).filter((e) => e.type === "state");
    expect(stateEvents).toEqual([
      {
        type: "state",
        state: "encrypted",
        previous: "plaintext",
        version: 3,
        fingerprint: BOB_KEY.fingerprintHex(),
        reason: "ake",
      },
    ]);
  });

  it("v2 when one side allows only v2, and the query says so", () => {
    const { alice, bob } = pair({ policy: { allowV3: false } });
    expect(alice.startAke()).toEqual(["?OTRv2?"]);
    pump(alice, bob, alice.startAke());
    expect(alice.version).toBe(2);
    expect(bob.version).toBe(2);
    expect(alice.theirInstanceTag).toBe(0);
    const wire = alice.send("v2 message");
    expect(wire[0]!.startsWith("?OTR:AAID")).toBe(true); // version 0x0002, type 0x03
    expect(texts(eventsFor(pump(alice, bob, wire), bob))).toEqual(["v2 message"]);
  });

  it("both sides sending D-H Commit at once still completes (the larger hash wins)", () => {
    const { alice, bob } = pair();
    const a = alice.sendDhCommit(3);
    const b = bob.sendDhCommit(3);
    const ra = alice.receive(b[0]!);
    const rb = bob.receive(a[0]!);
    pump(bob, alice, rb.replies);
    pump(alice, bob, ra.replies);
    expect(alice.messageState).toBe("encrypted");
    expect(bob.messageState).toBe("encrypted");
    expect(alice.ssid!.bytes).toEqual(bob.ssid!.bytes);
  });

  it("a whitespace-tagged plaintext starts the AKE and is delivered without the tag", () => {
    const { alice, bob } = pair({ policy: { sendWhitespaceTag: true } });
    const [tagged] = alice.send("hi there");
    expect(tagged!.startsWith("hi there \t  \t\t\t\t \t \t \t  ")).toBe(true);
    const d = pump(alice, bob, [tagged!]);
    expect(texts(eventsFor(d, bob))).toEqual(["hi there"]);
    expect(bob.messageState).toBe("encrypted");
    expect(alice.messageState).toBe("encrypted");
  });

  it("a peer's OTR Error message is reported and answered with a query (errorStartAke)", () => {
    const { alice } = pair();
    const r = alice.receive("?OTR Error: something broke");
    expect(r.events).toEqual([{ type: "peer-error", text: "something broke" }]);
    expect(r.replies).toEqual(["?OTRv23?"]);
    const { alice: quiet } = pair({ policy: { errorStartAke: false } });
    expect(quiet.receive("?OTR Error: x").replies).toEqual([]);
  });

  it("requireEncryption queues the message, sends a query, and sends it encrypted after the AKE", () => {
    const { alice, bob } = pair({ policy: { requireEncryption: true } });
    expect(alice.send("secret plan")).toEqual(["?OTRv23?"]);
    const d = pump(alice, bob, ["?OTRv23?"]);
    expect(texts(eventsFor(d, bob))).toEqual(["secret plan"]);
  });

  it("a re-AKE while encrypted refreshes the session and messages keep flowing", () => {
    const { alice, bob } = encryptedPair();
    const before = alice.ssid!.bytes;
    const d = pump(bob, alice, bob.startAke());
    expect(eventsFor(d, alice).some((e) => e.type === "state" && e.reason === "refresh")).toBe(true);
    expect(alice.ssid!.bytes).not.toEqual(before);
    expect(texts(eventsFor(pump(alice, bob, alice.send("after refresh")), bob))).toEqual(["after refresh"]);
  });

  it("a D-H Key with g^y out of 2..p-2 is rejected with INVALID_GROUP_ELEMENT and changes nothing", async () => {
    const { Writer } = await import("../src/bytes.js");
    const { MODP_P } = await import("../src/group.js");
    const { armor } = await import("../src/wire.js");
    for (const gy of [0n, 1n, MODP_P - 1n, MODP_P, MODP_P + 1n]) {
      const { alice, bob } = pair();
      alice.sendDhCommit(3);
      const before = alice.exportState();
      const msg = new Writer().short(3).byte(0x0a).int(bob.ourInstanceTag).int(alice.ourInstanceTag).mpi(gy).finish();
      const r = alice.receive(armor(msg));
      expect(errors(r.events)).toEqual(["INVALID_GROUP_ELEMENT"]);
      expect(alice.exportState()).toBe(before);
    }
  });
});

describe("data messages", () => {
  it("deliver both ways with key rotation, UTF-8 and HTML intact", () => {
    const { alice, bob } = encryptedPair();
    const lines = ["hello", "<b>bold</b> ünïcödé 🔐", "third"];
    for (const line of lines) expect(texts(eventsFor(pump(alice, bob, alice.send(line)), bob))).toEqual([line]);
    for (const line of lines) expect(texts(eventsFor(pump(bob, alice, bob.send(line)), alice))).toEqual([line]);
    for (let i = 0; i < 5; i++) {
      expect(texts(eventsFor(pump(alice, bob, alice.send(`a${i}`)), bob))).toEqual([`a${i}`]);
      expect(texts(eventsFor(pump(bob, alice, bob.send(`b${i}`)), alice))).toEqual([`b${i}`]);
    }
  });

  it("a NUL in outgoing text is refused (it would start the TLV part on the wire)", () => {
    const { alice } = encryptedPair();
    expect(() => alice.send("a\0b")).toThrow(/NUL/);
  });

  it("the plaintext never appears on the wire", () => {
    const { alice } = encryptedPair();
    const wire = alice.send("a very recognisable sentence");
    expect(wire.join("")).not.toContain("recognisable");
    expect(wire[0]).toMatch(/^\?OTR:AAMD[A-Za-z0-9+/=]+\.$/);
  });

  it("a replayed data message is rejected with REPLAY and changes nothing", () => {
    const { alice, bob } = encryptedPair();
    const [m] = alice.send("once");
    expect(texts(bob.receive(m!).events)).toEqual(["once"]);
    const before = bob.exportState();
    const r = bob.receive(m!);
    expect(errors(r.events)).toEqual(["REPLAY"]);
    expect(bob.exportState()).toBe(before);
  });

  it("reveals old MAC keys after rotation: they verify the peer's earlier messages", async () => {
    const { parseBinary } = await import("../src/wire.js");
    const { base64Decode } = await import("../src/bytes.js");
    const { createEngine } = await import("../src/engine.js");
    const engine = createEngine();
    const decode = (m: string) => parseBinary(base64Decode(m.slice(5, -1)));
    const { alice, bob } = encryptedPair();
    const fromBob: string[] = [];
    for (let i = 0; i < 3; i++) {
      pump(alice, bob, alice.send(`a${i}`));
      const w = bob.send(`b${i}`);
      fromBob.push(...w);
      pump(bob, alice, w);
    }
    const m = decode(alice.send("last")[0]!);
    if (m.type !== 0x03) throw new Error("not a data message");
    expect(m.oldMacKeys.length).toBeGreaterThan(0);
    const revealed = Array.from({ length: m.oldMacKeys.length / 20 }, (_, i) =>
      m.oldMacKeys.slice(20 * i, 20 * i + 20),
    );
    let verified = 0;
    for (const w of fromBob) {
      const d = decode(w);
      if (d.type !== 0x03) continue;
      for (const k of revealed)
        if (Buffer.from(engine.hmacSha1(k, d.authenticated)).equals(Buffer.from(d.mac))) verified++;
    }
    expect(verified).toBeGreaterThan(0);
  });

  it("data arriving in PLAINTEXT is NOT_ENCRYPTED, answered with an OTR Error", () => {
    const { alice, bob } = encryptedPair();
    const fresh = new OtrSession({
      account: "bob@example.net",
      contact: "alice@example.org",
      privateKey: BOB_KEY,
      instanceTag: bob.ourInstanceTag,
    });
    const r = fresh.receive(alice.send("x")[0]!);
    expect(errors(r.events)).toEqual(["NOT_ENCRYPTED"]);
    expect(r.replies[0]).toMatch(/^\?OTR Error: /);
  });

  it("plaintext arriving while encrypted is delivered with a warning", () => {
    const { bob } = encryptedPair();
    expect(bob.receive("plain hello").events).toEqual([
      { type: "message", text: "plain hello", encrypted: false, warning: "unencrypted", tlvs: [] },
    ]);
  });

  it("end() sends Disconnected: the peer goes FINISHED and refuses to send until it ends too", () => {
    const { alice, bob } = encryptedPair();
    const d = pump(alice, bob, alice.end());
    expect(alice.messageState).toBe("plaintext");
    expect(bob.messageState).toBe("finished");
    expect(eventsFor(d, bob)).toContainEqual({
      type: "state",
      state: "finished",
      previous: "encrypted",
      reason: "peer-ended",
    });
    expect(() => bob.send("still there?")).toThrow(OtrError);
    try {
      bob.send("x");
    } catch (e) {
      expect(isOtrError(e, "INVALID_STATE")).toBe(true);
    }
    expect(bob.end()).toEqual([]);
    expect(bob.messageState).toBe("plaintext");
    expect(bob.send("plain now")).toEqual(["plain now"]);
  });

  it("heartbeats: an incoming message after the interval is answered with an empty data message", () => {
    let now = 1_000_000;
    const { alice, bob } = encryptedPair(
      { heartbeatIntervalMs: 60_000, now: () => now },
      { heartbeatIntervalMs: 60_000, now: () => now },
    );
    now += 61_000;
    const r = bob.receive(alice.send("ping")[0]!);
    expect(r.replies).toHaveLength(1);
    const back = alice.receive(r.replies[0]!);
    expect(back.events).toEqual([{ type: "heartbeat" }]);
    // Within the interval no heartbeat.
    expect(bob.receive(alice.send("again")[0]!).replies).toEqual([]);
  });

  it("the extra symmetric key is the same on both sides and reported with its use", () => {
    const { alice, bob } = encryptedPair();
    const { key, messages } = alice.extraSymmetricKey(7, Uint8Array.of(1, 2, 3));
    const ev = bob.receive(messages[0]!).events.find((e) => e.type === "extra-key");
    expect(ev).toEqual({ type: "extra-key", key, use: 7, data: Uint8Array.of(1, 2, 3) });
    expect(key).toHaveLength(32);
  });
});

describe("instance tags", () => {
  it("a v3 message for another instance is WRONG_INSTANCE, not answered, state unchanged", () => {
    const { alice } = encryptedPair();
    const other = new OtrSession({
      account: "bob@example.net",
      contact: "alice@example.org",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
    });
    const before = other.exportState();
    const r = other.receive(alice.send("for bob's first client")[0]!);
    expect(errors(r.events)).toEqual(["WRONG_INSTANCE"]);
    expect(r.replies).toEqual([]);
    expect(other.exportState()).toBe(before);
  });

  it("rejects invalid instance tags in options", () => {
    expect(() => pair({ instanceTag: 0xff })).toThrow(OtrError);
    expect(() => pair({ theirInstanceTag: 5 })).toThrow(OtrError);
  });
});

describe("engines interoperate", () => {
  it("a native session and a BigInt session do the AKE, talk and run SMP", () => {
    const { alice, bob } = pair({ engine: "native" }, { engine: "bigint" });
    expect([alice.engine, bob.engine]).toEqual(["native", "bigint"]);
    pump(bob, alice, bob.startAke());
    expect(alice.messageState).toBe("encrypted");
    expect(texts(eventsFor(pump(alice, bob, alice.send("to bigint")), bob))).toEqual(["to bigint"]);
    expect(texts(eventsFor(pump(bob, alice, bob.send("to native")), alice))).toEqual(["to native"]);
    pump(bob, alice, bob.smp.start("s"));
    const d = pump(alice, bob, alice.smp.respond("s"));
    expect(
      [...eventsFor(d, alice), ...eventsFor(d, bob)]
        .filter((e) => e.type === "smp-result")
        .map((e) => e.type === "smp-result" && e.result),
    ).toEqual(["verified", "verified"]);
  });
});
