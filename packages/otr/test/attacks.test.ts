// A malicious peer ("mallory", holding her own valid DSA key) builds AKE and data messages by hand to try
// what the protocol's checks forbid: a degenerate D-H value, a broken commitment, a bad MAC or signature,
// an out-of-range next key. Each attempt must fail with its typed error and leave the target unchanged.
import { describe, expect, it } from "vitest";
import { base64Decode, concat, mpi, Writer } from "../src/bytes.js";
import { MAX_REASSEMBLY_CHARS } from "../src/consts.js";
import { DsaPublicKey } from "../src/dsa.js";
import { createNativeEngine, randomBits } from "../src/engine.js";
import { MODP_P } from "../src/group.js";
import { OtrSession } from "../src/session.js";
import { armor, encodeDataAuthenticated, encodeDataMessage, parseBinary } from "../src/wire.js";
import { BOB_KEY, CAROL_KEY, encryptedPair, errors, texts } from "./helpers.js";

const e = createNativeEngine()!;
const ZERO16 = new Uint8Array(16);
const MALLORY_TAG = 0x4d4d4d4d;

interface Tweak {
  gx?: bigint;
  /** Commit to this g^x but reveal the real one. */
  committedGx?: bigint;
  badMac?: boolean;
  badSignature?: boolean;
}

/** Mallory runs the committer side of the AKE against `bob` with the given tweak; returns Bob's answer to her Reveal-Signature. */
function malloryAke(bob: OtrSession, t: Tweak) {
  const x = randomBits(e.randomBytes, 320);
  const gx = t.gx ?? e.modPow(2n, x, MODP_P);
  const r = e.randomBytes(16);
  const encGx = e.aesCtr(r, ZERO16, mpi(gx));
  const hashGx = e.sha256(mpi(t.committedGx ?? gx));
  const commit = new Writer().short(3).byte(0x02).int(MALLORY_TAG).int(0).data(encGx).data(hashGx).finish();
  const dhKey = bob.receive(armor(commit));
  const m = parseBinary(base64Decode(dhKey.replies[0]!.slice(5, -1)));
  if (m.type !== 0x0a) throw new Error("expected a D-H Key");
  // s = gy^x, or (for a degenerate gx) the value Bob will compute: gx^y is 1 for gx = 1.
  const s = t.gx === undefined ? e.modPow(m.gy, x, MODP_P) : t.gx === 1n ? 1n : e.modPow(m.gy, x, MODP_P);
  const sec = mpi(s);
  const h2 = (b: number) => e.sha256(concat(Uint8Array.of(b), sec));
  const c = h2(1).slice(0, 16);
  const pub = CAROL_KEY.publicKey.encoded;
  const keyid = new Writer().int(1).finish();
  const mb = e.hmacSha256(h2(2), concat(mpi(gx), mpi(m.gy), pub, keyid));
  const sig = t.badSignature ? e.randomBytes(40) : CAROL_KEY.sign(mb, e);
  const encSig = e.aesCtr(c, ZERO16, concat(pub, keyid, sig));
  const mac = e.hmacSha256(h2(3), new Writer().data(encSig).finish()).slice(0, 20);
  if (t.badMac) mac[0]! ^= 1;
  const reveal = new Writer()
    .short(3)
    .byte(0x11)
    .int(MALLORY_TAG)
    .int(bob.ourInstanceTag)
    .data(r)
    .data(encSig)
    .raw(mac)
    .finish();
  const before = bob.exportState();
  const result = bob.receive(armor(reveal));
  return { result, before };
}

function freshBob(): OtrSession {
  return new OtrSession({
    account: "bob@example.net",
    contact: "mallory@example.com",
    privateKey: BOB_KEY,
    heartbeatIntervalMs: 0,
  });
}

describe("AKE attacks by a peer", () => {
  it("an honest hand-built AKE completes (the harness of the attacks below is right)", () => {
    const bob = freshBob();
    const { result } = malloryAke(bob, {});
    expect(errors(result.events)).toEqual([]);
    expect(bob.messageState).toBe("encrypted");
    expect(bob.theirFingerprint).toBe(CAROL_KEY.fingerprintHex());
  });

  it("g^x = 1 (shared secret 1, known to everyone) is rejected with INVALID_GROUP_ELEMENT", () => {
    const bob = freshBob();
    const { result, before } = malloryAke(bob, { gx: 1n });
    expect(errors(result.events)).toEqual(["INVALID_GROUP_ELEMENT"]);
    expect(bob.messageState).toBe("plaintext");
    expect(bob.exportState()).toBe(before);
  });

  it("a revealed g^x that differs from the committed one is BAD_COMMITMENT", () => {
    const bob = freshBob();
    const { result, before } = malloryAke(bob, { committedGx: 12345n });
    expect(errors(result.events)).toEqual(["BAD_COMMITMENT"]);
    expect(bob.messageState).toBe("plaintext");
    expect(bob.exportState()).toBe(before);
  });

  it("a wrong MAC on the encrypted signature is BAD_MAC", () => {
    const bob = freshBob();
    const { result, before } = malloryAke(bob, { badMac: true });
    expect(errors(result.events)).toEqual(["BAD_MAC"]);
    expect(bob.exportState()).toBe(before);
  });

  it("a signature that does not verify is BAD_SIGNATURE", () => {
    const bob = freshBob();
    const { result, before } = malloryAke(bob, { badSignature: true });
    expect(errors(result.events)).toEqual(["BAD_SIGNATURE"]);
    expect(bob.messageState).toBe("plaintext");
    expect(bob.exportState()).toBe(before);
  });
});

describe("data message attacks by the peer", () => {
  it("a correctly MAC'd data message whose next D-H key is outside 2..p-2 is rejected", () => {
    for (const bad of [0n, 1n, MODP_P - 1n, MODP_P]) {
      const { alice, bob } = encryptedPair();
      const [wire] = alice.send("hello");
      const m = parseBinary(base64Decode(wire!.slice(5, -1)));
      if (m.type !== 0x03) throw new Error("not data");
      // Alice's sending MAC key for this key pair, from her exported state.
      const state = JSON.parse(alice.exportState()) as {
        s: { enc: { slots: Record<string, { sendMac: { $u: string } }> } };
      };
      const slot = state.s.enc.slots[`${m.senderKeyId}:${m.recipientKeyId}`]!;
      const macKey = Uint8Array.from(Buffer.from(slot.sendMac.$u, "hex"));
      const auth = encodeDataAuthenticated(
        { version: 3, senderTag: m.senderTag, receiverTag: m.receiverTag },
        m.flags,
        m.senderKeyId,
        m.recipientKeyId,
        bad,
        m.ctr,
        m.encrypted,
      );
      const forged = armor(encodeDataMessage(auth, e.hmacSha1(macKey, auth), new Uint8Array(0)));
      const before = bob.exportState();
      const r = bob.receive(forged);
      expect(errors(r.events)).toEqual(["INVALID_GROUP_ELEMENT"]);
      expect(texts(r.events)).toEqual([]);
      expect(bob.exportState()).toBe(before);
    }
  });

  it("fragments adding up to more than the reassembly limit are TOO_LARGE and not stored (state unchanged)", () => {
    const { alice, bob } = encryptedPair();
    const piece = "A".repeat(Math.ceil(MAX_REASSEMBLY_CHARS / 2) + 10);
    const frag = (k: number) =>
      `?OTR|${alice.ourInstanceTag.toString(16)}|${bob.ourInstanceTag.toString(16)},${k},3,${piece},`;
    expect(errors(bob.receive(frag(1)).events)).toEqual([]);
    const before = bob.exportState();
    expect(errors(bob.receive(frag(2)).events)).toEqual(["TOO_LARGE"]);
    expect(bob.exportState()).toBe(before);
  });
});

describe("DSA public keys from the network", () => {
  it("a y outside the order-q subgroup is INVALID_KEY", () => {
    const { p, q, g } = BOB_KEY.publicKey;
    let y = 2n;
    while (e.modPow(y, q, p) === 1n) y++;
    expect(() => DsaPublicKey.validated(p, q, g, y, e)).toThrow(/subgroup/);
    expect(() => DsaPublicKey.validated(p, q, g, BOB_KEY.publicKey.y, e)).not.toThrow();
  });
});
