// Run with: pnpm exec tsx examples/quickstart.ts   (test/example.test.ts runs it too, so it stays true)
import { createTrustStore, formatFingerprint, memoryTrustStorage, parseXmppUri } from "../src/index.js";

export async function main(print: (line: string) => void): Promise<void> {
  const store = createTrustStore({ storage: memoryTrustStorage() }); // TOFU is the default policy
  store.on("keyChangeWarning", ({ record }) => {
    print(`warning: new key for ${record.contact}: ${formatFingerprint(record.fingerprint, "omemo-legacy")}`);
  });

  const me = "juliet@example.com";
  const romeo = "romeo@example.net";
  const phone = "05" + "a364484c7c74a0d427b89d8a5613de8c2fc0179ea493392242348b0e597d9b06"; // libsignal form, 0x05 first
  const laptop = "44afeb6e69c09ccb0db769cba844a8eab246066e54147eabb65590d3ad90e411";

  // 1. The first key seen for Romeo is trusted on first use.
  const first = await store.keySeen(me, romeo, "omemo", { fingerprint: phone, deviceId: 1522580533 });
  print(`first key:  ${first.state}`);

  // 2. A later key is untrusted until verified (and the app is warned).
  const second = await store.keySeen(me, romeo, "omemo", { fingerprint: laptop, deviceId: 1157939698 });
  print(`second key: ${second.state}, encrypt? ${(await store.shouldEncryptTo(me, romeo, "omemo", laptop)).allowed}`);

  // 3. Juliet scans Romeo's QR code (the xmpp: URI Conversations shows) and the key becomes verified.
  const scanned = parseXmppUri(`xmpp:${romeo}?omemo-sid-1157939698=${laptop}`);
  const [verified] = await store.applyUri(me, scanned, { method: "qr", expectedContact: romeo });
  print(
    `after scan: ${verified!.state}, encrypt? ${(await store.shouldEncryptTo(me, romeo, "omemo", laptop)).allowed}`,
  );

  // 4. Romeo lost his phone: mark that key compromised. It is neither encrypted to nor accepted from.
  await store.markCompromised(me, romeo, "omemo", phone, { actor: "juliet" });
  const decision = await store.shouldAcceptFrom(me, romeo, "omemo", phone);
  print(`phone key:  accept? ${decision.allowed} (${decision.reason})`);
}

if (process.argv[1]?.endsWith("quickstart.ts")) {
  await main((line) => process.stdout.write(line + "\n"));
}
