/**
 * Writes vectors/sessions-v<SESSION_FORMAT_VERSION>.json: sessions serialized by the current format
 * version, one per profile, each with pending skipped keys, plus a message each loaded session must
 * still decrypt and (from version 2) the generation each was saved at. Kept forever:
 * test/serialize.test.ts loads every earlier version's file. Run: pnpm exec tsx vectors/generate-sessions.ts
 * Origin: this library, deterministic random seed "sessions-v<version>-<profile>" (sessions-v1.json
 * by the first release, sessions-v2.json by the release that added the generation).
 */
import { bytesToHex, createCrypto } from "@parley/crypto";
import { deterministicRandom } from "@parley/crypto/testing";
import { writeFileSync } from "node:fs";
import { SESSION_FORMAT_VERSION } from "../src/consts.js";
import { decrypt, encrypt, serializeSession } from "../src/index.js";
import { ALL_PROFILES, establish, profileLabel } from "../test/helpers.js";

const te = new TextEncoder();
const entries = ALL_PROFILES.map((profile) => {
  const crypto = createCrypto({
    random: deterministicRandom(`sessions-v${SESSION_FORMAT_VERSION}-${profileLabel(profile)}`),
  });
  let { a, b } = establish(profile, "unused", crypto);
  const held = encrypt(a, te.encode("held back"), { crypto });
  a = held.session;
  const later = encrypt(a, te.encode("later"), { crypto });
  a = later.session;
  b = decrypt(b, later.message, { crypto }).session;
  return {
    profile: profileLabel(profile),
    responder: bytesToHex(serializeSession(b)),
    responderGeneration: b.generation,
    initiator: bytesToHex(serializeSession(a)),
    initiatorGeneration: a.generation,
    heldMessage: bytesToHex(held.message),
    heldPlaintext: "held back",
  };
});
writeFileSync(
  new URL(`sessions-v${SESSION_FORMAT_VERSION}.json`, import.meta.url),
  JSON.stringify(
    { version: SESSION_FORMAT_VERSION, origin: "vectors/generate-sessions.ts", sessions: entries },
    null,
    2,
  ) + "\n",
);
