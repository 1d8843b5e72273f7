// Runs in a real headless Chromium: there is no node:crypto, so "auto" must pick the BigInt engine, and the
// AKE, data messages with key rotation and SMP must work on it, and against the libotr known answers.
import { describe, expect, it } from "vitest";
import { createEngine, createNativeEngine, DsaPrivateKey, OtrSession, type OtrEvent } from "../src/index.js";
import { bytesToBigint, bytesToHex, hexToBytes } from "../src/bytes.js";
import { MODP_P } from "../src/group.js";
import { deriveDataKeys } from "../src/session.js";
import fixture from "./fixtures/keys.json" with { type: "json" };
import vectors from "./vectors/libotr-sesskeys.json" with { type: "json" };

const [aliceKey, bobKey] = fixture.keys.map((k) => DsaPrivateKey.import(k));

function pump(from: OtrSession, to: OtrSession, wire: readonly string[]): { to: OtrSession; events: OtrEvent[] }[] {
  const out: { to: OtrSession; events: OtrEvent[] }[] = [];
  const queue = wire.map((m) => [to, from, m] as const);
  for (let item = queue.shift(); item; item = queue.shift()) {
    const [dst, src, m] = item;
    const r = dst.receive(m);
    out.push({ to: dst, events: r.events });
    for (const reply of r.replies) queue.push([src, dst, reply]);
  }
  return out;
}

describe("@parley/otr in a browser (BigInt engine)", () => {
  it("has no native engine and picks bigint", () => {
    expect(typeof window).toBe("object");
    expect(createNativeEngine()).toBeUndefined();
    expect(createEngine().name).toBe("bigint");
    expect(() => createEngine("native")).toThrow(/node:crypto/);
  });

  it("derives libotr's data-message keys", () => {
    const engine = createEngine();
    const v = vectors.sesskeys[0]!;
    const priv = bytesToBigint(hexToBytes(v.ourPrivate));
    const k = deriveDataKeys(engine, priv, engine.modPow(2n, priv, MODP_P), bytesToBigint(hexToBytes(v.theirPublic)));
    expect(bytesToHex(k.sendAes)).toBe(v.sendAes);
    expect(bytesToHex(k.recvMac)).toBe(v.recvMac);
  });

  it("AKE, messages both ways with rotation, SMP verified, end", () => {
    const alice = new OtrSession({
      account: "alice@x",
      contact: "bob@y",
      privateKey: aliceKey!,
      heartbeatIntervalMs: 0,
    });
    const bob = new OtrSession({ account: "bob@y", contact: "alice@x", privateKey: bobKey!, heartbeatIntervalMs: 0 });
    expect(alice.engine).toBe("bigint");
    pump(alice, bob, alice.startAke());
    expect(alice.messageState).toBe("encrypted");
    expect(bob.messageState).toBe("encrypted");
    const read = (d: { events: OtrEvent[] }[]) =>
      d.flatMap((x) => x.events.flatMap((e) => (e.type === "message" ? [e.text] : [])));
    for (let i = 0; i < 3; i++) {
      expect(read(pump(alice, bob, alice.send(`a${i}`)))).toEqual([`a${i}`]);
      expect(read(pump(bob, alice, bob.send(`b${i}`)))).toEqual([`b${i}`]);
    }
    pump(alice, bob, alice.smp.start("secret", "q?"));
    const d = pump(bob, alice, bob.smp.respond("secret"));
    const results = d.flatMap((x) =>
      x.events.filter((e) => e.type === "smp-result").map((e) => (e.type === "smp-result" ? e.result : "")),
    );
    expect(results).toEqual(["verified", "verified"]);
    pump(alice, bob, alice.end());
    expect(bob.messageState).toBe("finished");
  });
});
