/**
 * A complete two-party session: Bob publishes a bundle, Alice starts a session from it, they talk.
 * Run: pnpm exec tsx examples/two-party.ts   (test/examples.test.ts runs it too, so it stays true)
 * In your code import from "@parley/double-ratchet" and "@parley/x3dh" instead of ../src.
 */
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  deserializeSession,
  encrypt,
  omemo2,
  serializeSession,
} from "../src/index.js";

export function twoPartyExample(profile = omemo2): string[] {
  const te = new TextEncoder();
  const td = new TextDecoder();
  const log: string[] = [];

  // Bob: identity key, signed prekey, one-time prekeys; he publishes the bundle (XEP-0384 <bundle>).
  const bobIdentity = generateIdentityKeyPair(profile.x3dh);
  const signedPreKey = generateSignedPreKey(profile.x3dh, bobIdentity, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, 100);
  const bobStore = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);
  const bundle = createBundle(profile.x3dh, bobIdentity, signedPreKey, oneTimePreKeys);

  // Alice: verifies the bundle's signature, runs X3DH, encrypts. The message carries the key exchange.
  const aliceIdentity = generateIdentityKeyPair(profile.x3dh);
  let alice = createInitiatorSession(profile, aliceIdentity, bundle);
  const first = encrypt(alice, te.encode("Hi Bob!"));
  alice = first.session;

  // Bob: builds his session from the key exchange (the one-time prekey is used up) and reads it.
  const accepted = acceptSession(profile, bobIdentity, bobStore, first.message);
  let bob = accepted.session;
  log.push(`Bob read: ${td.decode(accepted.plaintext)} (key exchange: ${first.isKeyExchange})`);

  // Bob answers; once Alice decrypts it, her messages stop carrying the key exchange.
  const reply = encrypt(bob, te.encode("Hi Alice!"));
  bob = reply.session;
  const read = decrypt(alice, reply.message);
  alice = read.session;
  log.push(`Alice read: ${td.decode(read.plaintext)}`);

  // Persist the current session (encrypted at rest!) and load it later; older values are spent.
  alice = deserializeSession(serializeSession(alice));
  const again = encrypt(alice, te.encode("Still there?"));
  log.push(`Bob read: ${td.decode(decrypt(bob, again.message).plaintext)} (key exchange: ${again.isKeyExchange})`);
  return log;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of twoPartyExample()) console.log(line);
}
