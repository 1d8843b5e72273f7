import { formatFingerprint, NS_LEGACY, NS_V2 } from "@parley/omemo";
import { DEMO_KDF, type Client } from "./client.js";
import { exchange, type Exchange } from "./exchange.js";
import { ALICE, BOB, PASSPHRASES, type Print, type World } from "./world.js";

export interface OmemoStoryResult {
  readonly devices: ReadonlyArray<{ readonly name: string; readonly deviceId: number; readonly fingerprint: string }>;
  readonly exchanges: readonly Exchange[];
  /** The first OMEMO 2 `<message>` as it crossed the router (full XML). */
  readonly wireMessage: string;
  readonly clients: { readonly alicePhone: Client; readonly aliceLaptop: Client; readonly bobPhone: Client };
}

/** Base64 runs shortened and one element per line: what the wire looks like, readable. */
export function shortenXml(xml: string): string[] {
  const short = xml.replace(/[A-Za-z0-9+/]{24,}={0,2}/g, (b64) => `${b64.slice(0, 12)}…`);
  const lines: string[] = [];
  let depth = 0;
  let opened = false; // the previous token opened an element: its closing tag goes on the same line
  for (const token of short.split(/(?=<)/)) {
    const closing = token.startsWith("</");
    if (closing) depth--;
    if (closing && opened) lines.push(`${lines.pop() ?? ""}${token}`);
    else lines.push(`${"  ".repeat(Math.max(depth, 0))}${token}`);
    opened = !closing && !token.endsWith("/>");
    if (opened) depth++;
  }
  return lines;
}

/** (a) Alice with two devices and Bob: OMEMO 2, then legacy OMEMO, both ways. */
export async function omemoStory(world: World, print: Print): Promise<OmemoStoryResult> {
  const k = DEMO_KDF;
  print("Each device keeps its OMEMO state, trust store and OTR key in its own encrypted SQLite store");
  print(`(scrypt N=2^${Math.log2(k.N)}, r=${k.r}, p=${k.p}: cheap for the demo; the default is N=2^17, r=8, p=2).`);
  const alicePhone = await world.add("Alice's phone", `${ALICE}/phone`, PASSPHRASES.alicePhone);
  const aliceLaptop = await world.add("Alice's laptop", `${ALICE}/laptop`, PASSPHRASES.aliceLaptop);
  const bobPhone = await world.add("Bob's phone", `${BOB}/phone`, PASSPHRASES.bobPhone);
  const devices = [alicePhone, aliceLaptop, bobPhone].map((c) => ({
    name: c.name,
    deviceId: c.omemo.deviceId,
    fingerprint: c.omemo.fingerprint,
  }));
  for (const d of devices)
    print(`${d.name.padEnd(15)} device ${String(d.deviceId).padEnd(10)} ${formatFingerprint(d.fingerprint)}`);
  print("(each published its device list and bundle in both namespaces: OMEMO 2 and legacy, one identity)");
  print("");

  const wireBefore = world.router.wire.length;
  const exchanges: Exchange[] = [];
  exchanges.push(await exchange(world, print, bobPhone, ALICE, "Hi Alice! Bob here, on OMEMO 2.", NS_V2));
  const wireMessage =
    world.router.wire.slice(wireBefore).find((x) => x.startsWith("<message") && x.includes(NS_V2)) ?? "";
  exchanges.push(await exchange(world, print, alicePhone, BOB, "Hi Bob! Reading you on my phone.", NS_V2));
  exchanges.push(
    await exchange(
      world,
      print,
      alicePhone,
      BOB,
      "And this one in legacy OMEMO, as Conversations speaks it.",
      NS_LEGACY,
    ),
  );
  exchanges.push(await exchange(world, print, bobPhone, ALICE, "Got both, in both namespaces.", NS_LEGACY));

  print("");
  print("Bob's first message as it crossed the router (base64 shortened):");
  for (const line of shortenXml(wireMessage)) print(`    ${line}`);
  return { devices, exchanges, wireMessage, clients: { alicePhone, aliceLaptop, bobPhone } };
}
