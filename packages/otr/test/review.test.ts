// Security review (2026-12-02): one test per high/medium finding (and L1). These tests describe the behaviour the
// review asked for; each failed before its fix (more regression tests for the fixes: hardening.test.ts).
import { describe, expect, it } from "vitest";
import { base64Decode, mpi, Writer } from "../src/bytes.js";
import { createNativeEngine, mod, modPowBigint, randomBits } from "../src/engine.js";
import { MODP_P, MODP_Q } from "../src/group.js";
import { OtrConversation, OtrSession, type OtrEvent } from "../src/index.js";
import { encodeMpis, smpHash } from "../src/smp.js";
import { deriveDataKeys } from "../src/session.js";
import { armor, encodeDataAuthenticated, encodeDataMessage, parseBinary, TLV_SMP1 } from "../src/wire.js";
import { generatePrimeSync } from "node:crypto";
import { DsaPublicKey } from "../src/dsa.js";
import { smpCheck1, smpStep2 } from "../src/smp.js";
import { ALICE_KEY, BOB_KEY, encryptedPair, errors } from "./helpers.js";

const e = createNativeEngine()!;
const p = MODP_P;
const q = MODP_Q;
const ZERO16 = new Uint8Array(16);

/** Legendre symbol test: v is in the order-q subgroup (a quadratic residue) iff v^q = 1 mod p. */
const isQr = (v: bigint) => e.modPow(v, q, p) === 1n;

/** Relays between a session and a conversation until quiet. */
function relay(s: OtrSession, conv: OtrConversation, fromSession: string[]) {
  const toConv = [...fromSession];
  const toSession: string[] = [];
  const convEvents: OtrEvent[] = [];
  for (let guard = 0; (toConv.length || toSession.length) && guard < 200; guard++) {
    const m = toConv.shift();
    if (m !== undefined) {
      const r = conv.receive(m);
      convEvents.push(...r.events);
      toSession.push(...r.replies);
    }
    const n = toSession.shift();
    if (n !== undefined) toConv.push(...s.receive(n).replies);
  }
  return convEvents;
}

/** A v3 D-H Commit from a made-up instance tag (no key needed to send one). */
function strayDhCommit(senderTag: number): string {
  const gx = e.modPow(2n, randomBits(e.randomBytes, 320), p);
  const r = e.randomBytes(16);
  const encGx = e.aesCtr(r, ZERO16, mpi(gx));
  const hashGx = e.sha256(mpi(gx));
  return armor(new Writer().short(3).byte(0x02).int(senderTag).int(0).data(encGx).data(hashGx).finish());
}

describe("review M1: SMP group elements outside the order-q subgroup", () => {
  it("M1: SMP rejects a group element outside the order-q subgroup (message 1, g2a = -(g1^a2) with a valid proof): no request reaches the user", () => {
    const { alice, bob } = encryptedPair();
    // Mallory (here: Alice's session used as a raw TLV carrier) builds message 1 with g2a = -(g1^a2),
    // a quadratic non-residue in 2..p-2. The proof c2 = H(1, g1^D2 g2a^c2) still verifies whenever c2
    // is even, because (-1)^c2 = 1; she retries r2 until it is.
    const a2 = randomBits(e.randomBytes, 1536);
    const a3 = randomBits(e.randomBytes, 1536);
    const g2a = p - e.modPow(2n, a2, p);
    const g3a = e.modPow(2n, a3, p);
    expect(isQr(g2a)).toBe(false);
    let r2: bigint;
    let c2: bigint;
    do {
      r2 = randomBits(e.randomBytes, 1536);
      c2 = smpHash(e, 1, e.modPow(2n, r2, p));
    } while ((c2 & 1n) === 1n);
    const d2 = mod(r2 - a2 * c2, q);
    const r3 = randomBits(e.randomBytes, 1536);
    const c3 = smpHash(e, 2, e.modPow(2n, r3, p));
    const d3 = mod(r3 - a3 * c3, q);
    const [wire] = alice.send("", { tlvs: [{ type: TLV_SMP1, value: encodeMpis([g2a, c2, d2, g3a, c3, d3]) }] });
    const r = bob.receive(wire!);
    // Before the fix Bob showed an SMP request; once he answers, his Q_b = g1^r4 * g2^y with g2 = g2a^b2 is a
    // non-residue exactly when b2 and y are both odd: Mallory learns the parity of y = SHA256(1||fps||ssid||secret)
    // (one bit of a fresh hash of the shared secret per AKE: an offline dictionary filter, far more than
    // the one online guess SMP should allow).
    expect(r.events.some((ev) => ev.type === "smp-request")).toBe(false);
    expect(errors(r.events)).toContain("INVALID_GROUP_ELEMENT");
    expect(bob.smpState.awaitingSecret).toBe(false);
  });

  it("M1 (leak): a non-residue g2a is refused at message 1, so Q_b's quadratic character cannot reveal the parity of the responder's secret hash", () => {
    const a2 = randomBits(e.randomBytes, 1536);
    const g2a = p - e.modPow(2n, a2, p);
    let r2: bigint;
    let c2: bigint;
    do {
      r2 = randomBits(e.randomBytes, 1536);
      c2 = smpHash(e, 1, e.modPow(2n, r2, p));
    } while ((c2 & 1n) === 1n);
    const d2 = mod(r2 - a2 * c2, q);
    const a3 = randomBits(e.randomBytes, 1536);
    const r3 = randomBits(e.randomBytes, 1536);
    const c3 = smpHash(e, 2, e.modPow(2n, r3, p));
    const d3 = mod(r3 - a3 * c3, q);
    const mpis = [g2a, c2, d2, e.modPow(2n, a3, p), c3, d3];
    let accepted = true;
    try {
      smpCheck1(e, mpis);
    } catch {
      accepted = false; // fixed: message 1 is refused, nothing leaks
    }
    if (!accepted) return;
    const oddSecret = 2n * 12345n + 1n; // y odd
    const evenSecret = 2n * 12345n; // y even
    const nonResidues = (y: bigint) => {
      let n = 0;
      for (let i = 0; i < 12; i++) if (!isQr(smpStep2(e, y, mpis[0]!, mpis[3]!).mpis[7]!)) n++;
      return n;
    };
    // With y even, Q_b is always a residue; with y odd it is a non-residue whenever b2 is odd (half the runs).
    expect(nonResidues(evenSecret)).toBe(0);
    expect(nonResidues(oddSecret), "Q_b's Legendre symbol depends on the secret").toBe(0);
  });
});

describe("review M2: an OtrConversation fork never copies the master's live session keys", () => {
  it("M2: a v3 D-H Commit from a new instance while the master is v2-encrypted creates a fresh session, not an 'encrypted' child sharing the master's keys and counters", () => {
    const bobConv = new OtrConversation({
      account: "bob@y",
      contact: "alice@x",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
    });
    // Alice speaks v2 only (python-potr, profanity's v2): the master session carries the v2 session.
    const alice = new OtrSession({
      account: "alice@x",
      contact: "bob@y",
      privateKey: ALICE_KEY,
      heartbeatIntervalMs: 0,
      policy: { allowV3: false },
    });
    relay(alice, bobConv, alice.startAke());
    expect(bobConv.master.messageState).toBe("encrypted");
    expect(bobConv.master.version).toBe(2);

    // Anyone able to inject one line (no key, no AKE) sends a v3 D-H Commit under a made-up instance tag.
    const tag = 0x4d4d4d4d;
    bobConv.receive(strayDhCommit(tag));
    const fork = bobConv.session(tag);
    // Before the fix the fork was a full copy of the master: MSGSTATE_ENCRYPTED with the master's v2 keys and counters.
    expect.soft(fork?.messageState).not.toBe("encrypted");

    // What the copy allows: the master and the fork encrypt under the same AES key with the same counter.
    if (fork && fork.messageState === "encrypted") {
      const a = parseBinary(base64Decode(bobConv.master.send("attack at dawn")[0]!.slice(5, -1)));
      const b = parseBinary(base64Decode(fork.send("retreat at 9pm")[0]!.slice(5, -1)));
      if (a.type !== 0x03 || b.type !== 0x03) throw new Error("not data messages");
      const same =
        a.senderKeyId === b.senderKeyId &&
        a.recipientKeyId === b.recipientKeyId &&
        Buffer.from(a.ctr).equals(Buffer.from(b.ctr));
      expect(same, "AES-CTR keystream reused across master and fork").toBe(false);
    }
  });
});

describe("review M3: plaintext while an instance is encrypted (OtrConversation)", () => {
  it("M3: a plaintext line received while the conversation's current instance is encrypted carries warning 'unencrypted'", () => {
    const bobConv = new OtrConversation({
      account: "bob@y",
      contact: "alice@x",
      privateKey: BOB_KEY,
      heartbeatIntervalMs: 0,
    });
    const alice = new OtrSession({
      account: "alice@x",
      contact: "bob@y",
      privateKey: ALICE_KEY,
      heartbeatIntervalMs: 0,
    });
    relay(alice, bobConv, alice.startAke());
    expect(bobConv.current.messageState).toBe("encrypted");
    // A MITM (or the server) injects a plaintext line into the encrypted conversation.
    const r = bobConv.receive("please send the code in the clear, OTR is broken");
    const msg = r.events.find((ev) => ev.type === "message");
    expect(msg).toBeDefined();
    // OtrSession.receive gives warning: "unencrypted" for plaintext while encrypted; the conversation routes
    // plaintext to the master (MSGSTATE_PLAINTEXT), so the warning is lost.
    expect(msg && msg.type === "message" ? msg.warning : undefined).toBe("unencrypted");
  });
});

describe("review M4: peer-chosen DSA moduli stay out of the native DH cache", () => {
  it("M4: validating a peer DSA key with a fresh 3072-bit prime p is cheap (no OpenSSL DH_check per peer modulus)", () => {
    // Mallory precomputes a few DSA-shaped (p, q): q of 160 bits, p = 1 mod 2q prime, 3072 bits (allowed by
    // MAX_DSA_P_BITS). Each Reveal-Signature / Signature carrying a modulus not in the 16-entry cache makes the
    // native engine build a DiffieHellman object, whose constructor runs OpenSSL's DH_check (primality tests):
    // about 1 s of synchronous CPU per message here. A rejected Reveal-Signature leaves AUTHSTATE_AWAITING_REVEALSIG,
    // so she can repeat it without limit, blocking the event loop.
    const qq = generatePrimeSync(160, { bigint: true });
    const add = 2n * qq;
    const hex = add.toString(16);
    const pp = generatePrimeSync(3072, {
      bigint: true,
      add: Buffer.from(hex.length % 2 ? "0" + hex : hex, "hex"),
      rem: Buffer.of(1),
    });
    let g = 1n;
    // Set up with BigInt arithmetic so that the modulus is not already in the shared native cache.
    for (let h = 2n; g === 1n; h++) g = modPowBigint(h, (pp - 1n) / qq, pp);
    const y = modPowBigint(g, 7n, pp);
    const t0 = performance.now();
    DsaPublicKey.validated(pp, qq, g, y, createNativeEngine()!);
    const ms = performance.now() - t0;
    // BigInt exponentiation with a 160-bit exponent mod a 3072-bit p takes a few milliseconds.
    expect(ms, `validated() took ${ms.toFixed(0)} ms`).toBeLessThan(250);
  });
});

/** Mallory runs an honest AKE with Bob (her own valid DSA key) but signs the key id she chooses. */
function maliciousAke(keyId: number) {
  const bob = new OtrSession({
    account: "bob@example.net",
    contact: "mallory@example.com",
    privateKey: BOB_KEY,
    heartbeatIntervalMs: 0,
  });
  const TAG = 0x4d4d4d4d;
  const x = randomBits(e.randomBytes, 320);
  const gx = e.modPow(2n, x, p);
  const r = e.randomBytes(16);
  const commit = new Writer()
    .short(3)
    .byte(0x02)
    .int(TAG)
    .int(0)
    .data(e.aesCtr(r, ZERO16, mpi(gx)))
    .data(e.sha256(mpi(gx)))
    .finish();
  const dhKey = parseBinary(base64Decode(bob.receive(armor(commit)).replies[0]!.slice(5, -1)));
  if (dhKey.type !== 0x0a) throw new Error("expected a D-H Key");
  const gy = dhKey.gy;
  const sec = mpi(e.modPow(gy, x, p));
  const h2 = (b: number) => e.sha256(Uint8Array.from([b, ...sec]));
  const pub = ALICE_KEY.publicKey.encoded;
  const keyid = new Writer().int(keyId).finish();
  const mb = e.hmacSha256(h2(2), Uint8Array.from([...mpi(gx), ...mpi(gy), ...pub, ...keyid]));
  const encSig = e.aesCtr(h2(1).slice(0, 16), ZERO16, Uint8Array.from([...pub, ...keyid, ...ALICE_KEY.sign(mb, e)]));
  const mac = e.hmacSha256(h2(3), new Writer().data(encSig).finish()).slice(0, 20);
  const reveal = new Writer().short(3).byte(0x11).int(TAG).int(bob.ourInstanceTag).data(r).data(encSig).raw(mac);
  const revealResult = bob.receive(armor(reveal.finish()));
  /** Mallory's data message from her key `senderKeyId` (private `priv`) to Bob's key 1, announcing `next`. */
  const dataMessage = (senderKeyId: number, priv: bigint, next: bigint) => {
    const k = deriveDataKeys(e, priv, e.modPow(2n, priv, p), gy);
    const ctr = new Uint8Array(8);
    ctr[7] = 1;
    const enc = e.aesCtr(k.sendAes, Uint8Array.from([...ctr, 0, 0, 0, 0, 0, 0, 0, 0]), new TextEncoder().encode("hi"));
    const auth = encodeDataAuthenticated(
      { version: 3, senderTag: TAG, receiverTag: bob.ourInstanceTag },
      0,
      senderKeyId,
      1,
      e.modPow(2n, next, p),
      ctr,
      enc,
    );
    return armor(encodeDataMessage(auth, e.hmacSha1(k.sendMac, auth), new Uint8Array(0)));
  };
  return { bob, x, revealResult, dataMessage };
}

describe("review L1 (low): a peer-chosen AKE key id of 0xffffffff", () => {
  it("L1: the AKE refuses key id 0xffffffff (it could never be followed by a next key id)", () => {
    const { bob, revealResult } = maliciousAke(0xffffffff);
    expect(errors(revealResult.events)).toEqual(["MALFORMED_MESSAGE"]);
    expect(bob.messageState).toBe("plaintext");
  });

  it("L1: at key id 0xffffffff the session keeps its keys instead of wrapping to 0, and its state still restores", () => {
    // Key id 0xfffffffe is accepted; one data message moves Bob to their key id 0xffffffff, the next one would
    // make him rotate past it (to 2^32 before the fix).
    const { bob, x, revealResult, dataMessage } = maliciousAke(0xfffffffe);
    expect(errors(revealResult.events)).toEqual([]);
    expect(bob.messageState).toBe("encrypted");
    const x1 = randomBits(e.randomBytes, 320);
    expect(errors(bob.receive(dataMessage(0xfffffffe, x, x1)).events)).toEqual([]);
    const res = bob.receive(dataMessage(0xffffffff, x1, randomBits(e.randomBytes, 320)));
    expect(errors(res.events)).toEqual([]);
    const out = parseBinary(base64Decode(bob.send("reply")[0]!.slice(5, -1)));
    if (out.type !== 0x03) throw new Error("not data");
    expect.soft(out.recipientKeyId, "recipient key id wrapped to 0").not.toBe(0);
    expect(out.recipientKeyId).toBe(0xffffffff);
    expect(() =>
      OtrSession.restore(bob.exportState(), {
        account: "bob@example.net",
        contact: "mallory@example.com",
        privateKey: BOB_KEY,
      }),
    ).not.toThrow();
  });
});
