/**
 * Sessions are single-use, in memory and in storage. In memory, `encrypt`/`decrypt` spend the
 * session they are given (using it again is STALE_SESSION). In storage, two tasks (two tabs, two
 * processes, a retry racing the original) can load the same record: each gets a live session, so
 * the store must refuse the second write. Keep `session.generation` beside the record and write a
 * successor only where the stored generation is still the one you loaded (compare-and-swap), and
 * persist the new session BEFORE the message leaves: a message whose session could not be stored
 * may share its message key with one that was, and must be dropped, never sent.
 * Run: pnpm exec tsx examples/persist-before-send.ts   (test/examples.test.ts runs it too)
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
  DoubleRatchetError,
  encrypt,
  isDoubleRatchetError,
  omemo2,
  serializeSession,
  type RatchetProfile,
  type Session,
} from "../src/index.js";

/** Stands for the I/O of a real store (an SQL round trip): other tasks run meanwhile. */
const io = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * The smallest session store a session manager needs. In SQL the write is
 * `UPDATE sessions SET record = ?, generation = ? WHERE peer = ? AND generation = ?` and "did it
 * change a row". Records are secret: encrypt them at rest (e.g. @parley/storage).
 */
export class InMemorySessionStore {
  readonly #records = new Map<string, { record: Uint8Array; generation: number }>();

  async load(peer: string): Promise<Session> {
    await io();
    const stored = this.#records.get(peer);
    if (stored === undefined) throw new Error(`no session with ${peer}`);
    return deserializeSession(stored.record);
  }

  /** Writes `next` only if the stored generation is still `expected` (undefined: only if there is none). */
  async compareAndSwap(peer: string, expected: number | undefined, next: Session): Promise<boolean> {
    await io();
    if (this.#records.get(peer)?.generation !== expected) return false;
    this.#records.set(peer, { record: serializeSession(next), generation: next.generation });
    return true;
  }
}

const te = new TextEncoder();
const td = new TextDecoder();

/** Encrypts for `peer`: load, encrypt, persist with compare-and-swap, and only then return the message to send. */
export async function sendText(store: InMemorySessionStore, peer: string, text: string): Promise<Uint8Array> {
  const session = await store.load(peer);
  const loaded = session.generation; // `session` is spent once encrypt returns
  const { session: next, message } = encrypt(session, te.encode(text));
  if (!(await store.compareAndSwap(peer, loaded, next))) {
    // Another task stored a successor of the same record first: `message` may reuse its message key.
    throw new DoubleRatchetError(
      "STALE_SESSION",
      `the session with ${peer} changed while this message was encrypted: reload and encrypt again (this one was dropped)`,
    );
  }
  return message;
}

/** Decrypts from `peer` the same way: the plaintext counts only once the successor is stored. */
export async function receiveText(store: InMemorySessionStore, peer: string, message: Uint8Array): Promise<string> {
  const session = await store.load(peer);
  const loaded = session.generation;
  const { session: next, plaintext } = decrypt(session, message);
  if (!(await store.compareAndSwap(peer, loaded, next))) {
    throw new DoubleRatchetError(
      "STALE_SESSION",
      `the session with ${peer} changed while decrypting: reload and retry`,
    );
  }
  return td.decode(plaintext);
}

/** Retries `op` after STALE_SESSION (a lost race), a few times. Other errors are the caller's. */
export async function withRetry<T>(op: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (e) {
      if (!isDoubleRatchetError(e, "STALE_SESSION") || i >= attempts) throw e;
    }
  }
}

/** Alice and Bob with stored sessions; two of Alice's tasks send at the same time. */
export async function persistBeforeSendExample(profile: RatchetProfile = omemo2): Promise<string[]> {
  const log: string[] = [];
  const bobIdentity = generateIdentityKeyPair(profile.x3dh);
  const signedPreKey = generateSignedPreKey(profile.x3dh, bobIdentity, 1);
  const oneTimePreKeys = generateOneTimePreKeys(1, 10);
  const bobPreKeys = new InMemoryPreKeyStore([signedPreKey], oneTimePreKeys);
  const bundle = createBundle(profile.x3dh, bobIdentity, signedPreKey, oneTimePreKeys);

  // In memory: the value encrypt was given is spent; only the returned session goes on.
  const alice = createInitiatorSession(profile, generateIdentityKeyPair(profile.x3dh), bundle);
  const opened = encrypt(alice, te.encode("hi"));
  try {
    encrypt(alice, te.encode("hi again"));
  } catch (e) {
    log.push(`reusing a session: ${isDoubleRatchetError(e) ? e.code : String(e)}`);
  }

  // In storage: new sessions are inserted (expected generation: none).
  const aliceStore = new InMemorySessionStore();
  const bobStore = new InMemorySessionStore();
  await aliceStore.compareAndSwap("bob", undefined, opened.session);
  const accepted = acceptSession(profile, bobIdentity, bobPreKeys, opened.message);
  await bobStore.compareAndSwap("alice", undefined, accepted.session);

  // Two tasks load the same record at once; the first to store its successor wins, the other must not send.
  const texts = ["one", "two"];
  const race = await Promise.allSettled(texts.map((text) => sendText(aliceStore, "bob", text)));
  const sent: Uint8Array[] = [];
  const lost: string[] = [];
  race.forEach((r, i) => {
    if (r.status === "fulfilled") sent.push(r.value);
    else {
      log.push(`the task that lost the race: ${isDoubleRatchetError(r.reason) ? r.reason.code : String(r.reason)}`);
      lost.push(texts[i]!);
    }
  });
  // The loser retries on the stored successor, with a fresh message key.
  for (const text of lost) sent.push(await withRetry(() => sendText(aliceStore, "bob", text)));
  const read: string[] = [];
  for (const m of sent) read.push(await receiveText(bobStore, "alice", m));
  log.push(`Bob read: ${read.sort().join(", ")}`);
  return log;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await persistBeforeSendExample()) console.log(line);
}
