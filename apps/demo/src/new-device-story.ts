import { formatFingerprint } from "@parley/omemo";
import { fingerprintsEqual, type TrustState } from "@parley/trust";
import type { Client } from "./client.js";
import { exchange, type Exchange } from "./exchange.js";
import { ALICE, BOB, PASSPHRASES, type Print, type World } from "./world.js";

export interface NewDeviceResult {
  readonly tablet: { readonly deviceId: number; readonly fingerprint: string };
  /** The warning Alice's phone raised for the new key (@parley/trust's keyChangeWarning). */
  readonly warned: boolean;
  /** Alice's phone's trust in Bob's devices, by device name, before and after she verified the tablet. */
  readonly trustBefore: Readonly<Record<string, TrustState>>;
  readonly trustAfter: Readonly<Record<string, TrustState>>;
  readonly before: Exchange;
  readonly after: Exchange;
  readonly client: Client;
}

/** (b) Bob adds a tablet: untrusted until Alice verifies its fingerprint (TOFU through @parley/trust). */
export async function newDeviceStory(
  world: World,
  print: Print,
  clients: { alicePhone: Client },
): Promise<NewDeviceResult> {
  const { alicePhone } = clients;
  const warnings: string[] = [];
  const stop = alicePhone.trust.on("keyChangeWarning", ({ record }) => {
    warnings.push(`${record.contact} has a new key, not verified (device ${record.deviceId ?? "?"})`);
  });
  const tablet = await world.add("Bob's tablet", `${BOB}/tablet`, PASSPHRASES.bobTablet);
  print(`Bob's tablet comes online: device ${tablet.omemo.deviceId}, ${formatFingerprint(tablet.omemo.fingerprint)}`);
  print("Its device-list update reaches Alice's devices as a PEP notification.");
  print("");

  const before = await exchange(world, print, alicePhone, BOB, "Bob, did you get a new device?");
  for (const w of warnings) print(`! Alice's phone warns her: ${w}`);
  const states = async (): Promise<Record<string, TrustState>> =>
    Object.fromEntries(
      (await alicePhone.trust.listRecords(ALICE, BOB, "omemo")).map((r) => [
        world.nameOf(BOB, r.deviceId ?? 0),
        r.state,
      ]),
    );
  const trustBefore = await states();
  print(`Alice's phone's trust store for ${BOB}: ${describe(trustBefore)}`);

  // Bob reads his tablet's fingerprint out (or shows a QR code); Alice compares it with what her phone shows.
  const shown = (await alicePhone.trust.listRecords(ALICE, BOB, "omemo")).find(
    (r) => r.deviceId === tablet.omemo.deviceId,
  );
  const same = shown !== undefined && fingerprintsEqual(shown.fingerprint, tablet.omemo.fingerprint);
  print(
    `Alice compares the tablet's fingerprint with Bob's screen: ${same ? "the same" : "DIFFERENT"}; she marks it verified.`,
  );
  if (shown !== undefined && same) {
    await alicePhone.trust.verify(ALICE, BOB, "omemo", shown.fingerprint, {
      method: "fingerprint-compared",
      actor: ALICE,
    });
  }
  const trustAfter = await states();
  print(`Alice's phone's trust store for ${BOB}: ${describe(trustAfter)}`);
  print("");

  const after = await exchange(world, print, alicePhone, BOB, "Now your tablet can read me too.");
  stop();
  return {
    tablet: { deviceId: tablet.omemo.deviceId, fingerprint: tablet.omemo.fingerprint },
    warned: warnings.length > 0,
    trustBefore,
    trustAfter,
    before,
    after,
    client: tablet,
  };
}

function describe(states: Record<string, TrustState>): string {
  return Object.entries(states)
    .sort()
    .map(([device, state]) => `${device} ${state}`)
    .join(", ");
}
