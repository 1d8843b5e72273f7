// `keysFor`: a receiver decodes only the keys for its own device. The others' attributes are still
// checked (a stanza with a malformed rid fails whoever reads it), their base64 is skipped, and the
// result is exactly the full decode's keys that the predicate selects.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isOmemoError, parseXml, serializeXml } from "../src/index.js";
import * as legacy from "../src/legacy/index.js";
import * as v2 from "../src/v2/index.js";
import { PROPERTY_RUNS } from "./helpers.js";

const deviceId = fc.integer({ min: 1, max: 0x7fffffff });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const jid = fc.constantFrom("juliet@capulet.lit", "romeo@montague.lit", "nurse@capulet.lit");

const v2Message: fc.Arbitrary<v2.EncryptedMessage> = fc.record({
  sid: deviceId,
  keys: fc.uniqueArray(
    fc.record({
      jid,
      keys: fc.uniqueArray(fc.record({ rid: deviceId, kex: fc.boolean(), data: bytes(1, 200) }), {
        minLength: 1,
        maxLength: 4,
        selector: (k) => k.rid,
      }),
    }),
    { minLength: 1, maxLength: 3, selector: (g) => g.jid },
  ),
  payload: bytes(0, 100),
});

const legacyMessage: fc.Arbitrary<legacy.EncryptedMessage> = fc.record({
  sid: deviceId,
  keys: fc.uniqueArray(fc.record({ rid: deviceId, prekey: fc.boolean(), data: bytes(1, 200) }), {
    minLength: 1,
    maxLength: 6,
    selector: (k) => k.rid,
  }),
  iv: bytes(12, 12),
  payload: bytes(0, 100),
});

describe("decodeEncryptedMessage with keysFor", () => {
  it("OMEMO 2: the selected keys, exactly as the full decode has them; groups without a selected key left out", () => {
    fc.assert(
      fc.property(v2Message, fc.nat(), (message, pick) => {
        const xml = v2.encryptedMessageToString(message);
        const all = v2.decodeEncryptedMessage(xml);
        const rids = all.keys.flatMap((g) => g.keys.map((k) => k.rid));
        const wantedRid = rids[pick % rids.length]!;
        const wantedJid = all.keys.find((g) => g.keys.some((k) => k.rid === wantedRid))!.jid;
        const some = v2.decodeEncryptedMessage(xml, { keysFor: (j, rid) => j === wantedJid && rid === wantedRid });
        const expected = all.keys
          .filter((g) => g.jid === wantedJid)
          .map((g) => ({ jid: g.jid, keys: g.keys.filter((k) => k.rid === wantedRid) }));
        expect(some.keys).toEqual(expected);
        expect(some.sid).toBe(all.sid);
        expect(some.payload).toEqual(all.payload);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("legacy: the selected keys, exactly as the full decode has them (no JID is passed)", () => {
    fc.assert(
      fc.property(legacyMessage, fc.nat(), (message, pick) => {
        const xml = legacy.encryptedMessageToString(message);
        const all = legacy.decodeEncryptedMessage(xml);
        const wanted = all.keys[pick % all.keys.length]!.rid;
        const seen: Array<string | undefined> = [];
        const some = legacy.decodeEncryptedMessage(xml, {
          keysFor: (j, rid) => {
            seen.push(j);
            return rid === wanted;
          },
        });
        expect(some.keys).toEqual(all.keys.filter((k) => k.rid === wanted));
        expect(seen.every((j) => j === undefined)).toBe(true);
        expect(some.iv).toEqual(all.iv);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("a key for another device with broken base64 is skipped; a broken rid or kex still fails the stanza", () => {
    const ns = "urn:xmpp:omemo:2";
    const stanza = (other: string) =>
      parseXml(
        `<encrypted xmlns='${ns}'><header sid='7'><keys jid='juliet@capulet.lit'>` +
          `<key rid='1'>AQID</key>${other}</keys></header></encrypted>`,
      );
    const mine = { keysFor: (_j: string | undefined, rid: number) => rid === 1 };
    const skipped = v2.decodeEncryptedMessage(stanza(`<key rid='2'>not*base64</key>`), mine);
    expect(skipped.keys).toEqual([
      { jid: "juliet@capulet.lit", keys: [{ rid: 1, kex: false, data: Uint8Array.of(1, 2, 3) }] },
    ]);
    // Without keysFor the same stanza fails, as before.
    expect(() => v2.decodeEncryptedMessage(stanza(`<key rid='2'>not*base64</key>`))).toThrow(
      expect.objectContaining({ code: "INVALID_BASE64" }),
    );
    for (const bad of [`<key rid='x'>AQID</key>`, `<key rid='0'>AQID</key>`, `<key rid='2' kex='maybe'>AQID</key>`]) {
      let error: unknown;
      try {
        v2.decodeEncryptedMessage(stanza(bad), mine);
      } catch (e) {
        error = e;
      }
      expect(isOmemoError(error)).toBe(true);
    }
    const legacyStanza = parseXml(
      `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='7'><key rid='1'>AQID</key>` +
        `<key rid='2' prekey='true'>%%%</key><iv>AAAAAAAAAAAAAAAA</iv></header></encrypted>`,
    );
    expect(legacy.decodeEncryptedMessage(serializeXml(legacyStanza), mine).keys).toEqual([
      { rid: 1, prekey: false, data: Uint8Array.of(1, 2, 3) },
    ]);
  });
});
