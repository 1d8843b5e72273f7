// The Parley demo: every package at work in one process, with nothing installed beyond `npm start`.
// Each section is a small story a messenger developer can read top to bottom; later packages add theirs.
import { cpus } from "node:os";
import { runCryptoDemo } from "./crypto-demo.js";
import { runRatchetDemo } from "./ratchet-demo.js";
import { runStorageDemo } from "./storage-demo.js";
import { runTrustDemo } from "./trust-demo.js";

const sections: Array<[string, () => Promise<string[]> | string[]]> = [
  ["@parley/crypto: primitives", runCryptoDemo],
  ["@parley/trust: trust on first use, verification by QR code", runTrustDemo],
  ["@parley/storage: the trust store kept in a passphrase-encrypted SQLite file", runStorageDemo],
  ["@parley/x3dh + @parley/double-ratchet: both OMEMO profiles", runRatchetDemo],
];

console.log(`Parley demo — Node ${process.version} on ${cpus()[0]?.model ?? "an unknown CPU"}\n`);
for (const [title, run] of sections) {
  console.log(`== ${title}`);
  for (const line of await run()) console.log(`   ${line}`);
  console.log("");
}
console.log("Done. `npm test` runs every test, including interop with real peers.");
