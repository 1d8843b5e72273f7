import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Decode, base64Encode, bytesToHex, Reader, Writer } from "../src/bytes.js";
import { MAX_FRAGMENTS, MAX_MPI_BYTES, MAX_TLVS, MAX_WIRE_MESSAGE_CHARS } from "../src/consts.js";
import { isOtrError } from "../src/errors.js";
import {
  classify,
  encodePlaintext,
  fragment,
  parseBinary,
  parseFragment,
  parsePlaintext,
  queryMessage,
  whitespaceTag,
} from "../src/wire.js";

// The Data Message and its three fragments from the spec (Protocol-v3.md, "Fragmentation").
const SPEC_DATA =
  "?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hbrL3KAbGDdzE2ZkMyTKl7XfkSxh8YJnudstiB74i4BzT0W2haClg6dMary/jo9sMudwmUdlnKpIGEKXWdvJKT+hQ26h9nzMgEditLB8vjPEWAJ6gBXvZrY6ZQrx3gb4v0UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjScajVba6dqlDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAAAAAEAAAAHwNiIi5Ms+4PsY/L2ipkTtquknfx6HodLvk3RAAAAAA==.";
const SPEC_FRAGMENTS = [
  "?OTR|5a73a599|27e31597,00001,00003,?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA1g5IjD1ZGLDVQEyCgCyn9hbrL3KAbGDdzE2ZkMyTKl7XfkSxh8YJnudstiB74i4BzT0W2haClg6dMary/jo9sMudwmUdlnKpIGEKXWdvJKT+hQ26h9nzMgEditLB8v,",
  "?OTR|5a73a599|27e31597,00002,00003,jPEWAJ6gBXvZrY6ZQrx3gb4v0UaSMOMiR5sB7Eaulb2Yc6RmRnnlxgUUC2alosg4WIeFN951PLjScajVba6dqlDi+q1H5tPvI5SWMN7PCBWIJ41+WvF+5IAZzQZYgNaVLbAAAAAAAAAAEAAAAHwNiIi5Ms+4PsY/L2i,",
  "?OTR|5a73a599|27e31597,00003,00003,pkTtquknfx6HodLvk3RAAAAAA==.,",
];

function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (isOtrError(e)) return e.code;
    throw e;
  }
}

describe("spec known answers", () => {
  it("parses the spec's example Data Message as libotr's otr_parse does", () => {
    const c = classify(SPEC_DATA);
    if (c.kind !== "encoded") throw new Error("not encoded");
    const m = parseBinary(c.bytes);
    if (m.type !== 0x03) throw new Error("not data");
    // otr_parse (libotr5-bin 4.1.1): Sender instance 669193625, Receiver 669193623, keyids 1 -> 2, counter 1.
    expect(m.version).toBe(3);
    expect(m.senderTag).toBe(669193625);
    expect(m.receiverTag).toBe(669193623);
    expect(m.senderKeyId).toBe(1);
    expect(m.recipientKeyId).toBe(2);
    expect(bytesToHex(m.ctr)).toBe("0000000000000001");
    expect(bytesToHex(m.encrypted)).toBe("c0d8888b932cfb");
    expect(bytesToHex(m.mac)).toBe("83ec63f2f68a9913b6aba49dfc7a1e874bbe4dd1");
    expect(m.nextDh.toString(16).startsWith("d60e488c3d5918b0")).toBe(true);
    expect(m.oldMacKeys).toHaveLength(0);
  });

  it("the spec's three fragments carry the example message", () => {
    const f = SPEC_FRAGMENTS.map(parseFragment);
    expect(f.map((x) => [x.k, x.n, x.senderTag, x.receiverTag])).toEqual([
      [1, 3, 0x5a73a599, 0x27e31597],
      [2, 3, 0x5a73a599, 0x27e31597],
      [3, 3, 0x5a73a599, 0x27e31597],
    ]);
    expect(f.map((x) => x.piece).join("")).toBe(SPEC_DATA);
  });

  it("query messages and whitespace tags of the spec", () => {
    expect(queryMessage([3, 2])).toBe("?OTRv23?");
    expect(queryMessage([2])).toBe("?OTRv2?");
    expect(classify("?OTRv23?")).toEqual({ kind: "query", versions: [2, 3] });
    expect(classify("?OTRv2?")).toEqual({ kind: "query", versions: [2] });
    expect(classify("?OTR?v2?")).toEqual({ kind: "query", versions: [1, 2] });
    expect(classify("?OTR?")).toEqual({ kind: "query", versions: [1] });
    expect(classify("?OTRv24x?")).toEqual({ kind: "query", versions: [2, 4] });
    expect(classify("?OTRv?")).toEqual({ kind: "query", versions: [] });
    expect(classify("Bob asks: ?OTRv3? <b>please</b>")).toEqual({ kind: "query", versions: [3] });
    expect(whitespaceTag([2, 3])).toBe(
      "\x20\x09\x20\x20\x09\x09\x09\x09\x20\x09\x20\x09\x20\x09\x20\x20" +
        "\x20\x20\x09\x09\x20\x20\x09\x20" +
        "\x20\x20\x09\x09\x20\x20\x09\x09",
    );
    expect(classify("hi" + whitespaceTag([3]) + " there")).toEqual({ kind: "tagged", versions: [3], text: "hi there" });
    expect(classify("?OTR Error: bad")).toEqual({ kind: "error", text: "bad" });
    expect(classify("just text")).toEqual({ kind: "plain", text: "just text" });
  });

  it("TLVs: the spec's examples", () => {
    const { message, tlvs } = parsePlaintext(
      Uint8Array.of(0x68, 0x69, 0, 0, 1, 0, 0, 0, 0, 0, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f),
    );
    expect(message).toEqual(Uint8Array.of(0x68, 0x69));
    expect(tlvs).toEqual([
      { type: 1, value: new Uint8Array(0) },
      { type: 0, value: Uint8Array.of(0x68, 0x65, 0x6c, 0x6c, 0x6f) },
    ]);
  });
});

describe("hostile input", () => {
  it("strict base64: bad characters, lengths and padding bits are MALFORMED_MESSAGE", () => {
    expect(code(() => base64Decode("AAA"))).toBe("MALFORMED_MESSAGE");
    expect(code(() => base64Decode("AA*A"))).toBe("MALFORMED_MESSAGE");
    expect(code(() => base64Decode("AB=="))).toBe("MALFORMED_MESSAGE");
    expect(code(() => base64Decode("A=AA"))).toBe("MALFORMED_MESSAGE");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(base64Decode(base64Encode(b))).toEqual(b);
        expect(base64Encode(b)).toBe(Buffer.from(b).toString("base64"));
      }),
    );
  });

  it("any bytes into the binary parser: a parsed message or a typed error, never a crash", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.constantFrom(2, 3),
        fc.constantFrom(2, 3, 10, 17, 18, 99),
        (body, v, t) => {
          const bytes = Uint8Array.of(0, v, t, ...body);
          const r = code(() => parseBinary(bytes));
          expect(["ok", "MALFORMED_MESSAGE", "TOO_LARGE", "WRONG_INSTANCE", "UNSUPPORTED_VERSION"]).toContain(r);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("any string into classify: a classification or a typed error", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.constantFrom("", "?OTR:", "?OTR|", "?OTR,", "?OTR", "?OTRv"),
        (s, prefix) => {
          const r = code(() => classify(prefix + s));
          expect(["ok", "MALFORMED_MESSAGE", "TOO_LARGE"]).toContain(r);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("limits: oversized lines, MPIs, TLV counts and fragment counts are TOO_LARGE", () => {
    expect(code(() => classify("x".repeat(MAX_WIRE_MESSAGE_CHARS + 1)))).toBe("TOO_LARGE");
    const big = new Writer()
      .int(MAX_MPI_BYTES + 1)
      .raw(new Uint8Array(MAX_MPI_BYTES + 1).fill(1))
      .finish();
    expect(code(() => new Reader(big).mpi())).toBe("TOO_LARGE");
    const tlvs = new Writer().byte(0);
    for (let i = 0; i <= MAX_TLVS; i++) tlvs.short(0).short(0);
    expect(code(() => parsePlaintext(tlvs.finish()))).toBe("TOO_LARGE");
    expect(code(() => parseFragment(`?OTR,1,${MAX_FRAGMENTS + 1},x,`))).toBe("TOO_LARGE");
  });

  it("non-minimal MPIs, truncated TLVs, bad fragment numbers and tags are rejected", () => {
    expect(code(() => new Reader(Uint8Array.of(0, 0, 0, 2, 0, 5)).mpi())).toBe("MALFORMED_MESSAGE");
    expect(code(() => parsePlaintext(Uint8Array.of(0x61, 0, 0, 1, 0, 9, 1)))).toBe("MALFORMED_MESSAGE");
    expect(code(() => parseFragment("?OTR,0,3,x,"))).toBe("MALFORMED_MESSAGE");
    expect(code(() => parseFragment("?OTR,4,3,x,"))).toBe("MALFORMED_MESSAGE");
    expect(code(() => parseFragment("?OTR,1,3,,"))).toBe("MALFORMED_MESSAGE");
    // v3 header with sender instance tag below 0x100.
    const dhKey = new Writer().short(3).byte(0x0a).int(0xff).int(0).mpi(5n).finish();
    expect(code(() => parseBinary(dhKey))).toBe("WRONG_INSTANCE");
    const v1 = new Writer().short(1).byte(0x0a).mpi(5n).finish();
    expect(code(() => parseBinary(v1))).toBe("UNSUPPORTED_VERSION");
  });
});

describe("fragmentation", () => {
  it("splits into fragments no longer than the limit that parse back, v2 and v3", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 64, max: 500 }),
        fc.constantFrom(2 as const, 3 as const),
        (msg, max, v) => {
          const parts = fragment(msg, max, v, 0x1234, 0x5678);
          if (msg.length <= max) {
            expect(parts).toEqual([msg]);
            return;
          }
          for (const p of parts) expect(p.length).toBeLessThanOrEqual(max);
          const parsed = parts.map((p) => parseFragment(p));
          expect(parsed.map((x) => x.piece).join("")).toBe(msg);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("encodes plaintext with TLVs and parses it back", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 50 }).map((b) => b.filter((x) => x !== 0)),
        fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 40 }) }), {
          maxLength: 5,
        }),
        (message, tlvs) => {
          const parsed = parsePlaintext(encodePlaintext(message, tlvs));
          expect(parsed.message).toEqual(message);
          expect(parsed.tlvs).toEqual(tlvs);
        },
      ),
    );
  });
});
