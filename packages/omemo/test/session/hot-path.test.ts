// The pieces of the steady-state path that were made cheaper (issue 10) keep their meaning: the
// per-peer lock's order and release, the fingerprint cache's lookup by a number made of key bytes
// (two keys that share those bytes must not share a fingerprint), the ASCII fast path of JID
// comparison keys, and a trust decider that answers synchronously or asynchronously alike.
import { defaultCrypto } from "@parley/crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NS_LEGACY, NS_V2, isOmemoError, type OmemoNamespace } from "../../src/index.js";
import { bareJidKey } from "../../src/jid.js";
import { fingerprintOf } from "../../src/session/identity.js";
import { KeyedLock } from "../../src/session/lock.js";
import { ALICE, BOB, World } from "./world.js";

describe("KeyedLock", () => {
  it("runs the calls of one key one at a time, in call order, and forgets idle keys", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    let running = 0;
    const job = (name: string, fail = false) =>
      lock.run("k", async () => {
        running++;
        expect(running).toBe(1);
        log.push(`${name} start`);
        await new Promise((r) => setTimeout(r, 1));
        log.push(`${name} end`);
        running--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job("a"), job("b", true), job("c")]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(log).toEqual(["a start", "a end", "b start", "b end", "c start", "c end"]);
    expect(lock.size).toBe(0);
  });

  it("lets different keys run concurrently", async () => {
    const lock = new KeyedLock();
    let release!: () => void;
    const held = lock.run("a", () => new Promise<void>((r) => (release = r)));
    // "b" completes while "a" is still held.
    await expect(lock.run("b", () => Promise.resolve("b"))).resolves.toBe("b");
    expect(lock.size).toBe(1);
    release();
    await held;
    expect(lock.size).toBe(0);
  });

  it("a body that throws synchronously rejects its call and frees the key", async () => {
    const lock = new KeyedLock();
    const boom = (): Promise<never> => {
      throw new Error("sync");
    };
    await expect(lock.run("k", boom)).rejects.toThrow("sync");
    await expect(lock.run("k", () => Promise.resolve(1))).resolves.toBe(1);
    expect(lock.size).toBe(0);
  });
});

const crypto = defaultCrypto();

describe("fingerprintOf's cache", () => {
  it("keys that share their last bytes keep their own fingerprints (legacy)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 27, maxLength: 27 }),
        fc.uint8Array({ minLength: 5, maxLength: 5 }),
        (a, tail) => {
          const k1 = Uint8Array.of(0x05, ...a, ...tail);
          const k2 = Uint8Array.of(0x05, ...a.map((b) => b ^ 0xff), ...tail);
          const f1 = fingerprintOf(crypto, NS_LEGACY, k1);
          const f2 = fingerprintOf(crypto, NS_LEGACY, k2);
          expect(f1).toBe(Buffer.from(k1.subarray(1)).toString("hex"));
          expect(f2).toBe(Buffer.from(k2.subarray(1)).toString("hex"));
          // Asked again (now from the cache), the same answers.
          expect(fingerprintOf(crypto, NS_LEGACY, k1)).toBe(f1);
          expect(fingerprintOf(crypto, NS_LEGACY, k2)).toBe(f2);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a key mutated after it was cached is looked up by its new bytes", () => {
    const key = Uint8Array.of(0x05, ...new Uint8Array(32).fill(7));
    const before = fingerprintOf(crypto, NS_LEGACY, key);
    key[1] = 8;
    expect(fingerprintOf(crypto, NS_LEGACY, key)).not.toBe(before);
    expect(fingerprintOf(crypto, NS_LEGACY, key)).toBe(Buffer.from(key.subarray(1)).toString("hex"));
  });

  it("one key in both namespaces is judged by each namespace's rules", () => {
    const legacyKey = Uint8Array.of(0x05, ...new Uint8Array(32).fill(9));
    expect(fingerprintOf(crypto, NS_LEGACY, legacyKey)).toBe("09".repeat(32));
    let code: string | undefined;
    try {
      fingerprintOf(crypto, NS_V2, legacyKey);
    } catch (error) {
      code = isOmemoError(error) ? error.code : "other";
    }
    expect(code).toBe("BUNDLE_INVALID");
  });
});

describe("bareJidKey", () => {
  it("equals NFC + lower case of the bare JID, for any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme-composite" }), fc.string(), (jid, resource) => {
        const full = `${jid}/${resource}`;
        expect(bareJidKey(full)).toBe(full.slice(0, full.indexOf("/")).normalize("NFC").toLowerCase());
        if (!jid.includes("/")) expect(bareJidKey(jid)).toBe(jid.normalize("NFC").toLowerCase());
      }),
      { numRuns: 500 },
    );
    expect(bareJidKey("Alice@Example.ORG/phone")).toBe("alice@example.org");
    expect(bareJidKey("caf\u0065\u0301@example.org")).toBe("caf\u00e9@example.org");
  });
});

describe("trust deciders", () => {
  for (const ns of [NS_LEGACY, NS_V2] as OmemoNamespace[]) {
    it(`a synchronous and an asynchronous decider give the same results (${ns})`, async () => {
      for (const asynchronous of [false, true]) {
        const world = new World();
        const asked: string[] = [];
        const trust = {
          decide: (device: { jid: string }, purpose: string) => {
            asked.push(`${device.jid} ${purpose}`);
            return asynchronous ? Promise.resolve("trusted" as const) : ("trusted" as const);
          },
        };
        const alice = await world.add(ALICE, { namespaces: [ns], trust });
        const bob = await world.add(BOB, { namespaces: [ns], trust });
        for (const text of ["hello", "how are you"]) {
          await world.send(alice, BOB, text);
          await world.network.flush();
          await world.send(bob, ALICE, `re: ${text}`);
          await world.network.flush();
        }
        expect(asked).toContain(`${BOB} encrypt`);
        expect(asked).toContain(`${ALICE} decrypt`);
        expect(bob.texts()).toEqual(["hello", "how are you"]);
        expect(alice.texts()).toEqual(["re: hello", "re: how are you"]);
      }
    });

    it(`a decider that answers something else, or fails, gives the same error codes (${ns})`, async () => {
      const answers: Array<[() => unknown, string]> = [
        [() => "maybe", "INVALID_ARGUMENT"],
        [() => Promise.resolve("maybe"), "INVALID_ARGUMENT"],
        [
          () => {
            throw new Error("down");
          },
          "IO_FAILED",
        ],
        [() => Promise.reject(new Error("down")), "IO_FAILED"],
      ];
      for (const [answer, code] of answers) {
        const world = new World();
        let broken = false;
        const trust = { decide: () => (broken ? answer() : "trusted") as never };
        const alice = await world.add(ALICE, { namespaces: [ns], trust });
        await world.add(ALICE, { namespaces: [ns] });
        const bob = await world.add(BOB, { namespaces: [ns] });
        await world.send(alice, BOB, "hello");
        await world.network.flush();
        await world.send(bob, ALICE, "hi");
        await world.network.flush();
        // Established sessions (the batched path), then a new device's (the per-device path).
        broken = true;
        await world.add(BOB, { namespaces: [ns] });
        const result = await alice.manager.encrypt(BOB, { body: "x" });
        expect(result.devices.length).toBe(3);
        for (const d of result.devices) {
          expect(d.status).toBe("failed");
          const e = (d as { error?: unknown }).error;
          expect(isOmemoError(e) ? e.code : e).toBe(code);
        }
        // Decrypting asks too, and fails the same way.
        await world.send(bob, ALICE, "again");
        await world.network.flush();
        const last = alice.received.at(-1)!;
        expect(isOmemoError(last.error) ? last.error.code : last.error).toBe(code);
      }
    });
  }
});
