// Known-answer checks of what @parley/otr emits, by libotr's own toolkit (Debian libotr5-bin: otr_parse,
// otr_sesskeys, otr_mackey, otr_readforge, otr_remac), an implementation independent of ours:
//   - otr_parse reads every AKE and data message we send (v3 and v2, either AKE role) with the fields we put in;
//     our DH-Commit's encrypted g^x opens with the key our Reveal-Signature reveals and matches its hash;
//   - otr_sesskeys and otr_mackey derive the same data-message keys as ours (deriveDataKeys) from a D-H private
//     key and a public key, with both engines;
//   - otr_readforge decrypts a real data message of ours with the sending key otr_sesskeys derives from our D-H
//     private key (so its MAC verifies), and otr_remac rebuilds our v3 data message byte for byte.
// Our D-H private keys are found among the bytes our session drew from its random source (recorded here): the
// 320-bit draw x (top bit set, spec "choose a random value x (at least 320 bits)") whose g^x we sent.
import { spawnSync } from "node:child_process";
import { createDecipheriv, createHash, getRandomValues } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createBigintEngine, createNativeEngine, MODP_G, MODP_P, type OtrEngine } from "../src/index.js";
import { deriveDataKeys } from "../src/session.js";
import { ensureApt, LibotrPeer, Network, testKey } from "../interop/peers.js";
import { OursPeer } from "../interop/ours.js";
import { ake } from "../interop/scenarios.js";

const US = "us@example.org";
const LIB = "libotr@example.net";

beforeAll(() => {
  ensureApt("libotr5-bin");
});

function tool(name: string, args: string[], input = ""): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(name, args, { input, encoding: "utf8" });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** otr_parse's output for one message: the title line and its "\tField: value" lines. */
interface Parsed {
  kind: string;
  fields: Record<string, string>;
}

function otrParse(message: string): Parsed {
  const r = tool("otr_parse", [], `${message}\n`);
  expect(r.status).toBe(0);
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  const kind = lines[0]!.replace(/:$/, "");
  const fields: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const m = /^\t+([^:]+): ?(.*)$/.exec(l);
    if (m) fields[m[1]!.trim()] = m[2]!.trim();
  }
  return { kind, fields };
}

const big = (hex: string) => BigInt(`0x${hex === "" ? "0" : hex}`);
const hexOf = (n: bigint) => {
  const h = n.toString(16);
  return h.length % 2 ? `0${h}` : h;
};
const bytesHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Reads an OTR MPI (4-byte length, big-endian magnitude). */
function readMpi(bytes: Buffer): bigint {
  const len = bytes.readUInt32BE(0);
  expect(bytes.length).toBe(4 + len);
  return big(bytes.subarray(4).toString("hex"));
}

/** A random source that keeps a copy of every draw. */
function recordingRandom() {
  const draws: Uint8Array[] = [];
  const random = (n: number) => {
    const b = new Uint8Array(n);
    getRandomValues(b);
    draws.push(b.slice());
    return b;
  };
  return { draws, random };
}

const native = createNativeEngine()!;

/** The 320-bit D-H private key among the recorded draws whose g^x is `pub`. */
function findPrivate(draws: readonly Uint8Array[], pub: bigint): bigint {
  for (const d of draws) {
    if (d.length !== 40) continue;
    const x = big(bytesHex(d)) | (1n << 319n);
    if (native.modPow(MODP_G, x, MODP_P) === pub) return x;
  }
  throw new Error("none of our recorded 40-byte random draws is the D-H private key of this public key");
}

function sesskeys(x: bigint, theirPub: bigint) {
  const r = tool("otr_sesskeys", [hexOf(x), hexOf(theirPub)]);
  expect(r.status).toBe(0);
  const get = (label: string) => new RegExp(`${label}: ([0-9a-f]+)`).exec(r.stdout)?.[1];
  return {
    high: /We are the high end/.test(r.stdout),
    ourPub: get("Our public key")!,
    sendAes: get("Sending {3}AES key")!,
    sendMac: get("Sending {3}MAC key")!,
    recvAes: get("Receiving AES key")!,
    recvMac: get("Receiving MAC key")!,
  };
}

const open: LibotrPeer[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.close();
});

describe("libotr toolkit (libotr5-bin) checks our messages", () => {
  it.each([
    [3, "we start"],
    [3, "libotr starts"],
    [2, "we start"],
    [2, "libotr starts"],
  ] as const)("v%i, %s the AKE: otr_parse, otr_sesskeys, otr_readforge, otr_remac", async (version, who) => {
    const weStart = who === "we start";
    const lib = await LibotrPeer.create({
      account: LIB,
      key: testKey("bob"),
      instag: 0x1b1b_0001,
      policy: { allowV3: version === 3 },
    });
    open.push(lib);
    const rec = recordingRandom();
    const us = new OursPeer({ account: US, key: testKey("alice"), instanceTag: 0x5ec0_0001, random: rec.random });
    const net = new Network().add(us, lib);
    // Our query makes libotr send the D-H Commit; a D-H Commit of ours (no query) makes us the initiator.
    if (weStart) {
      const commit = us.conversation(LIB).master.sendDhCommit(version);
      net.post(
        US,
        commit.map((message) => ({ to: LIB, message })),
      );
      await net.flush();
    } else {
      await ake(net, us, lib, version);
    }
    expect((await lib.state(US))?.msgstate).toBe("encrypted");
    const akeLog = [...net.log];
    const ourAke = akeLog.filter((d) => d.to === lib && !d.message.startsWith("?OTRv")).map((d) => d.message);
    const theirAke = akeLog.filter((d) => d.to === us && !d.message.startsWith("?OTRv")).map((d) => d.message);

    const v = version === 3 ? "03" : "02";
    const checkHeader = (p: Parsed, receiverZero = false) => {
      expect(p.fields["Version"]).toBe(v);
      if (version === 3) {
        expect(Number(p.fields["Sender instance"])).toBe(us.instag);
        expect(Number(p.fields["Receiver instance"])).toBe(receiverZero ? 0 : lib.instag);
      } else {
        expect(p.fields["Sender instance"]).toBeUndefined();
      }
    };

    // Our AKE messages as otr_parse reads them, and our AKE D-H key.
    let ourAkePub: bigint;
    let theirAkePub: bigint;
    if (weStart) {
      const parsed = ourAke.map(otrParse);
      const kinds = parsed.map((p) => p.kind);
      expect(kinds).toEqual(["D-H Commit Message", "Reveal Signature Message"]);
      const [commit, reveal] = parsed as [Parsed, Parsed];
      checkHeader(commit, true);
      checkHeader(reveal);
      expect(reveal.fields["Key"]).toMatch(/^[0-9a-f]{32}$/);
      expect(reveal.fields["MAC"]).toMatch(/^[0-9a-f]{40}$/);
      // AES-128-CTR with the revealed r, counter 0, opens our encrypted g^x; its SHA-256 is the hash we sent.
      const d = createDecipheriv("aes-128-ctr", Buffer.from(reveal.fields["Key"]!, "hex"), Buffer.alloc(16));
      const gx = Buffer.concat([d.update(Buffer.from(commit.fields["Encrypted Key"]!, "hex")), d.final()]);
      expect(createHash("sha256").update(gx).digest("hex")).toBe(commit.fields["Hashed Key"]);
      ourAkePub = readMpi(gx);
      const dhKey = otrParse(theirAke[0]!);
      expect(dhKey.kind).toBe("D-H Key Message");
      theirAkePub = big(dhKey.fields["D-H Key"]!);
      expect(otrParse(theirAke[1]!).kind).toBe("Signature Message");
    } else {
      const parsed = ourAke.map(otrParse);
      expect(parsed.map((p) => p.kind)).toEqual(["D-H Key Message", "Signature Message"]);
      const [dhKey, sig] = parsed as [Parsed, Parsed];
      checkHeader(dhKey);
      checkHeader(sig);
      expect(sig.fields["MAC"]).toMatch(/^[0-9a-f]{40}$/);
      ourAkePub = big(dhKey.fields["D-H Key"]!);
      // libotr's g^x: its D-H Commit opened with the key its Reveal Signature reveals.
      const [commit, reveal] = theirAke.map(otrParse) as [Parsed, Parsed];
      expect([commit.kind, reveal.kind]).toEqual(["D-H Commit Message", "Reveal Signature Message"]);
      const d = createDecipheriv("aes-128-ctr", Buffer.from(reveal.fields["Key"]!, "hex"), Buffer.alloc(16));
      theirAkePub = readMpi(Buffer.concat([d.update(Buffer.from(commit.fields["Encrypted Key"]!, "hex")), d.final()]));
    }
    const x1 = findPrivate(rec.draws, ourAkePub);

    // Our first data message uses our AKE key (keyid 1) and theirs (keyid 1).
    const text = `known answer for v${version}`;
    const sent = await us.send(LIB, text);
    expect(sent.outgoing.length).toBe(1);
    const dataMsg = sent.outgoing[0]!.message;
    net.post(US, sent.outgoing);
    const got = await net.flush();
    expect(got.map((g) => g.result.delivered)).toEqual([text]);
    const p = otrParse(dataMsg);
    expect(p.kind).toBe("Data Message");
    checkHeader(p);
    expect(p.fields["Flags"]).toBe("0");
    expect(p.fields["Sender keyid"]).toBe("1");
    expect(p.fields["Rcpt keyid"]).toBe("1");
    expect(p.fields["Counter"]).toBe("0000000000000001");
    expect(p.fields["MAC"]).toMatch(/^[0-9a-f]{40}$/);
    // The next key we announce is one of ours too.
    const x2 = findPrivate(rec.draws, big(p.fields["DH y"]!));
    expect(x2).not.toBe(x1);

    const keys = sesskeys(x1, theirAkePub);
    expect(big(keys.ourPub)).toBe(ourAkePub);
    const forged = tool("otr_readforge", [keys.sendAes], `${dataMsg}\n`);
    expect(forged.stderr).toBe("");
    expect(forged.status).toBe(0);
    expect(forged.stdout).toContain(`Plaintext: \`\`${text}''`);
    expect(tool("otr_mackey", [keys.sendAes]).stdout).toContain(`MAC key: ${keys.sendMac}`);
    // A wrong key is noticed by the same tool (the check above can fail).
    const wrong = tool("otr_readforge", [keys.recvAes], `${dataMsg}\n`);
    expect(wrong.stderr).toContain("MAC does not verify");

    if (version === 3) {
      // otr_remac assembles a v3 data message from the fields and MACs it: with our sending MAC key it must
      // give back our message exactly.
      const remac = tool("otr_remac", [
        keys.sendMac,
        p.fields["Sender instance"]!,
        p.fields["Receiver instance"]!,
        p.fields["Flags"]!,
        p.fields["Sender keyid"]!,
        p.fields["Rcpt keyid"]!,
        p.fields["DH y"]!,
        p.fields["Counter"]!,
        p.fields["Encrypted message"]!,
        "",
      ]);
      expect(remac.status).toBe(0);
      expect(remac.stdout.trim()).toBe(dataMsg);
    }

    // Rotation and MAC key revelation. libotr's reply uses its key 1 and our announced key 2; once libotr
    // moves to its key 2, we forget the pair (our 2, their 1) and reveal its receiving MAC key in our next
    // message: otr_parse must list exactly the MAC key otr_sesskeys derives for that pair.
    const reply = await lib.send(US, "reply");
    const rp = otrParse(reply.outgoing[0]!.message);
    expect([rp.fields["Sender keyid"], rp.fields["Rcpt keyid"]]).toEqual(["1", "2"]);
    net.post(LIB, reply.outgoing);
    expect((await net.flush()).map((g) => g.result.delivered)).toEqual(["reply"]);
    const more = await us.send(LIB, "after rotation");
    const q = otrParse(more.outgoing[0]!.message);
    expect([q.fields["Sender keyid"], q.fields["Rcpt keyid"], q.fields["Counter"]]).toEqual([
      "2",
      "2",
      "0000000000000001",
    ]);
    expect(q.fields["Key 1"]).toBeUndefined(); // nothing received with a retired pair yet
    net.post(US, more.outgoing);
    await net.flush();
    const reply2 = await lib.send(US, "second reply");
    const rp2 = otrParse(reply2.outgoing[0]!.message);
    expect(rp2.fields["Sender keyid"]).toBe("2");
    net.post(LIB, reply2.outgoing);
    expect((await net.flush()).map((g) => g.result.delivered)).toEqual(["second reply"]);
    const again = await us.send(LIB, "and again");
    const r = otrParse(again.outgoing[0]!.message);
    const revealed = Object.entries(r.fields)
      .filter(([k]) => k.startsWith("Key "))
      .map(([, val]) => val);
    expect(revealed).toContain(sesskeys(x2, theirAkePub).recvMac);
    net.post(US, again.outgoing);
    expect((await net.flush()).map((g) => g.result.delivered)).toEqual(["and again"]);
  });
});

describe("otr_sesskeys and otr_mackey derive our data-message keys", () => {
  const engines: Array<[string, OtrEngine]> = [
    ["native", native],
    ["bigint", createBigintEngine()],
  ];
  it.each(engines)("%s engine", (_name, engine) => {
    for (let i = 0; i < 4; i++) {
      const draw = (n: number) => big(bytesHex(getRandomValues(new Uint8Array(n))));
      const x = draw(40) | (1n << 319n);
      const theirPub = native.modPow(MODP_G, draw(40) | (1n << 319n), MODP_P);
      const ourPub = engine.modPow(MODP_G, x, MODP_P);
      const ours = deriveDataKeys(engine, x, ourPub, theirPub);
      const lib = sesskeys(x, theirPub);
      expect(big(lib.ourPub)).toBe(ourPub);
      expect(ours.high).toBe(lib.high);
      expect(bytesHex(ours.sendAes)).toBe(lib.sendAes);
      expect(bytesHex(ours.sendMac)).toBe(lib.sendMac);
      expect(bytesHex(ours.recvAes)).toBe(lib.recvAes);
      expect(bytesHex(ours.recvMac)).toBe(lib.recvMac);
      expect(tool("otr_mackey", [lib.recvAes]).stdout).toContain(`MAC key: ${bytesHex(ours.recvMac)}`);
    }
  });
});
