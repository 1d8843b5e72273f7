// vectors/python/python-omemo.json is what Debian's python-omemo writes, with what its own parser reads from
// it. Rerun the seeded generator and require the same vectors (up to python-omemo's unordered <key>
// elements): a changed python-omemo, or a changed harness, shows up here.
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { ensurePythonOmemo, LEGACY_NS, OMEMO2_NS } from "../interop/python-omemo.js";
import {
  generatePythonVectors,
  normalizeKeyOrder,
  VECTORS_FILE,
  type NamespaceVectors,
  type PythonXmlVectors,
} from "../interop/python-vectors.js";

beforeAll(() => {
  ensurePythonOmemo();
});

function comparable(ns: NamespaceVectors) {
  return { ...ns, messages: ns.messages.map((m) => ({ ...m, xml: normalizeKeyOrder(m.xml) })) };
}

describe("python-omemo XML vectors", () => {
  it("the seeded generator reproduces vectors/python/python-omemo.json", async () => {
    const stored = JSON.parse(readFileSync(VECTORS_FILE, "utf8")) as PythonXmlVectors;
    const fresh = await generatePythonVectors();
    expect(fresh.versions).toEqual(stored.versions);
    for (const ns of [LEGACY_NS, OMEMO2_NS] as const) {
      expect(comparable(fresh.namespaces[ns])).toEqual(comparable(stored.namespaces[ns]));
      // Something of every kind, so that the vectors stay worth reading.
      expect(fresh.namespaces[ns].deviceLists.length).toBe(2);
      expect(fresh.namespaces[ns].bundles.length).toBe(3);
      expect(fresh.namespaces[ns].messages.map((m) => [m.empty, m.keys.length, m.keys.some((k) => k.kex)])).toEqual([
        [false, 1, true],
        [true, 1, false],
        [false, 1, false],
        [false, 2, true],
        [false, 2, true],
      ]);
    }
  });

  it("normalizeKeyOrder sorts <key> elements by rid and nothing else", () => {
    const a = `<encrypted xmlns="${LEGACY_NS}"><header sid="1"><key rid="20">Bg==</key><key rid="3" prekey="true">Aw==</key><iv>AA==</iv></header><payload>AQ==</payload></encrypted>`;
    const b = `<encrypted xmlns="${LEGACY_NS}"><header sid="1"><key rid="3" prekey="true">Aw==</key><key rid="20">Bg==</key><iv>AA==</iv></header><payload>AQ==</payload></encrypted>`;
    expect(normalizeKeyOrder(a)).toBe(normalizeKeyOrder(b));
    expect(normalizeKeyOrder(a)).toBe(b);
    const c = `<encrypted xmlns="${OMEMO2_NS}"><header sid="1"><keys jid="z@x"><key rid="2">AA==</key><key rid="1">AQ==</key></keys><keys jid="a@x"><key rid="9">Ag==</key></keys></header></encrypted>`;
    expect(normalizeKeyOrder(c)).toBe(
      `<encrypted xmlns="${OMEMO2_NS}"><header sid="1"><keys jid="a@x"><key rid="9">Ag==</key></keys><keys jid="z@x"><key rid="1">AQ==</key><key rid="2">AA==</key></keys></header></encrypted>`,
    );
    // A different key content is not hidden by the normalization.
    expect(normalizeKeyOrder(a.replace("Bg==", "Bw=="))).not.toBe(normalizeKeyOrder(b));
  });
});
