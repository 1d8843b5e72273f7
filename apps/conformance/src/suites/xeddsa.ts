/**
 * XEdDSA, both variants (`xeddsa`: the spec; `libsignal`: curve25519_sign/verify): the keys, signatures
 * and verifications of `vectors/xeddsa-v1.json` come out as recorded (signatures byte for byte with the
 * fixed nonce; `xeddsa` with the spec's a = ±k mod q in the nonce hash, so a signer that hashes k
 * unreduced, as libxeddsa's own XEdDSA signing and libsignal-protocol-c's xed25519_sign do, fails for keys
 * of sign bit 0), the implementation under test and Parley verify each other's signatures for fresh keys
 * and random messages, tampered signatures are refused, a non-canonical s (s + L) is refused with
 * `strict: true` and answered the same way every time without it (either bound is allowed), a forgery
 * for a low-order key (R = the identity, s = 0) is answered as the spec does (true) or as a verifier with a
 * small-order check does (false), the same for every such key, and wrong lengths are INVALID_ARGUMENT.
 */
import { bytesToHex, defaultCrypto } from "@parley/crypto";
import type { Hex, OpName } from "../protocol.js";
import { XEDDSA_VARIANTS } from "../protocol-xeddsa.js";
import type { Implementation } from "../reference.js";
import type { CaseContext, Suite, TestCase } from "../suite.js";
import type { XeddsaVectorFile, XeddsaVerifyVector } from "../vectors.js";
import { check, expectError, same } from "./assert.js";
import { flipBit, loadVectors } from "./util.js";

const random = (n: number): Hex => bytesToHex(defaultCrypto().randomBytes(n));
/** Message lengths of the live cases: empty, one byte, a key's length, a bundle's, and longer. */
const LIVE_LENGTHS = [0, 1, 32, 33, 100, 1000];

/** A fresh X25519 private key and the public key Parley derives from it. */
async function freshKey(ref: Implementation) {
  const privateKey = random(32);
  const { publicKey } = await ref.call("xeddsa.toEdwards", { privateKey });
  return { privateKey, publicKey };
}

/** Expects `impl` to answer `valid` for the signature. */
async function expectValid(
  impl: Implementation,
  what: string,
  valid: boolean,
  args: Omit<XeddsaVerifyVector, "name" | "description" | "valid" | "nonCanonicalS">,
) {
  const r = await impl.call("xeddsa.verify", {
    variant: args.variant,
    publicKey: args.publicKey,
    message: args.message,
    signature: args.signature,
  });
  same(what, valid, r.valid);
}

/**
 * A forged signature for a low-order key (vectors-xeddsa.ts): the one kind of vector with a knownDifference
 * that is not a non-canonical s. The spec answers true; a verifier with a small-order check false.
 */
const isLowOrderForgery = (v: XeddsaVerifyVector) => v.knownDifference !== undefined && !v.nonCanonicalS;

export const xeddsaSuite: Suite = {
  name: "xeddsa",
  description:
    "XEdDSA, the spec's and libsignal's variant: known keys, signatures and verdicts, both directions against Parley, tampering, non-canonical s, low-order keys, u + p.",
  cases() {
    const file = loadVectors("xeddsa-v1.json") as XeddsaVectorFile;
    const cases: TestCase[] = [];
    const add = (name: string, ops: OpName[], run: (ctx: CaseContext) => Promise<void>) => {
      cases.push({ suite: "xeddsa", name, ops, run });
    };

    add(
      "vector keys: xeddsa.toEdwards gives each key's u, Edwards key and sign bit",
      ["xeddsa.toEdwards"],
      async ({ iut }) => {
        for (const k of file.keys) {
          const r = await iut.call("xeddsa.toEdwards", { privateKey: k.privateKey });
          same(
            `key ${k.name}`,
            { publicKey: k.publicKey, edwardsPublicKey: k.edwardsPublicKey, signBit: k.signBit },
            r,
          );
        }
      },
    );

    for (const variant of XEDDSA_VARIANTS) {
      const signatures = file.signatures.filter((s) => s.variant === variant);
      const verifications = file.verifications.filter((v) => v.variant === variant);

      add(
        variant === "xeddsa"
          ? "xeddsa: vectors: every signature is reproduced byte for byte with its fixed nonce and the spec's a = ±k mod q"
          : "libsignal: vectors: every signature is reproduced byte for byte with its fixed nonce",
        ["xeddsa.sign"],
        async ({ iut }) => {
          for (const s of signatures) {
            const r = await iut.call("xeddsa.sign", {
              variant,
              privateKey: s.privateKey,
              message: s.message,
              nonce: s.nonce,
            });
            // A known difference (libxeddsa's unreduced scalar in the nonce hash) is named in the failure.
            const hint = s.knownDifference === undefined ? "" : " (see the vector's knownDifference)";
            same(`${s.name}${hint}`, { signature: s.signature }, r);
          }
        },
      );

      add(
        `${variant}: vectors: every signature verifies, every other verification is answered as recorded (low-order forgeries: either answer, the same for all)`,
        ["xeddsa.verify"],
        async ({ iut }) => {
          for (const s of signatures) await expectValid(iut, `verify signature ${s.name}`, true, s);
          // Non-canonical s has its own case: either default is allowed there.
          for (const v of verifications.filter((x) => !x.nonCanonicalS && !isLowOrderForgery(x))) {
            await expectValid(iut, `verify ${v.name} (${v.description})`, v.valid, v);
          }
          // The spec accepts these forgeries (no small-order check); refusing them is a stricter verifier.
          const forgeries = verifications.filter(isLowOrderForgery);
          check("forgeries for low-order keys", forgeries.length > 0, "some", "none");
          let first: { name: string; valid: boolean } | undefined;
          for (const v of forgeries) {
            const args = { variant, publicKey: v.publicKey, message: v.message, signature: v.signature };
            const { valid } = await iut.call("xeddsa.verify", args);
            first ??= { name: v.name, valid };
            same(`verify ${v.name} (as ${first.name}: the same answer for every low-order key)`, first.valid, valid);
          }
        },
      );

      add(
        `${variant}: vectors: non-canonical s (s + L) is refused with strict: true; by default either bound, the same every time`,
        ["xeddsa.verify"],
        async ({ iut }) => {
          const nonCanonical = verifications.filter((x) => x.nonCanonicalS);
          check("vectors with s + L", nonCanonical.length > 0, "some", "none");
          let first: { name: string; valid: boolean } | undefined;
          for (const v of nonCanonical) {
            const args = { variant, publicKey: v.publicKey, message: v.message, signature: v.signature };
            same(
              `verify ${v.name} with strict: true`,
              false,
              (await iut.call("xeddsa.verify", { ...args, strict: true })).valid,
            );
            const { valid } = await iut.call("xeddsa.verify", args);
            first ??= { name: v.name, valid };
            same(`verify ${v.name} by default (as ${first.name}, the same bound every time)`, first.valid, valid);
          }
        },
      );

      add(
        `${variant}: live: the IUT signs random messages with fresh keys, Parley verifies`,
        ["xeddsa.sign"],
        async ({ iut, ref }) => {
          for (const length of LIVE_LENGTHS) {
            const key = await freshKey(ref);
            const message = random(length);
            const { signature } = await iut.call("xeddsa.sign", {
              variant,
              privateKey: key.privateKey,
              message,
              nonce: random(64),
            });
            await expectValid(ref, `Parley verifies the IUT's signature of a ${length}-byte message`, true, {
              variant,
              publicKey: key.publicKey,
              message,
              signature,
            });
          }
        },
      );

      add(
        `${variant}: live: Parley signs random messages with fresh keys, the IUT verifies`,
        ["xeddsa.verify"],
        async ({ iut, ref }) => {
          for (const length of LIVE_LENGTHS) {
            const key = await freshKey(ref);
            const message = random(length);
            const { signature } = await ref.call("xeddsa.sign", {
              variant,
              privateKey: key.privateKey,
              message,
              nonce: random(64),
            });
            await expectValid(iut, `the IUT verifies Parley's signature of a ${length}-byte message`, true, {
              variant,
              publicKey: key.publicKey,
              message,
              signature,
            });
          }
        },
      );

      add(
        `${variant}: live: tampered signatures are refused (a flipped bit in R, in s, in the message; another key)`,
        ["xeddsa.verify"],
        async ({ iut, ref }) => {
          const key = await freshKey(ref);
          const other = await freshKey(ref);
          const message = random(40);
          const { signature } = await ref.call("xeddsa.sign", {
            variant,
            privateKey: key.privateKey,
            message,
            nonce: random(64),
          });
          const good = { variant, publicKey: key.publicKey, message, signature };
          await expectValid(iut, "the untampered signature", true, good);
          const tampered: [string, typeof good][] = [
            ["a flipped bit in R (byte 0)", { ...good, signature: flipBit(signature, 0) }],
            ["a flipped bit in R (byte 20)", { ...good, signature: flipBit(signature, 20, 6) }],
            ["a flipped bit in s (byte 32)", { ...good, signature: flipBit(signature, 32) }],
            ["a flipped bit in s (byte 45)", { ...good, signature: flipBit(signature, 45, 2) }],
            ["a flipped bit in the message", { ...good, message: flipBit(message, 7, 4) }],
            ["another key", { ...good, publicKey: other.publicKey }],
          ];
          if (variant === "libsignal") {
            tampered.push([
              "the sign bit (bit 7 of byte 63) flipped",
              { ...good, signature: flipBit(signature, 63, 7) },
            ]);
          }
          for (const [what, args] of tampered) await expectValid(iut, `verify with ${what}`, false, args);
        },
      );

      add(
        `${variant}: wrong lengths are INVALID_ARGUMENT (a 33-byte 0x05 ‖ u key, a 63-byte signature, a 32-byte nonce, a 31-byte private key)`,
        ["xeddsa.sign", "xeddsa.verify"],
        async ({ iut }) => {
          const s = signatures[0]!;
          const verify = { variant, publicKey: s.publicKey, message: s.message, signature: s.signature };
          await expectError(
            "verify with a 33-byte public key (0x05 ‖ u)",
            "INVALID_ARGUMENT",
            iut.call("xeddsa.verify", { ...verify, publicKey: `05${s.publicKey}` }),
          );
          await expectError(
            "verify with a 63-byte signature",
            "INVALID_ARGUMENT",
            iut.call("xeddsa.verify", { ...verify, signature: s.signature.slice(0, -2) }),
          );
          await expectError(
            "sign with a 32-byte nonce",
            "INVALID_ARGUMENT",
            iut.call("xeddsa.sign", {
              variant,
              privateKey: s.privateKey,
              message: s.message,
              nonce: s.nonce.slice(64),
            }),
          );
          await expectError(
            "sign with a 31-byte private key",
            "INVALID_ARGUMENT",
            iut.call("xeddsa.sign", { variant, privateKey: s.privateKey.slice(2), message: s.message, nonce: s.nonce }),
          );
        },
      );
    }
    return cases;
  },
};
