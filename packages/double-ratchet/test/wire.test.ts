import fc from "fast-check";
import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isDoubleRatchetError } from "../src/index.js";
import {
  decodeOmemoAuthenticatedMessage,
  decodeOmemoKeyExchange,
  decodeOmemoMessage,
  decodePreKeySignalMessage,
  decodeSignalMessage,
  encodeOmemoAuthenticatedMessage,
  encodeOmemoAuthenticatedWith,
  encodeOmemoKeyExchange,
  encodeOmemoMessage,
  encodePreKeySignalMessage,
  encodeSignalMessage,
} from "../src/wire.js";

// The oracle: protobufjs itself, loading the checked-in .proto files.
const root = protobuf.loadSync([
  fileURLToPath(new URL("../proto/WhisperTextProtocol.proto", import.meta.url)),
  fileURLToPath(new URL("../proto/OMEMO2.proto", import.meta.url)),
]);
const T = (name: string) => root.lookupType(name);
const enc = (name: string, o: Record<string, unknown>) =>
  Uint8Array.from(T(name).encode(T(name).fromObject(o)).finish());
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ maxLength: 64 });
const V = Uint8Array.of(0x33);

/** What a decoder gives: its fields, or "MALFORMED_MESSAGE" (the only error it may throw). */
function decodeOutcome<T>(decode: () => T): T | "MALFORMED_MESSAGE" {
  try {
    return decode();
  } catch (e) {
    expect(isDoubleRatchetError(e, "MALFORMED_MESSAGE"), String(e)).toBe(true);
    return "MALFORMED_MESSAGE";
  }
}

describe("wire formats match protobufjs loading proto/*.proto", () => {
  it("docs/libsignal-wire-format.md §2.1 SignalMessage: 0x33 || protobuf, fields in ascending order", () => {
    fc.assert(
      fc.property(bytes, u32, u32, bytes, (ratchetKey, counter, previousCounter, ciphertext) => {
        const ours = encodeSignalMessage({ ratchetKey, counter, previousCounter, ciphertext });
        const oracle = enc("textsecure.SignalMessage", { ratchetKey, counter, previousCounter, ciphertext });
        expect(ours).toEqual(new Uint8Array([...V, ...oracle]));
        const mac = new Uint8Array(8).fill(7);
        const back = decodeSignalMessage(new Uint8Array([...ours, ...mac]), 8);
        expect(back.fields).toEqual({ ratchetKey, counter, previousCounter, ciphertext });
        expect(back.mac).toEqual(mac);
      }),
    );
  });

  it("docs/libsignal-wire-format.md §2.2 PreKeySignalMessage, with and without the optional ids", () => {
    fc.assert(
      fc.property(
        fc.option(u32, { nil: undefined }),
        bytes,
        bytes,
        bytes,
        fc.option(u32, { nil: undefined }),
        u32,
        (preKeyId, baseKey, identityKey, message, registrationId, signedPreKeyId) => {
          const m = { preKeyId, baseKey, identityKey, message, registrationId, signedPreKeyId };
          const o: Record<string, unknown> = { baseKey, identityKey, message, signedPreKeyId };
          if (preKeyId !== undefined) o.preKeyId = preKeyId;
          if (registrationId !== undefined) o.registrationId = registrationId;
          const ours = encodePreKeySignalMessage(m);
          expect(ours).toEqual(new Uint8Array([...V, ...enc("textsecure.PreKeySignalMessage", o)]));
          expect(decodePreKeySignalMessage(ours)).toEqual(m);
        },
      ),
    );
  });

  it("XEP-0384 v0.8.3 §12: OMEMOMessage, OMEMOAuthenticatedMessage, OMEMOKeyExchange", () => {
    fc.assert(
      fc.property(
        u32,
        u32,
        bytes,
        bytes,
        bytes,
        u32,
        u32,
        bytes,
        bytes,
        (n, pn, dhPub, ciphertext, mac, pkId, spkId, ik, ek) => {
          const om = encodeOmemoMessage({ n, pn, dhPub, ciphertext });
          expect(om).toEqual(enc("omemo2.OMEMOMessage", { n, pn, dhPub, ciphertext }));
          expect(decodeOmemoMessage(om)).toEqual({ n, pn, dhPub, ciphertext });
          const auth = encodeOmemoAuthenticatedMessage(mac, om);
          expect(auth).toEqual(enc("omemo2.OMEMOAuthenticatedMessage", { mac, message: om }));
          expect(decodeOmemoAuthenticatedMessage(auth)).toEqual({ mac, message: om });
          const kex = encodeOmemoKeyExchange({ pkId, spkId, ik, ek, message: auth });
          expect(kex).toEqual(enc("omemo2.OMEMOKeyExchange", { pkId, spkId, ik, ek, message: { mac, message: om } }));
          expect(decodeOmemoKeyExchange(kex)).toEqual({ pkId, spkId, ik, ek, message: auth });
        },
      ),
    );
  });

  it("decoders: any byte string is a parse or MALFORMED_MESSAGE (never trust a field's presence)", () => {
    const decoders = [
      (b: Uint8Array) => decodeSignalMessage(b, 8),
      decodePreKeySignalMessage,
      decodeOmemoMessage,
      decodeOmemoAuthenticatedMessage,
      decodeOmemoKeyExchange,
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        for (const d of decoders) {
          try {
            d(b);
          } catch (e) {
            expect(isDoubleRatchetError(e, "MALFORMED_MESSAGE"), String(e)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("SignalMessage: the canonical-layout fast path decodes exactly like the general reader, mutated input included", () => {
    const outcome = (b: Uint8Array, fastPath: boolean) =>
      decodeOutcome(() => {
        const r = decodeSignalMessage(b, 8, fastPath);
        return { fields: r.fields, mac: r.mac, authenticated: r.authenticated };
      });
    fc.assert(
      fc.property(
        bytes,
        u32,
        fc.option(u32, { nil: undefined }),
        bytes,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (ratchetKey, counter, previousCounter, ciphertext, edits) => {
          // Without previousCounter: the optional field absent, as protobufjs writes it.
          const body =
            previousCounter === undefined
              ? [...V, ...enc("textsecure.SignalMessage", { ratchetKey, counter, ciphertext })]
              : [...encodeSignalMessage({ ratchetKey, counter, previousCounter, ciphertext })];
          const b = Uint8Array.from([...body, ...new Uint8Array(8).fill(9)]);
          for (const [at, value] of edits) b[at % b.length] = value;
          expect(outcome(b, true)).toEqual(outcome(b, false));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("OMEMO 2: the canonical-layout fast paths decode exactly like the general reader, mutated input included", () => {
    const outcome = decodeOutcome;
    fc.assert(
      fc.property(
        u32,
        u32,
        bytes,
        bytes,
        bytes,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.boolean(),
        (n, pn, dhPub, ciphertext, mac, edits, truncate) => {
          const om = encodeOmemoMessage({ n, pn, dhPub, ciphertext });
          const auth = encodeOmemoAuthenticatedMessage(mac, om);
          for (const original of [om, auth]) {
            const b = truncate ? original.slice(0, original.length - 1) : original.slice();
            for (const [at, value] of edits) if (b.length > 0) b[at % b.length] = value;
            expect(outcome(() => decodeOmemoMessage(b, true))).toEqual(outcome(() => decodeOmemoMessage(b, false)));
            expect(outcome(() => decodeOmemoAuthenticatedMessage(b, true))).toEqual(
              outcome(() => decodeOmemoAuthenticatedMessage(b, false)),
            );
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("OMEMO 2: the one-buffer writer gives encodeOmemoAuthenticatedMessage(mac, encodeOmemoMessage(m)), the MAC over the message bytes", () => {
    fc.assert(
      fc.property(u32, u32, bytes, bytes, fc.integer({ min: 0, max: 200 }), (n, pn, dhPub, ciphertext, macLength) => {
        const m = { n, pn, dhPub, ciphertext };
        const om = encodeOmemoMessage(m);
        const macOf = (body: Uint8Array) =>
          Uint8Array.from({ length: macLength }, (_, i) => (body[i % Math.max(1, body.length)] ?? 0) ^ i);
        let seen: Uint8Array | undefined;
        const ours = encodeOmemoAuthenticatedWith(m, macLength, (body) => {
          seen = body.slice();
          return macOf(body);
        });
        expect(seen).toEqual(om);
        expect(ours).toEqual(encodeOmemoAuthenticatedMessage(macOf(om), om));
        expect(() => encodeOmemoAuthenticatedWith(m, macLength, () => new Uint8Array(macLength + 1))).toThrow(
          RangeError,
        );
      }),
    );
  });

  it("a missing required field is reported by name", () => {
    expect(() =>
      decodeOmemoMessage(
        enc("omemo2.OMEMOMessage", { n: 1, dhPub: new Uint8Array(32), ciphertext: new Uint8Array(16) }),
      ),
    ).toThrow(/pn is missing/);
  });
});
