import { bytesToHex, constantTimeEqual } from "@parley/crypto";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  isDoubleRatchetError,
  legacyOmemo,
  omemo2,
  serializeSession,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";

const te = new TextEncoder();
const td = new TextDecoder();

/** X3DH + Double Ratchet with both OMEMO profiles: key exchange, loss, reordering, duplicates, tampering. */
export function runRatchetDemo(): string[] {
  const out: string[] = [];
  for (const [name, profile] of [
    ["legacy OMEMO (libsignal v3 wire format, what Conversations speaks)", legacyOmemo],
    ["OMEMO 2 (urn:xmpp:omemo:2)", omemo2],
  ] as const) {
    out.push(`${name}:`);
    const bobIdentity = generateIdentityKeyPair(profile.x3dh);
    const signedPreKey = generateSignedPreKey(profile.x3dh, bobIdentity, 1);
    const oneTimePreKeys = generateOneTimePreKeys(1, 10);
    const bundle = createBundle(profile.x3dh, bobIdentity, signedPreKey, oneTimePreKeys);
    const bobStore = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);

    let alice: Session = createInitiatorSession(profile, generateIdentityKeyPair(profile.x3dh), bundle);
    const first = encrypt(alice, te.encode("Hi Bob, it's Alice"));
    alice = first.session;
    const accepted = acceptSession(profile, bobIdentity, bobStore, first.message);
    let bob = accepted.session;
    out.push(
      `  Bob read "${td.decode(accepted.plaintext)}" from a key exchange (first byte 0x${bytesToHex(first.message.subarray(0, 1))})`,
    );

    const sent = ["one", "two", "three", "four"].map((text) => {
      const r = encrypt(alice, te.encode(text));
      alice = r.session;
      return r.message;
    });
    const order = [3, 0, 2]; // "two" is lost, the rest arrive out of order
    const read = order.map((i) => {
      const r = decrypt(bob, sent[i]!);
      bob = r.session;
      return td.decode(r.plaintext);
    });
    out.push(`  delivered out of order, one lost: ${read.join(", ")}`);

    try {
      decrypt(bob, sent[3]!);
      out.push("  a duplicate: ACCEPTED (bug)");
    } catch (error) {
      out.push(`  a duplicate: refused with ${isDoubleRatchetError(error) ? error.code : String(error)}`);
    }
    const before = serializeSession(bob);
    const tampered = sent[1]!.slice();
    tampered[tampered.length - 20]! ^= 1;
    try {
      decrypt(bob, tampered);
      out.push("  a tampered message: ACCEPTED (bug)");
    } catch (error) {
      const unchanged = constantTimeEqual(before, serializeSession(bob));
      out.push(
        `  a tampered message: refused with ${isDoubleRatchetError(error) ? error.code : String(error)}; session ${unchanged ? "unchanged" : "CHANGED (bug)"}`,
      );
    }
    const late = decrypt(bob, sent[1]!);
    bob = late.session;
    out.push(
      `  the lost message arrives late: "${td.decode(late.plaintext)}"; idle session: ${serializeSession(bob).length} bytes`,
    );
  }
  return out;
}
