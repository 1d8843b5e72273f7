import { recordSmpResult, type MessageState, type OtrEvent, type SmpResult } from "@parley/otr";
import { formatFingerprint, type TrustState } from "@parley/trust";
import type { Client } from "./client.js";
import { ALICE, BOB, type Print, type World } from "./world.js";

export interface OtrStoryResult {
  /** Message states after the AKE, and the protocol version. */
  readonly afterAke: { readonly alice: MessageState; readonly bob: MessageState; readonly version: number | undefined };
  /** Stanzas the AKE took (Query message included). */
  readonly akeStanzas: number;
  /** OTR fingerprints (40 hex) of each side's DSA key. */
  readonly fingerprints: { readonly alice: string; readonly bob: string };
  /** Decrypted texts each side read. */
  readonly read: { readonly alice: readonly string[]; readonly bob: readonly string[] };
  readonly smp: {
    readonly question: string | undefined;
    readonly alice: SmpResult | undefined;
    readonly bob: SmpResult | undefined;
  };
  /** Alice's trust in Bob's OTR key, before and after SMP, and how it was verified. */
  readonly trust: {
    readonly before: TrustState | undefined;
    readonly after: TrustState | undefined;
    readonly method: string | undefined;
  };
  /** Bob's message state after Alice ended the conversation. */
  readonly bobAfterEnd: MessageState;
}

const texts = (events: readonly OtrEvent[]): string[] =>
  events.flatMap((e) => (e.type === "message" && e.encrypted ? [e.text] : []));
const smpResult = (events: readonly OtrEvent[]): SmpResult | undefined => {
  for (const e of events) if (e.type === "smp-result") return e.result;
  return undefined;
};

/** (c) OTR between Alice's phone and Bob's phone: AKE, messages, SMP with a question, recorded in the trust store. */
export async function otrStory(
  world: World,
  print: Print,
  clients: { alicePhone: Client; bobPhone: Client },
): Promise<OtrStoryResult> {
  const { alicePhone, bobPhone } = clients;
  const alice = await alicePhone.startOtr(`${BOB}/phone`);
  const bob = await bobPhone.startOtr(`${ALICE}/phone`);
  const otr = (hex: string) => formatFingerprint(hex, "otr");
  print(`Alice's OTR key (DSA, kept in her encrypted store): ${otr(alice.ourFingerprint)}`);
  print(`Bob's OTR key:                                     ${otr(bob.ourFingerprint)}`);

  const wireBefore = world.router.wire.length;
  await alicePhone.sendOtr(alice.startAke());
  await world.router.idle();
  const akeStanzas = world.router.wire.length - wireBefore;
  const afterAke = { alice: alice.messageState, bob: bob.messageState, version: alice.version };
  print(
    `AKE (Query, D-H Commit, D-H Key, Reveal Signature, Signature): ${akeStanzas} stanzas; Alice ${alice.messageState}, Bob ${bob.messageState} (OTR v${alice.version ?? "-"})`,
  );
  const bobKey = alice.theirFingerprint ?? "";
  const before = await alicePhone.trust.keySeen(ALICE, BOB, "otr", { fingerprint: bobKey });
  print(`Alice's phone sees Bob's key ${otr(bobKey)}: ${before.state} (first OTR key for Bob)`);

  await alicePhone.sendOtr(alice.send("Off the record: the meeting moved to Thursday."));
  await world.router.idle();
  await bobPhone.sendOtr(bob.send("Thursday it is. Deniably yours."));
  await world.router.idle();
  const wire = world.router.wire.filter((x) => x.includes("?OTR:")).at(-1) ?? "";
  print(`Bob read:   "${texts(bobPhone.otrEvents).join('", "')}"`);
  print(`Alice read: "${texts(alicePhone.otrEvents).join('", "')}"`);
  print(
    `    on the wire: <body>${/\?OTR:[A-Za-z0-9+/]{0,16}/.exec(wire)?.[0] ?? "?"}…</body> (carbons off: <private xmlns='urn:xmpp:carbons:2'/>)`,
  );

  const question = "Where did we first meet?";
  await alicePhone.sendOtr(alice.smp.start("at the blue door", question));
  await world.router.idle();
  const asked = bobPhone.otrEvents.find((e) => e.type === "smp-request");
  print(`SMP: Alice asks "${asked?.type === "smp-request" ? (asked.question ?? "") : "?"}"; Bob types his answer`);
  await bobPhone.sendOtr(bob.smp.respond("at the blue door"));
  await world.router.idle();
  const aliceResult = alicePhone.otrEvents.find((e) => e.type === "smp-result");
  const bobResult = bobPhone.otrEvents.find((e) => e.type === "smp-result");
  print(
    `SMP result: Alice ${smpResult(alicePhone.otrEvents) ?? "none"}, Bob ${smpResult(bobPhone.otrEvents) ?? "none"}`,
  );
  if (aliceResult !== undefined) await recordSmpResult(alicePhone.trust, alice, aliceResult);
  if (bobResult !== undefined) await recordSmpResult(bobPhone.trust, bob, bobResult);
  const record = await alicePhone.trust.getRecord(ALICE, BOB, "otr", bobKey);
  const last = record?.history.at(-1)?.cause;
  const method = last?.kind === "user" ? last.method : undefined;
  print(`Alice's trust store: Bob's OTR key ${record?.state ?? "unknown"} (method: ${method ?? "-"})`);

  await alicePhone.sendOtr(alice.end());
  await world.router.idle();
  print(`Alice ends the conversation: Alice ${alice.messageState}, Bob ${bob.messageState} (Bob's app tells him)`);

  return {
    afterAke,
    akeStanzas,
    fingerprints: { alice: alice.ourFingerprint, bob: bob.ourFingerprint },
    read: { alice: texts(alicePhone.otrEvents), bob: texts(bobPhone.otrEvents) },
    smp: {
      question: asked?.type === "smp-request" ? asked.question : undefined,
      alice: smpResult(alicePhone.otrEvents),
      bob: smpResult(bobPhone.otrEvents),
    },
    trust: { before: before.state, after: record?.state, method },
    bobAfterEnd: bob.messageState,
  };
}
