import { bytesToHex, createCrypto } from "@parley/crypto";
import { buildXmppUri, createTrustStore, formatFingerprint, memoryTrustStorage, parseXmppUri } from "@parley/trust";

/** ChatSecure 4's trust model with real identity keys: first key TOFU, a new key untrusted until scanned. */
export async function runTrustDemo(): Promise<string[]> {
  const out: string[] = [];
  const crypto = createCrypto();
  const store = createTrustStore({ storage: memoryTrustStorage() });
  store.on("keyChangeWarning", ({ record }) => {
    out.push(`! app warning: ${record.contact} has a new, unverified key`);
  });
  const me = "juliet@capulet.example";
  const romeo = "romeo@montague.example";
  const phone = bytesToHex(crypto.generateX25519KeyPair().publicKey);
  const laptop = bytesToHex(crypto.generateX25519KeyPair().publicKey);

  const first = await store.keySeen(me, romeo, "omemo", { fingerprint: phone, deviceId: 1001 });
  out.push(`Romeo's phone key ${formatFingerprint(phone, "omemo-legacy").slice(0, 26)}…: ${first.state}`);
  const second = await store.keySeen(me, romeo, "omemo", { fingerprint: laptop, deviceId: 2002 });
  const before = await store.shouldEncryptTo(me, romeo, "omemo", laptop);
  out.push(`Romeo's laptop key: ${second.state}; encrypt to it? ${before.allowed ? "yes" : "no"} (${before.reason})`);

  const uri = buildXmppUri({ jid: romeo, fingerprints: [{ protocol: "omemo", deviceId: 2002, fingerprint: laptop }] });
  out.push(`Romeo shows a QR code: ${uri.slice(0, 60)}…`);
  await store.applyUri(me, parseXmppUri(uri), { method: "qr" });
  const after = await store.shouldEncryptTo(me, romeo, "omemo", laptop);
  out.push(`after scanning it: laptop key verified; encrypt to it? ${after.allowed ? "yes" : "no"}`);

  await store.markCompromised(me, romeo, "omemo", phone, { actor: me });
  const accept = await store.shouldAcceptFrom(me, romeo, "omemo", phone);
  out.push(
    `phone stolen, key marked compromised: accept messages from it? ${accept.allowed ? "yes" : "no"} (${accept.reason})`,
  );
  return out;
}
