/**
 * OTR (Off-the-Record Messaging v3 and v2): live conversations between the implementation under test and
 * Parley, either side starting the AKE (key rotation, fragments, loss, reordering, duplicates, tampering,
 * instance tags, SMP, ending), and the deterministic answers of `vectors/otr-v1.json` (DSA key
 * fingerprints, which version a Query message starts). Only what the OTR v3 specification requires is
 * checked (libotr 4.1.1's behaviour where the two differ).
 */
import { MODP_P } from "@parley/otr";
import type { Implementation } from "../reference.js";
import type { CaseContext, Suite, TestCase } from "../suite.js";
import type { HelloResult, OpName } from "../protocol.js";
import type { OtrEventJson, OtrPolicyJson, OtrReceiveResult } from "../protocol-otr.js";
import type { OtrVectorFile } from "../vectors.js";
import { check, expectError, same } from "./assert.js";
import { loadVectors } from "./util.js";

type Version = 2 | 3;
type Starter = "IUT" | "Parley";

/** The account name of the IUT's side of every live conversation (its key is its own). */
export const IUT_ACCOUNT = "iut@conformance.example";
/** The account name of Parley's side; its DSA key is the one otr-v1.json records for this account. */
export const PARLEY_ACCOUNT = "parley@conformance.example";
/** Small enough to split every Data Message of this suite, large enough for every implementation's minimum. */
const FRAGMENT_SIZE = 100;
const LONG = "A long message that does not fit into one fragment. ".repeat(6).trim();

const policyFor = (version: Version): OtrPolicyJson =>
  version === 3 ? { v2: true, v3: true } : { v2: true, v3: false };

/** One side of a live conversation: an implementation, its account and its session with the other side. */
class Side {
  readonly impl: Implementation;
  readonly label: Starter;
  readonly name: string;
  session = "";
  fingerprint = "";
  instanceTag = 0;
  constructor(impl: Implementation, label: Starter, name: string) {
    this.impl = impl;
    this.label = label;
    this.name = name;
  }

  async open(peer: string, policy: OtrPolicyJson, maxFragmentSize: number, privateKey?: string): Promise<void> {
    const a = await this.impl.call("otr.createAccount", {
      account: this.name,
      protocol: "xmpp",
      ...(privateKey === undefined ? {} : { privateKey }),
    });
    check(
      `${this.label}'s fingerprint is 40 lowercase hex`,
      /^[0-9a-f]{40}$/.test(a.fingerprint),
      "40 hex",
      a.fingerprint,
    );
    check(`${this.label}'s instance tag`, a.instanceTag >= 0x100, ">= 0x100", String(a.instanceTag));
    this.fingerprint = a.fingerprint;
    this.instanceTag = a.instanceTag;
    this.session = (await this.impl.call("otr.session", { account: a.account, peer, policy, maxFragmentSize })).session;
  }

  send(plaintext: string): Promise<string[]> {
    return this.impl.call("otr.send", { session: this.session, plaintext }).then((r) => r.messages);
  }

  receive(message: string): Promise<OtrReceiveResult> {
    return this.impl.call("otr.receive", { session: this.session, message });
  }

  status() {
    return this.impl.call("otr.status", { session: this.session });
  }
}

interface Pair {
  iut: Side;
  ref: Side;
}

const other = (p: Pair, s: Side): Side => (s === p.iut ? p.ref : p.iut);

/** Everything each side saw while messages went back and forth. */
interface Exchange {
  iut: OtrReceiveResult[];
  ref: OtrReceiveResult[];
}

const eventsOf = (results: readonly OtrReceiveResult[]): OtrEventJson[] => results.flatMap((r) => r.events);
const textsOf = (results: readonly OtrReceiveResult[]): string[] =>
  results.flatMap((r) => (r.plaintext === null ? [] : [r.plaintext]));

/** Delivers `messages` from `from` to the other side, then every reply either way until both are quiet. */
async function exchange(p: Pair, from: Side, messages: readonly string[]): Promise<Exchange> {
  const seen: Exchange = { iut: [], ref: [] };
  let queue = messages.map((m) => ({ to: other(p, from), m }));
  for (let round = 0; queue.length > 0; round++) {
    if (round >= 20)
      throw new Error(`still ${queue.length} messages after 20 rounds (the sides answer each other forever)`);
    const next: typeof queue = [];
    for (const { to, m } of queue) {
      const r = await to.receive(m);
      (to === p.iut ? seen.iut : seen.ref).push(r);
      for (const reply of r.replies) next.push({ to: other(p, to), m: reply });
    }
    queue = next;
  }
  return seen;
}

/** Both sides with fresh accounts and sessions (Parley's key from the vectors, the IUT's its own). */
async function sides(ctx: CaseContext, version: Version, maxFragmentSize = 0): Promise<Pair> {
  const iut = new Side(ctx.iut, "IUT", IUT_ACCOUNT);
  const ref = new Side(ctx.ref, "Parley", PARLEY_ACCOUNT);
  const key = vectorFile().keys.find((k) => k.account === PARLEY_ACCOUNT);
  if (!key) throw new Error(`otr-v1.json has no key for ${PARLEY_ACCOUNT} (suite bug)`);
  await iut.open(PARLEY_ACCOUNT, policyFor(version), maxFragmentSize);
  await ref.open(IUT_ACCOUNT, policyFor(version), maxFragmentSize, key.privateKey);
  return { iut, ref };
}

/** `starter` sends a Query message; the AKE runs; both sides must be encrypted with `version` and know each other. */
async function establish(ctx: CaseContext, version: Version, starter: Starter, maxFragmentSize = 0): Promise<Pair> {
  const p = await sides(ctx, version, maxFragmentSize);
  const first = starter === "IUT" ? p.iut : p.ref;
  const { messages } = await first.impl.call("otr.startAke", { session: first.session });
  check(
    `${first.label}'s otr.startAke gives a Query message`,
    messages.some((m) => m.includes("?OTR")),
    "?OTR…",
    JSON.stringify(messages),
  );
  const seen = await exchange(p, first, messages);
  for (const s of [p.iut, p.ref]) {
    const peer = other(p, s);
    const secure = eventsOf(s === p.iut ? seen.iut : seen.ref).filter((e) => e.type === "secure");
    check(`${s.label} reports the AKE's completion (a secure event)`, secure.length >= 1, "a secure event", "none");
    same(`${s.label}'s secure event`, { version, peerFingerprint: peer.fingerprint }, secure.at(-1));
    const st = await s.status();
    same(
      `${s.label}'s otr.status after the AKE`,
      { state: "encrypted", version, peerFingerprint: peer.fingerprint },
      st,
    );
  }
  return p;
}

/** The binary form of a `?OTR:<base64>.` message. */
function decode(wire: string): Buffer {
  const m = /^\?OTR:([A-Za-z0-9+/=]+)\./.exec(wire);
  if (!m) throw new Error(`not an encoded OTR message: ${wire.slice(0, 40)}`);
  return Buffer.from(m[1]!, "base64");
}

const encode = (bin: Buffer): string => `?OTR:${bin.toString("base64")}.`;

/** The fields of a Data Message (spec "Data Message") that the suite reads or edits, as `dataMessage` parses them. */
export interface DataMessage {
  /** The decoded message (base64 of `?OTR:….`); edit it and `encode` it to send a changed message. */
  bin: Buffer;
  /** Protocol version (2 or 3). */
  version: number;
  /** Sender keyid (the sender's D-H key the message was encrypted with). */
  senderKeyId: number;
  /** Recipient keyid (the recipient's D-H key it was encrypted to). */
  recipientKeyId: number;
  /** Offset of the first byte of the encrypted text (AES-CTR ciphertext). */
  ciphertextAt: number;
  /** Offset of the receiver instance tag (v3; inside the MAC'd part), null for v2. */
  receiverTagAt: number | null;
}

/** Parses the fields of a Data Message this suite looks at (spec "Data Message"). */
export function dataMessage(wire: string): DataMessage {
  const bin = decode(wire);
  const version = bin.readUInt16BE(0);
  if (bin[2] !== 0x03) throw new Error(`message type 0x${bin[2]?.toString(16) ?? "?"} is not a Data Message`);
  let at = version === 3 ? 11 : 3; // protocol version, type, instance tags (v3)
  at += 1; // flags
  const senderKeyId = bin.readUInt32BE(at);
  const recipientKeyId = bin.readUInt32BE(at + 4);
  at += 8;
  at += 4 + bin.readUInt32BE(at); // next DH public key (MPI)
  at += 8; // top half of the counter
  at += 4; // length of the encrypted message
  return { bin, version, senderKeyId, recipientKeyId, ciphertextAt: at, receiverTagAt: version === 3 ? 7 : null };
}

/** One sent message that must be a single Data Message (no fragments at this size). */
function single(label: string, messages: readonly string[]): string {
  check(`${label} is one message`, messages.length === 1, "1 message", `${messages.length}`);
  return messages[0]!;
}

const receivedText = (r: OtrReceiveResult) => ({ plaintext: r.plaintext, encrypted: r.encrypted });

/**
 * Expects `r` to show nothing: the spec says only "reject the message" (spec "Receiving a Data Message"),
 * so an `error` event (libotr's OTRL_MSGEVENT_RCVDMSG_UNREADABLE, Parley's error event) is allowed but not
 * required, and neither is an `?OTR Error:` reply ("optionally"). That the session goes on is checked by
 * the case (the next message is read, the receiver's reply is read).
 */
function rejected(what: string, r: OtrReceiveResult): void {
  same(`${what}: nothing is shown`, null, r.plaintext);
}

/** A v3 fragment (spec "Fragmentation"): the instance tags in its header are outside every MAC. */
const fragmentV3 = (sender: number, receiver: number, k: number, n: number, piece: string): string =>
  `?OTR|${sender.toString(16).padStart(8, "0")}|${receiver.toString(16).padStart(8, "0")},${k},${n},${piece},`;

/** Splits `wire` into `n` v3 fragments with these instance tags in their headers. */
function fragmentsOf(wire: string, sender: number, receiver: number, n = 3): string[] {
  const size = Math.ceil(wire.length / n);
  return Array.from({ length: n }, (_, i) =>
    fragmentV3(sender, receiver, i + 1, n, wire.slice(i * size, (i + 1) * size)),
  );
}

let vectorsCache: OtrVectorFile | undefined;
function vectorFile(): OtrVectorFile {
  vectorsCache ??= loadVectors("otr-v1.json") as OtrVectorFile;
  return vectorsCache;
}

const CORE: readonly OpName[] = [
  "otr.createAccount",
  "otr.session",
  "otr.startAke",
  "otr.send",
  "otr.receive",
  "otr.status",
];

/** The OTR versions an adapter speaks: hello's `otrVersions`, [2, 3] when it does not say. */
export const otrVersionsOf = (hello: HelloResult): readonly number[] => hello.otrVersions ?? [2, 3];

/** Skips a case for an adapter that does not speak every one of `versions` (hello's `otrVersions`). */
function speaks(versions: readonly Version[]): (hello: HelloResult) => string | undefined {
  return (hello) => {
    const missing = versions.filter((v) => !otrVersionsOf(hello).includes(v));
    if (missing.length === 0) return undefined;
    const list = missing.map((v) => `v${v}`).join(", ");
    return `the adapter does not speak OTR ${list} (hello's otrVersions: ${JSON.stringify(otrVersionsOf(hello))})`;
  };
}

function otrCase(name: string, run: (ctx: CaseContext) => Promise<void>, extraOps: readonly OpName[] = []): TestCase {
  return { suite: "otr", name, ops: [...CORE, ...extraOps], run };
}

/** An otrCase that the adapter must speak `versions` for (skipped otherwise). */
const versionCase =
  (...versions: Version[]) =>
  (name: string, run: (ctx: CaseContext) => Promise<void>, extraOps: readonly OpName[] = []): TestCase => ({
    ...otrCase(name, run, extraOps),
    requires: speaks(versions),
  });
const v3Case = versionCase(3);
const v23Case = versionCase(2, 3);

const STARTERS: readonly Starter[] = ["IUT", "Parley"];
const VERSIONS: readonly Version[] = [3, 2];

function cases(): TestCase[] {
  const out: TestCase[] = [];

  for (const version of VERSIONS) {
    const vCase = versionCase(version);
    for (const starter of STARTERS) {
      out.push(
        vCase(
          `v${version}, ${starter} starts: the AKE completes, both sides know the version and each other's fingerprint`,
          async (ctx) => {
            const p = await establish(ctx, version, starter);
            const [iut, ref] = [await p.iut.status(), await p.ref.status()];
            if (version === 3) {
              same(
                "the IUT's instance tags after a v3 AKE",
                { ourInstanceTag: p.iut.instanceTag, theirInstanceTag: p.ref.instanceTag },
                iut,
              );
              same("Parley learnt the IUT's instance tag", p.iut.instanceTag, ref.theirInstanceTag);
            }
          },
        ),
      );
      out.push(
        vCase(
          `v${version}, ${starter} starts: five rounds each way, keys rotate, every text is read once`,
          async (ctx) => {
            const p = await establish(ctx, version, starter);
            const iutKeyIds: number[] = [];
            for (let round = 1; round <= 5; round++) {
              for (const from of [p.iut, p.ref]) {
                const texts = [`${from.label} round ${round} a`, `${from.label} round ${round} b ✓`];
                for (const t of texts) {
                  const wire = single(`${from.label}'s "${t}"`, await from.send(t));
                  check(
                    `${from.label} sends "${t}" encrypted`,
                    !wire.includes(t),
                    "no plaintext on the wire",
                    wire.slice(0, 60),
                  );
                  const d = dataMessage(wire);
                  same(`${from.label}'s Data Message protocol version`, version, d.version);
                  if (from === p.iut) iutKeyIds.push(d.senderKeyId);
                  const seen = await exchange(p, from, [wire]);
                  same(`${other(p, from).label} reads "${t}"`, [t], textsOf(from === p.iut ? seen.ref : seen.iut));
                }
              }
            }
            // Each reply acknowledges the newest key, so the sender takes a new one (spec "Revealing MAC keys").
            check(
              "the IUT's sender key id advances as Parley acknowledges its keys",
              iutKeyIds.at(-1)! > iutKeyIds[0]!,
              `a key id above ${iutKeyIds[0]}`,
              iutKeyIds.join(", "),
            );
          },
        ),
      );
    }

    out.push(
      vCase(`v${version}: fragments of at most ${FRAGMENT_SIZE} characters, reassembled both ways`, async (ctx) => {
        const p = await establish(ctx, version, "IUT", FRAGMENT_SIZE);
        for (const from of [p.iut, p.ref]) {
          const t = `${from.label}: ${LONG}`;
          const pieces = await from.send(t);
          check(`${from.label} fragments its long message`, pieces.length > 1, "several fragments", `${pieces.length}`);
          const prefix = version === 3 ? "?OTR|" : "?OTR,";
          for (const [i, f] of pieces.entries()) {
            check(
              `${from.label}'s fragment ${i} size`,
              f.length <= FRAGMENT_SIZE,
              `<= ${FRAGMENT_SIZE} chars`,
              `${f.length}`,
            );
            check(
              `${from.label}'s fragment ${i} format (v${version})`,
              f.startsWith(prefix),
              `${prefix}…`,
              f.slice(0, 12),
            );
          }
          const to = other(p, from);
          for (const [i, f] of pieces.entries()) {
            const r = await to.receive(f);
            if (i < pieces.length - 1) same(`${to.label} shows nothing for fragment ${i}`, null, r.plaintext);
            else same(`${to.label} reassembles and reads`, { plaintext: t, encrypted: true }, receivedText(r));
          }
        }
      }),
    );
  }

  for (const receiver of STARTERS) {
    const recv = (p: Pair) => (receiver === "IUT" ? p.iut : p.ref);
    const send = (p: Pair) => (receiver === "IUT" ? p.ref : p.iut);
    const who = receiver === "IUT" ? "the IUT receives" : "the IUT sends";

    out.push(
      v3Case(`v3, ${who}: a lost Data Message does not stop the next ones`, async (ctx) => {
        const p = await establish(ctx, 3, "Parley");
        const a = await send(p).send("one");
        await send(p).send("two (lost)"); // never delivered
        const c = await send(p).send("three");
        same(
          `${recv(p).label} reads the first`,
          { plaintext: "one", encrypted: true },
          receivedText(await recv(p).receive(single("one", a))),
        );
        same(
          `${recv(p).label} reads the third after the second was lost`,
          { plaintext: "three", encrypted: true },
          receivedText(await recv(p).receive(single("three", c))),
        );
        await replyIsRead(p, recv(p));
      }),
    );

    out.push(
      v3Case(
        `v3, ${who}: reordered Data Messages of one key pair: the newer is read, the older refused (its counter is not larger)`,
        async (ctx) => {
          const p = await establish(ctx, 3, "Parley");
          const first = single("first", await send(p).send("first"));
          const second = single("second", await send(p).send("second"));
          same(
            `${recv(p).label} reads the later message first`,
            { plaintext: "second", encrypted: true },
            receivedText(await recv(p).receive(second)),
          );
          rejected(`${recv(p).label} gets the earlier message last`, await recv(p).receive(first));
          await replyIsRead(p, recv(p));
        },
      ),
    );

    out.push(
      v3Case(`v3, ${who}: a duplicated Data Message is shown once, then the conversation goes on`, async (ctx) => {
        const p = await establish(ctx, 3, "Parley");
        const m = single("once", await send(p).send("once"));
        same(
          `${recv(p).label} reads it`,
          { plaintext: "once", encrypted: true },
          receivedText(await recv(p).receive(m)),
        );
        rejected(`${recv(p).label} gets it again`, await recv(p).receive(m));
        const next = single("next", await send(p).send("next"));
        same(
          `${recv(p).label} reads the next one`,
          { plaintext: "next", encrypted: true },
          receivedText(await recv(p).receive(next)),
        );
        await replyIsRead(p, recv(p));
      }),
    );

    out.push(
      v3Case(`v3, ${who}: a flipped bit in the ciphertext is not shown (MAC), the next message is`, async (ctx) => {
        const p = await establish(ctx, 3, "Parley");
        const m = dataMessage(single("tampered", await send(p).send("tampered")));
        m.bin[m.ciphertextAt]! ^= 0x01;
        rejected(`${recv(p).label} gets the tampered message`, await recv(p).receive(encode(m.bin)));
        const next = single("intact", await send(p).send("intact"));
        same(
          `${recv(p).label} reads the next one`,
          { plaintext: "intact", encrypted: true },
          receivedText(await recv(p).receive(next)),
        );
        await replyIsRead(p, recv(p));
      }),
    );

    out.push(
      v3Case(
        `v3, ${who}: fragments addressed to another receiver instance tag are discarded; the same fragments addressed to the receiver are read`,
        async (ctx) => {
          // The receiver instance tag of the Data Message itself is covered by its MAC, so editing it cannot
          // tell an implementation that checks tags from one that only checks MACs. The tags in a fragment's
          // header are not authenticated (spec "Fragmentation": "If the recipient's own instance tag does not
          // match the listed receiver instance tag, and the listed receiver instance tag is not zero, the
          // recipient should discard the message"): only the tag check keeps these fragments from being read.
          const p = await establish(ctx, 3, "Parley");
          const text = "for another instance";
          const wire = single("elsewhere", await send(p).send(text));
          const m = dataMessage(wire);
          same(
            `${send(p).label}'s Data Message names its own and ${recv(p).label}'s instance tags`,
            { sender: send(p).instanceTag, receiver: recv(p).instanceTag },
            { sender: m.bin.readUInt32BE(3), receiver: m.bin.readUInt32BE(m.receiverTagAt!) },
          );
          const mine = recv(p).instanceTag;
          const elsewhere = mine === 0xffffffff ? 0x100 : mine + 1;
          const shown = [];
          for (const f of fragmentsOf(wire, send(p).instanceTag, elsewhere))
            shown.push((await recv(p).receive(f)).plaintext);
          same(
            `${recv(p).label} shows nothing for fragments addressed to instance 0x${elsewhere.toString(16)} (its own: 0x${mine.toString(16)})`,
            [null, null, null],
            shown,
          );
          // The same pieces addressed to the receiver: the message was readable, only its address kept it out.
          const again = [];
          for (const f of fragmentsOf(wire, send(p).instanceTag, mine)) again.push(await recv(p).receive(f));
          same(
            `${recv(p).label} reassembles the same fragments addressed to it`,
            { plaintext: text, encrypted: true },
            receivedText(again.at(-1)!),
          );
          const next = single("mine", await send(p).send("for me"));
          same(
            `${recv(p).label} reads the next one`,
            { plaintext: "for me", encrypted: true },
            receivedText(await recv(p).receive(next)),
          );
          await replyIsRead(p, recv(p));
        },
      ),
    );
  }

  const smpCases: { starter: Starter; question?: string; secrets: [string, string]; result: "verified" | "failed" }[] =
    [
      {
        starter: "IUT",
        question: "Where did we meet?",
        secrets: ["the blue door", "the blue door"],
        result: "verified",
      },
      { starter: "Parley", secrets: ["correct horse", "correct horse"], result: "verified" },
      { starter: "IUT", secrets: ["battery", "staple"], result: "failed" },
      { starter: "Parley", question: "Our first city?", secrets: ["Paris", "Lyon"], result: "failed" },
    ];
  for (const c of smpCases) {
    const desc = `${c.result === "verified" ? "same" : "different"} secrets, ${c.question ? "with" : "without"} a question`;
    out.push(
      v3Case(
        `v3, SMP started by ${c.starter === "IUT" ? "the IUT" : "Parley"}, ${desc}: both sides report ${c.result}`,
        async (ctx) => {
          const p = await establish(ctx, 3, "IUT");
          const [a, b] = c.starter === "IUT" ? [p.iut, p.ref] : [p.ref, p.iut];
          const start = await a.impl.call("otr.smpStart", {
            session: a.session,
            secret: c.secrets[0],
            ...(c.question === undefined ? {} : { question: c.question }),
          });
          const asked = await exchange(p, a, start.messages);
          const request = eventsOf(b === p.iut ? asked.iut : asked.ref).filter((e) => e.type === "smpRequest");
          same(`${b.label} is asked (smpRequest)`, [{ type: "smpRequest", question: c.question ?? null }], request);
          const answer = await b.impl.call("otr.smpRespond", { session: b.session, secret: c.secrets[1] });
          const done = await exchange(p, b, answer.messages);
          for (const s of [p.iut, p.ref]) {
            const results = eventsOf(s === p.iut ? done.iut : done.ref).filter((e) => e.type === "smpResult");
            same(`${s.label}'s SMP result`, [{ type: "smpResult", result: c.result }], results);
          }
          await replyIsRead(p, p.iut);
        },
        ["otr.smpStart", "otr.smpRespond"],
      ),
    );
  }

  out.push(
    v3Case(
      "v3, the IUT ends: Parley is finished, the IUT back to plaintext",
      async (ctx) => {
        const p = await establish(ctx, 3, "Parley");
        const { messages } = await ctx.iut.call("otr.end", { session: p.iut.session });
        const seen = await exchange(p, p.iut, messages);
        same(
          "Parley reports that the IUT ended",
          [{ type: "finished" }],
          eventsOf(seen.ref).filter((e) => e.type === "finished"),
        );
        same("Parley's state", "finished", (await p.ref.status()).state);
        same("the IUT's state after otr.end", "plaintext", (await p.iut.status()).state);
      },
      ["otr.end"],
    ),
  );

  out.push(
    v3Case(
      "v3, Parley ends: the IUT is finished and refuses to send (INVALID_STATE): no text leaks in the clear",
      async (ctx) => {
        const p = await establish(ctx, 3, "IUT");
        const { messages } = await ctx.ref.call("otr.end", { session: p.ref.session });
        const seen = await exchange(p, p.ref, messages);
        same(
          "the IUT reports that Parley ended",
          [{ type: "finished" }],
          eventsOf(seen.iut).filter((e) => e.type === "finished"),
        );
        same("the IUT's state", "finished", (await p.iut.status()).state);
        await expectError("the IUT sends in MSGSTATE_FINISHED", "INVALID_STATE", p.iut.send("must not leak"));
      },
      ["otr.end"],
    ),
  );

  out.push(
    otrCase(`vectors (otr-v1.json): fixed DSA keys give their fingerprints`, async (ctx) => {
      for (const k of vectorFile().keys) {
        const a = await ctx.iut.call("otr.createAccount", {
          account: k.account,
          protocol: k.protocol,
          privateKey: k.privateKey,
        });
        same(`key ${k.name}: fingerprint`, k.fingerprint, a.fingerprint);
      }
    }),
  );

  out.push(
    v23Case(
      `vectors (otr-v1.json): Query messages start the AKE with the highest common version, or not at all`,
      async (ctx) => {
        for (const q of vectorFile().queries) {
          // A fixed key (no key generation per query); the account is the key's.
          const key = vectorFile().keys.find((k) => k.account !== PARLEY_ACCOUNT)!;
          const iut = new Side(ctx.iut, "IUT", key.account);
          await iut.open(PARLEY_ACCOUNT, q.policy, 0, key.privateKey);
          const r = await iut.receive(q.message);
          const commits = r.replies.filter((m) => m.startsWith("?OTR:")).map(decode);
          const answer = commits.length === 1 && commits[0]![2] === 0x02 ? commits[0]!.readUInt16BE(0) : null;
          check(
            `the IUT (v2 ${q.policy.v2 ? "on" : "off"}, v3 ${q.policy.v3 ? "on" : "off"}) answers ${JSON.stringify(q.message)}`,
            answer === q.answer && (q.answer !== null || r.replies.length === 0),
            q.answer === null ? "no reply" : `one v${q.answer} D-H Commit`,
            answer === null
              ? `${r.replies.length} replies: ${JSON.stringify(r.replies).slice(0, 60)}`
              : `a v${answer} D-H Commit`,
          );
        }
      },
    ),
  );

  out.push({
    suite: "otr",
    name: "vectors (otr-v1.json): session keys: fixed D-H keys give their data-message keys, at the high and the low end",
    ops: ["otr.sessionKeys"],
    run: async (ctx) => {
      for (const v of vectorFile().sessionKeys) {
        const got = await ctx.iut.call("otr.sessionKeys", {
          ourPrivateKey: v.ourPrivateKey,
          theirPublicKey: v.theirPublicKey,
        });
        const { ourPublicKey, high, sendingAesKey, sendingMacKey, receivingAesKey, receivingMacKey } = v;
        same(
          `session keys ${v.name} (${v.high ? "high" : "low"} end)`,
          { ourPublicKey, high, sendingAesKey, sendingMacKey, receivingAesKey, receivingMacKey },
          got,
        );
      }
      // g^y = 1 and p - 1: outside 2..p-2, refused as every received D-H key must be.
      const x = vectorFile().sessionKeys[0]!.ourPrivateKey;
      const pMinus1 = (MODP_P - 1n).toString(16);
      await expectError(
        "the IUT derives keys with g^y = 1",
        "INVALID_ARGUMENT",
        ctx.iut.call("otr.sessionKeys", { ourPrivateKey: x, theirPublicKey: "01" }),
      );
      await expectError(
        "the IUT derives keys with g^y = p - 1",
        "INVALID_ARGUMENT",
        ctx.iut.call("otr.sessionKeys", { ourPrivateKey: x, theirPublicKey: pMinus1 }),
      );
    },
  });

  return out;
}

/** The receiver of a test's messages can still answer: its next text is read by the other side. */
async function replyIsRead(p: Pair, from: Side): Promise<void> {
  const t = `${from.label} is still in the conversation`;
  const seen = await exchange(p, from, await from.send(t));
  same(`${other(p, from).label} reads ${from.label}'s reply`, [t], textsOf(from === p.iut ? seen.ref : seen.iut));
}

export const otrSuite: Suite = {
  name: "otr",
  description:
    "OTR v3 and v2 against Parley: AKE either way, key rotation, fragments, loss, reordering, duplicates, tampering, instance tags, SMP, ending; fingerprints and Query messages of otr-v1.json",
  cases,
};
