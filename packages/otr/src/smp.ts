/**
 * The Socialist Millionaires' Protocol of OTR v2/v3 (spec, "Socialist Millionaires' Protocol"): the four
 * messages with every range check of the spec (group elements in 2..p-2) and of libotr (exponents in
 * 1..q-1), the zero-knowledge proof checks, and (stricter than both) membership of every received group
 * element in the order-q subgroup. Pure functions over an explicit state value.
 */
import { concat, mpi, Reader, Writer, bytesToBigint } from "./bytes.js";
import { MAX_SMP_MPIS, SMP_EXPONENT_BITS } from "./consts.js";
import { mod, modInverse, randomBits, type OtrEngine } from "./engine.js";
import { OtrError } from "./errors.js";
import { isInSubgroup, isValidExponent, isValidGroupElement, MODP_G, MODP_P, MODP_Q } from "./group.js";

/** Which SMP message we accept next (spec SMPSTATE_EXPECT1..4). */
export type SmpExpect = 1 | 2 | 3 | 4;

export interface SmpState {
  expect: SmpExpect;
  /** We received message 1 and wait for the user's secret (respond). */
  pending1?: { g2a: bigint; g3a: bigint; question?: string } | undefined;
  /** Our secret exponent input (x or y), as hashed by smpSecret. */
  secret?: bigint | undefined;
  a2?: bigint | undefined;
  a3?: bigint | undefined;
  b3?: bigint | undefined;
  g2?: bigint | undefined;
  g3?: bigint | undefined;
  g3o?: bigint | undefined;
  pb?: bigint | undefined;
  qb?: bigint | undefined;
  paPb?: bigint | undefined;
  qaQb?: bigint | undefined;
  /** Whether we started this run. */
  initiator?: boolean | undefined;
  question?: string | undefined;
}

export const SMP_INITIAL: SmpState = { expect: 1 };

const p = MODP_P;
const q = MODP_Q;
const g1 = MODP_G;

function exp(engine: OtrEngine): bigint {
  return randomBits(engine.randomBytes, SMP_EXPONENT_BITS);
}

/** SMP hash: SHA256(version byte || MPI || [MPI]) as an integer. */
export function smpHash(engine: OtrEngine, version: number, a: bigint, b?: bigint): bigint {
  const parts = [Uint8Array.of(version), mpi(a)];
  if (b !== undefined) parts.push(mpi(b));
  return bytesToBigint(engine.sha256(concat(...parts)));
}

/** The secret compared by SMP: SHA256(0x01 || initiator fp || responder fp || ssid || user secret). */
export function smpSecret(
  engine: OtrEngine,
  initiatorFp: Uint8Array,
  responderFp: Uint8Array,
  ssid: Uint8Array,
  secret: Uint8Array,
): bigint {
  return bytesToBigint(engine.sha256(concat(Uint8Array.of(1), initiatorFp, responderFp, ssid, secret)));
}

export function encodeMpis(values: readonly bigint[]): Uint8Array {
  const w = new Writer().int(values.length);
  for (const v of values) w.mpi(v);
  return w.finish();
}

export function decodeMpis(bytes: Uint8Array, expected: number): bigint[] {
  const r = new Reader(bytes, "SMP message");
  const n = r.int();
  if (n > MAX_SMP_MPIS || n !== expected)
    throw new OtrError("SMP_CHECK_FAILED", `SMP message has ${n} MPIs, expected ${expected}`);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(r.mpi());
  r.end();
  return out;
}

/** Range 2..p-2 (spec, libotr) and membership of the order-q subgroup (stricter than both; see isInSubgroup). */
function checkElem(...vs: bigint[]): void {
  for (const v of vs) {
    if (!isValidGroupElement(v)) throw new OtrError("INVALID_GROUP_ELEMENT", "SMP group element out of range 2..p-2");
    if (!isInSubgroup(v))
      throw new OtrError("INVALID_GROUP_ELEMENT", "SMP group element is not in the order-q subgroup");
  }
}
function checkExp(...vs: bigint[]): void {
  for (const v of vs)
    if (!isValidExponent(v)) throw new OtrError("INVALID_GROUP_ELEMENT", "SMP exponent out of range 1..q-1");
}
function fail(what: string): never {
  throw new OtrError("SMP_CHECK_FAILED", `SMP proof check failed: ${what}`);
}

const mulp = (a: bigint, b: bigint) => (a * b) % p;
const divp = (a: bigint, b: bigint) => (a * modInverse(b, p)) % p;

/** Step 1 (initiator): returns the MPIs of message 1 and the new state (expect 2). */
export function smpStep1(engine: OtrEngine, secret: bigint, question?: string): { mpis: bigint[]; state: SmpState } {
  const a2 = exp(engine);
  const a3 = exp(engine);
  const r2 = exp(engine);
  const r3 = exp(engine);
  const g2a = engine.modPow(g1, a2, p);
  const g3a = engine.modPow(g1, a3, p);
  const c2 = smpHash(engine, 1, engine.modPow(g1, r2, p));
  const d2 = mod(r2 - a2 * c2, q);
  const c3 = smpHash(engine, 2, engine.modPow(g1, r3, p));
  const d3 = mod(r3 - a3 * c3, q);
  return {
    mpis: [g2a, c2, d2, g3a, c3, d3],
    state: { expect: 2, secret, a2, a3, initiator: true, question },
  };
}

/** Checks message 1 (responder) and returns what respond() needs. Throws on any failed check. */
export function smpCheck1(engine: OtrEngine, mpis: bigint[]): { g2a: bigint; g3a: bigint } {
  const [g2a, c2, d2, g3a, c3, d3] = mpis as [bigint, bigint, bigint, bigint, bigint, bigint];
  checkElem(g2a, g3a);
  checkExp(d2, d3);
  if (c2 !== smpHash(engine, 1, mulp(engine.modPow(g1, d2, p), engine.modPow(g2a, c2, p)))) fail("c2");
  if (c3 !== smpHash(engine, 2, mulp(engine.modPow(g1, d3, p), engine.modPow(g3a, c3, p)))) fail("c3");
  return { g2a, g3a };
}

/** Step 2 (responder, after the user gave the secret): MPIs of message 2 and the new state (expect 3). */
export function smpStep2(
  engine: OtrEngine,
  secret: bigint,
  g2a: bigint,
  g3a: bigint,
): { mpis: bigint[]; state: SmpState } {
  const b2 = exp(engine);
  const b3 = exp(engine);
  const [r2, r3, r4, r5, r6] = [exp(engine), exp(engine), exp(engine), exp(engine), exp(engine)];
  const g2b = engine.modPow(g1, b2, p);
  const g3b = engine.modPow(g1, b3, p);
  const c2 = smpHash(engine, 3, engine.modPow(g1, r2, p));
  const d2 = mod(r2 - b2 * c2, q);
  const c3 = smpHash(engine, 4, engine.modPow(g1, r3, p));
  const d3 = mod(r3 - b3 * c3, q);
  const g2 = engine.modPow(g2a, b2, p);
  const g3 = engine.modPow(g3a, b3, p);
  const pb = engine.modPow(g3, r4, p);
  const qb = mulp(engine.modPow(g1, r4, p), engine.modPow(g2, secret, p));
  const cp = smpHash(engine, 5, engine.modPow(g3, r5, p), mulp(engine.modPow(g1, r5, p), engine.modPow(g2, r6, p)));
  const d5 = mod(r5 - r4 * cp, q);
  const d6 = mod(r6 - secret * cp, q);
  return {
    mpis: [g2b, c2, d2, g3b, c3, d3, pb, qb, cp, d5, d6],
    state: { expect: 3, secret, b3, g2, g3, g3o: g3a, pb, qb, initiator: false },
  };
}

/** Step 3 (initiator receives message 2): MPIs of message 3 and the new state (expect 4). */
export function smpStep3(engine: OtrEngine, s: SmpState, mpis: bigint[]): { mpis: bigint[]; state: SmpState } {
  const [g2b, c2, d2, g3b, c3, d3, pb, qb, cp, d5, d6] = mpis as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  const { a2, a3, secret } = s;
  if (a2 === undefined || a3 === undefined || secret === undefined)
    throw new OtrError("SMP_CHECK_FAILED", "SMP state lost");
  checkElem(g2b, g3b, pb, qb);
  checkExp(d2, d3, d5, d6);
  if (c2 !== smpHash(engine, 3, mulp(engine.modPow(g1, d2, p), engine.modPow(g2b, c2, p)))) fail("c2");
  if (c3 !== smpHash(engine, 4, mulp(engine.modPow(g1, d3, p), engine.modPow(g3b, c3, p)))) fail("c3");
  const g2 = engine.modPow(g2b, a2, p);
  const g3 = engine.modPow(g3b, a3, p);
  const t1 = mulp(engine.modPow(g3, d5, p), engine.modPow(pb, cp, p));
  const t2 = mulp(mulp(engine.modPow(g1, d5, p), engine.modPow(g2, d6, p)), engine.modPow(qb, cp, p));
  if (cp !== smpHash(engine, 5, t1, t2)) fail("cP");
  const [r4, r5, r6, r7] = [exp(engine), exp(engine), exp(engine), exp(engine)];
  const pa = engine.modPow(g3, r4, p);
  const qa = mulp(engine.modPow(g1, r4, p), engine.modPow(g2, secret, p));
  const cp2 = smpHash(engine, 6, engine.modPow(g3, r5, p), mulp(engine.modPow(g1, r5, p), engine.modPow(g2, r6, p)));
  const d5b = mod(r5 - r4 * cp2, q);
  const d6b = mod(r6 - secret * cp2, q);
  const qaQb = divp(qa, qb);
  const ra = engine.modPow(qaQb, a3, p);
  const cr = smpHash(engine, 7, engine.modPow(g1, r7, p), engine.modPow(qaQb, r7, p));
  const d7 = mod(r7 - a3 * cr, q);
  return {
    mpis: [pa, qa, cp2, d5b, d6b, ra, cr, d7],
    state: { expect: 4, a3, g3o: g3b, paPb: divp(pa, pb), qaQb, initiator: true, question: s.question },
  };
}

/** Step 4 (responder receives message 3): MPIs of message 4 and whether the secrets matched. */
export function smpStep4(engine: OtrEngine, s: SmpState, mpis: bigint[]): { mpis: bigint[]; verified: boolean } {
  const [pa, qa, cp, d5, d6, ra, cr, d7] = mpis as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  const { g2, g3, g3o, pb, qb, b3 } = s;
  if (
    g2 === undefined ||
    g3 === undefined ||
    g3o === undefined ||
    pb === undefined ||
    qb === undefined ||
    b3 === undefined
  )
    throw new OtrError("SMP_CHECK_FAILED", "SMP state lost");
  checkElem(pa, qa, ra);
  checkExp(d5, d6, d7);
  const t1 = mulp(engine.modPow(g3, d5, p), engine.modPow(pa, cp, p));
  const t2 = mulp(mulp(engine.modPow(g1, d5, p), engine.modPow(g2, d6, p)), engine.modPow(qa, cp, p));
  if (cp !== smpHash(engine, 6, t1, t2)) fail("cP");
  const qaQb = divp(qa, qb);
  const u1 = mulp(engine.modPow(g1, d7, p), engine.modPow(g3o, cr, p));
  const u2 = mulp(engine.modPow(qaQb, d7, p), engine.modPow(ra, cr, p));
  if (cr !== smpHash(engine, 7, u1, u2)) fail("cR");
  const r7 = exp(engine);
  const rb = engine.modPow(qaQb, b3, p);
  const cr2 = smpHash(engine, 8, engine.modPow(g1, r7, p), engine.modPow(qaQb, r7, p));
  const d7b = mod(r7 - b3 * cr2, q);
  const rab = engine.modPow(ra, b3, p);
  return { mpis: [rb, cr2, d7b], verified: rab === divp(pa, pb) };
}

/** Final check (initiator receives message 4): whether the secrets matched. */
export function smpStep5(engine: OtrEngine, s: SmpState, mpis: bigint[]): boolean {
  const [rb, cr, d7] = mpis as [bigint, bigint, bigint];
  const { g3o, qaQb, paPb, a3 } = s;
  if (g3o === undefined || qaQb === undefined || paPb === undefined || a3 === undefined)
    throw new OtrError("SMP_CHECK_FAILED", "SMP state lost");
  checkElem(rb);
  checkExp(d7);
  const u1 = mulp(engine.modPow(g1, d7, p), engine.modPow(g3o, cr, p));
  const u2 = mulp(engine.modPow(qaQb, d7, p), engine.modPow(rb, cr, p));
  if (cr !== smpHash(engine, 8, u1, u2)) fail("cR");
  return engine.modPow(rb, a3, p) === paPb;
}
