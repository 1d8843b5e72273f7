/**
 * The stanza layer on its own: Bob publishes his OMEMO 2 device list and bundle, Alice sends him a
 * message and Bob reads the stanza back, with the SCE affix checks a receiver makes.
 * The session manager (not written yet) will do the encryption: here the key and payload bytes are
 * stand-ins, and the envelope is handed over as the text it would decrypt to.
 * Run: pnpm exec tsx examples/stanzas.ts   (test/examples.test.ts runs it too)
 * In your code import from "@parley/omemo" and "@parley/omemo/v2" instead of ../src.
 */
import { Element } from "ltx";
import {
  decodeAnyEncryptedMessage,
  encodePublish,
  parseXml,
  sameBareJid,
  serializeXml,
  storeHint,
} from "../src/index.js";
import * as v2 from "../src/v2/index.js";

const standIn = (length: number, fill: number) => new Uint8Array(length).fill(fill);

export function stanzaExample(): { publishes: string[]; body: string; kex: boolean; from: string | undefined } {
  // Bob (device 31415) announces himself: one <iq type='set'> per element, sent by the app's XMPP library.
  const bundle: v2.Bundle = {
    signedPreKeyId: 1,
    signedPreKey: standIn(32, 1),
    signedPreKeySignature: standIn(64, 2),
    identityKey: standIn(32, 3),
    preKeys: [{ id: 1, publicKey: standIn(32, 4) }],
  };
  const publishes = [
    encodePublish(v2.publishDeviceList({ devices: [{ id: 31415 }] })),
    encodePublish(v2.publishBundle(31415, bundle)),
  ].map(serializeXml);

  // Alice writes what she wants protected into an SCE envelope (rpad, time, to, from added)...
  const envelope = v2.createEnvelope({
    content: [parseXml("<body xmlns='jabber:client'>Wherefore art thou?</body>")],
    from: "alice@example.org/phone",
    to: "bob@example.net",
  });
  const plaintext = v2.envelopeToString(envelope); // the session manager encrypts this
  // ...and sends the encrypted element with a store hint (XEP-0420 §10).
  const message = new Element("message", { to: "bob@example.net", from: "alice@example.org/phone", type: "chat" });
  message.cnode(
    v2.encodeEncryptedMessage({
      sid: 27183,
      keys: [{ jid: "bob@example.net", keys: [{ rid: 31415, kex: true, data: standIn(120, 5) }] }],
      payload: standIn(64, 6),
    }),
  );
  message.cnode(storeHint());
  const wire = serializeXml(message);

  // Bob's client receives the stanza as a string (or as an element from @xmpp/client).
  const stanza = parseXml(wire);
  const decoded = decodeAnyEncryptedMessage(stanza);
  if (decoded.namespace !== v2.NS) throw new Error("expected OMEMO 2");
  const mine = decoded.message.keys
    .find((g) => sameBareJid(g.jid, "bob@example.net"))
    ?.keys.find((k) => k.rid === 31415);
  // The session manager decrypts mine.data and the payload; the result is `plaintext`, checked here
  // against the enclosing stanza: a wrong <to> or <from> throws SCE_WRONG_RECIPIENT / SCE_WRONG_SENDER.
  const received = v2.decodeEnvelope(plaintext, {
    to: stanza.attrs["to"] as string,
    from: stanza.attrs["from"] as string,
  });
  return {
    publishes,
    body: received.content[0]!.getText(),
    kex: mine?.kex ?? false,
    from: received.from,
  };
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  const result = stanzaExample();
  for (const p of result.publishes) console.log(p);
  console.log(`Bob read "${result.body}" from ${result.from ?? "?"} (key exchange: ${result.kex})`);
}
