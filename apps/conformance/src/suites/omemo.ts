/**
 * OMEMO stanzas, both namespaces: live conversations between devices of the implementation under test
 * and Parley's, with the runner as the XMPP server (PEP and message delivery). First messages both ways,
 * several devices per account, used prekeys replaced, repeated, lost, reordered and tampered stanzas,
 * messages without payload, OMEMO 2 envelopes addressed to someone else, and the malformed stanzas of
 * `vectors/omemo-malformed-v1.json`.
 */
import { NS_LEGACY, NS_V2, parseXml, serializeXml, type Element } from "@parley/omemo";
import type { OpName, ProfileName } from "../protocol.js";
import type { OmemoDecryptResult, OmemoEffects, PepItem } from "../protocol-omemo.js";
import type { Implementation } from "../reference.js";
import type { CaseContext, Suite, TestCase } from "../suite.js";
import type { OmemoMalformedFile, OmemoVectorFile } from "../vectors.js";
import { check, expectError, same } from "./assert.js";
import { loadVectors } from "./util.js";
import { edited, flipBase64, setText } from "./xml.js";

const PROFILES: readonly ProfileName[] = ["legacyOmemo", "omemo2"];
const IUT_JID = "iut@conformance.example";
/** The fewest one-time prekeys a bundle MUST hold: v0.3.0 §4.3 (20), v0.8.3 §4.1 (25). */
const MIN_PRE_KEYS: Partial<Record<ProfileName, number>> = { legacyOmemo: 20, omemo2: 25 };
const PARLEY_JID = "parley@reference.example";

/** A device in the world: which implementation runs it, its account and handle. */
interface Device {
  readonly impl: Implementation;
  readonly label: string;
  readonly jid: string;
  readonly handle: string;
  readonly deviceId: number;
  readonly resource: string;
}

/**
 * `xml` as a server delivers it: `from` stamped with the sender's full JID, `to` kept as the sender
 * addressed it (a copy for one of the sender's own devices keeps the contact in `to`, as a carbon
 * does), or set to the receiver's account when absent.
 */
export function stamp(xml: string, from: string, to: string): string {
  const el = parseXml(xml);
  el.attrs["from"] = from;
  el.attrs["to"] ??= to;
  return serializeXml(el);
}

/** The `<encrypted>` child of a `<message>` (or the element itself). */
function encryptedOf(el: Element): Element {
  if (el.name === "encrypted" || el.name.endsWith(":encrypted")) return el;
  const e =
    el.getChildren("encrypted").find(Boolean) ??
    el.children.find((c) => typeof c !== "string" && c.name === "encrypted");
  if (e === undefined || typeof e === "string") throw new Error("the stanza has no <encrypted>");
  return e;
}

/** Every `<key>` of a message, with the device it is for. */
function keyElements(stanza: Element): Element[] {
  const header = encryptedOf(stanza).getChild("header");
  if (!header) throw new Error("the stanza has no <header>");
  return [...header.getChildren("key"), ...header.getChildren("keys").flatMap((k) => k.getChildren("key"))];
}

/**
 * The runner as the XMPP server: every account's PEP items, handed to every other device as they are
 * published, and the stanzas devices sent by themselves, waiting to be delivered.
 */
class World {
  readonly #items = new Map<string, PepItem>();
  readonly devices: Device[] = [];
  /** Stanzas devices sent by themselves (empty messages, heartbeats), in order. */
  readonly outbox: { from: Device; to: string; xml: string }[] = [];
  readonly #profile: ProfileName;

  constructor(profile: ProfileName) {
    this.#profile = profile;
  }

  async create(impl: Implementation, label: string, jid: string): Promise<Device> {
    const r = await impl.call("omemo.createDevice", {
      jid,
      profiles: [this.#profile],
      pep: [...this.#items.values()],
    });
    const device: Device = {
      impl,
      label,
      jid,
      handle: r.device,
      deviceId: r.deviceId,
      resource: `r${this.devices.length + 1}`,
    };
    check(
      `${label}'s device id`,
      Number.isInteger(r.deviceId) && r.deviceId >= 1 && r.deviceId < 2 ** 31,
      "1 to 2^31 - 1",
      String(r.deviceId),
    );
    this.devices.push(device);
    await this.absorb(device, r);
    return device;
  }

  /** The newest items of `jid`'s `node`. */
  items(jid: string, node: string): PepItem[] {
    return [...this.#items.values()].filter((i) => i.jid === jid && i.node === node);
  }

  /** Stores what `from` published and hands it to every other device; queues what it sent. */
  async absorb(from: Device, effects: OmemoEffects, depth = 0): Promise<void> {
    if (!Array.isArray(effects.published) || !Array.isArray(effects.sent)) {
      throw new Error(`${from.label}'s answer lacks published/sent`);
    }
    for (const s of effects.sent) this.outbox.push({ from, to: s.to, xml: s.xml });
    for (const item of effects.published) {
      check(`${from.label} publishes only to its own account's nodes`, item.jid === from.jid, from.jid, item.jid);
      const key = `${item.jid}\n${item.node}\n${item.itemId}`;
      this.#items.delete(key);
      if (item.xml !== null) this.#items.set(key, item);
      for (const other of this.devices) {
        if (other === from) continue;
        const r = await other.impl.call("omemo.pepPut", { device: other.handle, item });
        if (depth > 4) throw new Error("devices keep republishing in reaction to each other");
        await this.absorb(other, r, depth + 1);
      }
    }
  }

  async send(from: Device, to: string, body: string | null, envelopeTo?: string) {
    const r = await from.impl.call("omemo.encrypt", {
      device: from.handle,
      profile: this.#profile,
      to,
      body,
      ...(envelopeTo !== undefined ? { envelopeTo } : {}),
    });
    await this.absorb(from, r);
    return r;
  }

  async deliver(from: Device, to: Device, xml: string): Promise<OmemoDecryptResult> {
    const r = await to.impl.call("omemo.decrypt", {
      device: to.handle,
      stanza: stamp(xml, `${from.jid}/${from.resource}`, to.jid),
    });
    await this.absorb(to, r);
    return r;
  }

  /** `from` sends `body` to `to`'s account and `to` reads it. */
  async say(from: Device, to: Device, body: string): Promise<OmemoDecryptResult> {
    const { stanza } = await this.send(from, to.jid, body);
    const r = await this.deliver(from, to, stanza);
    same(
      `${to.label} reads ${from.label}'s "${body}"`,
      { body, from: from.jid, senderDeviceId: from.deviceId },
      {
        body: r.body,
        from: r.from,
        senderDeviceId: r.senderDeviceId,
      },
    );
    return r;
  }

  /**
   * Delivers the stanzas devices sent by themselves to the devices they have a key for; each must
   * decrypt (as a message without payload). Repeats until nothing is left.
   */
  async flush(): Promise<void> {
    for (let round = 0; this.outbox.length > 0; round++) {
      if (round > 20) throw new Error("devices keep sending messages by themselves");
      const { from, to, xml } = this.outbox.shift()!;
      const rids = new Set(keyElements(parseXml(xml)).map((k) => Number(k.attrs["rid"])));
      for (const d of this.devices) {
        if (d === from || d.jid !== to.split("/")[0] || !rids.has(d.deviceId)) continue;
        const r = await this.deliver(from, d, xml);
        check(
          `${d.label} reads ${from.label}'s message sent by itself as one without payload`,
          r.body === null,
          "body null",
          JSON.stringify(r.body),
        );
      }
    }
  }
}

/** The one-time prekey a key-exchange `<key>` uses, from Parley's inspection of its bytes. */
async function preKeyIdOf(ref: Implementation, profile: ProfileName, key: Element): Promise<number | null> {
  const data = Buffer.from(key.getText().replace(/\s+/g, ""), "base64").toString("hex");
  const info = await ref.call("ratchet.inspect", { profile, message: data, isKeyExchange: true });
  return info.keyExchange?.oneTimePreKeyId ?? null;
}

function bundleNode(profile: ProfileName, deviceId: number): string {
  return profile === "legacyOmemo" ? `${NS_LEGACY}.bundles:${deviceId}` : `${NS_V2}:bundles`;
}

function bundleItem(world: World, profile: ProfileName, device: Device): PepItem | undefined {
  return world
    .items(device.jid, bundleNode(profile, device.deviceId))
    .find((i) => profile === "legacyOmemo" || i.itemId === String(device.deviceId));
}

/** The one-time prekey ids of a bundle's XML (legacy `<preKeyPublic preKeyId>`, OMEMO 2 `<pk id>`). */
function preKeyIds(xml: string): number[] {
  const bundle = parseXml(xml);
  const list = bundle.getChild("prekeys");
  if (!list) return [];
  return list.children
    .filter((c): c is Element => typeof c !== "string")
    .map((c) => Number(c.attrs["preKeyId"] ?? c.attrs["id"]));
}

function deviceListIds(xml: string): number[] {
  const list = parseXml(xml);
  return list.children.filter((c): c is Element => typeof c !== "string").map((c) => Number(c.attrs["id"]));
}

/** A world with one IUT device and one Parley device that know each other's publications. */
async function pair(ctx: CaseContext, profile: ProfileName) {
  const world = new World(profile);
  const iut = await world.create(ctx.iut, "IUT", IUT_JID);
  const parley = await world.create(ctx.ref, "Parley", PARLEY_JID);
  return { world, iut, parley };
}

/** A pair with an established session (Parley started, the IUT answered, every automatic message delivered). */
async function established(ctx: CaseContext, profile: ProfileName) {
  const p = await pair(ctx, profile);
  await p.world.say(p.parley, p.iut, "hello");
  await p.world.flush();
  await p.world.say(p.iut, p.parley, "hello back");
  await p.world.flush();
  return p;
}

const MALFORMED = loadVectors("omemo-malformed-v1.json") as OmemoMalformedFile;
const KNOWN = loadVectors("omemo-v1.json") as OmemoVectorFile;

export const omemoSuite: Suite = {
  name: "omemo",
  description: "OMEMO stanzas in both namespaces: live conversations with Parley through a simulated server.",
  cases() {
    const cases: TestCase[] = [];
    const add = (profile: ProfileName, name: string, run: (ctx: CaseContext) => Promise<void>) => {
      const ops: OpName[] = ["omemo.createDevice", "omemo.pepPut", "omemo.encrypt", "omemo.decrypt"];
      cases.push({ suite: "omemo", name: `${profile}: ${name}`, profile, ops, run });
    };
    for (const profile of PROFILES) {
      const listNode = profile === "legacyOmemo" ? `${NS_LEGACY}.devicelist` : `${NS_V2}:devices`;

      add(
        profile,
        "a new device publishes a device list naming it and a bundle with at least 25 one-time prekeys",
        async (ctx) => {
          const world = new World(profile);
          const iut = await world.create(ctx.iut, "IUT", IUT_JID);
          const lists = world.items(IUT_JID, listNode);
          check("the IUT's device list item", lists.length === 1, `one item of ${listNode}`, `${lists.length}`);
          check(
            "its device list names it",
            deviceListIds(lists[0]!.xml!).includes(iut.deviceId),
            String(iut.deviceId),
            lists[0]!.xml!,
          );
          const bundle = bundleItem(world, profile, iut);
          check("its bundle", bundle !== undefined, `an item of ${bundleNode(profile, iut.deviceId)}`, "none");
          const n = preKeyIds(bundle!.xml!).length;
          // v0.3.0 §4.3: SHOULD 100, MUST no less than 20; v0.8.3 §4.1: SHOULD around 100, MUST at least 25.
          const floor = MIN_PRE_KEYS[profile]!;
          check("one-time prekeys in its bundle", n >= floor, `at least ${floor}`, String(n));
          // Parley reads the bundle: a session from it (signature checked) must come out.
          const parley = await world.create(ctx.ref, "Parley", PARLEY_JID);
          await world.say(parley, iut, "a first message");
        },
      );

      add(profile, "Parley starts: the IUT reads the key exchange, then six messages each way", async (ctx) => {
        const { world, iut, parley } = await pair(ctx, profile);
        const r = await world.say(parley, iut, "hello");
        check("the IUT sees the key exchange", r.keyExchange, "keyExchange true", "false");
        await world.flush();
        for (let i = 0; i < 6; i++) {
          await world.say(iut, parley, `iut ${i}`);
          await world.say(parley, iut, `parley ${i}`);
        }
        await world.flush();
      });

      add(profile, "the IUT starts: Parley reads its key exchange, then six messages each way", async (ctx) => {
        const { world, iut, parley } = await pair(ctx, profile);
        const sent = await world.send(iut, PARLEY_JID, "hello from the IUT");
        same("the IUT's keys", [{ jid: PARLEY_JID, deviceId: parley.deviceId, keyExchange: true }], sent.keys);
        const r = await world.deliver(iut, parley, sent.stanza);
        same(
          "Parley reads it",
          { body: "hello from the IUT", keyExchange: true },
          { body: r.body, keyExchange: r.keyExchange },
        );
        await world.flush();
        for (let i = 0; i < 6; i++) {
          await world.say(parley, iut, `parley ${i}`);
          await world.say(iut, parley, `iut ${i}`);
        }
        await world.flush();
      });

      // v0.8.3 §6: "The client MUST then republish their bundle information, replacing the used PreKey";
      // v0.3.0 §5 only SHOULD (deployed legacy clients do it, but a SHOULD fails no one here).
      if (profile === "omemo2")
        add(profile, "a used one-time prekey is replaced: the IUT republishes its bundle without it", async (ctx) => {
          const { world, iut, parley } = await pair(ctx, profile);
          const before = preKeyIds(bundleItem(world, profile, iut)!.xml!);
          const { stanza } = await world.send(parley, IUT_JID, "hello");
          const key = keyElements(parseXml(stanza)).find((k) => Number(k.attrs["rid"]) === iut.deviceId)!;
          const used = await preKeyIdOf(ctx.ref, profile, key);
          check(
            "Parley's key exchange uses a one-time prekey of the bundle",
            used !== null && before.includes(used),
            `one of ${before.length} ids`,
            String(used),
          );
          await world.deliver(parley, iut, stanza);
          await world.flush();
          const after = preKeyIds(bundleItem(world, profile, iut)!.xml!);
          check(
            "the republished bundle lacks the used prekey",
            !after.includes(used!),
            `no id ${used}`,
            `id ${used} still published`,
          );
          check("one-time prekeys left in it", after.length >= 25, "at least 25", String(after.length));
        });

      add(profile, "a repeated stanza is refused (DUPLICATE_MESSAGE) and the conversation goes on", async (ctx) => {
        const { world, iut, parley } = await established(ctx, profile);
        const { stanza } = await world.send(parley, IUT_JID, "once");
        await world.deliver(parley, iut, stanza);
        await expectError(
          "the IUT decrypts the same stanza again",
          "DUPLICATE_MESSAGE",
          world.deliver(parley, iut, stanza),
        );
        await world.say(iut, parley, "still talking");
        await world.say(parley, iut, "yes");
      });

      add(
        profile,
        "a repeated key exchange is refused after it was read, and the session it built goes on",
        async (ctx) => {
          const { world, iut, parley } = await pair(ctx, profile);
          const { stanza } = await world.send(parley, IUT_JID, "hello");
          await world.deliver(parley, iut, stanza);
          await world.flush();
          // Its message was read (DUPLICATE_MESSAGE), or its one-time prekey is gone (UNKNOWN_PRE_KEY: an
          // implementation that tries to build the session again, v0.3.0 §5); either way not shown twice.
          await expectError(
            "the IUT decrypts the key exchange again",
            ["DUPLICATE_MESSAGE", "UNKNOWN_PRE_KEY"],
            world.deliver(parley, iut, stanza),
          );
          await world.say(iut, parley, "one session");
          await world.say(parley, iut, "still one");
        },
      );

      add(profile, "lost and reordered messages, also across a DH step: the ones that arrive are read", async (ctx) => {
        const { world, iut, parley } = await established(ctx, profile);
        const m: string[] = [];
        for (let i = 0; i < 5; i++) m.push((await world.send(parley, IUT_JID, `m${i}`)).stanza);
        for (const i of [4, 1, 3, 0]) {
          const r = await world.deliver(parley, iut, m[i]!); // m2 is held back
          same(`the IUT reads m${i}`, `m${i}`, r.body);
        }
        // The IUT's reply makes Parley's next message start a new sending chain (a DH step)...
        await world.say(iut, parley, "got four of five");
        await world.say(parley, iut, "a new chain");
        // ...after which m2, of the previous chain, arrives: read from that chain's skipped keys.
        same(
          "the IUT reads m2 of the previous chain after the DH step",
          "m2",
          (await world.deliver(parley, iut, m[2]!)).body,
        );
      });

      add(profile, "a flipped bit in the IUT's <key> is refused (BAD_MAC) and changes nothing", async (ctx) => {
        const { world, iut, parley } = await established(ctx, profile);
        const { stanza } = await world.send(parley, IUT_JID, "intact");
        const tampered = edited(stanza, (m) => {
          const key = keyElements(m).find((k) => Number(k.attrs["rid"]) === iut.deviceId)!;
          setText(key, flipBase64(key.getText(), -3));
        });
        await expectError("the IUT decrypts a tampered key", "BAD_MAC", world.deliver(parley, iut, tampered));
        same("then the intact stanza", "intact", (await world.deliver(parley, iut, stanza)).body);
      });

      add(profile, "a flipped bit in the <payload> is refused (BAD_MAC) and the conversation goes on", async (ctx) => {
        const { world, iut, parley } = await established(ctx, profile);
        const { stanza } = await world.send(parley, IUT_JID, "tampered on the way");
        const tampered = edited(stanza, (m) => {
          const payload = encryptedOf(m).getChild("payload")!;
          setText(payload, flipBase64(payload.getText(), 0));
        });
        await expectError("the IUT decrypts a tampered payload", "BAD_MAC", world.deliver(parley, iut, tampered));
        // Its <key> authenticated, so the ratchet may have used its message key (libsignal-based clients
        // commit the session before the payload check; neither XEP asks to roll back): the next one is read.
        await world.say(parley, iut, "the next message");
        await world.say(iut, parley, "and a reply");
      });

      add(
        profile,
        "a message with no <key> for the IUT's device is refused (NO_KEY_FOR_US) and changes nothing",
        async (ctx) => {
          const { world, iut, parley } = await established(ctx, profile);
          const { stanza } = await world.send(parley, IUT_JID, "for you");
          const stripped = edited(stanza, (m) => {
            for (const k of keyElements(m)) {
              if (Number(k.attrs["rid"]) === iut.deviceId)
                k.attrs["rid"] = String(iut.deviceId === 1 ? 2 : iut.deviceId - 1);
            }
          });
          await expectError(
            "the IUT decrypts a message without its key",
            "NO_KEY_FOR_US",
            world.deliver(parley, iut, stripped),
          );
          same("then the real stanza", "for you", (await world.deliver(parley, iut, stanza)).body);
        },
      );

      add(profile, "a message without payload (key transport / empty message) is read as one", async (ctx) => {
        const { world, iut, parley } = await established(ctx, profile);
        const { stanza } = await world.send(parley, IUT_JID, null);
        check("no <payload>", encryptedOf(parseXml(stanza)).getChild("payload") === undefined, "none", "a payload");
        const r = await world.deliver(parley, iut, stanza);
        same("the IUT reads no body", null, r.body);
        await world.flush();
        await world.say(iut, parley, "after the empty one");
      });

      add(profile, "two devices per account: every device gets a key, own devices included", async (ctx) => {
        const world = new World(profile);
        const iut1 = await world.create(ctx.iut, "IUT 1", IUT_JID);
        const parley1 = await world.create(ctx.ref, "Parley 1", PARLEY_JID);
        const iut2 = await world.create(ctx.iut, "IUT 2", IUT_JID);
        const parley2 = await world.create(ctx.ref, "Parley 2", PARLEY_JID);
        const list = world.items(IUT_JID, listNode).at(-1)!;
        same(
          "the IUT account's device list keeps both devices",
          [iut1.deviceId, iut2.deviceId].sort(),
          deviceListIds(list.xml!).sort(),
        );
        // Parley 1 → both IUT devices (and Parley 2, its own other device)
        const a = await world.send(parley1, IUT_JID, "to all of you");
        for (const d of [iut1, iut2, parley2]) {
          const r = await world.deliver(parley1, d, a.stanza);
          same(`${d.label} reads Parley 1's message`, "to all of you", r.body);
        }
        await world.flush();
        // IUT 1 → both Parley devices and IUT 2
        const b = await world.send(iut1, PARLEY_JID, "and to all of you");
        same(
          "the IUT's keys: the contact's devices and its own other device",
          [
            { jid: IUT_JID, deviceId: iut2.deviceId },
            { jid: PARLEY_JID, deviceId: parley1.deviceId },
            { jid: PARLEY_JID, deviceId: parley2.deviceId },
          ].sort((x, y) => `${x.jid} ${x.deviceId}`.localeCompare(`${y.jid} ${y.deviceId}`)),
          b.keys
            .map((k) => ({ jid: k.jid, deviceId: k.deviceId }))
            .sort((x, y) => `${x.jid} ${x.deviceId}`.localeCompare(`${y.jid} ${y.deviceId}`)),
        );
        for (const d of [parley1, parley2, iut2]) {
          const r = await world.deliver(iut1, d, b.stanza);
          same(`${d.label} reads IUT 1's message`, "and to all of you", r.body);
        }
        await world.flush();
        await world.say(iut2, parley2, "second devices talk too");
      });

      if (profile === "omemo2") {
        add(
          profile,
          "an envelope whose <to> names someone else is refused (ENVELOPE_MISMATCH) and the conversation goes on",
          async (ctx) => {
            const { world, iut, parley } = await established(ctx, profile);
            const wrong = await world.send(parley, IUT_JID, "not for you", "mallory@elsewhere.example");
            await expectError(
              "the IUT decrypts an envelope addressed to mallory",
              "ENVELOPE_MISMATCH",
              world.deliver(parley, iut, wrong.stanza),
            );
            await world.say(parley, iut, "this one is");
          },
        );
      }

      const malformed = MALFORMED.vectors.filter((v) => v.profile === profile);
      add(
        profile,
        `malformed stanzas of vectors/omemo-malformed-v1.json (${malformed.length}) are refused (MALFORMED_STANZA) and the conversation goes on`,
        async (ctx) => {
          const { world, iut, parley } = await established(ctx, profile);
          for (const v of malformed) {
            // Made for another pair of devices: readdressed to the IUT's device and account, and sent by
            // Parley's device of this conversation (a session exists), so that the malformation is the
            // only thing wrong with it, also for an implementation that decodes only its own key or
            // looks up the session first.
            const stanza = edited(v.stanza, (m) => {
              m.attrs["to"] = IUT_JID;
              const header = m.getChild("encrypted")?.getChild("header");
              const sid = header?.attrs["sid"] as string | undefined;
              if (header && sid !== undefined && /^[0-9]+$/.test(sid) && sid.length < 10) {
                header.attrs["sid"] = String(parley.deviceId);
              }
              const key = header ? keyElements(m).at(0) : undefined;
              const rid = key?.attrs["rid"] as string | undefined;
              if (key && rid !== undefined && /^[0-9]+$/.test(rid)) key.attrs["rid"] = String(iut.deviceId);
              const keys = header?.getChild("keys");
              if (keys?.attrs["jid"] !== undefined) keys.attrs["jid"] = IUT_JID;
            });
            await expectError(
              `the IUT decrypts "${v.name}" (${v.description})`,
              ["MALFORMED_STANZA", ...(v.alsoAccepted ?? [])],
              world.deliver(parley, iut, stanza),
            );
          }
          await world.say(parley, iut, "after the malformed ones");
          await world.say(iut, parley, "still fine");
        },
      );

      const known = KNOWN.vectors.filter((v) => v.profile === profile);
      cases.push({
        suite: "omemo",
        name: `${profile}: known answers of vectors/omemo-v1.json (${known.length}): a device of fixed keys reads Parley's stanzas, refuses a tampered <key> or <payload> (BAD_MAC) and a repeated stanza (DUPLICATE_MESSAGE)`,
        profile,
        ops: ["omemo.decryptWithKeys"],
        async run({ iut }) {
          for (const v of known) {
            const r = await iut.call("omemo.decryptWithKeys", { profile, device: v.device, stanzas: v.stanzas });
            same(`vector ${v.name} (${v.description})`, v.messages, r.messages);
          }
          const v = known[0]!;
          const decrypt = (stanzas: string[]) =>
            iut.call("omemo.decryptWithKeys", { profile, device: v.device, stanzas });
          const payloadFlipped = edited(v.stanzas[1]!, (m) => {
            const payload = encryptedOf(m).getChild("payload")!;
            setText(payload, flipBase64(payload.getText(), -1));
          });
          await expectError(
            `vector ${v.name} with a flipped bit in its second stanza's payload`,
            "BAD_MAC",
            decrypt([v.stanzas[0]!, payloadFlipped]),
          );
          const keyFlipped = edited(v.stanzas[1]!, (m) => {
            const key = keyElements(m)[0]!;
            setText(key, flipBase64(key.getText(), -3));
          });
          await expectError(
            `vector ${v.name} with a flipped bit in its second stanza's <key> (its MAC)`,
            "BAD_MAC",
            decrypt([v.stanzas[0]!, keyFlipped]),
          );
          await expectError(
            `vector ${v.name} with its second stanza delivered twice`,
            "DUPLICATE_MESSAGE",
            decrypt([v.stanzas[0]!, v.stanzas[1]!, v.stanzas[1]!]),
          );
        },
      });

      add(
        profile,
        'what deployed clients send is accepted: prekey="1" / kex="1" and whitespace in base64',
        async (ctx) => {
          const { world, iut, parley } = await pair(ctx, profile);
          const { stanza } = await world.send(parley, IUT_JID, "as Conversations writes it");
          const relaxed = edited(stanza, (m) => {
            for (const k of keyElements(m)) {
              const flag = profile === "legacyOmemo" ? "prekey" : "kex";
              if (k.attrs[flag] !== undefined) k.attrs[flag] = "1";
              const t = k.getText();
              setText(k, `\n  ${t.slice(0, 20)}\n  ${t.slice(20)}\n`);
            }
          });
          same("the IUT reads it", "as Conversations writes it", (await world.deliver(parley, iut, relaxed)).body);
        },
      );
    }
    return cases;
  },
};
