// Where the steady-state time goes: runs the bench's steady round (1 message from a device of an
// account with 3 devices to a contact with 3 devices, decrypted at the 5 others) for one namespace
// and provider, so that `node --cpu-prof` can see it.
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts [v2|legacy] [native|noble] [messages]
import { createCrypto } from "@parley/crypto";
import { NS_LEGACY, NS_V2, parseXml, serializeXml, SessionManager, wrapMessage } from "../dist/index.js";
import { world } from "./world.js";

const ns = process.argv[2] === "legacy" ? NS_LEGACY : NS_V2;
const provider = process.argv[3] === "noble" ? "noble" : "native";
const n = Number(process.argv[4] ?? 2000);
const crypto = createCrypto({ provider });
const { network, devices } = await world(ns, crypto);
const [sender, ...receivers] = devices as [SessionManager, ...SessionManager[]];
let tEnc = 0;
let tDec = 0;
async function round(text: string): Promise<void> {
  let t0 = performance.now();
  const r = await sender.encrypt("bob@example.net", { body: text });
  tEnc += performance.now() - t0;
  const m = r.messages[0]!;
  const stanza = wrapMessage("bob@example.net", m.namespace, m.encrypted);
  stanza.attrs["from"] = "alice@example.org/0";
  const xml = serializeXml(stanza);
  for (const d of receivers) {
    const stanza = parseXml(xml);
    t0 = performance.now();
    const got = await d.decrypt(stanza);
    tDec += performance.now() - t0;
    if (got.body !== text) throw new Error("did not round-trip");
  }
  network.queue.length = 0;
}
await round("warm-up");
for (const d of receivers) await d.send("alice@example.org", { body: "ack" });
await network.flush();
for (let i = 0; i < 50; i++) await round(`warm-up ${i}`);
tEnc = 0;
tDec = 0;
const cpu0 = process.cpuUsage();
const t = performance.now();
for (let i = 0; i < n; i++) await round(`A message of ordinary length, about as long as a sentence people type. ${i}`);
const us = ((performance.now() - t) * 1000) / n;
const cpu = process.cpuUsage(cpu0);
const cpuUs = (cpu.user + cpu.system) / n;
console.log(
  `${ns} ${provider}: ${us.toFixed(0)} µs/message wall, ${cpuUs.toFixed(0)} µs CPU (${n} messages); inside encrypt ${((tEnc * 1000) / n).toFixed(0)} µs, 5 decrypts ${((tDec * 1000) / n).toFixed(0)} µs`,
);
