#!/usr/bin/env node
/**
 * Turns an upstream Wycheproof test-vector file into the vector file our tests read. Run it from an
 * upstream checkout (https://github.com/C2SP/wycheproof, Apache-2.0) to refresh ours:
 *
 *   node packages/crypto/vectors/wycheproof-filter.mjs <wycheproof>/testvectors_v1/x25519_test.json  <commit> [out-dir]
 *   node packages/crypto/vectors/wycheproof-filter.mjs <wycheproof>/testvectors_v1/ed25519_test.json <commit> [out-dir]
 *   node packages/crypto/vectors/wycheproof-filter.mjs <wycheproof>/testvectors_v1/aes_gcm_test.json <commit> [out-dir]
 *
 * <commit> is the upstream commit the file was taken from; it goes into the "origin" line. The output
 * is {"origin": "...", "vectors": [...]}, one flat list with tcId, comment, flags, result and the hex
 * fields, written as wycheproof-<algorithm>.json beside this script (or into out-dir).
 *
 * What the transformation does, per file:
 *   - XDH (x25519_test.json): every test, flattened; the group carries only curve "curve25519".
 *   - EDDSA (ed25519_test.json): every test, flattened; the group's public key (publicKey.pk) is copied
 *     into each vector as "pk". A group's private key is copied as "sk" when upstream provides one
 *     (testvectors_v1 does not, at the time of writing); the DER/PEM/JWK copies of the key are dropped.
 *   - AES-GCM (aes_gcm_test.json): only groups with keySize 128 or 256, ivSize 96 or 128 and tagSize 128,
 *     the parameters our API accepts (16/32-byte keys, 12/16-byte IVs, 16-byte tags).
 * The upstream header, notes and numberOfTests are checked, not copied.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [input, commit, outDir = dirname(fileURLToPath(import.meta.url))] = process.argv.slice(2);
if (!input || !commit || !/^[0-9a-f]{40}$/.test(commit)) {
  console.error("usage: node wycheproof-filter.mjs <upstream-test-file.json> <40-hex commit> [out-dir]");
  process.exit(2);
}

const upstream = JSON.parse(readFileSync(input, "utf8"));
const groups = upstream.testGroups;
const total = groups.reduce((n, g) => n + g.tests.length, 0);
if (total !== upstream.numberOfTests) {
  throw new Error(`${input}: numberOfTests says ${upstream.numberOfTests}, the groups hold ${total}`);
}

const common = (t) => ({ tcId: t.tcId, comment: t.comment, flags: t.flags, result: t.result });

let name;
let filtered;
let vectors;
switch (upstream.algorithm) {
  case "XDH": {
    if (groups.some((g) => g.curve !== "curve25519")) throw new Error("expected only curve25519 groups");
    name = "x25519";
    filtered = "none (every test)";
    vectors = groups.flatMap((g) =>
      g.tests.map((t) => ({ ...common(t), public: t.public, private: t.private, shared: t.shared })),
    );
    break;
  }
  case "EDDSA": {
    name = "ed25519";
    filtered = "none (every test; the group public key copied into each vector as pk, DER/PEM/JWK dropped)";
    vectors = groups.flatMap((g) => {
      const sk = g.privateKey?.sk ?? g.key?.sk;
      return g.tests.map((t) => ({
        ...common(t),
        pk: g.publicKey.pk,
        ...(sk === undefined ? {} : { sk }),
        msg: t.msg,
        sig: t.sig,
      }));
    });
    break;
  }
  case "AES-GCM": {
    name = "aes-gcm";
    filtered = "groups with keySize 128|256, ivSize 96|128, tagSize 128 only";
    vectors = groups
      .filter((g) => [128, 256].includes(g.keySize) && [96, 128].includes(g.ivSize) && g.tagSize === 128)
      .flatMap((g) =>
        g.tests.map((t) => ({
          ...common(t),
          key: t.key,
          iv: t.iv,
          aad: t.aad,
          msg: t.msg,
          ct: t.ct,
          tag: t.tag,
        })),
      );
    break;
  }
  default:
    throw new Error(`unsupported algorithm ${upstream.algorithm}`);
}

const origin =
  `C2SP/wycheproof testvectors_v1/${basename(input)} @ ${commit}, Apache-2.0; ` +
  `filtered: ${filtered}; ${vectors.length} of ${total} tests`;
const out = join(outDir, `wycheproof-${name}.json`);
writeFileSync(out, JSON.stringify({ origin, vectors }, null, 1) + "\n");
console.log(`${out}: ${vectors.length} of ${total} vectors`);
