// Makes aesgcm-kat.json: XEP-0454 files (ciphertext ‖ 16-byte tag) computed with Node's one-shot
// node:crypto AES-256-GCM (OpenSSL), independent of the streaming code under test.
// Run from packages/omemo: npx tsx test/media/vectors/make-kat.ts > test/media/vectors/aesgcm-kat.json
import { createCipheriv } from "node:crypto";

/** A plaintext anyone can recompute: byte i is (31·i + 7) mod 256. */
const pattern = (length: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (31 * i + 7) & 0xff);

const cases = [
  // XEP-0454 §3's example key and IV, over a few plaintexts.
  {
    iv: "8c3d050e9386ec173861778f",
    key: "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587",
    length: 0,
  },
  {
    iv: "8c3d050e9386ec173861778f",
    key: "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587",
    length: 1,
  },
  {
    iv: "8c3d050e9386ec173861778f",
    key: "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587",
    length: 16,
  },
  {
    iv: "8c3d050e9386ec173861778f",
    key: "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587",
    length: 17,
  },
  {
    iv: "8c3d050e9386ec173861778f",
    key: "68e9af38a97aaf82faa4063b4d0878a61261534410c8a84331eaac851759f587",
    length: 4099,
  },
  // A 16-byte IV, as older clients sent (J0 = GHASH(IV), SP 800-38D §7.1).
  { iv: "000102030405060708090a0b0c0d0e0f", key: "1f".repeat(32), length: 33 },
  { iv: "ffffffffffffffffffffffffffffffff", key: "a5".repeat(32), length: 1000 },
];

const vectors = cases.map(({ iv, key, length }) => {
  const plaintext = pattern(length);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(key, "hex"), Buffer.from(iv, "hex"), { authTagLength: 16 });
  const file = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { key, iv, plaintextLength: length, file: file.toString("hex") };
});

process.stdout.write(
  JSON.stringify(
    {
      origin: "node:crypto one-shot aes-256-gcm (OpenSSL), made by make-kat.ts; plaintext byte i = (31*i + 7) mod 256",
      vectors,
    },
    null,
    2,
  ) + "\n",
);
