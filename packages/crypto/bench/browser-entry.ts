// The page side of `pnpm bench:browser` (bench/browser.ts bundles this with esbuild and runs it in
// headless Chromium). Two parts, in one page:
//   1. @parley/crypto/webcrypto (ours) beside the synchronous noble facade (peer) for the public-key work
//      that can be async: key generation, prekey batches, X25519, Ed25519 sign/verify, bundle verification.
//   2. Where the time goes in X3DH session establishment and a Double Ratchet ping-pong on noble: every
//      call to the Crypto facade is timed and grouped (X25519, Ed25519/XEdDSA, the rest of the facade), the
//      remainder is the protocol code itself (encoding, state, protobuf).
import { createCrypto, type Crypto } from "@parley/crypto";
import {
  createX25519KeyPairPool,
  ed25519SignAsync,
  ed25519VerifyAsync,
  generateX25519KeyPairs,
  libsignalVerifyAsync,
  webCryptoAvailable,
  x25519Async,
  xeddsaVerifyAsync,
} from "@parley/crypto/webcrypto";
import {
  acceptSession,
  createInitiatorSession,
  decrypt,
  encrypt,
  legacyOmemo,
  type Session,
} from "@parley/double-ratchet";
import {
  createBundle,
  generateIdentityKeyPair,
  generateOneTimePreKeys,
  generateSignedPreKey,
  InMemoryPreKeyStore,
} from "@parley/x3dh";
import { edgeCases, type EdgeCaseReport } from "./edge-cases.js";

export interface BenchRow {
  scenario: string;
  ours: number;
  peer: number;
  unit: string;
  ratio: number;
}
export interface ProfileGroup {
  group: string;
  calls: number;
  /** µs per session or per message. */
  us: number;
  share: number;
}
export interface ProfileResult {
  scenario: string;
  unit: string;
  total: number;
  groups: ProfileGroup[];
  /** Every Crypto method called, slowest first (calls and µs per session or message). */
  methods: Array<{ method: string; calls: number; us: number }>;
}
export interface BenchResult {
  userAgent: string;
  crossOriginIsolated: boolean;
  support: { x25519: boolean; ed25519: boolean };
  rows: BenchRow[];
  profiles: ProfileResult[];
  edgeCases: EdgeCaseReport;
  /** Key pairs the pool could not serve (noble made them) during the pool rows. */
  poolMisses: number;
}

const QUICK = new URLSearchParams(location.search).has("quick");
const ROUND_MS = QUICK ? 30 : 150;
const ROUNDS = QUICK ? 2 : 5;
const now = () => performance.now();
const log = (text: string) => {
  console.log(text);
};

/** µs per op: best of ROUNDS rounds of ~ROUND_MS each, after calibration (as bench/index.ts). */
async function measure(op: (i: number) => unknown): Promise<number> {
  let n = 1;
  for (;;) {
    const t = now();
    for (let i = 0; i < n; i++) await op(i);
    if (now() - t > 20) break;
    n *= 2;
  }
  const perRound = Math.max(1, Math.round((n * ROUND_MS) / 20));
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = now();
    for (let i = 0; i < perRound; i++) await op(i);
    best = Math.min(best, ((now() - t) * 1000) / perRound);
  }
  return best;
}

async function primitives(noble: Crypto): Promise<BenchRow[]> {
  const subtle = globalThis.crypto.subtle;
  const msg = noble.randomBytes(100);
  const spk = noble.randomBytes(33);
  const ed = noble.generateEd25519KeyPair();
  const edSig = noble.ed25519Sign(ed.privateKey, msg);
  const identity = noble.generateX25519KeyPair();
  const xedSig = noble.xeddsaSign(identity.privateKey, spk);
  const libSig = noble.libsignalSign(identity.privateKey, spk);
  const peers = Array.from({ length: 64 }, () => noble.generateX25519KeyPair().publicKey);
  const bundles = Array.from({ length: 100 }, () => {
    const id = noble.generateX25519KeyPair();
    const key = noble.randomBytes(33);
    return { u: id.publicKey, key, sig: noble.xeddsaSign(id.privateKey, key) };
  });
  // The platform floor for X25519: keys imported once, deriveBits alone.
  const pkcs8 = new Uint8Array([...hexBytes("302e020100300506032b656e04220420"), ...identity.privateKey]);
  const ourKey = await subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, ["deriveBits"]);
  const theirKeys = await Promise.all(
    peers.map((p) => subtle.importKey("raw", new Uint8Array(p), { name: "X25519" }, false, [])),
  );

  type Scenario = [string, string, (i: number) => unknown, (i: number) => unknown];
  const scenarios: Scenario[] = [
    [
      "chromium: X25519 key pair generated (webcrypto vs noble)",
      "µs/op",
      () => generateX25519KeyPairs(1),
      () => noble.generateX25519KeyPair(),
    ],
    [
      "chromium: X25519 key pair via generateKey + JWK export, platform RNG (webcrypto vs noble)",
      "µs/op",
      async () => {
        const pair = (await subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
        return subtle.exportKey("jwk", pair.privateKey);
      },
      () => noble.generateX25519KeyPair(),
    ],
    [
      "chromium: 100 prekeys generated (webcrypto vs noble)",
      "µs/batch",
      () => generateX25519KeyPairs(100),
      () => {
        for (let i = 0; i < 100; i++) noble.generateX25519KeyPair();
      },
    ],
    [
      "chromium: X25519 agreement, keys imported per call (webcrypto vs noble)",
      "µs/op",
      (i) => x25519Async(identity.privateKey, peers[i % 64]!),
      (i) => noble.x25519(identity.privateKey, peers[i % 64]!),
    ],
    [
      "chromium: X25519 deriveBits alone, keys imported once (webcrypto vs noble)",
      "µs/op",
      (i) => subtle.deriveBits({ name: "X25519", public: theirKeys[i % 64]! }, ourKey, 256),
      (i) => noble.x25519(identity.privateKey, peers[i % 64]!),
    ],
    [
      "chromium: Ed25519 sign 100 B (webcrypto vs noble)",
      "µs/op",
      () => ed25519SignAsync(ed.privateKey, msg),
      () => noble.ed25519Sign(ed.privateKey, msg),
    ],
    [
      "chromium: Ed25519 verify 100 B (webcrypto vs noble)",
      "µs/op",
      () => ed25519VerifyAsync(edSig, msg, ed.publicKey),
      () => noble.ed25519Verify(edSig, msg, ed.publicKey),
    ],
    [
      "chromium: bundle verification, XEdDSA signed prekey (webcrypto vs noble)",
      "µs/op",
      () => xeddsaVerifyAsync(identity.publicKey, spk, xedSig),
      () => noble.xeddsaVerify(identity.publicKey, spk, xedSig),
    ],
    [
      "chromium: bundle verification, libsignal variant (webcrypto vs noble)",
      "µs/op",
      () => libsignalVerifyAsync(identity.publicKey, spk, libSig),
      () => noble.libsignalVerify(identity.publicKey, spk, libSig),
    ],
    [
      "chromium: 100 bundles verified, concurrently (webcrypto vs noble)",
      "µs/batch",
      () => Promise.all(bundles.map((b) => xeddsaVerifyAsync(b.u, b.key, b.sig))),
      () => bundles.map((b) => noble.xeddsaVerify(b.u, b.key, b.sig)),
    ],
  ];
  const rows: BenchRow[] = [];
  for (const [scenario, unit, ours, peer] of scenarios) {
    // Interleaved: peer, ours, peer, ours; the best of each counts.
    let o = Infinity;
    let p = Infinity;
    for (let k = 0; k < 3; k++) {
      p = Math.min(p, await measure(peer));
      o = Math.min(o, await measure(ours));
    }
    rows.push({ scenario, ours: o, peer: p, unit, ratio: p / o });
    log(`${scenario}: webcrypto ${o.toFixed(1)} µs, noble ${p.toFixed(1)} µs, ×${(p / o).toFixed(2)}`);
  }
  return rows;
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (b) => Number.parseInt(b, 16));
}

// ---------------------------------------------------------------------------------------------
// Profile of the protocols on noble.

const GROUPS: Record<string, string> = {
  x25519: "X25519",
  x25519PublicKey: "X25519",
  x25519KeyPair: "X25519",
  generateX25519KeyPair: "X25519",
  ed25519Sign: "Ed25519 / XEdDSA",
  ed25519Verify: "Ed25519 / XEdDSA",
  ed25519PublicKey: "Ed25519 / XEdDSA",
  ed25519KeyPair: "Ed25519 / XEdDSA",
  generateEd25519KeyPair: "Ed25519 / XEdDSA",
  xeddsaSign: "Ed25519 / XEdDSA",
  xeddsaVerify: "Ed25519 / XEdDSA",
  libsignalSign: "Ed25519 / XEdDSA",
  libsignalVerify: "Ed25519 / XEdDSA",
  montgomeryToEdwards: "Ed25519 / XEdDSA",
  edwardsToMontgomery: "Ed25519 / XEdDSA",
  ed25519SeedToX25519: "Ed25519 / XEdDSA",
};

/** A Crypto whose every method call is timed, by group (X25519, Ed25519/XEdDSA, other facade calls). */
type Spent = Map<string, { calls: number; ms: number }>;
function timed(c: Crypto): { crypto: Crypto; spent: Spent; methods: Spent; reset(): void } {
  const spent: Spent = new Map();
  const methods: Spent = new Map();
  const wrapper = new Proxy(c, {
    get(target, name) {
      const value = Reflect.get(target, name) as unknown;
      if (typeof value !== "function" || typeof name !== "string") return value;
      const group = GROUPS[name] ?? "other facade calls (HKDF, HMAC, AES, SHA-2, random)";
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const t = now();
        try {
          return fn.apply(target, args);
        } finally {
          const ms = now() - t;
          for (const [map, key] of [
            [spent, group],
            [methods, name],
          ] as const) {
            const entry = map.get(key) ?? { calls: 0, ms: 0 };
            entry.calls++;
            entry.ms += ms;
            map.set(key, entry);
          }
        }
      };
    },
  });
  return {
    crypto: wrapper,
    spent,
    methods,
    reset: () => {
      spent.clear();
      methods.clear();
    },
  };
}

function summarize(
  scenario: string,
  unit: string,
  totalMs: number,
  count: number,
  spent: Spent,
  methods: Spent,
): ProfileResult {
  const groups: ProfileGroup[] = [];
  let inCrypto = 0;
  for (const name of ["X25519", "Ed25519 / XEdDSA", "other facade calls (HKDF, HMAC, AES, SHA-2, random)"]) {
    const e = spent.get(name) ?? { calls: 0, ms: 0 };
    inCrypto += e.ms;
    groups.push({ group: name, calls: e.calls / count, us: (e.ms * 1000) / count, share: e.ms / totalMs });
  }
  const rest = totalMs - inCrypto;
  groups.push({
    group: "protocol code (X3DH, ratchet, encoding)",
    calls: 0,
    us: (rest * 1000) / count,
    share: rest / totalMs,
  });
  const perMethod = [...methods]
    .map(([method, e]) => ({ method, calls: e.calls / count, us: (e.ms * 1000) / count }))
    .sort((a, b) => b.us - a.us);
  return { scenario, unit, total: (totalMs * 1000) / count, groups, methods: perMethod };
}

function profiles(noble: Crypto): ProfileResult[] {
  const profile = legacyOmemo; // the libsignal v3 wire format, as the Node benchmark against npm libsignal
  const timer = timed(noble);
  const { crypto, spent, methods } = timer;
  const reset = () => {
    timer.reset();
  };
  const aliceId = generateIdentityKeyPair(profile.x3dh, noble);
  const bobId = generateIdentityKeyPair(profile.x3dh, noble);
  const bobSigned = generateSignedPreKey(profile.x3dh, bobId, 1, { crypto: noble });
  const payload = new Uint8Array(32).fill(7);

  const establish = (i: number) => {
    const opk = generateOneTimePreKeys(i + 1, 1, noble)[0]!;
    const bundle = createBundle(profile.x3dh, bobId, bobSigned, [opk]);
    return { opk, bundle };
  };
  const run = (prepared: ReturnType<typeof establish>) => {
    const opened = encrypt(createInitiatorSession(profile, aliceId, prepared.bundle, { crypto }), payload, { crypto });
    const store = new InMemoryPreKeyStore([bobSigned], [prepared.opk]);
    const accepted = acceptSession(profile, bobId, store, opened.message, { crypto });
    return { alice: opened.session, bob: accepted.session };
  };

  const N_ESTABLISH = QUICK ? 10 : 60;
  const N_PINGPONG = QUICK ? 50 : 400;
  const results: ProfileResult[] = [];
  {
    for (let i = 0; i < 5; i++) run(establish(i)); // warm-up
    let best: ProfileResult | undefined;
    for (let round = 0; round < 3; round++) {
      const prepared = Array.from({ length: N_ESTABLISH }, (_, i) => establish(i));
      reset();
      const t = now();
      for (const p of prepared) run(p);
      const r = summarize(
        "session establishment (X3DH with signature check + first message, legacy OMEMO)",
        "µs/session",
        now() - t,
        N_ESTABLISH,
        spent,
        methods,
      );
      if (!best || r.total < best.total) best = r;
    }
    results.push(best!);
  }
  {
    let best: ProfileResult | undefined;
    for (let round = 0; round < 3; round++) {
      const sessions: Record<"alice" | "bob", Session> = run(establish(0));
      const step = (i: number) => {
        const from = i % 2 === 0 ? "alice" : "bob";
        const to = from === "alice" ? "bob" : "alice";
        const sent = encrypt(sessions[from], payload, { crypto });
        sessions[from] = sent.session;
        const received = decrypt(sessions[to], sent.message, {
          crypto,
          kind: sent.isKeyExchange ? "keyExchange" : "message",
        });
        sessions[to] = received.session;
      };
      for (let i = 0; i < 20; i++) step(i); // warm-up, both sides past the prekey phase
      reset();
      const t = now();
      for (let i = 0; i < N_PINGPONG; i++) step(i);
      const r = summarize(
        "ping-pong (a DH ratchet step on every message, encrypt + decrypt)",
        "µs/message",
        now() - t,
        N_PINGPONG,
        spent,
        methods,
      );
      if (!best || r.total < best.total) best = r;
    }
    results.push(best!);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// The synchronous core with ratchet and ephemeral key pairs made ahead by WebCrypto (a key pair pool).
// Main-thread time only: each message (or session) gets an event-loop turn afterwards, as messages
// from a network would, and the time of that turn (when WebCrypto refills the pool) is not counted.
// Median µs per session or message, noble and pooled measured in turns.

async function withPool(noble: Crypto): Promise<{ rows: BenchRow[]; misses: number }> {
  const profile = legacyOmemo;
  const payload = new Uint8Array(32).fill(7);
  const channel = new MessageChannel();
  const tick = () =>
    new Promise<void>((resolve) => {
      channel.port1.onmessage = () => {
        resolve();
      };
      channel.port2.postMessage(0);
    });
  let misses = 0;
  // The pool asks this one only when it is empty: count those.
  const counted = new Proxy(noble, {
    get(target, name) {
      if (name === "generateX25519KeyPair") {
        return () => {
          misses++;
          return target.generateX25519KeyPair();
        };
      }
      return Reflect.get(target, name) as unknown;
    },
  });
  const pool = await createX25519KeyPairPool(counted, { capacity: 64 });
  const aliceId = generateIdentityKeyPair(profile.x3dh, noble);
  const bobId = generateIdentityKeyPair(profile.x3dh, noble);
  const bobSigned = generateSignedPreKey(profile.x3dh, bobId, 1, { crypto: noble });
  const N_ESTABLISH = QUICK ? 10 : 80;
  const N_PINGPONG = QUICK ? 50 : 600;

  // Paired: the noble and the pooled Crypto take turns item by item (alternating which goes first), so
  // load from elsewhere hits both alike; the median item counts.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]! * 1000;
  const both = [
    ["noble", noble],
    ["pool", pool.crypto],
  ] as const;
  const turns = (i: number) => (i % 2 === 0 ? both : ([both[1], both[0]] as const));

  const establishPaired = async (): Promise<[number, number]> => {
    const times = { noble: [] as number[], pool: [] as number[] };
    for (let i = 0; i < N_ESTABLISH; i++) {
      for (const [which, crypto] of turns(i)) {
        const opk = generateOneTimePreKeys(i + 1, 1, noble)[0]!;
        const bundle = createBundle(profile.x3dh, bobId, bobSigned, [opk]);
        const t = now();
        const opened = encrypt(createInitiatorSession(profile, aliceId, bundle, { crypto }), payload, { crypto });
        acceptSession(profile, bobId, new InMemoryPreKeyStore([bobSigned], [opk]), opened.message, { crypto });
        times[which].push(now() - t);
      }
      await tick();
    }
    return [median(times.pool), median(times.noble)];
  };

  const pingPongPaired = async (): Promise<[number, number]> => {
    const conversations = both.map(([which, crypto]) => {
      const opk = generateOneTimePreKeys(1, 1, noble)[0]!;
      const bundle = createBundle(profile.x3dh, bobId, bobSigned, [opk]);
      const opened = encrypt(createInitiatorSession(profile, aliceId, bundle, { crypto }), payload, { crypto });
      const accepted = acceptSession(profile, bobId, new InMemoryPreKeyStore([bobSigned], [opk]), opened.message, {
        crypto,
      });
      const sessions: Record<"alice" | "bob", Session> = { alice: opened.session, bob: accepted.session };
      return { which, crypto, sessions };
    });
    const times = { noble: [] as number[], pool: [] as number[] };
    for (let i = 0; i < N_PINGPONG + 20; i++) {
      const from = i % 2 === 0 ? "alice" : "bob";
      const to = from === "alice" ? "bob" : "alice";
      for (const { which, crypto, sessions } of i % 2 === 0 ? conversations : [...conversations].reverse()) {
        const t = now();
        const sent = encrypt(sessions[from], payload, { crypto });
        sessions[from] = sent.session;
        const received = decrypt(sessions[to], sent.message, {
          crypto,
          kind: sent.isKeyExchange ? "keyExchange" : "message",
        });
        sessions[to] = received.session;
        if (i >= 20) times[which].push(now() - t); // the first 20: warm-up, both sides past the prekey phase
      }
      await tick();
    }
    return [median(times.pool), median(times.noble)];
  };

  const rows: BenchRow[] = [];
  for (const [scenario, unit, measurePair] of [
    [
      "chromium: session establishment, main-thread time (noble + WebCrypto key pair pool vs noble)",
      "µs/session",
      establishPaired,
    ],
    [
      "chromium: ping-pong, main-thread time per message (noble + WebCrypto key pair pool vs noble)",
      "µs/message",
      pingPongPaired,
    ],
  ] as const) {
    const [o, p] = await measurePair();
    rows.push({ scenario, ours: o, peer: p, unit, ratio: p / o });
    log(`${scenario}: with pool ${o.toFixed(1)} µs, noble ${p.toFixed(1)} µs, ×${(p / o).toFixed(2)}`);
  }
  return { rows, misses };
}

async function run(): Promise<BenchResult> {
  const noble = createCrypto({ provider: "noble" });
  const support = await webCryptoAvailable();
  log(`WebCrypto: X25519 ${support.x25519}, Ed25519 ${support.ed25519}`);
  const profileResults = profiles(noble);
  const rows = await primitives(noble);
  const pooled = await withPool(noble);
  log(`key pair pool: ${pooled.misses} key pairs made by noble when the pool was empty`);
  rows.push(...pooled.rows);
  return {
    poolMisses: pooled.misses,
    edgeCases: await edgeCases(globalThis.crypto.subtle),
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    support,
    rows,
    profiles: profileResults,
  };
}

(globalThis as { runBench?: () => Promise<BenchResult> }).runBench = run;
