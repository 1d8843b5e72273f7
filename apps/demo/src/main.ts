// The Parley demo: the packages wired together as a messenger would, in one process, with nothing
// installed beyond `npm start`. An in-memory XMPP-like router stands in for the server.
import { cpus } from "node:os";
import { runCryptoDemo } from "./crypto-demo.js";
import { runRatchetDemo } from "./ratchet-demo.js";
import { runStory } from "./story.js";

const started = performance.now();
console.log(`Parley demo — Node ${process.version} on ${cpus()[0]?.model ?? "an unknown CPU"}`);
const result = await runStory(console.log);

const under: Array<[string, () => string[]]> = [
  ["Under the hood, @parley/crypto: primitives", runCryptoDemo],
  ["Under the hood, @parley/x3dh + @parley/double-ratchet: loss, reordering, duplicates, tampering", runRatchetDemo],
];
for (const [title, run] of under) {
  console.log(`\n== ${title}`);
  for (const line of run()) console.log(`   ${line}`);
}
console.log(
  `\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s (${result.stanzas} stanzas through the router). \`npm test\` runs every test, including interop with real peers.`,
);
