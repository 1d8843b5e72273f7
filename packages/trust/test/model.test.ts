import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { btbvPolicy, createTrustStore, manualPolicy, memoryTrustStorage, tofuPolicy } from "../src/index.js";
import type { TrustPolicy, TrustState } from "../src/index.js";

// A reference model of the three policies, written from the words rather than from src/policy.ts:
// - TOFU: the keys of the first batch ever seen for (contact, protocol) are trusted ("tofu"); later ones untrusted.
// - BTBV: new keys are trusted until the user verifies or marks compromised one key of (contact, protocol); after
//   that new keys are untrusted, even once that key is distrusted or compromised.
// - manual: new keys are untrusted, and only verified keys are trusted.
// User actions set verified / untrusted / compromised on any key, seen or not.

type PolicyName = "tofu" | "btbv" | "manual";
const POLICIES: Record<PolicyName, TrustPolicy> = { tofu: tofuPolicy, btbv: btbvPolicy, manual: manualPolicy };
const CONTACTS = ["alice@example.org", "bob@example.net/phone"];
const PROTOCOLS = ["omemo", "otr"] as const;
const KEYS_PER_PROTOCOL = 4;

/** Key i of a protocol, canonical. */
function canonical(protocol: (typeof PROTOCOLS)[number], i: number): string {
  return protocol === "omemo" ? `${i}f`.repeat(32) : `${i}e`.repeat(20);
}

/** The same key written the ways protocols and people write it: bytes-as-hex, uppercase, grouped, with 0x05. */
function spelled(protocol: (typeof PROTOCOLS)[number], i: number, style: number): string | Uint8Array {
  const hex = canonical(protocol, i);
  switch (style) {
    case 0:
      return hex;
    case 1:
      return hex.toUpperCase();
    case 2:
      return hex.replace(/(.{8})/g, "$1 ").trim();
    default:
      return protocol === "omemo"
        ? Uint8Array.from([5, ...hex.match(/../g)!.map((b) => parseInt(b, 16))])
        : hex.replace(/(..)/g, "$1:");
  }
}

type Command =
  | { kind: "seen"; contact: number; protocol: number; keys: number[]; style: number }
  | { kind: "verify" | "distrust" | "compromise"; contact: number; protocol: number; key: number; style: number }
  | { kind: "policy"; policy: PolicyName };

const contactArb = fc.integer({ min: 0, max: CONTACTS.length - 1 });
const protocolArb = fc.integer({ min: 0, max: PROTOCOLS.length - 1 });
const keyArb = fc.integer({ min: 0, max: KEYS_PER_PROTOCOL - 1 });
const styleArb = fc.integer({ min: 0, max: 3 });

const userCommand = fc.record({
  kind: fc.constantFrom("verify" as const, "distrust" as const, "compromise" as const),
  contact: contactArb,
  protocol: protocolArb,
  key: keyArb,
  style: styleArb,
});
const seenCommand = fc.record({
  kind: fc.constant("seen" as const),
  contact: contactArb,
  protocol: protocolArb,
  keys: fc.array(keyArb, { minLength: 1, maxLength: 3 }),
  style: styleArb,
});
const policyCommand = fc.record({
  kind: fc.constant("policy" as const),
  policy: fc.constantFrom<PolicyName>("tofu", "btbv", "manual"),
});
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: seenCommand },
  { weight: 3, arbitrary: userCommand },
  { weight: 1, arbitrary: policyCommand },
);

class Model {
  policy: PolicyName;
  readonly states = new Map<string, TrustState>();
  /** (contact, protocol) groups where the user ever verified or marked compromised a key. */
  readonly vouched = new Set<string>();
  keysAdded = 0;
  constructor(policy: PolicyName) {
    this.policy = policy;
  }
  static id(contact: number, protocol: number, key: number): string {
    return `${contact}|${protocol}|${key}`;
  }
  group(contact: number, protocol: number): TrustState[] {
    const out: TrustState[] = [];
    for (let key = 0; key < KEYS_PER_PROTOCOL; key++) {
      const state = this.states.get(Model.id(contact, protocol, key));
      if (state !== undefined) out.push(state);
    }
    return out;
  }
  apply(command: Command): void {
    if (command.kind === "policy") {
      this.policy = command.policy;
      return;
    }
    if (command.kind === "seen") {
      const before = this.group(command.contact, command.protocol);
      let fresh: TrustState;
      if (this.policy === "tofu") fresh = before.length === 0 ? "tofu" : "untrusted";
      else if (this.policy === "btbv")
        fresh = this.vouched.has(`${command.contact}|${command.protocol}`) ? "untrusted" : "tofu";
      else fresh = "untrusted";
      for (const key of new Set(command.keys)) {
        const id = Model.id(command.contact, command.protocol, key);
        if (!this.states.has(id)) {
          this.states.set(id, fresh);
          this.keysAdded += 1;
        }
      }
      return;
    }
    const target: TrustState =
      command.kind === "verify" ? "verified" : command.kind === "distrust" ? "untrusted" : "compromised";
    this.states.set(Model.id(command.contact, command.protocol, command.key), target);
    if (target !== "untrusted") this.vouched.add(`${command.contact}|${command.protocol}`);
  }
  trusted(state: TrustState | undefined): boolean {
    return state === "verified" || (state === "tofu" && this.policy !== "manual");
  }
}

async function run(store: ReturnType<typeof createTrustStore>, command: Command): Promise<void> {
  if (command.kind === "policy") {
    store.setPolicy(POLICIES[command.policy]);
    return;
  }
  const contact = CONTACTS[command.contact]!;
  const protocol = PROTOCOLS[command.protocol]!;
  if (command.kind === "seen") {
    await store.keysSeen(
      "me@example.com",
      contact,
      protocol,
      command.keys.map((key) => spelled(protocol, key, command.style)),
    );
    return;
  }
  const fingerprint = spelled(protocol, command.key, command.style);
  if (command.kind === "verify") await store.verify("me@example.com", contact, protocol, fingerprint, { method: "qr" });
  else if (command.kind === "distrust") await store.distrust("me@example.com", contact, protocol, fingerprint);
  else await store.markCompromised("me@example.com", contact, protocol, fingerprint);
}

async function expectAgreement(store: ReturnType<typeof createTrustStore>, model: Model): Promise<void> {
  for (let contact = 0; contact < CONTACTS.length; contact++)
    for (let protocol = 0; protocol < PROTOCOLS.length; protocol++)
      for (let key = 0; key < KEYS_PER_PROTOCOL; key++) {
        const args = [
          "me@example.com",
          CONTACTS[contact]!,
          PROTOCOLS[protocol]!,
          canonical(PROTOCOLS[protocol]!, key),
        ] as const;
        const expected = model.states.get(Model.id(contact, protocol, key));
        const record = await store.getRecord(...args);
        expect(record?.state).toBe(expected);
        const encrypt = await store.shouldEncryptTo(...args);
        expect(encrypt.allowed).toBe(model.trusted(expected));
        const accept = await store.shouldAcceptFrom(...args);
        expect(accept.allowed).toBe(expected !== "compromised");
        expect(accept.trusted).toBe(model.trusted(expected));
      }
}

describe("trust store against a reference model of TOFU, BTBV and manual", () => {
  it("agrees with the model after every step of any sequence of key seen / verify / distrust / compromise / policy change", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<PolicyName>("tofu", "btbv", "manual"),
        fc.array(commandArb, { maxLength: 30 }),
        async (initial, commands) => {
          const store = createTrustStore({ storage: memoryTrustStorage(), policy: POLICIES[initial] });
          const model = new Model(initial);
          let added = 0;
          store.on("keyAdded", () => {
            added += 1;
          });
          for (const command of commands) {
            await run(store, command);
            model.apply(command);
            await expectAgreement(store, model);
          }
          expect(added).toBe(model.keysAdded);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("reaches the model's state when the same commands are issued concurrently (per-contact lock keeps call order)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<PolicyName>("tofu", "btbv", "manual"),
        fc.array(fc.oneof(seenCommand, userCommand), { maxLength: 30 }),
        async (initial, commands) => {
          const store = createTrustStore({ storage: memoryTrustStorage(), policy: POLICIES[initial] });
          const model = new Model(initial);
          await Promise.all(commands.map((command) => run(store, command)));
          for (const command of commands) model.apply(command);
          await expectAgreement(store, model);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("agrees with the model after a reload from the same storage (state is data, not memory)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 20 }), async (commands) => {
        const storage = memoryTrustStorage();
        const store = createTrustStore({ storage });
        const model = new Model("tofu");
        for (const command of commands) {
          await run(store, command);
          model.apply(command);
        }
        const reopened = createTrustStore({ storage, policy: POLICIES[model.policy] });
        await expectAgreement(reopened, model);
      }),
      { numRuns: 60 },
    );
  });
});
